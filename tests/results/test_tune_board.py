"""The tuned board's gain pairs a tuned record with the defaults record of the same seed
made with the same teacher (`benchmark.results.tune_board.gains`)."""

from __future__ import annotations

from benchmark.results.records import Record
from benchmark.results.tune_board import gain_lines, gains, resolved_gains


def _record(seed: int, acc: float, teacher: str, tuned: bool) -> Record:
    return Record(
        task="sketch-cls",
        method="l2",
        seed=seed,
        status="ok",
        config_hash="h",
        profile="quick",
        config={"tune": {"trial": 1, "metric": "finetune_acc"}} if tuned else {},
        data={"kind": "classification"},
        metrics={"finetune_acc": acc},
        teacher={"key": teacher},
    )


def test_a_seed_pairs_only_with_a_defaults_record_of_the_same_teacher() -> None:
    tuned = [_record(s, 0.60 + 0.01 * s, "t-new", tuned=True) for s in range(4)]
    defaults = [_record(s, 0.50, "t-new" if s < 3 else "t-old", tuned=False) for s in range(4)]
    (gain,) = gains(tuned, defaults)
    assert list(gain.defaults.index) == [0, 1, 2] and gain.unpaired == 1
    assert list(gain.tuned.index) == [0, 1, 2, 3]
    text = "\n".join(gain_lines([gain], False, str))
    assert "| 3 |" in text  # three paired seeds
    assert "Not paired: l2 (1 of 4 seeds)" in text
    # the same teacher everywhere: every seed pairs, no note
    (gain,) = gains(tuned, [_record(s, 0.50, "t-new", tuned=False) for s in range(4)])
    assert gain.unpaired == 0 and "Not paired" not in "\n".join(gain_lines([gain], False, str))


def test_a_tuned_method_whose_re_run_failed_on_a_seed_gets_no_gain() -> None:
    """The three surviving seeds would show a resolved +10 points; the failed fourth
    leaves l2 without a gain and outside the family, and the board says why."""
    tuned = [_record(s, 0.60 + 0.001 * s, "t", tuned=True) for s in range(3)]
    tuned.append(
        Record(
            task="sketch-cls",
            method="l2",
            seed=3,
            status="failed",
            config_hash="h",
            profile="quick",
            reason="FloatingPointError: loss 'l2' of method 'l2' is inf",
        )
    )
    defaults = [_record(s, 0.50, "t", tuned=False) for s in range(4)]
    (gain,) = gains(tuned, defaults)
    assert gain.failed == 1 and gain.tuned.empty and gain.defaults.empty
    assert resolved_gains([gain]) == {"l2": False}
    text = "\n".join(gain_lines([gain], False, str))
    assert "| — | — | 0 |" in text  # tuned, gain, seeds
    assert "No gain computed, a re-run failed: l2 (1 seed(s))." in text
    # without the failed seed the same records give the resolved gain
    (kept,) = gains(tuned[:3], defaults)
    assert kept.failed == 0 and resolved_gains([kept]) == {"l2": True}

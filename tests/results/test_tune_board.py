"""The tuned board's gain pairs a tuned record with the defaults record of the same seed
made with the same teacher (`benchmark.results.tune_board.gains`)."""

from __future__ import annotations

from benchmark.results.records import Record
from benchmark.results.tune_board import gain_lines, gains


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

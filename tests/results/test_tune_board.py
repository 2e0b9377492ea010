"""The tuned board's gain pairs a tuned record with the defaults record of the same seed
made with the same teacher (`benchmark.results.tune_board.gains`)."""

from __future__ import annotations

import pandas as pd

from benchmark.results.records import Record
from benchmark.results.tune_board import (
    Gain,
    gain_family,
    gain_lines,
    gains,
    kept_defaults,
    resolved_gains,
)
from tests.results.test_records_leaderboard import failed_record


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
    reason = "FloatingPointError: loss 'l2' of method 'l2' is inf"
    tuned.append(failed_record("sketch-cls", "l2", 3, reason=reason))
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


def _gain(method: str, trial: int, diffs: list[float]) -> Gain:
    base = pd.Series([0.5] * len(diffs), dtype=float)
    note = {"trial": trial, "metric": "finetune_acc"}
    return Gain("sketch-cls", method, note, base, base + pd.Series(diffs, dtype=float))


def test_a_method_that_kept_its_defaults_is_not_in_the_family_of_gains() -> None:
    """A selected trial 0 re-runs the defaults' own cells, a gain of zero by construction:
    counting it as two more hypotheses would only make Holm stricter for the others."""
    # the one-sided p of these 8 differences is 0.0038: Holm's smallest-p threshold is
    # 0.05 / 2m, 0.0042 at m = 6 and 0.0036 at m = 7
    diffs = [0.0225, 0.0125, 0.0325, -0.0025, 0.0175, 0.0275, 0.0025, 0.0125]
    borderline = _gain("l2", 1, diffs)
    searched = [_gain(f"m{i}", 1, [0.01, -0.01] * 4) for i in range(5)]
    kept = _gain("kd", 0, [0.0] * 8)
    assert kept_defaults(kept) and not kept_defaults(borderline)
    assert gain_family([borderline, *searched, kept]) == [borderline, *searched]
    assert resolved_gains([borderline, *searched, kept])["l2"]
    # the same zero gain from a searched trial stays in the family and costs the resolution
    assert not resolved_gains([borderline, *searched, _gain("kd", 3, [0.0] * 8)])["l2"]
    text = "\n".join(gain_lines([borderline, *searched, kept], False, str))
    assert "| 0 (defaults kept) | 8 |" in text and "not one of the m" in text

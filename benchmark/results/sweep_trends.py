"""What a sweep shows (`bench sweep`'s table, `benchmark.results.sweeps.sweep_frame`): per
knob value the task's reference figures (all-labels ceiling, teacher, input gap), per
method the target error, its paired change from the first to the last value, the
per-seed slope of error against the measured input gap, the change of the method's own
common-space gap, and the distillation gain over `scratch` (the method's accuracy minus
scratch's, same seed and value) and its paired change — the part of a change in error
that is the distillation's, since `scratch` sees no teacher; and one method minus each
other per value.

Every estimate is over seeds of a per-seed quantity (a seed fixes the scenes, the teacher
and the student's initialisation for every value of a world knob, so differences and
slopes are paired within a seed): its mean, the half-width of its 95% t interval and the
two-sided p of the one-sample t test against 0, so a reader can put a family of them
under Holm (`benchmark.results.stats.holm`). A slope is the least-squares slope, within
one seed, of the method's error (points) against `input_gap_pair` across the knob's
values, in points per +0.1 of the gap: the input gap that is precise within a seed.
Used by `scripts/sweep_trends.py` and the results page (`benchmark.results.findings`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.results.records import REFERENCE
from benchmark.results.stats import mean_ci, paired_test

GAPS = ("input_gap_pair", "input_gap_tv", "input_gap_cka")
OWN = ("gap_pair", "gap_tv", "gap_cka")
BASELINE = "scratch"


@dataclass(frozen=True)
class Estimate:
    """A per-seed quantity over seeds: mean, 95% t half-width, p against 0, seeds."""

    mean: float
    half: float
    p: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return bool(np.isfinite(self.half)) and abs(self.mean) > self.half


def estimate(values: pd.Series | np.ndarray) -> Estimate:
    series = pd.Series(np.asarray(values, dtype=float)).dropna()
    test = paired_test(series, pd.Series(np.zeros(len(series))))
    mean, half = mean_ci(series)
    return Estimate(mean, half, test.p, len(series))


def slope(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


@dataclass(frozen=True)
class MethodTrend:
    method: str
    error: list[Estimate]  # error (points) per value
    delta: Estimate  # error at the last value − at the first
    slope: Estimate  # points of error per +0.1 of input_gap_pair
    own: dict[str, Estimate]  # Δ of each own-gap column, last − first
    gains: list[Estimate]  # gain over scratch at the first, at the last value, and its Δ


@dataclass(frozen=True)
class Trends:
    knob: str
    task: str
    values: list[float]
    seeds: list[int]
    levels: dict[str, list[Estimate]]  # reference column → per value
    changes: dict[str, Estimate]  # reference column → last − first
    methods: list[MethodTrend]
    versus: dict[str, dict[str, list[Estimate]]]  # a → b → (a − b) accuracy per value


def trends(table: pd.DataFrame) -> Trends:
    """Every figure of one sweep's table (ok rows only; one task)."""
    table = table[table.status == "ok"]
    knob, task = str(table.knob.iloc[0]), str(table.task.iloc[0])
    values = sorted(float(v) for v in table.value.unique())
    first, last = values[0], values[-1]
    refs = table[table.method == REFERENCE].set_index(["seed", "value"])
    runs = table[table.method != REFERENCE]
    seeds = sorted(int(s) for s in set(refs.index.get_level_values("seed")))
    levels, changes = {}, {}
    for column, scale in (("all_labels_acc", 100), ("teacher_acc", 100), *((g, 1) for g in GAPS)):
        if column not in refs or refs[column].isna().all():
            continue
        levels[column] = [estimate(scale * refs.xs(v, level="value")[column]) for v in values]
        delta = refs.xs(last, level="value")[column] - refs.xs(first, level="value")[column]
        changes[column] = estimate(scale * delta)
    gap = refs["input_gap_pair"] if "input_gap_pair" in refs else pd.Series(dtype=float)
    scratch = runs[runs.method == BASELINE].set_index(["seed", "value"])["finetune_acc"]
    methods = []
    for method, group in runs.groupby("method", sort=True):
        score = group.set_index(["seed", "value"])
        error = 100 * (1 - score["finetune_acc"])
        slopes = []
        for seed in seeds:
            e = (
                error.xs(seed, level="seed").reindex(values)
                if seed in error.index.get_level_values("seed")
                else None
            )
            if e is None or not len(gap):
                continue
            g = gap.xs(seed, level="seed").reindex(values)
            if e.notna().all() and g.notna().all():
                slopes.append(slope(g.to_numpy(), e.to_numpy()) / 10)
        own = {
            c: estimate(score[c].xs(last, level="value") - score[c].xs(first, level="value"))
            for c in OWN
            if c in score
        }
        gains: list[Estimate] = []
        if method != BASELINE and len(scratch):
            at = [
                100 * (score["finetune_acc"].xs(v, level="value") - scratch.xs(v, level="value"))
                for v in (first, last)
            ]
            gains = [estimate(at[0]), estimate(at[1]), estimate(at[1] - at[0])]
        methods.append(
            MethodTrend(
                str(method),
                [estimate(error.xs(v, level="value")) for v in values],
                estimate(error.xs(last, level="value") - error.xs(first, level="value")),
                estimate(np.array(slopes)),
                own,
                gains,
            )
        )
    accuracy = runs.set_index(["method", "seed", "value"])["finetune_acc"]
    names = sorted(set(runs.method))
    versus = {
        a: {
            b: [
                estimate(
                    100 * (accuracy[a].xs(v, level="value") - accuracy[b].xs(v, level="value"))
                )
                for v in values
            ]
            for b in names
            if b != a
        }
        for a in names
    }
    return Trends(knob, task, values, seeds, levels, changes, methods, versus)

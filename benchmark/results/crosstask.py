"""The cross-task summary: headroom-normalised scores aggregated over tasks × seeds, with
stratified-bootstrap intervals, and the probability of improvement — the estimators of
Agarwal et al., "Deep reinforcement learning at the edge of the statistical precipice"
(NeurIPS 2021), as its library rliable defines them, written here on numpy.

- **Headroom normalisation**: on task t a score x becomes (x − s_t) / (c_t − s_t), with
  s_t the mean of `scratch` (the student trained on the few labels alone) and c_t the mean
  of the all-labels ceiling (the reference records): 0 is "no better than training on the
  few labels", 1 is "as good as having every target label". s_t and c_t are held fixed
  (not resampled). A task whose headroom c_t − s_t is small magnifies its seed noise by
  1 / (c_t − s_t): normalisation makes tasks comparable in units of "the gap distillation
  could close", not in reliability.
- **Mean**: the mean over tasks of each task's mean normalised score (rliable's
  `aggregate_mean`).
- **IQM**: the interquartile mean (25% trimmed mean) of all runs of all tasks pooled
  (rliable's `aggregate_iqm`, `scipy.stats.trim_mean(x, 0.25)`). Where tasks have unequal
  seed counts each run is weighted by 1 / (T · n_t), so every task weighs the same; with
  equal counts divisible by 4 this is exactly `trim_mean`.
- **P(X > Y)**: per task, the Mann–Whitney probability that a run of X beats a run of Y
  (ties count one half), averaged over the tasks both have (rliable's
  `probability_of_improvement`).
- **Stratified bootstrap**: runs resampled with replacement within each task, tasks
  fixed (rliable's `StratifiedBootstrap`; for P(X > Y) X and Y independently,
  `StratifiedIndependentBootstrap`), 95% percentile intervals. The intervals describe
  re-running these seeds on these tasks, not drawing new tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REPS = 2000  # bootstrap resamples (rliable's default is 50,000; the percentiles move < 0.01)
LEVEL = 0.95
SEED = 0  # the resampling stream is fixed, so a board re-renders identically

Scores = dict[str, np.ndarray]  # task → one method's per-seed scores on it


def normalise(scores: np.ndarray, floor: float, ceiling: float) -> np.ndarray:
    """(x − floor) / (ceiling − floor): 0 at scratch, 1 at the all-labels ceiling."""
    return (np.asarray(scores, dtype=float) - floor) / (ceiling - floor)


def weighted_iqm(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The mean of the middle half of the weight mass along the last axis (the 25%
    trimmed mean of a weighted sample; equal weights and a count divisible by 4 give
    scipy's `trim_mean(x, 0.25)`). `values` may be (reps, N) with `weights` (N,)."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, axis=-1, kind="stable")
    v = np.take_along_axis(values, order, axis=-1)
    w = np.broadcast_to(weights / weights.sum(), values.shape)
    w = np.take_along_axis(w, order, axis=-1)
    upper = np.cumsum(w, axis=-1)
    lower = upper - w
    kept = np.clip(np.minimum(upper, 0.75) - np.maximum(lower, 0.25), 0.0, None)
    return (v * kept).sum(axis=-1) / kept.sum(axis=-1)


def _pooled(per_task: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    values = np.concatenate(per_task)
    weights = np.concatenate([np.full(len(x), 1.0 / len(x)) for x in per_task])
    return values, weights


def iqm(per_task: list[np.ndarray]) -> float:
    """IQM over all runs of all tasks, each task weighing the same."""
    return float(weighted_iqm(*_pooled(per_task)))


def task_mean(per_task: list[np.ndarray]) -> float:
    """The mean over tasks of each task's mean."""
    return float(np.mean([x.mean() for x in per_task]))


def improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y) / 2 over every pair of a run of x and a run of y."""
    gt = (x[:, None] > y[None, :]).mean()
    eq = (x[:, None] == y[None, :]).mean()
    return float(gt + 0.5 * eq)


def probability_of_improvement(xs: list[np.ndarray], ys: list[np.ndarray]) -> float:
    """P(X > Y) per task, averaged over tasks (xs[i], ys[i]: one task's runs)."""
    return float(np.mean([improvement(x, y) for x, y in zip(xs, ys, strict=True)]))


@dataclass(frozen=True)
class Interval:
    estimate: float
    lower: float
    upper: float


def _resample(per_task: list[np.ndarray], rng: np.random.Generator, reps: int) -> list[np.ndarray]:
    """Per task a (reps, n_t) array of runs drawn with replacement within the task."""
    return [x[rng.integers(0, len(x), size=(reps, len(x)))] for x in per_task]


def _percentile(estimate: float, draws: np.ndarray, level: float) -> Interval:
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return Interval(estimate, float(lo), float(hi))


def bootstrap_iqm_mean(
    per_task: list[np.ndarray], reps: int = REPS, level: float = LEVEL, seed: int = SEED
) -> tuple[Interval, Interval]:
    """IQM and mean with stratified percentile-bootstrap intervals."""
    rng = np.random.default_rng(seed)
    draws = _resample(per_task, rng, reps)
    weights = np.concatenate([np.full(len(x), 1.0 / len(x)) for x in per_task])
    pooled = np.concatenate(draws, axis=1)  # (reps, Σ n_t)
    iqms = weighted_iqm(pooled, weights)
    means = np.mean([d.mean(axis=1) for d in draws], axis=0)
    return (
        _percentile(iqm(per_task), iqms, level),
        _percentile(task_mean(per_task), means, level),
    )


def bootstrap_improvement(
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    reps: int = REPS,
    level: float = LEVEL,
    seed: int = SEED,
) -> Interval:
    """P(X > Y) with an interval from resampling X's and Y's runs independently within
    each task."""
    rng = np.random.default_rng(seed)
    dx, dy = _resample(xs, rng, reps), _resample(ys, rng, reps)
    per_task = []
    for x, y in zip(dx, dy, strict=True):
        gt = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
        eq = (x[:, :, None] == y[:, None, :]).mean(axis=(1, 2))
        per_task.append(gt + 0.5 * eq)
    return _percentile(probability_of_improvement(xs, ys), np.mean(per_task, axis=0), level)

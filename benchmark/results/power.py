"""Resolving power: how small a difference between two methods a set of records can show,
and where the variance of a paired difference comes from.

A cell's score varies for three reasons, and a paired difference between two methods of
one (task, seed) inherits each of them:

- **test sampling** — which test samples the seed drew. Both methods are scored on the
  same samples, so the within-seed variance of their difference follows from the
  per-sample outcomes (`benchmark.protocol.outcomes`): for accuracy, the sample variance of the
  per-sample difference x_i = c_a,i − c_b,i over N, the discordance formula (McNemar's
  setting); for mIoU, which is not a mean over images, a bootstrap over test images.
- **training noise** — the seed fixed, only the training's own randomness re-drawn
  (`distill.training_noise`, batch order and heads): the fine-tune part is read off the
  restarts inside every cell; distillation and fine-tune together off a second run of the
  same seeds with `--set distill.training_noise=1` (`bench power --replicate DIR`), as
  E[(D⁰ − D¹)²]/2 over seeds.
- **the seed itself** — the data draw, the teacher and the student's initialisation: what
  is left of the variance of D over seeds once the two above are taken out.

The per-seed standard deviation σ of a paired difference, pooled over the method pairs of
a task, sets the task's *minimum detectable difference*: the smallest true difference a
paired t test over n seeds finds at two-sided level 5% with probability 80%,
MDE = (t_{0.975, n−1} + t_{0.80, n−1}) · σ / √n (the usual power approximation with the
noncentral t replaced by a shifted central t; e.g. Cohen, "Statistical Power Analysis",
1988, ch. 2). A board whose MDE is above the margin being argued about cannot settle it.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from benchmark.kinds import get_kind
from benchmark.protocol import outcomes
from benchmark.results.records import REFERENCE, Record

ALPHA, POWER = 0.05, 0.80
BOOTSTRAP = 400  # resamples of the test images for a segmentation difference's variance
MAX_SEEDS = 10_000


def mde(sd: float, n: int) -> float:
    """Minimum detectable paired difference over n seeds at per-seed SD `sd`."""
    if n < 2 or math.isnan(sd):
        return math.nan
    df = n - 1
    return float((sps.t.ppf(1 - ALPHA / 2, df) + sps.t.ppf(POWER, df)) * sd / math.sqrt(n))


def seeds_for(sd: float, target: float) -> int:
    """The fewest seeds whose MDE is at most `target` (0 when sd is unknown)."""
    if math.isnan(sd) or target <= 0:
        return 0
    n = 2
    while mde(sd, n) > target and n < MAX_SEEDS:
        n += 1
    return n


def pooled_sd(scores: dict[str, pd.Series]) -> tuple[float, int]:
    """Per-seed SD of a paired difference, pooled over every method pair (variances
    averaged with their degrees of freedom); and the number of pairs pooled."""
    total, df, pairs = 0.0, 0, 0
    for a, b in itertools.combinations(sorted(scores), 2):
        diff = (scores[a] - scores[b]).dropna()
        if len(diff) < 2:
            continue
        total += float(diff.var(ddof=1)) * (len(diff) - 1)
        df += len(diff) - 1
        pairs += 1
    return (math.sqrt(total / df) if df else math.nan), pairs


# ---- the within-seed variance of a paired difference from per-sample outcomes --------


def _metric_name(kind: str) -> str:
    return get_kind(kind).primary


def sampling_variance(a: np.ndarray, b: np.ndarray, kind: str, seed: int = 0) -> float:
    """Variance, due to test sampling alone, of the difference of two methods' scores on
    the same test samples. `a` and `b` are outcome arrays of equal shape: [N, ...] for one
    prediction, or [R, N, ...] for R fine-tune restarts (the score is their mean)."""
    if a.shape != b.shape:
        raise ValueError(f"outcomes of shapes {a.shape} and {b.shape} are not paired")
    return _paired_variance(_SideTerms(kind), a, b, seed)


class _SideTerms:
    """One side's share of a paired difference's test-sampling variance, computed once per
    outcome array however many pairs the array is part of: for 0/1 outcomes the mean over
    restarts per sample; for segmentation each restart's bootstrap mIoU over R, under the
    resampling weights of the seed (drawn once per seed and test-set size). Combining two
    sides repeats `sampling_variance`'s arithmetic in its order, so the numbers are the
    same to the bit as computing every pair from scratch."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._weights: dict[tuple[int, int], np.ndarray] = {}
        self._terms: dict[object, list[np.ndarray]] = {}

    def weights(self, n: int, seed: int) -> np.ndarray:
        if (n, seed) not in self._weights:
            rng = np.random.default_rng(seed)
            self._weights[(n, seed)] = rng.multinomial(
                n, np.full(n, 1.0 / n), size=BOOTSTRAP
            ).astype(np.float64)
        return self._weights[(n, seed)]

    def terms(self, side: np.ndarray, seed: int, key: object = None) -> list[np.ndarray]:
        """`side` as [R, N, ...] outcomes; `key` names it for the cache (None: no cache)."""
        if key is not None and key in self._terms:
            return self._terms[key]
        n = side.shape[1]
        if not get_kind(self.kind).dense:
            out = [side.astype(np.float64).mean(0)]
        else:
            weights, out = self.weights(n, seed), []
            for restart in side:
                flat = restart.reshape(n, -1).astype(np.float64)
                totals = (weights @ flat).reshape(BOOTSTRAP, 3, -1)
                inter, predicted, truth = totals[:, 0], totals[:, 1], totals[:, 2]
                union = predicted + truth - inter
                iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), np.nan)
                out.append(np.nanmean(iou, axis=1) / len(side))
        if key is not None:
            self._terms[key] = out
        return out


def _paired_variance(
    sides: _SideTerms,
    a: np.ndarray,
    b: np.ndarray,
    seed: int,
    keys: tuple[object, object] = (None, None),
) -> float:
    restarts = a.ndim == get_kind(sides.kind).outcome_ndim + 1
    a3, b3 = (a, b) if restarts else (a[None], b[None])
    n = a3.shape[1]
    ta, tb = sides.terms(a3, seed, keys[0]), sides.terms(b3, seed, keys[1])
    if not get_kind(sides.kind).dense:  # 0/1 per sample: the discordance formula
        x = ta[0] - tb[0]
        return float(x.var(ddof=1) / n) if n > 1 else math.nan
    diffs = np.zeros(BOOTSTRAP)
    for term in ta:
        diffs += term
    for term in tb:
        diffs -= term  # (-m)/R is exactly -(m/R)
    return float(diffs.var(ddof=1))


def restart_variance(a: np.ndarray, b: np.ndarray, kind: str) -> float:
    """Variance of a paired difference of restart means due to the fine-tune's own
    training noise. Restart r of every method uses the same random stream (head
    initialisation, batch order), so the restarts are paired too and their noise is
    partly shared: the sample variance over r of (a_r − b_r), over R (nan for R = 1)."""
    return _restart_variance(_restart_scores(a, kind), _restart_scores(b, kind))


def _restart_scores(side: np.ndarray, kind: str) -> list[float]:
    name = _metric_name(kind)
    return [outcomes.scores(x, kind)[name] for x in side]


def _restart_variance(a: list[float], b: list[float]) -> float:
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    return float(np.var(diffs, ddof=1) / len(diffs)) if len(diffs) > 1 else math.nan


# ---- the decomposition of one task's records -----------------------------------------


@dataclass(frozen=True)
class Components:
    """Per-seed variances (in squared metric units) of a paired difference, pooled over
    a task's method pairs, for one evaluation protocol ("probe", "finetune", or the
    labelled track's "head")."""

    task: str
    protocol: str
    metric: str
    seeds: int
    pairs: int
    total: float  # variance of D over seeds
    test: float  # test sampling, within seed
    finetune_noise: float  # the fine-tune restarts' noise in their mean (nan for the probe)
    training: float  # all training noise, from a replicate run (nan without one)

    @property
    def seed_part(self) -> float:
        """What is left for the seed once test sampling and training noise are out."""
        train = self.training if not math.isnan(self.training) else self.finetune_noise
        return self.total - self.test - (0.0 if math.isnan(train) else train)

    def dominant(self) -> str:
        parts = {"test sampling": self.test, "seed": self.seed_part}
        if not math.isnan(self.training):
            parts["training noise"] = self.training
        elif not math.isnan(self.finetune_noise):
            parts["fine-tune noise"] = self.finetune_noise
        return max(parts, key=lambda k: parts[k])


def _cells(records: list[Record]) -> dict[tuple[str, str, int], Record]:
    return {
        (r.task, r.method, r.seed): r
        for r in records
        if r.ok and r.method != REFERENCE and r.outcomes
    }


def decompose(
    records: list[Record],
    kinds: dict[str, str],
    replicate: list[Record] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Components]:
    """The variance components of every task in `records` (`kinds`: task → task kind),
    for the probe and the fine-tune; `replicate` holds the same cells re-run with another
    `distill.training_noise`. `progress` is told each (task, protocol) when it is done.
    Every component of a task is estimated on one set of method pairs and seeds: with a
    replicate, the methods and seeds it shares with `records` (so the total and the parts
    it is split into describe the same differences); without one, every method and seed
    of `records`.

    Every pair of methods shares its cells with many other pairs, so what depends on one
    cell alone (its decoded outcomes, its side of the bootstrap, its restarts' scores) is
    computed once per cell, not once per pair."""
    cells, again = _cells(records), _cells(replicate or [])
    decoded: dict[tuple[str, str, int, str], np.ndarray] = {}
    restart_scores: dict[tuple[str, str, int], list[float]] = {}
    started = time.perf_counter()
    done, steps = 0, 2 * len({t for t, _, _ in cells})

    def outcome(task: str, method: str, seed: int, protocol: str) -> np.ndarray:
        """A cell's outcome array, decoded once however many pairs it is part of."""
        key = (task, method, seed, protocol)
        if key not in decoded:
            decoded[key] = outcomes.decode(cells[(task, method, seed)].outcomes[protocol])
        return decoded[key]

    out = []
    for task in sorted({t for t, _, _ in cells}):
        kind = kinds[task]
        name = _metric_name(kind)
        sides = _SideTerms(kind)
        methods = sorted({m for t, m, _ in cells if t == task})
        seeds = sorted({s for t, _, s in cells if t == task})
        if replicate is not None:
            methods = [m for m in methods if any((task, m, s) in again for s in seeds)]
            seeds = [s for s in seeds if any((task, m, s) in again for m in methods)]
        present = {p for (t, _, _), c in cells.items() if t == task for p in c.outcomes}
        # The labelled track's cells have the student's own head instead of a fine-tune.
        for protocol in [p for p in ("probe", "finetune", "head") if p in present]:
            metric = f"{protocol}_{name}"
            scores = {
                m: pd.Series(
                    {s: cells[(task, m, s)].metrics[metric] for s in seeds if (task, m, s) in cells}
                )
                for m in methods
            }
            sd, pairs = pooled_sd(scores)
            tests, tunes, trains = [], [], []
            for a, b in itertools.combinations(methods, 2):
                for s in seeds:
                    if (task, a, s) not in cells or (task, b, s) not in cells:
                        continue
                    oa, ob = outcome(task, a, s, protocol), outcome(task, b, s, protocol)
                    if oa.shape != ob.shape:
                        raise ValueError(
                            f"{task} seed {s}: outcomes of {a} and {b} have shapes "
                            f"{oa.shape} and {ob.shape}, not paired"
                        )
                    tests.append(
                        _paired_variance(sides, oa, ob, s, ((a, s, protocol), (b, s, protocol)))
                    )
                    if protocol == "finetune":
                        for m, o in ((a, oa), (b, ob)):
                            if (m, s, task) not in restart_scores:
                                restart_scores[(m, s, task)] = _restart_scores(o, kind)
                        tunes.append(
                            _restart_variance(
                                restart_scores[(a, s, task)], restart_scores[(b, s, task)]
                            )
                        )
                    if (task, a, s) in again and (task, b, s) in again:
                        d0 = scores[a][s] - scores[b][s]
                        ra, rb = again[(task, a, s)], again[(task, b, s)]
                        d1 = ra.metrics[metric] - rb.metrics[metric]
                        trains.append((d0 - d1) ** 2 / 2)
            out.append(
                Components(
                    task=task,
                    protocol=protocol,
                    metric=metric,
                    seeds=len(seeds),
                    pairs=pairs,
                    total=sd**2,
                    test=_mean(tests),
                    finetune_noise=_mean(tunes),
                    training=_mean(trains),
                )
            )
            done += 1
            if progress is not None:
                elapsed = time.perf_counter() - started
                progress(
                    f"{task} {metric}: {len(methods)} methods × {len(seeds)} seeds "
                    f"({done}/{steps}, {elapsed:.0f} s)"
                )
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def sd_points(variance: float) -> str:
    """A variance in squared fractions as an SD in points."""
    return "—" if math.isnan(variance) else f"{100 * math.sqrt(max(variance, 0.0)):.2f}"


def power_table(components: list[Components]) -> str:
    """The decomposition as a markdown table, SDs in points, with each task's MDE."""
    lines = [
        "| task | metric | seeds | pairs | SD of D | test sampling | fine-tune restarts | "
        "training (replicate) | seed | dominant | MDE | seeds for 2 pts | seeds for 1 pt |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for c in components:
        sd = math.sqrt(c.total) if not math.isnan(c.total) else math.nan
        lines.append(
            f"| {c.task} | {c.metric} | {c.seeds} | {c.pairs} | {sd_points(c.total)} | "
            f"{sd_points(c.test)} | {sd_points(c.finetune_noise)} | {sd_points(c.training)} | "
            f"{sd_points(c.seed_part)} | {c.dominant()} | {two_places(100 * mde(sd, c.seeds))} | "
            f"{seeds_for(sd, 0.02)} | {seeds_for(sd, 0.01)} |"
        )
    return "\n".join(lines)


def two_places(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"

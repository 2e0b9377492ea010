"""Small-sample statistics for the leaderboard and the figures.

A benchmark cell is (task, method, seed) and a seed fixes the data, the teacher and the
student's initial weights, so two methods run on the same seeds are *paired*: most of
the seed-to-seed variance (an easy or hard draw of the world, a good or bad teacher) is
shared and cancels in the per-seed difference. Comparisons therefore use the paired t
test on per-seed differences (Student 1908; any statistics text), not two independent
means. With few seeds the t distribution has few degrees of freedom, so intervals are
wide: a mark means the seeds agree, not a tight estimate.

A board makes many comparisons at once, so every claim that a difference is resolved is
read off a multiple-testing procedure over its family (`holm`; the families are named where
the claims are made: `benchmark.results.ranks`). Equivalence within a margin is the two
one-sided tests (`tost`). docs/statistics.md says which procedure and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.special import stdtr, stdtrit

# Two-sided 95% Student-t quantiles t_{0.975, df}, df = 1..30 (standard tables).
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t975(df: int) -> float:
    """t quantile for a 95% interval; beyond the table, 1.96 + 2.4/df is within 0.002."""
    if df < 1:
        return math.nan
    return _T975[df - 1] if df <= len(_T975) else 1.96 + 2.4 / df


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95% t interval (nan for a single value)."""
    values = values.dropna()
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan
    return mean, t975(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)


@dataclass(frozen=True)
class Paired:
    """A paired comparison a − b over the seeds both have."""

    mean: float  # mean per-seed difference
    half: float  # half-width of its 95% t interval
    p: float  # two-sided p-value of the paired t test (H0: mean difference 0)
    n: int  # seeds both sides have

    @property
    def excludes_zero(self) -> bool:
        """The 95% interval lies entirely above or below zero (equivalently p < 0.05)."""
        return not math.isnan(self.half) and abs(self.mean) > self.half


def paired_test(a: pd.Series, b: pd.Series) -> Paired:
    """Paired t test of a − b, both indexed by seed; seeds missing on either side (a
    failed cell) are left out rather than paired with another seed."""
    diff = (a - b).dropna()
    mean, half = mean_ci(diff)
    n = len(diff)
    if n < 2:
        return Paired(mean, math.nan, math.nan, n)
    sd = float(diff.std(ddof=1))
    if sd == 0.0:  # every seed agrees exactly: no spread to test against
        return Paired(mean, 0.0, 0.0 if mean != 0 else 1.0, n)
    t = mean / (sd / math.sqrt(n))
    return Paired(mean, half, float(2 * sps.t.sf(abs(t), df=n - 1)), n)


def spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation of paired values (nan when either side is constant or
    fewer than 3 pairs remain): does y grow with x, whatever the shape."""
    both = pd.DataFrame({"x": x, "y": y}).dropna()
    if len(both) < 3 or both["x"].nunique() < 2 or both["y"].nunique() < 2:
        return math.nan
    return float(sps.spearmanr(both["x"], both["y"]).statistic)


def one_sided_p(diff: pd.Series) -> float:
    """p-value of the paired t test of H0: mean(diff) ≤ 0 against mean(diff) > 0 (nan for
    fewer than 2 values; every value equal: 0 when positive, else 1)."""
    diff = diff.dropna()
    n = len(diff)
    if n < 2:
        return math.nan
    mean, sd = float(diff.mean()), float(diff.std(ddof=1))
    if sd == 0.0:
        return 0.0 if mean > 0 else 1.0
    return float(sps.t.sf(mean / (sd / math.sqrt(n)), df=n - 1))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's (1979) step-down adjusted p-values: sort ascending, multiply the i-th
    smallest (i = 0, 1, ...) by m − i, take the running maximum, cap at 1. Rejecting every
    hypothesis whose adjusted p is ≤ α controls the family-wise error rate at α under any
    dependence between the tests. A nan p-value (a pair with too few seeds) counts as 1:
    it stays in the family and is never rejected."""
    m = len(pvalues)
    filled = [1.0 if math.isnan(p) else p for p in pvalues]
    order = sorted(range(m), key=lambda i: filled[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * filled[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests (Schuirmann 1987) of |mean difference| < margin."""

    p: float  # max of the two one-sided p-values: equivalence is shown when p ≤ α
    lower: float  # the 90% interval (1 − 2α) whose inclusion in (−margin, margin) is TOST
    upper: float
    n: int


def tost(diff: pd.Series | np.ndarray, margin: float, alpha: float = 0.05) -> Equivalence:
    """TOST of H0: |E diff| ≥ margin on paired per-seed differences: p1 for H0 mean ≤
    −margin, p2 for H0 mean ≥ margin, p = max(p1, p2). Equivalent to asking whether the
    (1 − 2α) t interval lies inside (−margin, margin)."""
    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    n = len(d)
    if n < 2:
        return Equivalence(math.nan, math.nan, math.nan, n)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        inside = abs(mean) < margin
        return Equivalence(0.0 if inside else 1.0, mean, mean, n)
    se = sd / math.sqrt(n)
    p1 = float(stdtr(n - 1, -(mean + margin) / se))  # Student-t sf and cdf, scipy.special
    p2 = float(stdtr(n - 1, (mean - margin) / se))
    half = float(stdtrit(n - 1, 1 - alpha)) * se
    return Equivalence(max(p1, p2), mean - half, mean + half, n)

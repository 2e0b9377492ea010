"""Error-controlled verdicts within one (task, track): which method beats which, which
pairs are equivalent within a margin, and each method's confidence set of ranks.

The family. Every claim the board makes about a (task, track) — an asterisk on a Δ, a
"resolved" in `scripts/pairwise.py`, a bound of a rank set — is one of the n(n − 1)
one-sided hypotheses H_ab: θ_a ≤ θ_b (a, b ≠ a among the n methods of the task and track),
tested by the paired t test on per-seed differences (`benchmark.results.stats`). Holm's
step-down procedure over the whole family rejects H_ab ("a is better than b") while
keeping the probability of *any* false rejection at or below α, whatever the dependence
between the tests. Rejecting H_ab is a directional claim in itself, so no separate
argument about sign errors of two-sided tests is needed.

The rank sets (Mogstad, Romano, Shaikh & Wilhelm, "Inference for ranks with applications
to mobility across neighbourhoods and academic achievement across countries", Review of
Economic Studies 2024; its Holm variant as in Bazylik et al. 2024 and R's
`csranks_multinom(multcorr = "Holm")`): with B_j = {k: H_kj rejected} (resolved better
than j) and W_j = {k: H_jk rejected} (resolved worse), the set for j is

    [1 + |B_j|, n − |W_j|].

On the event that no hypothesis is falsely rejected (probability ≥ 1 − α) every method's
true rank (1 = best; ties take any of their positions) lies in its set, for all methods
simultaneously. Paired tests of different pairs have different variances, so the raw sets
can, in rare configurations, separate two methods whose own comparison is unresolved, or
order a pair against its means. `rank_sets` then widens both sets until they touch, which
only adds ranks: coverage is kept, and the board's promise holds by construction — two
methods whose difference is not resolved never get disjoint sets, and no pair is ordered
against its means.

Equivalence: the two one-sided tests (TOST) at ±margin for every unordered pair, with
Holm over the n(n − 1)/2 pairs, so "equivalent within 2 points" is error-controlled too.
A pair is then *resolved* (a direction), *equivalent* (within the margin), both (a
resolved difference smaller than the margin), or *undetermined*.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import stdtr

from benchmark.results.stats import Equivalence, Paired, holm, t975, tost

ALPHA = 0.05
MARGIN = 0.02  # the equivalence margin, in metric units (2 points); `--margin` sets it

BETTER, WORSE, EQUIVALENT, UNDETERMINED = "better", "worse", "equivalent", "undetermined"


@dataclass(frozen=True)
class Pair:
    """The verdict on a − b within its family (oriented: `better` means a beats b)."""

    a: str
    b: str
    diff: Paired  # a − b per seed
    p_holm: float  # Holm-adjusted p of the one-sided claim in the direction of diff's sign
    resolved: int  # +1: a better (H_ab rejected), −1: b better, 0: unresolved
    equivalence: Equivalence
    equivalence_holm: float  # Holm-adjusted TOST p over the family's unordered pairs
    equivalent: bool

    def flipped(self) -> Pair:
        d, e = self.diff, self.equivalence
        return Pair(
            self.b,
            self.a,
            Paired(-d.mean, d.half, d.p, d.n),
            self.p_holm,
            -self.resolved,
            Equivalence(e.p, -e.upper, -e.lower, e.n),
            self.equivalence_holm,
            self.equivalent,
        )

    @property
    def word(self) -> str:
        """better / worse / equivalent / undetermined (resolved wins over equivalent)."""
        if self.resolved:
            return BETTER if self.resolved > 0 else WORSE
        return EQUIVALENT if self.equivalent else UNDETERMINED


@dataclass(frozen=True)
class Family:
    """Every verdict of one (task, track): methods sorted by mean (best first)."""

    methods: list[str]
    means: dict[str, float]
    alpha: float
    margin: float
    pairs: dict[tuple[str, str], Pair] = field(repr=False)  # keys (a, b) with a < b
    ranks: dict[str, tuple[int, int]]

    @property
    def hypotheses(self) -> int:
        """Size of the family the directional claims are controlled over: n(n − 1)."""
        n = len(self.methods)
        return n * (n - 1)

    def pair(self, a: str, b: str) -> Pair:
        """The verdict on a − b."""
        return self.pairs[(a, b)] if (a, b) in self.pairs else self.pairs[(b, a)].flipped()

    def family_text(self) -> str:
        n = len(self.methods)
        return (
            f"Holm over the {self.hypotheses} one-sided pairwise hypotheses of its "
            f"{n} methods (family-wise error ≤ {self.alpha:.0%})"
        )


def _diffs(frame: pd.DataFrame, a: str, b: str) -> np.ndarray:
    d = frame[a].to_numpy() - frame[b].to_numpy()
    return d[~np.isnan(d)]


def _one_sided(d: np.ndarray) -> tuple[float, float]:
    """(p of a − b > 0, p of a − b < 0) by the paired t test (nan below 2 seeds)."""
    n = len(d)
    if n < 2:
        return math.nan, math.nan
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        return (0.0 if mean > 0 else 1.0), (0.0 if mean < 0 else 1.0)
    t = mean / (sd / math.sqrt(n))
    return float(stdtr(n - 1, -t)), float(stdtr(n - 1, t))  # t's sf and cdf


def analyse(scores: dict[str, pd.Series], alpha: float = ALPHA, margin: float = MARGIN) -> Family:
    """All verdicts of a (task, track) from each method's per-seed scores (indexed by
    seed; a seed missing on one side of a pair is left out of that pair)."""
    frame = pd.DataFrame({m: pd.Series(v, dtype=float) for m, v in scores.items()})
    means = {m: float(frame[m].mean()) for m in frame.columns}
    methods = sorted(means, key=lambda m: (-_key(means[m]), m))
    unordered = list(itertools.combinations(sorted(methods), 2))
    diffs = {(a, b): _diffs(frame, a, b) for a, b in unordered}
    sided = {key: _one_sided(d) for key, d in diffs.items()}
    # The n(n − 1) hypotheses: both directions of every pair.
    raw = [sided[k][0] for k in unordered] + [sided[k][1] for k in unordered]
    adjusted = holm(raw)
    up = dict(zip(unordered, adjusted[: len(unordered)], strict=True))
    down = dict(zip(unordered, adjusted[len(unordered) :], strict=True))
    equivalences = {key: tost(d, margin, alpha) for key, d in diffs.items()}
    tost_holm = dict(zip(unordered, holm([equivalences[k].p for k in unordered]), strict=True))
    pairs = {}
    for a, b in unordered:
        resolved = 1 if up[(a, b)] <= alpha else -1 if down[(a, b)] <= alpha else 0
        pairs[(a, b)] = Pair(
            a,
            b,
            _paired(diffs[(a, b)]),
            min(up[(a, b)], down[(a, b)]),
            resolved,
            equivalences[(a, b)],
            tost_holm[(a, b)],
            tost_holm[(a, b)] <= alpha,
        )
    better = {(a, b) if p.resolved > 0 else (b, a) for (a, b), p in pairs.items() if p.resolved}
    ranks = rank_sets(methods, better, means)
    return Family(methods, means, alpha, margin, pairs, ranks)


def _paired(d: np.ndarray) -> Paired:
    """The two-sided paired test of a − b (as `stats.paired_test`), from its differences."""
    n = len(d)
    if n == 0:
        return Paired(math.nan, math.nan, math.nan, 0)
    mean = float(d.mean())
    if n < 2:
        return Paired(mean, math.nan, math.nan, n)
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return Paired(mean, 0.0, 0.0 if mean != 0 else 1.0, n)
    se = sd / math.sqrt(n)
    return Paired(mean, t975(n - 1) * se, float(2 * stdtr(n - 1, -abs(mean / se))), n)


def _key(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def rank_sets(
    methods: list[str], better: set[tuple[str, str]], means: dict[str, float]
) -> dict[str, tuple[int, int]]:
    """[1 + #resolved better, n − #resolved worse] per method (`better` holds (a, b) when
    a is resolved better than b), then widened until no unresolved pair and no pair
    ordered against its means has disjoint sets (see the module docstring)."""
    n = len(methods)
    lo = {m: 1 + sum((k, m) in better for k in methods) for m in methods}
    hi = {m: n - sum((m, k) in better for k in methods) for m in methods}
    changed = True
    while changed:
        changed = False
        for a, b in itertools.permutations(methods, 2):
            if hi[a] >= lo[b]:
                continue  # a's set is not entirely better than b's
            # a is placed entirely above b: allowed only for a resolved win of a that
            # agrees with the means.
            if (a, b) in better and _key(means[a]) >= _key(means[b]):
                continue
            hi[a], lo[b] = lo[b], hi[a]
            changed = True
    return {m: (lo[m], hi[m]) for m in methods}


def rank_text(rank: tuple[int, int]) -> str:
    lo, hi = rank
    return str(lo) if lo == hi else f"{lo}–{hi}"

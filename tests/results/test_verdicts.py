"""Error-controlled verdicts (Holm, TOST, rank sets) and the cross-task estimators (IQM,
mean, P(X > Y), stratified bootstrap): against hand computations and simulations with
known effects."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from benchmark.results import crosstask
from benchmark.results.ranks import analyse, rank_sets, rank_text
from benchmark.results.records import Record
from benchmark.results.stats import holm, one_sided_p, tost


def test_holm_against_a_hand_computation() -> None:
    # Sorted p: 0.01, 0.02, 0.03, 0.5 with m = 4 → 0.04, 0.06, max(0.06, 0.06), 0.5.
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    # The running maximum keeps the adjusted values monotone; capped at 1; nan counts as 1.
    assert holm([0.04, 0.001, 0.3]) == pytest.approx([0.08, 0.003, 0.3])
    assert holm([0.6, 0.9]) == [1.0, 1.0]
    assert holm([math.nan, 0.01]) == pytest.approx([1.0, 0.02])


def test_one_sided_p_and_tost_against_hand_computations() -> None:
    diff = pd.Series([0.010, 0.020, 0.030, 0.015])
    n, mean, sd = 4, diff.mean(), diff.std(ddof=1)
    se = sd / math.sqrt(n)
    assert one_sided_p(diff) == pytest.approx(sps.t.sf(mean / se, 3))
    # TOST at ±2 points: p = max(P(T > (m + δ)/se), P(T < (m − δ)/se)), df = 3.
    result = tost(diff, 0.02)
    p1 = sps.t.sf((mean + 0.02) / se, 3)
    p2 = sps.t.cdf((mean - 0.02) / se, 3)
    assert result.p == pytest.approx(max(p1, p2))
    half = sps.t.ppf(0.95, 3) * se  # the 90% interval TOST is equivalent to
    assert (result.lower, result.upper) == pytest.approx((mean - half, mean + half))
    assert (result.p <= 0.05) == (result.lower > -0.02 and result.upper < 0.02)
    # A wide margin shows equivalence; a difference at the margin never does.
    assert tost(diff, 0.10).p < 0.01 and tost(diff + 0.02, 0.02).p > 0.5


def _scores(table: dict[str, list[float]]) -> dict[str, pd.Series]:
    return {m: pd.Series(v) for m, v in table.items()}


def test_rank_sets_on_constructed_cases() -> None:
    seeds = np.arange(8)
    wobble = 0.002 * np.sin(seeds)  # per-seed noise small against the gaps below
    # A clear winner: resolved against both others, which are tied with each other.
    clear = analyse(_scores({"a": 0.80 + wobble, "b": 0.50 + wobble[::-1], "c": 0.501 + wobble}))
    assert clear.ranks["a"] == (1, 1)
    assert clear.ranks["b"] == (2, 3) and clear.ranks["c"] == (2, 3)
    assert clear.pair("a", "b").word == "better" and clear.pair("b", "a").word == "worse"
    assert clear.pair("b", "c").word == "equivalent"  # 0.1 points apart, tightly
    # A three-way tie: nobody resolved, everybody 1–3, sorted by mean.
    swing = 0.05 * np.array([1, -1, 1, -1, 1, -1, 1, -1])
    tie = analyse(
        _scores(
            {
                "x": 0.500 + swing,
                "y": 0.501 - swing,
                "z": 0.499 + np.abs(swing) * np.sign(np.sin(seeds + 0.5)),
            }
        )
    )
    assert set(tie.ranks.values()) == {(1, 3)}
    assert tie.methods == sorted("xyz", key=lambda m: -tie.means[m])
    # A noisy method between two stable ones: the stable pair is resolved, the noisy
    # one is resolved against neither, so its set spans both and overlaps each.
    noisy = 0.65 + 0.2 * np.array([1, -1, 1, -1, 1, -1, 1, -1]) + wobble
    mid = analyse(_scores({"top": 0.80 + wobble, "noisy": noisy, "low": 0.50 + wobble}))
    assert mid.ranks == {"top": (1, 2), "noisy": (1, 3), "low": (2, 3)}
    assert mid.pair("top", "low").resolved == 1 and mid.pair("noisy", "low").resolved == 0
    assert mid.hypotheses == 6 and rank_text((1, 3)) == "1–3" and rank_text((2, 2)) == "2"


def test_rank_sets_are_widened_where_raw_counts_would_separate_an_unresolved_pair() -> None:
    # j > m1, m2 > k resolved, but j vs k itself unresolved (as paired tests of different
    # pairs can produce): raw sets j = [1, 1], k = [4, 4] would be disjoint.
    methods = ["j", "m1", "m2", "k"]
    better = {("j", "m1"), ("j", "m2"), ("m1", "k"), ("m2", "k")}
    means = {"j": 4.0, "m1": 3.0, "m2": 2.0, "k": 1.0}
    sets = rank_sets(methods, better, means)
    assert sets["j"][1] >= sets["k"][0]  # they touch
    assert sets["m1"] == (2, 3) and sets["m2"] == (2, 3)
    # A resolved pair whose sets would order it against its means is widened too.
    sets = rank_sets(["a", "b"], {("a", "b")}, {"a": 1.0, "b": 2.0})
    assert sets == {"a": (1, 2), "b": (1, 2)}


def test_family_wise_error_of_the_directional_claims_is_at_most_alpha() -> None:
    """Five methods, true means 0, 0, 0, 3, 3 points, a shared seed effect and 8 seeds:
    the rate of simulations with at least one false claim (a resolved 'a beats b' where
    θ_a ≤ θ_b) stays at or below 5% within Monte Carlo error; the rank sets then cover
    every true rank."""
    rng = np.random.default_rng(1)
    truth = np.array([0.0, 0.0, 0.0, 0.03, 0.03])
    names = [f"m{i}" for i in range(5)]
    trials, errors, found = 300, 0, 0
    for _ in range(trials):
        seed_effect = rng.normal(0, 0.05, (8, 1))
        scores = truth + seed_effect + rng.normal(0, 0.01, (8, 5))
        family = analyse({n: pd.Series(scores[:, i]) for i, n in enumerate(names)})
        false = [
            (a, b)
            for (a, b), p in family.pairs.items()
            if (p.resolved > 0 and truth[names.index(a)] <= truth[names.index(b)])
            or (p.resolved < 0 and truth[names.index(b)] <= truth[names.index(a)])
        ]
        errors += bool(false)
        found += family.pair("m3", "m0").resolved == 1
    rate, mc = errors / trials, math.sqrt(0.05 * 0.95 / trials)
    assert rate <= 0.05 + 2 * mc
    assert found / trials > 0.5  # and the procedure has power for a 3-point effect


def test_iqm_mean_and_improvement_against_hand_computations() -> None:
    a = [np.array([0.0, 1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0, 7.0])]
    # 8 runs pooled, the middle half is 2, 3, 4, 5.
    assert crosstask.iqm(a) == pytest.approx(3.5)
    assert crosstask.iqm(a) == pytest.approx(sps.trim_mean(np.concatenate(a), 0.25))
    assert crosstask.task_mean(a) == pytest.approx((1.5 + 5.5) / 2)
    # Unequal seed counts: every task weighs the same (task 2's runs count double).
    uneven = [np.array([0.0, 0.0, 1.0, 1.0]), np.array([10.0, 10.0])]
    assert crosstask.iqm(uneven) == pytest.approx((1.0 * 0.25 + 10.0 * 0.25) / 0.5)
    # P(X > Y): x = (1, 3), y = (2, 2): pairs 1>2 no, 3>2 yes → 0.5; ties count half.
    assert crosstask.improvement(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert crosstask.improvement(np.array([2.0]), np.array([2.0])) == 0.5
    assert crosstask.probability_of_improvement(
        [np.array([1.0, 3.0]), np.array([5.0])], [np.array([2.0, 2.0]), np.array([4.0])]
    ) == pytest.approx((0.5 + 1.0) / 2)
    # rliable's definition: the Mann-Whitney U statistic over n_x · n_y.
    x, y = np.array([0.3, 0.1, 0.7, 0.5]), np.array([0.2, 0.6, 0.4])
    u = sps.mannwhitneyu(x, y, alternative="greater").statistic
    assert crosstask.improvement(x, y) == pytest.approx(u / 12)
    assert crosstask.normalise(np.array([0.3, 0.5]), 0.3, 0.7) == pytest.approx([0.0, 0.5])


def test_stratified_bootstrap_resamples_within_tasks_and_covers() -> None:
    # A task whose runs are all equal contributes no spread: the interval of the mean is
    # half the spread of the other task's mean alone.
    fixed = [np.full(6, 2.0), np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])]
    _, mean = crosstask.bootstrap_iqm_mean(fixed, reps=400)
    assert mean.estimate == pytest.approx(1.25) and mean.lower >= 1.0 and mean.upper <= 1.5
    # Coverage on a known distribution: 4 tasks × 20 runs of N(μ_t, 1), true mean of the
    # task means 0.25 and true IQM of the pooled mixture computed by quadrature.
    rng = np.random.default_rng(2)
    mus = np.array([0.0, 0.5, -0.5, 1.0])
    trials, covered = 150, 0
    for _ in range(trials):
        runs = [mu + rng.normal(0, 1, 20) for mu in mus]
        _, mean = crosstask.bootstrap_iqm_mean(runs, reps=400, seed=int(rng.integers(1 << 30)))
        covered += mean.lower <= mus.mean() <= mean.upper
    assert 0.88 <= covered / trials <= 0.99
    # P(X > Y) for X ~ N(d, 1), Y ~ N(0, 1) is Φ(d / √2); the interval covers it.
    d, trials, covered = 0.5, 100, 0
    for _ in range(trials):
        xs = [d + rng.normal(0, 1, 20) for _ in range(3)]
        ys = [rng.normal(0, 1, 20) for _ in range(3)]
        p = crosstask.bootstrap_improvement(xs, ys, reps=400, seed=int(rng.integers(1 << 30)))
        covered += p.lower <= sps.norm.cdf(d / math.sqrt(2)) <= p.upper
    assert 0.88 <= covered / trials <= 1.0


def test_seeds_per_task_follow_the_mde_formula() -> None:
    from benchmark.results.power import mde
    from benchmark.results.seeds import seed_needs, seed_plan

    # Two tracks of one task: pooled SDs 1 and 3 points (one pair each, constant a − b
    # spread), so the task's plan is the larger need, the noisier track's.
    base = pd.Series(np.zeros(6))
    swing = pd.Series([1.0, -1.0, 1.0, -1.0, 1.0, -1.0]) * math.sqrt(5 / 6)  # SD exactly 1
    scores = {
        ("supervised", "t"): {"a": base + 0.01 * swing, "b": base},
        ("label-free", "t"): {"a": base + 0.03 * swing, "b": base},
    }
    needs = {n.track: n for n in seed_needs(scores, 0.02)}
    for track, sd in (("supervised", 0.01), ("label-free", 0.03)):
        need = needs[track]
        assert need.sd == pytest.approx(sd) and need.pairs == 1 and need.seeds == 6
        # The fewest n with (t_{0.975,n-1} + t_{0.80,n-1}) σ / √n ≤ 2 points.
        n = need.need
        assert mde(sd, n) <= 0.02 < mde(sd, n - 1)
        by_hand = (sps.t.ppf(0.975, n - 1) + sps.t.ppf(0.8, n - 1)) * sd / math.sqrt(n)
        assert mde(sd, n) == pytest.approx(by_hand)
    assert seed_plan(list(needs.values())) == {"t": needs["label-free"].need}


def _cell(method: str, seed: int, acc: float) -> Record:
    from benchmark.protocol import outcomes

    rng = np.random.default_rng(seed * 7 + len(method))
    probe = (rng.random(40) < acc).astype(np.uint8)
    tune = (rng.random((2, 40)) < acc).astype(np.uint8)
    return Record(
        task="t",
        method=method,
        seed=seed,
        status="ok",
        config_hash="h",
        profile="quick",
        metrics={"probe_acc": float(probe.mean()), "finetune_acc": float(tune.mean())},
        outcomes={"probe": outcomes.encode(probe), "finetune": outcomes.encode(tune)},
    )


def test_power_decomposition_uses_one_set_of_pairs_and_seeds() -> None:
    from benchmark.results.power import decompose

    records = [_cell(m, s, 0.5 + 0.1 * i) for i, m in enumerate("abc") for s in range(4)]
    replicate = [_cell(m, s, 0.55) for m in "ab" for s in range(2)]
    alone = decompose(records, {"t": "classification"})
    assert {(c.pairs, c.seeds) for c in alone} == {(3, 4)}
    both = decompose(records, {"t": "classification"}, replicate)
    # Every column on the replicate's methods and seeds: one pair, two seeds.
    assert {(c.pairs, c.seeds) for c in both} == {(1, 2)}
    assert all(not math.isnan(c.training) for c in both)


def test_compare_and_tuned_gains_resolve_after_holm_within_their_family() -> None:
    from benchmark.results.compare import DIFFERS, WITHIN_NOISE, Row, control
    from benchmark.results.stats import Paired
    from benchmark.results.tune_board import Gain, resolved_gains

    # Three rows of one task: p = 0.01, 0.03, 0.04 → Holm 0.03, 0.06, 0.06.
    rows = [
        Row("t", "supervised", m, "finetune_acc", [0, 1, 2], "", Paired(0.1, 0.05, p, 3))
        for m, p in (("a", 0.01), ("b", 0.03), ("c", 0.04))
    ]
    control(rows)
    assert [r.verdict for r in rows] == [DIFFERS, WITHIN_NOISE, WITHIN_NOISE]
    assert [r.p_holm for r in rows] == pytest.approx([0.03, 0.06, 0.06])
    # Tuned gains: family of 2m one-sided hypotheses. A clear gain survives, a small one
    # (resolved alone at 5%) does not once the family has 4 hypotheses.
    base = pd.Series([0.50, 0.52, 0.51, 0.49])
    clear = Gain("t", "l2", {}, base, base + pd.Series([0.10, 0.11, 0.10, 0.12]))
    small = Gain("t", "kd", {}, base, base + pd.Series([0.01, 0.03, 0.005, 0.02]))
    assert one_sided_p(small.tuned - small.defaults) < 0.05
    assert resolved_gains([clear, small]) == {"l2": True, "kd": False}

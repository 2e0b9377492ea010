"""Per-sample outcomes and the resolution statistics: against
hand computations, against simulations with a known difference, and on a real cell."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.config import RunConfig
from benchmark.execution.cell_setup import initial_student
from benchmark.execution.plan import REFERENCE, Cell, plan_cell
from benchmark.execution.runner import CellRunner
from benchmark.protocol import outcomes
from benchmark.protocol.evaluate import linear_probe
from benchmark.protocol.training import score
from benchmark.results.power import mde, pooled_sd, restart_variance, sampling_variance, seeds_for
from benchmark.results.stats import paired_test

CPU = torch.device("cpu")


def test_outcomes_give_back_the_metrics_and_survive_encoding() -> None:
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(-1, 4, (6, 5, 7), generator=gen)  # -1: unlabelled pixels
    pred = torch.randint(0, 4, (6, 5, 7), generator=gen)
    seg = outcomes.per_sample(pred, labels, "segmentation", 4)
    assert seg.shape == (6, 3, 4) and seg.dtype == np.uint16
    valid = labels >= 0
    assert seg[:, 2].sum() == valid.sum() and seg[:, 1].sum() == valid.sum()
    assert seg[:, 0].sum() == (valid & (pred == labels)).sum()
    # Hand computation from one confusion matrix over all images.
    conf = np.zeros((4, 4))
    for lab, prd in zip(labels[valid].tolist(), pred[valid].tolist(), strict=True):
        conf[lab, prd] += 1
    iou = np.diag(conf) / (conf.sum(0) + conf.sum(1) - np.diag(conf))
    assert score(pred, labels, "segmentation", 4)["miou"] == pytest.approx(iou.mean())
    assert np.array_equal(outcomes.decode(outcomes.encode(seg)), seg)
    cls = outcomes.per_sample(
        torch.tensor([1, 2, 3, 0]), torch.tensor([1, 2, 0, 0]), "classification", 4
    )
    assert cls.tolist() == [1, 1, 0, 1] and outcomes.scores(cls, "classification") == {"acc": 0.75}
    restarts = np.stack([cls, np.array([0, 0, 0, 1], dtype=np.uint8)])
    assert outcomes.restart_scores(restarts, "classification") == {"acc": 0.5}


def test_a_cells_record_holds_the_outcomes_its_metrics_come_from(
    smoke: RunConfig, cache_dir: Path
) -> None:
    for task, kind, name in (
        ("sketch-cls", "classification", "acc"),
        ("depth-seg", "segmentation", "miou"),
    ):
        record = CellRunner(smoke, cache_dir, CPU).run(plan_cell(Cell(task, "l2", 0), smoke))
        assert record.ok, record.reason
        probe = outcomes.decode(record.outcomes["probe"])
        tuned = outcomes.decode(record.outcomes["finetune"])
        assert len(tuned) == smoke.eval.finetune_restarts
        # Exactly, not approximately: the metric is computed from these arrays.
        assert record.metrics[f"probe_{name}"] == outcomes.scores(probe, kind)[name]
        assert record.metrics[f"finetune_{name}"] == outcomes.restart_scores(tuned, kind)[name]
        assert len(probe) == smoke.data.test
        facts = record.data
        assert facts["sizes"]["test"] == smoke.data.test and facts["kind"] == kind
        assert facts["sizes"]["paired"] == smoke.data.paired and facts["warnings"] == []


def test_the_probe_is_deterministic(smoke: RunConfig, cache_dir: Path) -> None:
    runner = CellRunner(smoke, cache_dir, CPU)
    data = runner.data(plan_cell(Cell("sketch-cls", REFERENCE, 0), smoke))
    student = initial_student(smoke.student.backbone, data, 0)
    first = linear_probe(student, data, smoke.eval)
    assert np.array_equal(first, linear_probe(student, data, smoke.eval))


def test_mde_and_seeds_needed_by_hand() -> None:
    # n = 10: t_{0.975,9} = 2.2622, t_{0.80,9} = 0.8834 (tables); MDE = 3.1456 σ / √10.
    assert mde(1.0, 10) == pytest.approx(3.1456 / math.sqrt(10), abs=1e-3)
    assert math.isnan(mde(1.0, 1))
    n = seeds_for(0.035, 0.02)
    assert mde(0.035, n) <= 0.02 < mde(0.035, n - 1)
    # A per-seed SD of 3.5 points needs about (2.8 · 3.5 / 2)² ≈ 24 seeds for 2 points.
    assert 24 <= n <= 28


def test_pooled_sd_pools_every_pair_by_hand() -> None:
    scores = {
        "a": pd.Series([1.0, 2.0, 3.0]),
        "b": pd.Series([1.0, 1.0, 1.0]),  # a − b = 0, 1, 2: variance 1
        "c": pd.Series([2.0, 2.0, 2.0]),  # a − c = −1, 0, 1: variance 1; b − c: 0
    }
    sd, pairs = pooled_sd(scores)
    assert pairs == 3 and sd == pytest.approx(math.sqrt(2 / 3))


def test_sampling_variance_by_hand_and_against_redrawn_test_sets() -> None:
    a = np.array([1, 0, 1, 1], dtype=np.uint8)
    b = np.array([0, 0, 1, 0], dtype=np.uint8)  # x = 1, 0, 0, 1: variance 1/3, over 4
    assert sampling_variance(a, b, "classification") == pytest.approx(1 / 12)
    # The formula's variance matches the spread of the difference over fresh test draws.
    rng = np.random.default_rng(1)
    n, p_a, p_b, overlap = 2000, 0.7, 0.65, 0.55  # P(both right) = overlap
    probs = [overlap, p_a - overlap, p_b - overlap, 1 - p_a - p_b + overlap]
    diffs, predicted = [], []
    for _ in range(300):
        kind = rng.choice(4, size=n, p=probs)
        ca = np.isin(kind, (0, 1)).astype(np.uint8)
        cb = np.isin(kind, (0, 2)).astype(np.uint8)
        diffs.append(ca.mean() - cb.mean())
        predicted.append(sampling_variance(ca, cb, "classification"))
    assert np.mean(predicted) == pytest.approx(np.var(diffs, ddof=1), rel=0.2)


def test_segmentation_bootstrap_matches_redrawn_test_sets() -> None:
    rng = np.random.default_rng(2)
    n, classes = 300, 3

    def draw(p_right: float) -> np.ndarray:
        truth = rng.multinomial(100, [0.6, 0.3, 0.1], size=n)
        inter = rng.binomial(truth, p_right)
        pred = inter + rng.multinomial(1, [1 / classes] * classes, size=n) * (
            truth.sum(1, keepdims=True) - inter.sum(1, keepdims=True)
        )
        return np.stack([inter, pred, truth], axis=1).astype(np.uint16)

    diffs, predicted = [], []
    for i in range(60):
        a, b = draw(0.7), draw(0.6)
        diffs.append(
            outcomes.scores(a, "segmentation")["miou"] - outcomes.scores(b, "segmentation")["miou"]
        )
        predicted.append(sampling_variance(a, b, "segmentation", seed=i))
    assert np.mean(predicted) == pytest.approx(np.var(diffs, ddof=1), rel=0.35)


def test_restart_variance_pairs_the_restarts_by_hand() -> None:
    a = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]], dtype=np.uint8)  # .5, .75, .25
    b = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=np.uint8)  # .25, .5, 0
    # a_r − b_r = 0.25 for every restart: shared restart noise cancels completely.
    assert restart_variance(a, b, "classification") == pytest.approx(0.0)
    c = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]], dtype=np.uint8)  # 0, 1, .5
    # a − c = 0.5, −0.25, −0.25: variance 0.1875, over 3 restarts.
    assert restart_variance(a, c, "classification") == pytest.approx(0.1875 / 3)
    assert math.isnan(restart_variance(a[:1], c[:1], "classification"))


def test_paired_interval_covers_a_known_difference_in_nested_simulations() -> None:
    """Seeds with their own effect on the difference, each scored on its own test draw of
    Bernoulli outcomes: the paired t interval over seeds covers the true difference about
    95% of the time, and a null difference is called about 5% of the time."""
    rng = np.random.default_rng(3)
    seeds, n, delta, tau = 8, 1000, 0.02, 0.015
    covered, false_alarms, trials = 0, 0, 400
    for _ in range(trials):
        for true in (delta, 0.0):
            shift = true + rng.normal(0, tau, seeds)
            a = pd.Series([rng.binomial(n, 0.6 + s / 2) / n for s in shift])
            b = pd.Series([rng.binomial(n, 0.6 - s / 2) / n for s in shift])
            test = paired_test(a, b)
            if true:
                covered += abs(test.mean - true) <= test.half
            else:
                false_alarms += test.excludes_zero
    assert 0.92 <= covered / trials <= 0.98
    assert false_alarms / trials <= 0.08


def test_decompose_equals_the_per_pair_formulas_exactly() -> None:
    """The per-cell caches of `decompose` change no bit of the per-pair computation."""
    from benchmark.results.power import Components, decompose
    from benchmark.results.records import Record

    rng = np.random.default_rng(5)
    n, classes, restarts, seeds, methods = 40, 3, 3, (0, 1, 2), ("a", "b", "c")

    def seg() -> np.ndarray:
        truth = rng.integers(0, 50, size=(restarts, n, 1, classes))
        inter = rng.binomial(truth, 0.7)
        pred = inter + rng.integers(0, 10, size=truth.shape)
        return np.concatenate([inter, pred, truth], axis=2).astype(np.uint16)

    arrays, records = {}, []
    for m in methods:
        for s in seeds:
            probe, tune = seg()[0], seg()
            arrays[(m, s)] = {"probe": probe, "finetune": tune}
            metrics = {
                "probe_miou": outcomes.scores(probe, "segmentation")["miou"],
                "finetune_miou": outcomes.restart_scores(tune, "segmentation")["miou"],
            }
            records.append(
                Record(
                    task="t", method=m, seed=s, status="ok", config_hash="h", profile="smoke",
                    metrics=metrics,
                    outcomes={p: outcomes.encode(x) for p, x in arrays[(m, s)].items()},
                )
            )  # fmt: skip
    got = {c.protocol: c for c in decompose(records, {"t": "segmentation"}, None, print)}
    for protocol in ("probe", "finetune"):
        tests, tunes = [], []
        for a, b in (("a", "b"), ("a", "c"), ("b", "c")):
            for s in seeds:
                oa, ob = arrays[(a, s)][protocol], arrays[(b, s)][protocol]
                tests.append(sampling_variance(oa, ob, "segmentation", s))
                if protocol == "finetune":
                    tunes.append(restart_variance(oa, ob, "segmentation"))
        c: Components = got[protocol]
        assert c.test == float(np.mean(tests))
        if tunes:
            assert c.finetune_noise == float(np.mean(tunes))

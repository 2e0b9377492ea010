"""Gap estimators on synthetic features whose answer is known, and the method hooks."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.backbones import DenseHead
from benchmark.gaps import (
    adapt_channels,
    estimate,
    fit_linear_map,
    halves,
    linear_cka,
    pair_distance,
    tv_lower_bound,
    wilson,
)
from benchmark.method import Context, Outputs, create_method, list_methods

N, D = 600, 32


def gaussian(seed: int, n: int = N, d: int = D) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_identical_distributions_give_no_gap() -> None:
    gap = estimate(gaussian(1), gaussian(2), seed=0, fit_map=False)
    assert gap["gap_tv"] < 0.15 and gap["gap_tv_lo"] == 0.0  # a ≈ ½: nothing to tell apart
    assert gap["gap_tv_lo"] <= gap["gap_tv"] <= gap["gap_tv_hi"]


def test_disjoint_distributions_give_total_variation_one() -> None:
    gap = estimate(gaussian(1) + 20.0, gaussian(2), seed=0, fit_map=False)
    assert gap["gap_tv"] == 1.0 and gap["gap_tv_lo"] > 0.95


def test_a_difference_in_spread_alone_is_detected() -> None:
    """Same mean, different scale: the quadratic features see what a linear test cannot."""
    gap = estimate(0.5 * gaussian(1), gaussian(2), seed=0, fit_map=False)
    assert gap["gap_tv_lo"] > 0.5


def test_same_features_give_cka_one_and_no_pair_distance() -> None:
    x = gaussian(3)
    gap = estimate(x, x.clone(), seed=0, fit_map=False)
    assert gap["gap_cka"] == pytest.approx(1.0)
    assert gap["gap_pair"] == pytest.approx(0.0, abs=1e-9)


def test_cka_invariances() -> None:
    """Kornblith et al. 2019: invariant to orthogonal maps and isotropic scale, not to
    arbitrary invertible linear maps; symmetric; any widths."""
    x, y = gaussian(4), gaussian(5, d=20) + gaussian(4)[:, :20]
    q, _ = torch.linalg.qr(gaussian(6, n=D, d=D))
    base = linear_cka(x, y)
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-6)
    assert linear_cka(3.5 * x + 2.0, y) == pytest.approx(base, abs=1e-6)
    assert linear_cka(y, x) == pytest.approx(base, abs=1e-9)
    stretch = torch.diag(torch.logspace(-2, 2, D))
    assert abs(linear_cka(x @ stretch, y) - base) > 1e-3


def test_pair_distance_of_opposite_rows_is_two() -> None:
    x = gaussian(7)
    assert pair_distance(x, -x) == pytest.approx(2.0)
    assert pair_distance(x, 2 * x) == pytest.approx(0.0, abs=1e-9)


def test_wilson_interval_matches_a_hand_computation() -> None:
    # 80 successes of 100, z = 1.96: centre (0.8 + 0.019208) / 1.038416 = 0.788901,
    # half 1.96 · sqrt(0.0016 + 0.00009604) / 1.038416 = 0.077733.
    lo, hi = wilson(80, 100)
    assert lo == pytest.approx(0.711168, abs=1e-4) and hi == pytest.approx(0.866634, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)


def test_tv_interval_maps_accuracy_through_2a_minus_1() -> None:
    p, q = gaussian(8) + 1.0, gaussian(9)
    out = tv_lower_bound(p[:300], q[:300], p[300:], q[300:])
    lo, hi = wilson(round(out["acc"] * 600), 600)
    assert out["tv"] == pytest.approx(max(0.0, 2 * out["acc"] - 1))
    assert out["tv_lo"] == pytest.approx(max(0.0, 2 * lo - 1))
    assert out["tv_hi"] == pytest.approx(max(0.0, 2 * hi - 1))


def test_fitted_map_recovers_a_linear_relation() -> None:
    x = gaussian(10)
    w = gaussian(11, n=D, d=16)
    y = x @ w + 1.5
    layer = fit_linear_map(x[:300], y[:300])
    with torch.no_grad():
        assert torch.allclose(layer(x[300:]), y[300:], rtol=0.05, atol=0.3)  # ridge: ~1% shrink
    gap = estimate(x, y, seed=0, fit_map=True)
    assert gap["gap_cka"] > 0.99 and gap["gap_pair"] < 0.01


def test_estimates_are_deterministic_and_seeded() -> None:
    a, b = gaussian(12), gaussian(13) + 0.2
    assert estimate(a, b, seed=3, fit_map=True) == estimate(a, b, seed=3, fit_map=True)
    fit, held = halves(N, 3)
    assert sorted(torch.cat([fit, held]).tolist()) == list(range(N))


def test_adapt_channels_repeats_then_cuts() -> None:
    x = torch.arange(2 * 4).float().view(1, 2, 2, 2)
    out = adapt_channels(x, 3)
    assert out.shape == (1, 3, 2, 2) and torch.equal(out[:, 2], x[:, 0])
    assert adapt_channels(x, 2) is x


@pytest.mark.parametrize("name", list_methods())
@pytest.mark.parametrize("kind", ["classification", "segmentation"])
def test_every_aligned_hook_returns_paired_rows_of_one_width(name: str, kind: str) -> None:
    """A hook returns None or two [B, D] tensors of one width (what `estimate` needs)."""
    channels, classes, b = (8, 16), 4, 6
    method = create_method(name)
    method.setup(
        Context(
            student_dim=16,
            teacher_dim=16,
            student_channels=channels,
            teacher_channels=channels,
            num_classes=classes,
            num_pairs=32,
            task_kind=kind,
            teacher_head=torch.nn.Linear(16, classes)
            if kind == "classification"
            else DenseHead(channels, classes),
        )
    )
    maps = [torch.randn(b, 8, 8, 8), torch.randn(b, 16, 4, 4)]
    logits = (
        torch.randn(b, classes) if kind == "classification" else torch.randn(b, classes, 16, 16)
    )
    student = Outputs(embedding=torch.randn(b, 16), feature_maps=maps)
    teacher = Outputs(embedding=torch.randn(b, 16), feature_maps=maps, logits=logits)
    method.eval()
    with torch.no_grad():
        pair = method.aligned(student, teacher)
    if pair is None:
        return
    s, t = pair
    assert s.dim() == 2 and s.shape == t.shape and len(s) == b
    assert all(math.isfinite(v) for v in s.flatten().tolist() + t.flatten().tolist())

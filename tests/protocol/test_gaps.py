"""Gap estimators on synthetic features whose answer is known, the disjoint pair sets,
the common space, and the method hooks."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.backbones import Backbone, DenseHead, TaskModel
from benchmark.datasets.tasks import Split, TaskData
from benchmark.method import Context, Outputs, create_method
from benchmark.protocol.gap_estimators import (
    GAP_DIM,
    _hsic1,
    debiased_cka,
    estimate,
    fit_common_space,
    fit_linear_map,
    linear_cka,
    pair_distance,
    tv_lower_bound,
    wilson,
)
from benchmark.protocol.gaps import (
    GAP_MAP_PAIRS,
    GAP_SAMPLES,
    adapt_channels,
    gap_metrics,
    gap_pairs,
    gap_split,
    input_gap,
)
from tests.method_selection import selected_methods

N, D = 600, 32


def gaussian(seed: int, n: int = N, d: int = D) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def rotation(seed: int, d: int = D) -> torch.Tensor:
    q, _ = torch.linalg.qr(gaussian(seed, n=d, d=d))
    return q


def own(student: torch.Tensor, teacher: torch.Tensor, seed: int = 0) -> dict[str, float]:
    return estimate(student, teacher, gap_split(len(student), seed), common=False)


def test_identical_distributions_give_no_gap() -> None:
    """Independent draws of one distribution: 2a − 1 near 0 (not clipped, so it can be
    below), and the interval contains 0."""
    gap = own(gaussian(1), gaussian(2))
    assert abs(gap["gap_tv"]) < 0.15
    assert gap["gap_tv_lo"] <= 0.0 <= gap["gap_tv_hi"]
    assert gap["gap_tv_lo"] <= gap["gap_tv"] <= gap["gap_tv_hi"]


def test_identical_distributions_in_the_common_space_give_no_gap() -> None:
    """A student whose features are an invertible linear function of the teacher's, in
    another width: through the common space the two samples have one distribution."""
    teacher = gaussian(3) @ torch.diag(torch.linspace(3.0, 0.5, D))
    student = torch.cat([teacher, gaussian(4, d=8)], dim=1) @ rotation(5, D + 8) + 2.0
    gap = estimate(student, teacher, gap_split(N, 0), common=True)
    assert abs(gap["gap_tv"]) < 0.15 and gap["gap_tv_lo"] <= 0.0
    assert gap["gap_cka"] > 0.99 and gap["gap_pair"] < 0.01
    assert gap["gap_dim"] == GAP_DIM


def test_disjoint_distributions_give_total_variation_one() -> None:
    gap = own(gaussian(1) + 20.0, gaussian(2))
    assert gap["gap_tv"] == 1.0 and gap["gap_tv_lo"] > 0.95


def test_a_difference_in_spread_alone_is_detected() -> None:
    """Same mean, different scale: the quadratic features see what a linear test cannot."""
    gap = own(0.5 * gaussian(1), gaussian(2))
    assert gap["gap_tv_lo"] > 0.5


def test_an_uninformative_student_is_far_from_the_teacher_in_the_common_space() -> None:
    """Student features independent of the teacher's: the map reads nothing, so the mapped
    rows collapse towards the mean — a large gap — and CKA is near 0."""
    gap = estimate(gaussian(6), gaussian(7), gap_split(N, 0), common=True)
    assert gap["gap_tv_lo"] > 0.5
    assert abs(gap["gap_cka"]) < 0.05


def test_same_features_give_cka_one_and_no_pair_distance() -> None:
    x = gaussian(3)
    gap = own(x, x.clone())
    assert gap["gap_cka"] == pytest.approx(1.0)
    assert gap["gap_pair"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("d", [8, 128, 512])
def test_debiased_cka_of_independent_features_is_near_zero(d: int) -> None:
    """The biased estimator reads independent features as similar when the width is not
    small against n; the unbiased HSIC removes that."""
    x, y = gaussian(8, n=300, d=d), gaussian(9, n=300, d=d)
    assert abs(debiased_cka(x, y)) < 0.02
    if d >= 128:
        assert linear_cka(x, y) > 0.2


def test_debiased_cka_of_partly_dependent_features() -> None:
    """y = ρx + √(1−ρ²)e with isotropic x, e: population linear CKA is ρ²."""
    x, e = gaussian(10, n=2000, d=16), gaussian(11, n=2000, d=16)
    y = 0.6 * x + 0.8 * e
    assert debiased_cka(x, y) == pytest.approx(0.36, abs=0.04)


def test_hsic1_matches_song_et_al_formula() -> None:
    """The vectorised HSIC₁ against the formula written out with the full products."""
    x, y = gaussian(12, n=40, d=5).double(), gaussian(13, n=40, d=7).double()
    y[:, :2] += x[:, :2]
    k, g = x @ x.T, y @ y.T
    n = len(k)
    kt, gt = k.clone().fill_diagonal_(0), g.clone().fill_diagonal_(0)
    one = torch.ones(n, 1, dtype=k.dtype)
    formula = (
        torch.trace(kt @ gt)
        + (one.T @ kt @ one) * (one.T @ gt @ one) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * (one.T @ kt @ gt @ one)
    ) / (n * (n - 3))
    assert float(_hsic1(k, g)) == pytest.approx(float(formula), rel=1e-10)


def test_cka_invariances() -> None:
    """Kornblith et al. 2019: invariant to orthogonal maps, isotropic scale and shifts, not
    to arbitrary invertible linear maps; symmetric; any widths."""
    x, y = gaussian(4), gaussian(5, d=20) + gaussian(4)[:, :20]
    base = debiased_cka(x, y)
    assert debiased_cka(x @ rotation(6), y) == pytest.approx(base, abs=1e-6)
    assert debiased_cka(3.5 * x + 2.0, y) == pytest.approx(base, abs=1e-6)
    assert debiased_cka(y, x) == pytest.approx(base, abs=1e-9)
    stretch = torch.diag(torch.logspace(-2, 2, D))
    assert abs(debiased_cka(x @ stretch, y) - base) > 1e-3
    assert linear_cka(x @ rotation(6), y) == pytest.approx(linear_cka(x, y), abs=1e-6)


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


def test_tv_interval_maps_accuracy_through_2a_minus_1_unclipped() -> None:
    p, q = gaussian(8) + 1.0, gaussian(9)
    out = tv_lower_bound(p[:300], q[:300], p[300:], q[300:])
    lo, hi = wilson(round(out["acc"] * 600), 600)
    assert out["tv"] == pytest.approx(2 * out["acc"] - 1)
    assert out["tv_lo"] == pytest.approx(2 * lo - 1)
    assert out["tv_hi"] == pytest.approx(2 * hi - 1)
    same = tv_lower_bound(gaussian(10)[:300], gaussian(11)[:300], gaussian(12), gaussian(13))
    assert same["tv_lo"] < 0.0  # not clipped: a valid bound on 2a − 1, and TV ≥ max(0, lo)


def test_fitted_map_recovers_a_linear_relation() -> None:
    x = gaussian(10)
    w = gaussian(11, n=D, d=16)
    y = x @ w + 1.5
    layer = fit_linear_map(x[:300], y[:300])
    with torch.no_grad():
        assert torch.allclose(layer(x[300:]), y[300:], rtol=0.05, atol=0.3)  # ridge: ~1% shrink


def test_common_space_keeps_the_teachers_top_directions() -> None:
    scale = torch.tensor([5.0, 4.0, 3.0] + [0.01] * (D - 3))
    teacher = gaussian(14) * scale
    space = fit_common_space(gaussian(15), teacher, dim=3)
    assert space.basis.shape == (D, 3) and space.kept > 0.99
    top = space.basis.abs().argmax(0).sort().values
    assert top.tolist() == [0, 1, 2]
    assert fit_common_space(gaussian(15), teacher, dim=64).basis.shape[1] == D  # ≤ width


def test_split_sets_are_disjoint_fixed_in_size_and_seeded() -> None:
    """Enough pairs: the same sizes whatever the test split's size, so the estimate does
    not drift with it; fewer: every set shrinks in proportion."""
    full = 4 * GAP_SAMPLES + GAP_MAP_PAIRS
    for n in (full, 2 * full, 5000):
        split = gap_split(n, 3)
        sets = [split.map, split.fit_p, split.fit_q, split.test_p, split.test_q]
        assert [len(s) for s in sets] == [GAP_MAP_PAIRS] + [GAP_SAMPLES] * 4
        used = torch.cat(sets)
        assert len(set(used.tolist())) == len(used) and int(used.max()) < n
    small = gap_split(500, 3)
    assert small.n == 500 * GAP_SAMPLES // full and len(small.test_q) == small.n
    assert len(small.used) <= 500 and len(set(small.used.tolist())) == len(small.used)
    assert torch.equal(gap_split(N, 3).used, gap_split(N, 3).used)
    assert not torch.equal(gap_split(N, 3).used, gap_split(N, 4).used)
    with pytest.raises(ValueError, match="more pairs"):
        gap_split(8, 0)


def test_pairs_sharing_a_source_never_land_in_two_sets() -> None:
    """Sketchy: several sketches of one photo. One pair per photo is used, so no photo is
    on both sides of the test or in both the fit and test samples."""
    ids = torch.arange(3000) // 5  # 600 photos, 5 sketches each
    split = gap_split(3000, 0, ids)
    sets = [split.map, split.fit_p, split.fit_q, split.test_p, split.test_q]
    photos = [set(ids[s].tolist()) for s in sets]
    assert sum(len(p) for p in photos) == len(split.used) == 600  # one pair per photo
    assert all(a.isdisjoint(b) for i, a in enumerate(photos) for b in photos[i + 1 :])
    assert split.n == 600 * GAP_SAMPLES // (4 * GAP_SAMPLES + GAP_MAP_PAIRS)
    shuffled = ids[torch.randperm(3000, generator=torch.Generator().manual_seed(1))]
    sets = gap_split(3000, 0, shuffled)
    assert len(set(shuffled[sets.used].tolist())) == len(sets.used)


def test_estimates_are_deterministic_and_record_their_size() -> None:
    a, b = gaussian(12), gaussian(13, d=20) + 0.2
    split = gap_split(N, 3)
    first = estimate(a, b, split, common=True)
    assert first == estimate(a, b, split, common=True)
    assert first["gap_n"] == split.n and first["gap_dim"] == GAP_DIM
    assert 0.0 < first["gap_kept"] <= 1.0


def test_adapt_channels_repeats_then_cuts() -> None:
    x = torch.arange(2 * 4).float().view(1, 2, 2, 2)
    out = adapt_channels(x, 3)
    assert out.shape == (1, 3, 2, 2) and torch.equal(out[:, 2], x[:, 0])
    assert adapt_channels(x, 2) is x


def _tiny_task(n: int = 96, source_ids: torch.Tensor | None = None) -> TaskData:
    g = torch.Generator().manual_seed(0)
    source, target = torch.rand(n, 3, 16, 16, generator=g), torch.rand(n, 1, 16, 16, generator=g)
    labels = torch.zeros(n, dtype=torch.long)
    test = Split(source=source, target=target, labels=labels, source_ids=source_ids)
    empty = Split()
    return TaskData("tiny", "classification", 4, 3, 1, empty, empty, empty, test)


def test_methods_with_different_widths_share_one_space() -> None:
    """crd aligns in 128-wide heads, kd in 4 logits, scratch nowhere: their `gap_*` are
    computed in one space of one width, on the student's embedding, so the same student
    gets the same common-space gap under any method; only `gap_own_*` differ."""
    torch.manual_seed(0)
    data = _tiny_task()
    student = Backbone("test_resnet", 1)
    teacher = TaskModel(Backbone("test_resnet", 3), 4, "classification")
    ctx = Context(
        student_dim=student.dim,
        teacher_dim=teacher.backbone.dim,
        student_channels=student.channels,
        teacher_channels=teacher.backbone.channels,
        num_classes=4,
        num_pairs=96,
        task_kind="classification",
        teacher_head=teacher.head,
    )
    gaps = {}
    for name in ("crd", "kd", "scratch"):
        method = create_method(name)
        method.setup(ctx)
        gaps[name] = gap_metrics(student, method, teacher, data, seed=0)
    common = gaps["scratch"]
    assert gaps["crd"]["gap_dim"] == gaps["kd"]["gap_dim"] == min(GAP_DIM, teacher.backbone.dim)
    for name in ("crd", "kd"):
        assert {k: v for k, v in gaps[name].items() if "own" not in k} == common
    assert gaps["crd"]["gap_own_dim"] == 128 and gaps["kd"]["gap_own_dim"] == 4
    assert not any("own" in k for k in gaps["scratch"])


def test_input_gap_uses_the_same_pairs_and_space() -> None:
    """Target view = source view: the input gap is nil; the pairs drawn keep one pair
    per source id, as the method cells' do."""
    data = _tiny_task(600, source_ids=torch.arange(600) // 2)
    data.test.target = data.test.source
    teacher = TaskModel(Backbone("test_resnet", 3), 4, "classification")
    gap = input_gap(teacher, data, seed=0)
    assert gap["input_gap_tv_lo"] <= 0.0 <= gap["input_gap_tv_hi"]
    assert gap["input_gap_cka"] > 0.99
    rows, split = gap_pairs(data, 0)
    assert len(rows.source) == len(split.used) == 300 and gap["input_gap_n"] == split.n


@pytest.mark.parametrize("name", selected_methods())
@pytest.mark.parametrize("kind", ["classification", "segmentation"])
@pytest.mark.usefixtures("one_thread")
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

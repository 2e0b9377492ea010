"""Feature-level methods (rkd, pkt, fitnet, at, vid, nst) against RepDistiller.

For each method the project's loss and an independent re-derivation of RepDistiller's
loss (`distiller_zoo/<Name>.py`, `models/util.py`'s ConvReg, `train_student.py`'s
wiring), written here step by step in the reference code's form, are driven on the same
fixed tiny inputs in float64 and must agree to rel 1e-9, abs 1e-12 (`close`). The
re-derivations are this project's code following those files, not copies of them.
Hand-checkable properties follow each method's reference check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import Batch, Context, Outputs, create_method
from benchmark.methods.at import at_stage_loss
from benchmark.methods.fitnet import ConvReg
from benchmark.methods.nst import nst_stage_loss
from benchmark.methods.pkt import pkt_loss
from benchmark.methods.rkd import angle_potential, rkd_terms
from benchmark.methods.vid import gaussian_nll

F64 = torch.float64


def close(a: Tensor | float, b: Tensor | float) -> bool:
    """The agreement asserted between the project's loss and a reference re-derivation."""
    return math.isclose(scalar(a), scalar(b), rel_tol=1e-9, abs_tol=1e-12)


def scalar(x: Tensor | float) -> float:
    return float(x.detach()) if isinstance(x, Tensor) else float(x)


def randn(seed: int, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def context(
    s_channels: tuple[int, ...] = (3, 4, 5),
    t_channels: tuple[int, ...] = (2, 6, 7),
    s_sizes: tuple[tuple[int, int], ...] | None = None,
    t_sizes: tuple[tuple[int, int], ...] | None = None,
    kind: str = "classification",
) -> Context:
    return Context(
        student_dim=s_channels[-1],
        teacher_dim=t_channels[-1],
        student_channels=s_channels,
        teacher_channels=t_channels,
        num_classes=3,
        num_pairs=8,
        task_kind=kind,
        student_sizes=s_sizes,
        teacher_sizes=t_sizes,
    )


def maps(seed: int, channels: tuple[int, ...], sizes: tuple[int, ...], b: int = 4) -> list[Tensor]:
    """Non-negative stage outputs (as a ResNet's, after its ReLUs)."""
    return [
        randn(seed + i, b, c, s, s).relu()
        for i, (c, s) in enumerate(zip(channels, sizes, strict=True))
    ]


def ref_pool(f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor]:
    """RepDistiller's size match: the taller map pooled to a square of the other's height."""
    s_h, t_h = f_s.shape[2], f_t.shape[2]
    if s_h > t_h:
        f_s = F.adaptive_avg_pool2d(f_s, (t_h, t_h))
    elif s_h < t_h:
        f_t = F.adaptive_avg_pool2d(f_t, (s_h, s_h))
    return f_s, f_t


# --- RKD (distiller_zoo/RKD.py) -------------------------------------------------------


def ref_rkd(f_s: Tensor, f_t: Tensor, w_d: float = 25.0, w_a: float = 50.0) -> Tensor:
    def pdist(e: Tensor) -> Tensor:
        e_square = e.pow(2).sum(dim=1)
        prod = e @ e.t()
        res = (e_square.unsqueeze(1) + e_square.unsqueeze(0) - 2 * prod).clamp(min=1e-12)
        res = res.sqrt().clone()
        res[range(len(e)), range(len(e))] = 0
        return res

    student, teacher = f_s.view(f_s.shape[0], -1), f_t.view(f_t.shape[0], -1)
    t_d = pdist(teacher)
    t_d = t_d / t_d[t_d > 0].mean()
    d = pdist(student)
    d = d / d[d > 0].mean()
    loss_d = F.smooth_l1_loss(d, t_d)
    norm_td = F.normalize(teacher.unsqueeze(0) - teacher.unsqueeze(1), p=2, dim=2)
    t_angle = torch.bmm(norm_td, norm_td.transpose(1, 2)).view(-1)
    norm_sd = F.normalize(student.unsqueeze(0) - student.unsqueeze(1), p=2, dim=2)
    s_angle = torch.bmm(norm_sd, norm_sd.transpose(1, 2)).view(-1)
    loss_a = F.smooth_l1_loss(s_angle, t_angle)
    return w_d * loss_d + w_a * loss_a


def test_rkd_matches_repdistiller() -> None:
    f_s, f_t = randn(0, 6, 5), randn(1, 6, 9)
    out = create_method("rkd").losses(Outputs(f_s), Outputs(f_t), Batch(torch.arange(6)))
    assert set(out) == {"rkd_distance", "rkd_angle"}
    assert close(out["rkd_distance"] + out["rkd_angle"], ref_rkd(f_s, f_t))
    # A shuffled teacher: some angle differences beyond δ = 1 (the Huber's linear branch).
    plane = randn(9, 6, 2)  # in 2-D, angles between random points vary widely
    shuffled = plane[torch.tensor([3, 0, 5, 1, 4, 2])]
    d, a = rkd_terms(plane, shuffled)
    assert close(25 * d + 50 * a, ref_rkd(plane, shuffled))
    assert (angle_potential(plane) - angle_potential(shuffled)).abs().max() > 1.0


def test_rkd_is_zero_for_a_scaled_shifted_rotated_teacher() -> None:
    """Distances over their mean and angles are invariant to scale, shift and rotation."""
    f_t = randn(2, 7, 4)
    rotation, _ = torch.linalg.qr(randn(3, 4, 4))
    distance, angle = rkd_terms(3.0 * f_t @ rotation + 1.5, f_t)
    assert distance.item() == pytest.approx(0.0, abs=1e-12)
    assert angle.item() == pytest.approx(0.0, abs=1e-12)
    distance, angle = rkd_terms(randn(4, 7, 4), f_t)
    assert distance.item() > 1e-3 and angle.item() > 1e-3


def test_rkd_distance_term_by_hand() -> None:
    """Three points on a line at 0, 1, 3: distances 1, 2, 3 (mean 2) → 0.5, 1, 1.5."""
    t = torch.tensor([[0.0], [1.0], [3.0]], dtype=F64)
    s = torch.tensor([[0.0], [1.0], [2.0]], dtype=F64)  # 1, 1, 2 (mean 4/3) → .75, .75, 1.5
    diffs = [0.25, 0.25, 0.0]  # |s − t| per unordered pair, each below δ = 1
    expected = 2 * sum(0.5 * x * x for x in diffs) / 9  # ordered pairs, diagonal included
    assert rkd_terms(s, t)[0].item() == pytest.approx(expected, rel=1e-12)


# --- PKT (distiller_zoo/PKT.py) -------------------------------------------------------


def ref_pkt(output_net: Tensor, target_net: Tensor, eps: float = 1e-7) -> Tensor:
    output_net = output_net / (torch.sqrt(torch.sum(output_net**2, dim=1, keepdim=True)) + eps)
    output_net[output_net != output_net] = 0
    target_net = target_net / (torch.sqrt(torch.sum(target_net**2, dim=1, keepdim=True)) + eps)
    target_net[target_net != target_net] = 0
    model_similarity = (torch.mm(output_net, output_net.transpose(0, 1)) + 1.0) / 2.0
    target_similarity = (torch.mm(target_net, target_net.transpose(0, 1)) + 1.0) / 2.0
    model_similarity = model_similarity / torch.sum(model_similarity, dim=1, keepdim=True)
    target_similarity = target_similarity / torch.sum(target_similarity, dim=1, keepdim=True)
    ratio = (target_similarity + eps) / (model_similarity + eps)
    return torch.mean(target_similarity * torch.log(ratio))


def test_pkt_matches_repdistiller() -> None:
    f_s, f_t = randn(5, 6, 5), randn(6, 6, 9)
    out = create_method("pkt").losses(Outputs(f_s), Outputs(f_t), Batch(torch.arange(6)))
    assert set(out) == {"pkt"}
    assert close(out["pkt"], 30000.0 * ref_pkt(f_s.clone(), f_t.clone()))
    zero_row = f_s.clone()
    zero_row[2] = 0.0  # a zero embedding: divided by ε only, no NaN
    assert close(pkt_loss(zero_row, f_t), ref_pkt(zero_row.clone(), f_t.clone()))


def test_pkt_is_zero_for_a_positively_scaled_teacher_and_positive_otherwise() -> None:
    f_t = randn(7, 5, 4)
    assert pkt_loss(2.5 * f_t, f_t).item() == pytest.approx(0.0, abs=1e-12)
    assert pkt_loss(randn(8, 5, 4), f_t).item() > 1e-4


# --- FitNet (models/util.py ConvReg, distiller_zoo/FitNet.py, train_student.py) --------


class RefConvReg(nn.Module):
    """RepDistiller's ConvReg branch logic (heights decide), conv → BN → ReLU."""

    def __init__(self, s_shape: tuple[int, ...], t_shape: tuple[int, ...]) -> None:
        super().__init__()
        _, s_c, s_h, s_w = s_shape
        _, t_c, t_h, t_w = t_shape
        if s_h == 2 * t_h:
            self.conv: nn.Module = nn.Conv2d(s_c, t_c, kernel_size=3, stride=2, padding=1)
        elif s_h * 2 == t_h:
            self.conv = nn.ConvTranspose2d(s_c, t_c, kernel_size=4, stride=2, padding=1)
        elif s_h >= t_h:
            self.conv = nn.Conv2d(s_c, t_c, kernel_size=(1 + s_h - t_h, 1 + s_w - t_w))
        else:
            raise NotImplementedError
        self.bn = nn.BatchNorm2d(t_c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


@pytest.mark.parametrize(("s_size", "t_size"), [(8, 4), (4, 8), (6, 4), (4, 4)])
def test_fitnet_matches_repdistiller_hint(s_size: int, t_size: int) -> None:
    s_sizes = ((16, 16), (s_size, s_size), (2, 2))
    t_sizes = ((16, 16), (t_size, t_size), (2, 2))
    torch.manual_seed(0)
    method = create_method("fitnet")
    method.setup(context(s_sizes=s_sizes, t_sizes=t_sizes))
    method.double().train()
    assert method.index == 1  # the middle of three stages
    student = Outputs(randn(1, 1), maps(10, (3, 4, 5), (16, s_size, 2)))
    teacher = Outputs(randn(2, 1), maps(20, (2, 6, 7), (16, t_size, 2)))
    ref = RefConvReg((4, 4, s_size, s_size), (4, 6, t_size, t_size)).double().train()
    assert type(ref.conv) is type(method.regressor.conv)
    assert ref.conv.weight.shape == method.regressor.conv.weight.shape
    ref.load_state_dict(method.regressor.state_dict())
    expected = 100.0 * nn.MSELoss()(ref(student.feature_maps[1]), teacher.feature_maps[1])
    got = method.losses(student, teacher, Batch(torch.arange(4)))["fitnet"]
    assert close(got, expected)


def test_fitnet_middle_stage_default_and_unknown_sizes() -> None:
    five = context((8, 8, 16, 32, 64), (8, 8, 16, 32, 64))
    method = create_method("fitnet")
    method.setup(five)
    assert method.index == 2  # timm ResNet: stem, layer1..4 → layer2 (RepDistiller's hint_layer)
    conv = method.regressor.conv
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1)  # no sizes: one size
    student = Outputs(torch.randn(2, 64), [torch.randn(2, c, 4, 4) for c in (8, 8, 16, 32, 64)])
    teacher = Outputs(torch.randn(2, 64), [torch.randn(2, c, 2, 2) for c in (8, 8, 16, 32, 64)])
    with pytest.raises(ValueError, match="did not describe these maps"):
        method.losses(student, teacher, Batch(torch.arange(2)))
    with pytest.raises(ValueError, match="cannot regress"):
        ConvReg(4, 4, (3, 3), (8, 8))
    with pytest.raises(ValueError, match="out of range"):
        create_method("fitnet", stage=5).setup(five)


# --- AT (distiller_zoo/AT.py) ----------------------------------------------------------


def ref_at_losses(g_s: list[Tensor], g_t: list[Tensor], p: int = 2) -> list[Tensor]:
    def at(f: Tensor) -> Tensor:
        return F.normalize(f.pow(p).mean(1).view(f.size(0), -1))

    out = []
    for f_s, f_t in zip(g_s, g_t, strict=True):
        f_s, f_t = ref_pool(f_s, f_t)
        out.append((at(f_s) - at(f_t)).pow(2).mean())
    return out


def test_at_matches_repdistiller_over_the_stages_after_the_stem() -> None:
    method = create_method("at")
    method.setup(context())
    assert method.stages == [1, 2]  # RepDistiller's feat[1:-1]: the stem left out
    student = Outputs(randn(0, 4, 5), maps(30, (3, 4, 5), (16, 8, 2)))
    teacher = Outputs(randn(1, 4, 7), maps(40, (2, 6, 7), (16, 4, 4)))  # both pooling ways
    got = method.losses(student, teacher, Batch(torch.arange(4)))["at"]
    ref = ref_at_losses(student.feature_maps[1:], teacher.feature_maps[1:])
    assert close(got, 1000.0 * sum(ref))
    for p in (1, 3):  # non-negative maps: |A|^p equals the reference's A^p
        got_p = at_stage_loss(student.feature_maps[1], teacher.feature_maps[1], p)
        assert close(
            got_p, ref_at_losses(student.feature_maps[1:2], teacher.feature_maps[1:2], p)[0]
        )


def test_at_ignores_channel_count_and_scale_and_aligned_rows_carry_the_loss() -> None:
    """The map is a channel mean, normalised: a teacher whose channels are repeated and
    scaled gives the student's own attention, so the loss is 0."""
    f_s = randn(50, 3, 4, 5, 5).relu()
    assert at_stage_loss(3.0 * f_s.repeat(1, 2, 1, 1), f_s, 2).item() == pytest.approx(0, abs=1e-15)
    method = create_method("at")
    method.setup(context())
    student = Outputs(randn(0, 4, 5), maps(30, (3, 4, 5), (16, 8, 2)))
    teacher = Outputs(randn(1, 4, 7), maps(40, (2, 6, 7), (16, 4, 4)))
    s, t = method.aligned(student, teacher)
    assert s.shape == t.shape == (4, 16 + 4)
    per_pair = (s - t).pow(2).sum(dim=1).mean()  # = the loss before β
    assert close(1000.0 * per_pair, method.losses(student, teacher, Batch(torch.arange(4)))["at"])


# --- VID (distiller_zoo/VID.py, VIDLoss(s, t, t) in train_student.py) ------------------


def ref_vid(regressor: nn.Module, log_scale: Tensor, inp: Tensor, target: Tensor) -> Tensor:
    eps = 1e-5
    inp, target = ref_pool(inp, target)
    pred_mean = regressor(inp)
    pred_var = (torch.log(1.0 + torch.exp(log_scale)) + eps).view(1, -1, 1, 1)
    neg_log_prob = 0.5 * ((pred_mean - target) ** 2 / pred_var + torch.log(pred_var))
    return torch.mean(neg_log_prob)


def test_vid_starts_at_repdistillers_variance_and_matches_its_loss() -> None:
    torch.manual_seed(0)
    method = create_method("vid")
    method.setup(context())
    ref_init = float(np.log(np.exp(5.0 - 1e-5) - 1.0))
    for alpha in method.alphas:
        assert torch.allclose(alpha, torch.full_like(alpha, ref_init), rtol=1e-7, atol=0)
    method.double()
    for k, alpha in enumerate(method.alphas):  # move off the initial value, per channel
        alpha.data += 0.3 * randn(60 + k, len(alpha))
    # hidden width = the teacher stage's, as VIDLoss(s, t, t); no biases
    assert [r[0].weight.shape[:2] for r in method.regressors] == [(6, 4), (7, 5)]
    assert all(m.bias is None for r in method.regressors for m in r if isinstance(m, nn.Conv2d))
    student = Outputs(randn(0, 4, 5), maps(30, (3, 4, 5), (16, 8, 2)))
    teacher = Outputs(randn(1, 4, 7), maps(40, (2, 6, 7), (16, 4, 4)))
    got = method.losses(student, teacher, Batch(torch.arange(4)))["vid"]
    expected = sum(
        ref_vid(
            method.regressors[k], method.alphas[k], student.feature_maps[i], teacher.feature_maps[i]
        )
        for k, i in enumerate((1, 2))
    )
    assert close(got, expected)


def test_vid_nll_by_hand_and_mid_channels() -> None:
    """A regressor that predicts the target exactly leaves ½ log σ² per element."""
    method = create_method("vid", mid_channels=9, init_var=2.0)
    method.setup(context())
    assert method.regressors[0][0].weight.shape[0] == 9
    for alpha in method.alphas:
        var = F.softplus(alpha) + 1e-5
        assert torch.allclose(var, torch.full_like(var, 2.0), rtol=1e-6)
    t = torch.randn(2, 3, 2, 2)
    var = torch.full((1, 3, 1, 1), 2.0)
    assert gaussian_nll(t, t, var).item() == pytest.approx(0.5 * math.log(2.0), rel=1e-6)
    assert gaussian_nll(t + 1.0, t, var).item() == pytest.approx(
        0.5 * (1.0 / 2.0 + math.log(2.0)), rel=1e-6
    )


# --- NST (distiller_zoo/NST.py) --------------------------------------------------------


def ref_nst(f_s: Tensor, f_t: Tensor) -> Tensor:
    def poly_kernel(a: Tensor, b: Tensor) -> Tensor:
        return (a.unsqueeze(1) * b.unsqueeze(2)).sum(-1).pow(2)

    f_s, f_t = ref_pool(f_s, f_t)
    f_s = F.normalize(f_s.view(f_s.shape[0], f_s.shape[1], -1), dim=2)
    f_t = F.normalize(f_t.view(f_t.shape[0], f_t.shape[1], -1), dim=2)
    return (
        poly_kernel(f_t, f_t).mean()
        + poly_kernel(f_s, f_s).mean()
        - 2 * poly_kernel(f_s, f_t).mean()
    )


def test_nst_matches_repdistiller() -> None:
    method = create_method("nst")
    method.setup(context())
    assert method.stages == [1, 2]
    student = Outputs(
        randn(0, 4, 5),
        [
            randn(70 + i, 4, c, s, s)
            for i, (c, s) in enumerate(zip((3, 4, 5), (16, 8, 2), strict=True))
        ],
    )
    teacher = Outputs(randn(1, 4, 7), maps(80, (2, 6, 7), (16, 4, 4)))
    got = method.losses(student, teacher, Batch(torch.arange(4)))["nst"]
    ref = sum(ref_nst(student.feature_maps[i], teacher.feature_maps[i]) for i in (1, 2))
    assert close(got, 50.0 * ref)


def test_nst_is_an_mmd_zero_for_the_same_channel_distribution() -> None:
    """Channels repeated (the same empirical distribution) or rescaled (each is
    normalised) give MMD² = 0; other maps give a positive value."""
    f_t = randn(90, 3, 4, 3, 3)
    same = torch.cat([2.0 * f_t, f_t], dim=1)[:, torch.randperm(8)]
    assert nst_stage_loss(same, f_t).item() == pytest.approx(0.0, abs=1e-12)
    assert nst_stage_loss(randn(91, 3, 5, 3, 3), f_t).item() > 1e-3


# --- shared ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["at", "nst"])
def test_a_collapsed_student_meets_at_and_nst_against_flat_teacher_maps(name: str) -> None:
    """What tests/methods/test_collapse.py records for these two: a teacher whose maps
    are its embeddings broadcast over space (as there) is matched exactly by a student
    whose maps are one input-independent positive constant per channel."""
    teacher = randn(95, 4, 7).abs() + 0.1
    flat_t = [teacher[:, :, None, None].expand(-1, -1, s, s) for s in (4, 4)]
    flat_s = [torch.full((4, c, 4, 4), 0.5, dtype=F64) for c in (3, 5)]
    method = create_method(name)
    method.setup(context((3, 5), (7, 7)))
    student = Outputs(flat_s[1][:, :, 0, 0], flat_s)
    out = method.losses(student, Outputs(teacher, flat_t), Batch(None))
    assert next(iter(out.values())).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", ["rkd", "pkt", "fitnet", "at", "vid", "nst"])
def test_same_numbers_for_classification_and_segmentation(name: str) -> None:
    """No method here reads logits or depends on the task kind: one input, one loss."""
    values = []
    for kind in ("classification", "segmentation"):
        torch.manual_seed(0)
        method = create_method(name)
        method.setup(context(kind=kind))
        method.double()
        assert not method.needs_teacher_logits()
        student = Outputs(randn(0, 4, 5), maps(30, (3, 4, 5), (8, 4, 2)))
        teacher = Outputs(randn(1, 4, 7), maps(40, (2, 6, 7), (8, 4, 2)))
        values.append(
            {k: v.item() for k, v in method.losses(student, teacher, Batch(None)).items()}
        )
    assert values[0] == values[1]

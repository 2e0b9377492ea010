"""Logit-level methods (dkd, dist, simkd, c2kd) against their reference implementations.

For each method the project's loss and an independent re-derivation of the reference's
loss, written here step by step in the reference code's form, are driven on the same fixed
tiny inputs (float64) and must agree to rel 1e-9, abs 1e-12 (`close`); the re-derivations
are this project's code following the named files, not copies of them. Hand-checkable
properties follow each method's reference check.
"""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import Batch, Context, Outputs, create_method
from benchmark.methods import dist as dist_module
from benchmark.methods.c2kd import c2kd_terms, kendall_tau_b, ofsd
from benchmark.methods.dist import dist_terms
from benchmark.methods.dkd import dkd_terms
from benchmark.methods.kd import kd_loss
from benchmark.methods.simkd import common_size

K = 5  # classes in the tiny inputs


def close(a: Tensor | float, b: Tensor | float) -> bool:
    """The agreement asserted between the project's loss and a reference re-derivation."""
    return math.isclose(scalar(a), scalar(b), rel_tol=1e-9, abs_tol=1e-12)


def scalar(x: Tensor | float) -> float:
    return float(x.detach()) if isinstance(x, Tensor) else float(x)


def context(
    kind: str = "classification",
    head: nn.Module | None = None,
    num_pairs: int = 8,
    channels: tuple[int, ...] = (3, 6),
    teacher_channels: tuple[int, ...] = (4, 7),
) -> Context:
    return Context(
        student_dim=channels[-1],
        teacher_dim=teacher_channels[-1],
        student_channels=channels,
        teacher_channels=teacher_channels,
        num_classes=K,
        num_pairs=num_pairs,
        task_kind=kind,
        teacher_head=head,
    )


def logits_pair(seed: int, rows: int = 6) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    z_s = torch.randn(rows, K, generator=g, dtype=torch.float64)
    z_t = 3.0 * torch.randn(rows, K, generator=g, dtype=torch.float64)
    return z_s, z_t


# --- DKD: megvii-research/mdistiller, mdistiller/distillers/DKD.py ----------------------


def mdistiller_dkd(
    z_s: Tensor, z_t: Tensor, target: Tensor, alpha: float, beta: float, temperature: float
) -> Tensor:
    """`dkd_loss` re-derived: masks from the target, softmax at T, the two pooled
    probabilities (`cat_mask`), log of them, summed KL · T² / B; then the non-target
    softmax by subtracting 1000 from the target logit, summed KL · T² / B."""
    gt = torch.zeros_like(z_s).scatter_(1, target[:, None], 1).bool()
    other = torch.ones_like(z_s).scatter_(1, target[:, None], 0).bool()
    p_s = F.softmax(z_s / temperature, dim=1)
    p_t = F.softmax(z_t / temperature, dim=1)
    b_s = torch.cat([(p_s * gt).sum(1, keepdim=True), (p_s * other).sum(1, keepdim=True)], 1)
    b_t = torch.cat([(p_t * gt).sum(1, keepdim=True), (p_t * other).sum(1, keepdim=True)], 1)
    tckd = F.kl_div(torch.log(b_s), b_t, reduction="sum") * temperature**2 / len(target)
    p_t2 = F.softmax(z_t / temperature - 1000.0 * gt, dim=1)
    log_p_s2 = F.log_softmax(z_s / temperature - 1000.0 * gt, dim=1)
    nckd = F.kl_div(log_p_s2, p_t2, reduction="sum") * temperature**2 / len(target)
    return alpha * tckd + beta * nckd


@pytest.mark.parametrize(("alpha", "beta", "temperature"), [(1.0, 8.0, 4.0), (0.5, 2.0, 1.0)])
def test_dkd_matches_mdistiller_with_the_teacher_argmax_as_target(
    alpha: float, beta: float, temperature: float
) -> None:
    z_s, z_t = logits_pair(0)
    tckd, nckd = dkd_terms(z_s, z_t, temperature)
    expected = mdistiller_dkd(z_s, z_t, z_t.argmax(1), alpha, beta, temperature)
    assert close(alpha * tckd + beta * nckd, expected)


def mdistiller_forward_train(
    z_s: Tensor, z_t: Tensor, target: Tensor, epoch: int, warmup: int
) -> Tensor:
    """DKD.forward_train's summed losses at the CFG.DKD defaults: CE_WEIGHT · CE on the
    target, plus min(epoch / WARMUP, 1) times `dkd_loss` (α 1, β 8, T 4)."""
    loss_ce = 1.0 * F.cross_entropy(z_s, target)
    return loss_ce + min(epoch / warmup, 1.0) * mdistiller_dkd(z_s, z_t, target, 1.0, 8.0, 4.0)


def test_dkd_method_scores_its_head_against_the_reference() -> None:
    torch.manual_seed(0)
    method = create_method("dkd")
    method.setup(context())
    method.double()
    e_s = torch.randn(6, 6, dtype=torch.float64)
    _, z_t = logits_pair(1)
    terms = method.losses(Outputs(e_s), Outputs(torch.zeros(6, 7), logits=z_t), Batch(None))
    assert set(terms) == {"tckd", "nckd", "ce"}
    expected = mdistiller_forward_train(method.head(e_s), z_t, z_t.argmax(1), 1, 1)
    assert close(sum(terms.values()), expected)
    alone = create_method("dkd", ce_weight=0.0)
    alone.setup(context())
    assert "ce" not in alone.losses(
        Outputs(e_s.float()), Outputs(z_t, logits=z_t.float()), Batch(None)
    )


def test_kd_is_tckd_plus_teacher_weighted_nckd_per_sample() -> None:
    """Sec. 3.1's reformulation: KD = TCKD + (1 − p_t^T) · NCKD, sample by sample."""
    z_s, z_t = logits_pair(2)
    temperature = 2.0
    for i in range(len(z_s)):
        s, t = z_s[i : i + 1], z_t[i : i + 1]
        tckd, nckd = dkd_terms(s, t, temperature)
        p_top = F.softmax(t / temperature, dim=1).max()
        assert close(kd_loss(s, t, temperature), tckd + (1 - p_top) * nckd)


def test_dkd_terms_by_hand() -> None:
    # T = 1, teacher argmax class 0: b_t = [e²/(e²+2), 2/(e²+2)], non-target p̂_t uniform;
    # student uniform over 3 classes: b_s = [1/3, 2/3], p̂_s uniform, so NCKD = 0.
    z_t = torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64)
    z_s = torch.zeros(1, 3, dtype=torch.float64)
    tckd, nckd = dkd_terms(z_s, z_t, 1.0)
    p = math.exp(2) / (math.exp(2) + 2)
    expected = p * math.log(p / (1 / 3)) + (1 - p) * math.log((1 - p) / (2 / 3))
    assert close(tckd, expected) and close(nckd, 0.0)


def test_dkd_dense_is_per_pixel_rows() -> None:
    g = torch.Generator().manual_seed(3)
    z_s = torch.randn(2, K, 3, 4, generator=g, dtype=torch.float64)
    z_t = torch.randn(2, K, 3, 4, generator=g, dtype=torch.float64)
    rows_s, rows_t = (z.permute(0, 2, 3, 1).reshape(-1, K) for z in (z_s, z_t))
    dense = dkd_terms(z_s, z_t, 4.0)
    flat = dkd_terms(rows_s, rows_t, 4.0)
    assert all(close(a, b) for a, b in zip(dense, flat, strict=True))
    seg = create_method("dkd")
    seg.setup(context("segmentation", channels=(3, 6)))
    maps = [torch.randn(2, 3, 8, 8), torch.randn(2, 6, 4, 4)]
    teacher = Outputs(torch.zeros(2, 7), logits=z_t.float())
    terms = seg.losses(Outputs(maps[1].mean((2, 3)), maps), teacher, Batch(None))
    assert all(v.dim() == 0 and math.isfinite(v.item()) for v in terms.values())


def test_dkd_warmup_follows_the_reference_epoch_ramp() -> None:
    """mdistiller's min(epoch / W, 1) on the DKD term, epochs from 1: W = 2, 8 pairs in
    batches of 4 (two steps a pass) gives ½ on the first pass and 1 from the second on;
    the cross-entropy is never ramped. Evaluation calls do not advance the ramp."""
    method = create_method("dkd", warmup_epochs=2)
    method.setup(context(num_pairs=8))
    method.double().train()
    e_s = torch.randn(4, 6, dtype=torch.float64)
    _, z_t = logits_pair(9, rows=4)
    teacher = Outputs(torch.zeros(4, 7), logits=z_t)
    for step in range(4):
        total = sum(method.losses(Outputs(e_s), teacher, Batch(None)).values())
        expected = mdistiller_forward_train(method.head(e_s), z_t, z_t.argmax(1), step // 2 + 1, 2)
        assert close(total, expected), step
    assert int(method.steps) == 4
    method.eval()
    method.losses(Outputs(e_s), teacher, Batch(None))
    assert int(method.steps) == 4


# --- DIST: hunto/image_classification_sota lib/models/losses/dist_kd.py (classification),
# hunto/DIST_KD segmentation/losses/dist_kd.py (segmentation) ---------------------------


def hunto_pearson(a: Tensor, b: Tensor, eps: float = 1e-8) -> Tensor:
    """The reference's pearson_correlation: cosine of the row-centred rows, eps added to
    the product of the norms."""
    a = a - a.mean(1).unsqueeze(1)
    b = b - b.mean(1).unsqueeze(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def hunto_dist(z_s: Tensor, z_t: Tensor, beta: float, gamma: float, tau: float) -> Tensor:
    """DIST.forward of the classification reference: softmax at τ, τ²-scaled inter- and
    intra-class relations (the intra one on the transposed predictions)."""
    y_s, y_t = (z_s / tau).softmax(dim=1), (z_t / tau).softmax(dim=1)
    inter = tau**2 * (1 - hunto_pearson(y_s, y_t).mean())
    intra = tau**2 * (1 - hunto_pearson(y_s.transpose(0, 1), y_t.transpose(0, 1)).mean())
    return beta * inter + gamma * intra


def hunto_dist_segmentation(z_s: Tensor, z_t: Tensor) -> Tensor:
    """DIST.forward of the segmentation reference (β = γ = 1, no temperature): [B,K,H,W]
    reshaped to rows by transpose(1, 3), then the same two relations."""
    rows_s = z_s.transpose(1, 3).reshape(-1, z_s.shape[1]).softmax(dim=1)
    rows_t = z_t.transpose(1, 3).reshape(-1, z_t.shape[1]).softmax(dim=1)
    inter = 1 - hunto_pearson(rows_s, rows_t).mean()
    return inter + 1 - hunto_pearson(rows_s.transpose(0, 1), rows_t.transpose(0, 1)).mean()


@pytest.mark.parametrize(("beta", "gamma", "tau"), [(2.0, 2.0, 4.0), (1.0, 0.5, 1.0)])
def test_dist_matches_the_classification_reference(beta: float, gamma: float, tau: float) -> None:
    z_s, z_t = logits_pair(4)
    inter, intra = dist_terms(z_s, z_t, tau)
    assert close(beta * inter + gamma * intra, hunto_dist(z_s, z_t, beta, gamma, tau))


def test_dist_dense_matches_the_segmentation_reference() -> None:
    g = torch.Generator().manual_seed(5)
    z_s = torch.randn(2, K, 3, 4, generator=g, dtype=torch.float64)
    z_t = 2.0 * torch.randn(2, K, 3, 4, generator=g, dtype=torch.float64)
    inter, intra = dist_terms(z_s, z_t, 1.0)
    assert close(inter + intra, hunto_dist_segmentation(z_s, z_t))


def hunto_kd_loss_total(z_s: Tensor, z_t: Tensor, target: Tensor) -> Tensor:
    """KDLoss.__call__ with `kd: dist` (resnet_dist.yaml): ori_loss · ori_loss_weight (1)
    + DIST(β = 1, γ = 1, τ = 1) · kd_loss_weight (2), the ori_loss a cross-entropy."""
    return F.cross_entropy(z_s, target) * 1.0 + hunto_dist(z_s, z_t, 1.0, 1.0, 1.0) * 2.0


def test_dist_method_scores_its_head_against_the_reference() -> None:
    torch.manual_seed(0)
    method = create_method("dist")
    method.setup(context())
    method.double()
    e_s = torch.randn(6, 6, dtype=torch.float64)
    _, z_t = logits_pair(6)
    terms = method.losses(Outputs(e_s), Outputs(torch.zeros(6, 7), logits=z_t), Batch(None))
    assert set(terms) == {"inter", "intra", "ce"}
    expected = hunto_kd_loss_total(method.head(e_s), z_t, z_t.argmax(1))
    assert close(sum(terms.values()), expected)


def student_logits_for(probs: Tensor) -> Tensor:
    """Logits whose softmax at τ = 1 is exactly `probs` (log-probabilities)."""
    return probs.log()


def test_dist_is_zero_for_predictions_equal_up_to_positive_affine_maps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pearson ignores a shift and a positive scale: y_s,i = a_i · y_t,i + (1 − a_i)/K is
    a probability vector for a_i in (0, 1]. With a_i varying per row the inter-class term
    is 0; with one a for every row each class column is an affine map too, so both are.
    The reference's ε (which keeps ρ just below 1) is set to 0 to make the identity exact."""
    monkeypatch.setattr(dist_module, "EPS", 0.0)
    _, z_t = logits_pair(7)
    y_t = z_t.softmax(dim=1)
    a_row = torch.linspace(0.2, 1.0, len(y_t), dtype=torch.float64)[:, None]
    varying = student_logits_for(a_row * y_t + (1 - a_row) / K)
    inter, intra = dist_terms(varying, z_t, 1.0)
    assert abs(inter.item()) < 1e-12 and intra.item() > 1e-3
    shared = student_logits_for(0.3 * y_t + 0.7 / K)
    inter, intra = dist_terms(shared, z_t, 1.0)
    assert abs(inter.item()) < 1e-12 and abs(intra.item()) < 1e-12


def test_dist_intra_class_relation_of_two_samples_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a batch of two, each class column centres to ±d/2, so its correlation is the
    sign of (s_1 − s_2)(t_1 − t_2): L_intra = 1 − mean_k sign_k (ε = 0, as above)."""
    monkeypatch.setattr(dist_module, "EPS", 0.0)
    z_s, z_t = logits_pair(8, rows=2)
    y_s, y_t = z_s.softmax(dim=1), z_t.softmax(dim=1)
    signs = torch.sign((y_s[0] - y_s[1]) * (y_t[0] - y_t[1]))
    _, intra = dist_terms(z_s, z_t, 1.0)
    assert close(intra, 1 - signs.mean())


def train_dist_student(temperature: float, steps: int = 60) -> Tensor:
    """A fresh two-layer student and head trained by `dist` alone (ce_weight 0) on a fixed
    batch of 5 classes, with the distillation optimiser's settings (SGD, lr 0.05, momentum
    0.9, weight decay 5e-4); the head's logits after. The teacher is confident and right:
    logits 2·⟨f_t, class prototype⟩."""
    g = torch.Generator().manual_seed(10)
    label = torch.arange(40) % K
    prototypes = torch.randn(K, 16, generator=g)
    f_t = prototypes[label] + 0.5 * torch.randn(40, 16, generator=g)
    teacher = Outputs(f_t, logits=2.0 * f_t @ F.normalize(prototypes, dim=1).T)
    x = torch.randn(K, 64, generator=g)[label] + 0.5 * torch.randn(40, 64, generator=g)
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 16, bias=False))
    method = create_method("dist", temperature=temperature, ce_weight=0.0)
    method.setup(context(channels=(16,), teacher_channels=(16,)))
    params = [*student.parameters(), *method.parameters()]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)
    for _ in range(steps):
        loss = sum(method.losses(Outputs(student(x)), teacher, Batch(None)).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return method.head(student(x))


@pytest.mark.usefixtures("one_thread")
def test_dist_default_temperature_trains_where_the_cifar_one_saturates() -> None:
    """Why τ = 1 is the default (docs/methods/dist.md): from a fresh student and head, τ = 4's
    τ²-scaled correlation steps blow the logits up to one-hot predictions."""
    mild, hot = train_dist_student(1.0), train_dist_student(4.0)
    assert mild.std() < 20  # logits of a few units, as a trained classifier has
    assert hot.std() > 50 and F.softmax(hot / 4.0, dim=1).amax(dim=1).mean() > 0.999


# --- SimKD: DefangChen/SimKD, models/util.py class SimKD, helper/loops.py 'simkd' -------


def simkd_reference_transfer(s_n: int, t_n: int, factor: int) -> nn.Sequential:
    """The reference's `transfer` bottleneck, layer for layer (no biases on the convs)."""
    mid = t_n // factor
    return nn.Sequential(
        nn.Conv2d(s_n, mid, 1, padding=0, stride=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, mid, 3, padding=1, stride=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, t_n, 1, padding=0, stride=1, bias=False),
        nn.BatchNorm2d(t_n),
        nn.ReLU(inplace=True),
    )


def simkd_reference(
    transfer: nn.Module, feat_s: Tensor, feat_t: Tensor, cls_t: nn.Module
) -> tuple[Tensor, Tensor]:
    """SimKD.forward then `criterion_kd` (nn.MSELoss) with `-b 1`: square spatial
    alignment by pooling the larger side's map, the transfer, the teacher classifier on
    the pooled result. Returns (loss_kd, pred_feat_s)."""
    s_h, t_h = feat_s.shape[2], feat_t.shape[2]
    if s_h > t_h:
        source, target = F.adaptive_avg_pool2d(feat_s, (t_h, t_h)), feat_t
    else:
        source, target = feat_s, F.adaptive_avg_pool2d(feat_t, (s_h, s_h))
    trans_feat_s = transfer(source)
    pooled = nn.AdaptiveAvgPool2d((1, 1))(trans_feat_s).view(len(trans_feat_s), -1)
    return 1.0 * nn.MSELoss()(trans_feat_s, target), cls_t(pooled)


@pytest.mark.parametrize(("s_size", "t_size"), [(4, 4), (4, 2), (2, 4)])
def test_simkd_matches_the_reference(s_size: int, t_size: int) -> None:
    torch.manual_seed(0)
    method = create_method("simkd")
    method.setup(context(channels=(3, 6), teacher_channels=(4, 8)))
    method.double().train()
    reference = simkd_reference_transfer(6, 8, 2).double().train()
    reference.load_state_dict(method.project.state_dict())
    cls_t = nn.Linear(8, K).double()
    g = torch.Generator().manual_seed(11)
    f_s = torch.randn(3, 6, s_size, s_size, generator=g, dtype=torch.float64)
    f_t = torch.randn(3, 8, t_size, t_size, generator=g, dtype=torch.float64).relu()
    student = Outputs(f_s.mean((2, 3)), [f_s.relu(), f_s])
    teacher = Outputs(f_t.mean((2, 3)), [f_t, f_t])
    loss = method.losses(student, teacher, Batch(None))["simkd"]
    expected, prediction = simkd_reference(reference, f_s, f_t, cls_t)
    assert close(loss, expected)
    # `aligned`'s student rows are what the reused teacher classifier reads in SimKD.
    method.eval()
    reference.eval()
    rows, teacher_rows = method.aligned(student, teacher)
    _, prediction = simkd_reference(reference, f_s, f_t, cls_t)
    assert torch.allclose(cls_t(rows), prediction, rtol=1e-12, atol=1e-12)
    assert torch.equal(teacher_rows, teacher.embedding)


def test_simkd_alignment_pools_the_larger_map_by_hand() -> None:
    """A 4×4 map against a 2×2 one: each cell of the pooled map is its 2×2 block's mean."""
    f_s = torch.arange(16.0).view(1, 1, 4, 4)
    f_t = torch.zeros(1, 1, 2, 2)
    pooled, same = common_size(f_s, f_t)
    assert torch.equal(pooled, torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    assert same is f_t


def test_simkd_reads_no_logits_and_no_teacher_head() -> None:
    method = create_method("simkd")
    assert not method.needs_teacher_logits()
    method.setup(context(head=None))
    maps = [torch.randn(2, 6, 2, 2)]
    loss = method.losses(
        Outputs(maps[0].mean((2, 3)), maps),
        Outputs(torch.zeros(2, 7), [torch.rand(2, 7, 2, 2)]),
        Batch(None),
    )
    assert math.isfinite(loss["simkd"].item())


# --- C2KD: huofushuo/C2KD, ave/utils/helper.py train_network_distill and ntkl -----------


def huo_ntkl(
    logits_student: Tensor, logits_teacher: Tensor, target: Tensor, mask: Tensor
) -> Tensor:
    """`ntkl` re-derived (temperature 1): the label's logit multiplied by 0 on both sides,
    softmax over all classes, KLDivLoss(reduction='none') summed over classes, times the
    mask, mean over the batch."""
    gt = torch.zeros_like(logits_student).scatter_(1, target.reshape(-1)[:, None], 1).bool()
    pred_teacher = F.softmax(logits_teacher * (~gt), dim=1)
    log_pred_student = F.log_softmax(logits_student * (~gt), dim=1)
    kl = nn.KLDivLoss(reduction="none")(log_pred_student, pred_teacher.detach()).sum(1)
    return (mask * kl).mean()


def huo_c2kd_frozen_teacher(
    outputs: Tensor,
    tea_logits: Tensor,
    stu_logits: Tensor,
    pseu_label: Tensor,
    labels: Tensor,
    krc: float,
) -> Tensor:
    """`train_network_distill`'s loss tmp1 + tmp2 without its two teacher-training terms,
    XE_t and kl_loss_t_im_t (they reach only the teacher and its head, frozen here)."""
    batchmean = nn.KLDivLoss(reduction="batchmean")
    xe_s = F.cross_entropy(outputs, labels, reduction="none")
    kl_t_t_im = batchmean(F.log_softmax(tea_logits, -1), F.softmax(pseu_label.detach(), dim=-1))
    kl_s_s_im = batchmean(F.log_softmax(stu_logits, -1), F.softmax(outputs.detach(), dim=-1))
    kl_s_im_s = batchmean(F.log_softmax(outputs, -1), F.softmax(stu_logits.detach(), dim=-1))
    kendall = torch.tensor(
        [
            scipy.stats.kendalltau(t.detach().numpy(), s.detach().numpy())[0]
            for t, s in zip(tea_logits, stu_logits, strict=True)
        ],
        dtype=torch.float64,
    )
    mask = torch.where(kendall > krc, 1, 0)
    if mask.sum() == 0:
        kl_st_s_t = kl_st_t_s = torch.zeros(())
    else:
        kl_st_s_t = huo_ntkl(stu_logits, tea_logits.detach(), labels, mask)
        kl_st_t_s = huo_ntkl(tea_logits, stu_logits.detach(), labels, mask)
    tmp1 = kl_t_t_im + kl_st_t_s
    tmp2 = xe_s.mean() + kl_s_s_im + kl_st_s_t + kl_s_im_s
    return tmp1 + tmp2


def c2kd_rows(seed: int, rows: int = 8) -> list[Tensor]:
    """(z_s, r_s, r_t, z_t) leaf rows; r_s and r_t partly aligned so some rows pass OFSD."""
    g = torch.Generator().manual_seed(seed)
    z_s, r_s, z_t = (torch.randn(rows, K, generator=g, dtype=torch.float64) for _ in range(3))
    r_t = r_s + 0.8 * torch.randn(rows, K, generator=g, dtype=torch.float64)
    return [t.requires_grad_() for t in (z_s, r_s, r_t, 3.0 * z_t)]


@pytest.mark.parametrize("krc", [0.0, 0.3, 1.0])
def test_c2kd_matches_the_reference_values_and_gradients(krc: float) -> None:
    """Same value, and the same gradient into every input, so the detached (guide) side of
    each term is the reference's; krc = 1 selects no sample."""
    ours = c2kd_rows(12)
    theirs = [t.detach().clone().requires_grad_() for t in ours]
    z_s, r_s, r_t, z_t = ours
    total = sum(c2kd_terms(z_s, r_s, r_t, z_t, krc, "zeroed").values())
    o_s, s_s, s_t, p_l = theirs
    expected = huo_c2kd_frozen_teacher(o_s, s_t, s_s, p_l, p_l.detach().argmax(1), krc)
    assert close(total, expected)
    total.backward()
    expected.backward()
    for mine, reference in zip(ours[:3], theirs[:3], strict=True):
        assert mine.grad is not None and reference.grad is not None
        assert torch.allclose(mine.grad, reference.grad, rtol=1e-9, atol=1e-12)
    assert z_t.grad is None and p_l.grad is None  # the teacher's logits are a constant


def test_kendall_tau_b_matches_scipy_with_ties_and_constant_rows() -> None:
    g = torch.Generator().manual_seed(13)
    x = torch.randint(0, 3, (20, 6), generator=g).double()  # many ties
    y = torch.randn(20, 6, generator=g, dtype=torch.float64)
    y[:5] = torch.randint(0, 2, (5, 6), generator=g).double()
    x[6] = 1.0  # a constant row: no τ
    ours = kendall_tau_b(x, y)
    for i in range(len(x)):
        expected = scipy.stats.kendalltau(x[i].numpy(), y[i].numpy())[0]
        if math.isnan(expected):
            assert math.isnan(ours[i].item()), i
        else:
            assert close(ours[i], expected), i
    assert kendall_tau_b(y, y).eq(1).all() and kendall_tau_b(y, -y).eq(-1).all()


def test_ofsd_excluded_form_is_dkd_non_target_kl() -> None:
    """With the class removed and every row selected, OFSD's KL is DKD's NCKD at T = 1
    (the label the guide's own argmax, as `dkd` takes it)."""
    learner, guide = logits_pair(14)
    target = guide.argmax(1)
    every = torch.ones(len(guide), dtype=torch.float64)
    _, nckd = dkd_terms(learner, guide, 1.0)
    assert close(ofsd(learner, guide, target, every, "excluded"), nckd)


def test_ofsd_counts_only_selected_rows_over_the_whole_batch() -> None:
    learner, guide = logits_pair(15, rows=4)
    target = guide.argmax(1)
    one = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    alone = ofsd(learner[1:2], guide[1:2], target[1:2], one[1:2], "zeroed")
    assert close(ofsd(learner, guide, target, one, "zeroed"), alone / 4)
    assert ofsd(learner, guide, target, torch.zeros(4), "zeroed").item() == 0.0


def test_c2kd_method_routes_stages_through_its_proxies() -> None:
    """losses() is c2kd_terms on the head and the proxies of the second-to-last stages;
    the teacher proxy reads the frozen teacher's stage; dense is the per-pixel rows."""
    torch.manual_seed(0)
    for kind in ("classification", "segmentation"):
        method = create_method("c2kd", ce_weight=0.5)
        method.setup(context(kind, channels=(3, 4, 6), teacher_channels=(4, 5, 7)))
        method.double().train()
        s_maps = [
            torch.randn(4, c, 8 // 2**i, 8 // 2**i, dtype=torch.float64)
            for i, c in enumerate((3, 4, 6))
        ]
        t_maps = [
            torch.randn(4, c, 8 // 2**i, 8 // 2**i, dtype=torch.float64)
            for i, c in enumerate((4, 5, 7))
        ]
        shape = (4, K) if kind == "classification" else (4, K, 8, 8)
        z_t = torch.randn(*shape, dtype=torch.float64)
        student = Outputs(s_maps[-1].mean((2, 3)), s_maps)
        teacher = Outputs(t_maps[-1].mean((2, 3)), t_maps, z_t)
        state = {k: v.clone() for k, v in method.state_dict().items()}
        terms = method.losses(student, teacher, Batch(None))
        method.load_state_dict(state)  # the same batch-norm statistics for the re-run
        z_s, r_s, r_t = method.outputs(student, teacher)
        assert r_s.shape == r_t.shape == z_t.shape
        rows = [
            t.movedim(1, -1).reshape(-1, K) if t.dim() == 4 else t for t in (z_s, r_s, r_t, z_t)
        ]
        expected = c2kd_terms(*rows, 0.0, "zeroed")
        expected["ce"] = 0.5 * expected["ce"]
        assert terms.keys() == expected.keys()
        assert all(close(terms[k], expected[k]) for k in terms), kind

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
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import Batch, Context, Outputs, create_method
from benchmark.methods.dkd import dkd_terms
from benchmark.methods.kd import kd_loss

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


def test_dkd_method_scores_its_head_against_the_reference() -> None:
    torch.manual_seed(0)
    method = create_method("dkd")
    method.setup(context())
    method.double()
    e_s = torch.randn(6, 6, dtype=torch.float64)
    _, z_t = logits_pair(1)
    terms = method.losses(Outputs(e_s), Outputs(torch.zeros(6, 7), logits=z_t), Batch(None))
    assert set(terms) == {"tckd", "nckd"}
    expected = mdistiller_dkd(method.head(e_s), z_t, z_t.argmax(1), 1.0, 8.0, 4.0)
    assert close(terms["tckd"] + terms["nckd"], expected)


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
    """mdistiller's min(epoch / W, 1) with epochs from 1: W = 2, 8 pairs in batches of 4
    (two steps a pass) gives ½ on the first pass and 1 from the second on; off by default."""
    method = create_method("dkd", warmup_epochs=2)
    method.setup(context(num_pairs=8))
    method.train()
    teacher = Outputs(torch.zeros(4, 7), logits=torch.randn(4, K))
    e_s = torch.randn(4, 6)
    full = create_method("dkd")
    full.setup(context(num_pairs=8))
    full.load_state_dict(method.state_dict())
    reference = full.losses(Outputs(e_s), teacher, Batch(None))["nckd"]
    seen = []
    for _ in range(4):
        nckd = method.losses(Outputs(e_s), teacher, Batch(None))["nckd"]
        seen.append((nckd / reference).item())
    assert seen == pytest.approx([0.5, 0.5, 1.0, 1.0])
    assert int(method.steps) == 4
    method.eval()  # evaluation calls do not advance the ramp
    method.losses(Outputs(e_s), teacher, Batch(None))
    assert int(method.steps) == 4

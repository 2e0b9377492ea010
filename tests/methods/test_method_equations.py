"""Each method's equations on tiny hand-checkable inputs, against direct computations.

The CRD reference below re-derives RepDistiller's numerics (`crd/memory.py`,
`crd/criterion.py`) step by step in this project's own code: gather bank rows with the
positive in slot 0, exponentiate at temperature, fix Z from the first batch, divide,
apply the Eq. 18 NCE terms with ε = 1e-7, then move the banks' positive rows.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.errors import UserError
from benchmark.method import METHODS, Batch, Context, Outputs, create_method
from benchmark.methods.cmcd import CMC, cmc_loss, cmd_loss
from benchmark.methods.crd import EPS, momentum_update, nce_loss, sample_contrast_index
from benchmark.methods.kd import kd_loss
from benchmark.methods.soft_proj import classifier_hinge, feature_hinge, quality_weights


def context(
    student_dim: int = 5,
    teacher_dim: int = 6,
    num_pairs: int = 10,
    kind: str = "classification",
    teacher_head: nn.Module | None = None,
) -> Context:
    return Context(
        student_dim=student_dim,
        teacher_dim=teacher_dim,
        student_channels=(3, student_dim),
        teacher_channels=(4, teacher_dim),
        num_classes=3,
        num_pairs=num_pairs,
        task_kind=kind,
        teacher_head=teacher_head,
    )


# --- CMC -------------------------------------------------------------------------------


def test_cmc_is_the_mean_of_the_two_cross_entropies() -> None:
    z_s = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]), dim=1)
    z_t = F.normalize(torch.tensor([[0.8, 0.6], [1.0, 1.0], [-1.0, 2.0]]), dim=1)
    scale = 1 / 0.07
    s = [[scale * float(z_s[i] @ z_t[j]) for j in range(3)] for i in range(3)]
    rows = [-s[i][i] + math.log(sum(math.exp(s[i][j]) for j in range(3))) for i in range(3)]
    cols = [-s[j][j] + math.log(sum(math.exp(s[i][j]) for i in range(3))) for j in range(3)]
    expected = 0.5 * (sum(rows) / 3 + sum(cols) / 3)
    assert cmc_loss(z_s, z_t, scale).item() == pytest.approx(expected, rel=1e-5)


def test_cmc_method_contrasts_projected_normalised_embeddings() -> None:
    torch.manual_seed(0)
    method = create_method("cmcd-cmc", projector="linear", proj_dim=4)
    method.setup(context())
    e_s, e_t = torch.randn(6, 5), torch.randn(6, 6)
    got = method.losses(Outputs(e_s), Outputs(e_t), Batch(torch.arange(6)))["cmc"]
    z_s = F.normalize(method.proj_s(e_s), dim=1)
    z_t = F.normalize(method.proj_t(e_t), dim=1)
    assert torch.allclose(got, cmc_loss(z_s, z_t, 1 / 0.07))


def test_cmc_alias_and_learnable_temperature() -> None:
    assert METHODS.get("cmcd") is CMC
    method = create_method("cmcd", learn_temperature=True, temperature=0.07)
    method.setup(context())
    assert float(torch.as_tensor(method.scale()).detach()) == pytest.approx(1 / 0.07, rel=1e-5)
    loss = method.losses(Outputs(torch.randn(4, 5)), Outputs(torch.randn(4, 6)), Batch(None))
    loss["cmc"].backward()
    assert method.log_scale.grad is not None
    with torch.no_grad():
        method.log_scale.fill_(10.0)
    assert float(torch.as_tensor(method.scale()).detach()) == pytest.approx(100.0)  # CLIP's cap


# --- CRD -------------------------------------------------------------------------------


def test_nce_terms_by_hand() -> None:
    # B = 1, K = 2, N = 4: K·Pn = 0.5; positive 0.5, negatives 0.25 and 0.1.
    scores = torch.tensor([[0.5, 0.25, 0.1]], dtype=torch.float64)
    expected = -(math.log(0.5 / 1.0) + math.log(0.5 / 0.75) + math.log(0.5 / 0.6))
    assert nce_loss(scores, num_data=4).item() == pytest.approx(expected, rel=1e-6)


def test_momentum_update_moves_only_the_batch_rows() -> None:
    memory = F.normalize(torch.randn(5, 3), dim=1)
    before = memory.clone()
    value = F.normalize(torch.randn(2, 3), dim=1)
    index = torch.tensor([3, 1])
    momentum_update(memory, index, value, 0.5)
    for row, v in zip(index.tolist(), value, strict=True):
        mixed = 0.5 * before[row] + 0.5 * v
        assert torch.allclose(memory[row], mixed / mixed.norm())
    for row in (0, 2, 4):
        assert torch.equal(memory[row], before[row])


def test_negatives_are_other_instances_with_the_positive_in_slot_zero() -> None:
    index = torch.tensor([0, 7, 3])
    drawn = sample_contrast_index(index, 10, 4, torch.Generator().manual_seed(1))
    assert drawn.shape == (3, 5) and torch.equal(drawn[:, 0], index)
    for row, pos in zip(drawn[:, 1:].tolist(), index.tolist(), strict=True):
        assert pos not in row and len(set(row)) == 4 and all(0 <= r < 10 for r in row)
    again = sample_contrast_index(index, 10, 4, torch.Generator().manual_seed(1))
    assert torch.equal(drawn, again)
    everyone = sample_contrast_index(index, 10, 9, torch.Generator().manual_seed(2))
    for row, pos in zip(everyone[:, 1:].tolist(), index.tolist(), strict=True):
        assert sorted(row) == [r for r in range(10) if r != pos]


def repdistiller_step(
    mem_v1: Tensor,  # student bank (updated with v1 = student embeddings)
    mem_v2: Tensor,  # teacher bank
    v1: Tensor,
    v2: Tensor,
    y: Tensor,
    idx: Tensor,
    z: list[float],
    temperature: float,
    momentum: float,
) -> tuple[float, float]:
    """RepDistiller's ContrastMemory.forward + the two ContrastLoss calls, re-derived."""
    n_data, dim = mem_v1.shape
    bsz, k1 = idx.shape
    w1 = mem_v1[idx.reshape(-1)].reshape(bsz, k1, dim)
    out_v2 = torch.exp(torch.bmm(w1, v2.reshape(bsz, dim, 1)) / temperature)
    w2 = mem_v2[idx.reshape(-1)].reshape(bsz, k1, dim)
    out_v1 = torch.exp(torch.bmm(w2, v1.reshape(bsz, dim, 1)) / temperature)
    if z[0] < 0:
        z[0] = out_v1.mean().item() * n_data
    if z[1] < 0:
        z[1] = out_v2.mean().item() * n_data
    out_v1, out_v2 = out_v1 / z[0], out_v2 / z[1]
    for mem, v in ((mem_v1, v1), (mem_v2, v2)):
        pos = mem[y] * momentum + v * (1 - momentum)
        mem[y] = pos / pos.pow(2).sum(1, keepdim=True).pow(0.5)

    def contrast_loss(x: Tensor) -> float:
        m = x.size(1) - 1
        pn = 1 / n_data
        p_pos = x[:, 0]
        log_d1 = torch.log(p_pos / (p_pos + m * pn + EPS))
        p_neg = x[:, 1:]
        log_d0 = torch.log(torch.full_like(p_neg, m * pn) / (p_neg + m * pn + EPS))
        return (-(log_d1.sum() + log_d0.sum()) / bsz).item()

    return contrast_loss(out_v1), contrast_loss(out_v2)


def test_crd_matches_repdistillers_numerics_over_two_steps() -> None:
    torch.manual_seed(0)
    method = create_method("crd", feat_dim=4, nce_k=3, nce_t=0.07, momentum=0.5)
    method.setup(context(num_pairs=10))
    method.double()
    mem_s, mem_t = method.memory_s.clone(), method.memory_t.clone()
    z = [-1.0, -1.0]
    gen = torch.Generator().manual_seed(3)
    for step in range(2):
        v_s = F.normalize(torch.randn(3, 4, dtype=torch.float64), dim=1)
        v_t = F.normalize(torch.randn(3, 4, dtype=torch.float64), dim=1)
        y = torch.tensor([1, 4, 8]) if step == 0 else torch.tensor([4, 0, 9])
        idx = sample_contrast_index(y, 10, 3, gen)
        loss_s, loss_t = method.contrast(v_s, v_t, y, idx)
        ref_s, ref_t = repdistiller_step(mem_s, mem_t, v_s, v_t, y, idx, z, 0.07, 0.5)
        assert loss_s.item() == pytest.approx(ref_s, rel=1e-9)
        assert loss_t.item() == pytest.approx(ref_t, rel=1e-9)
        assert torch.allclose(method.memory_s, mem_s) and torch.allclose(method.memory_t, mem_t)
        assert method.z.tolist() == pytest.approx(z, rel=1e-12)  # Z fixed after step one


def test_crd_caps_negatives_and_keeps_its_sampler_in_its_state() -> None:
    method = create_method("crd")
    method.setup(context(num_pairs=10))
    assert method.k == 9  # 16384 requested, capped at N − 1
    out = method.losses(
        Outputs(torch.randn(4, 5)), Outputs(torch.randn(4, 6)), Batch(torch.tensor([0, 1, 2, 3]))
    )
    assert set(out) == {"crd_s", "crd_t"}
    assert int(method.rng[1]) == 1 and (method.z > 0).all()
    assert {"memory_s", "memory_t", "z", "rng"} <= set(method.state_dict())


# --- soft-proj --------------------------------------------------------------------------


def test_feature_hinge_is_zero_inside_the_margin_and_linear_outside() -> None:
    f_t = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    angle = math.acos(1 - 0.05)  # cosine distance 0.05 < m = 0.1
    inside = torch.tensor([[math.cos(angle), math.sin(angle)], [0.0, 1.0]], requires_grad=True)
    loss = feature_hinge(inside, f_t, torch.ones(2), margin=0.1)
    loss.backward()
    assert loss.item() == 0.0 and inside.grad is not None and inside.grad.abs().sum() == 0
    # Second sample at 90°: distance 1, hinge 0.9, weighted by 1.5 and averaged over 2.
    outside = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    got = feature_hinge(outside, f_t, torch.tensor([0.5, 1.5]), margin=0.1)
    assert got.item() == pytest.approx(1.5 * 0.9 / 2, rel=1e-6)


def test_classifier_hinge_is_zero_inside_the_margin_and_per_pixel_when_dense() -> None:
    teacher = torch.tensor([[2.0, 0.0, -1.0]])
    assert classifier_hinge(teacher + 1e-3, teacher, torch.ones(1), 4.0, 0.1).item() == 0.0
    student = torch.tensor([[-1.0, 0.0, 2.0]])
    p_t, p_s = F.softmax(teacher / 2.0, dim=1), F.softmax(student / 2.0, dim=1)
    kl = 4.0 * (p_t * (p_t / p_s).log()).sum().item()
    got = classifier_hinge(student, teacher, torch.ones(1), 2.0, 0.1).item()
    assert got == pytest.approx(kl - 0.1, rel=1e-5)
    # Dense: pixel 0 matches the teacher (inside the margin), pixel 1 does not.
    dense_t = torch.stack([teacher[0], teacher[0]], dim=-1)[None, :, None, :]  # [1, 3, 1, 2]
    dense_s = torch.stack([teacher[0], student[0]], dim=-1)[None, :, None, :]
    got = classifier_hinge(dense_s, dense_t, torch.ones(1), 2.0, 0.1).item()
    assert got == pytest.approx((kl - 0.1) / 2, rel=1e-5)


def test_quality_weights_have_mean_one_and_follow_the_score() -> None:
    w = quality_weights(torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert w.mean().item() == pytest.approx(1.0) and torch.allclose(
        w, torch.tensor([1, 2, 3, 6]) / 3
    )
    head = nn.Linear(6, 3)
    teacher = Outputs(torch.randn(4, 6), logits=torch.randn(4, 3))
    for quality, score in (
        ("norm", teacher.embedding.norm(dim=1)),
        ("confidence", teacher.logits.softmax(1).amax(1)),
        ("none", torch.ones(4)),
    ):
        method = create_method("soft-proj", quality=quality)
        method.setup(context(teacher_head=head))
        assert torch.allclose(method.weights(teacher), score / score.mean())


def test_soft_proj_parts_switch_off_for_ablations() -> None:
    head = nn.Linear(6, 3)
    student, teacher = (
        Outputs(torch.randn(4, 5)),
        Outputs(torch.randn(4, 6), logits=torch.randn(4, 3)),
    )
    for values, terms in (
        ({}, {"soft_feat", "soft_cls"}),
        ({"classifier": False}, {"soft_feat"}),
        ({"feature": False}, {"soft_cls"}),
    ):
        method = create_method("soft-proj", **values)
        method.setup(context(teacher_head=head))
        assert set(method.losses(student, teacher, Batch(None))) == terms
    with pytest.raises(UserError, match="soft-proj needs feature=true or classifier=true"):
        create_method("soft-proj", feature=False, classifier=False)


def test_soft_proj_scores_student_features_with_the_teachers_classifier() -> None:
    head = nn.Linear(6, 3)
    method = create_method("soft-proj", feature=False, quality="none", classifier_margin=0.0)
    method.setup(context(teacher_head=head))
    e_s, logits_t = torch.randn(4, 5), torch.randn(4, 3)
    got = method.losses(Outputs(e_s), Outputs(torch.randn(4, 6), logits=logits_t), Batch(None))
    expected = kd_loss(head(method.adapt(e_s)), logits_t, 4.0)
    assert torch.allclose(got["soft_cls"], expected)
    assert "_teacher_head" not in dict(method.named_modules())


def _soft_proj_feature_only(quality: str = "none") -> nn.Module:
    """soft-proj's feature level alone, with g set by hand to g(f_s) = [relu(f_s), 0]
    (student width 5, teacher width 6)."""
    method = create_method("soft-proj", classifier=False, quality=quality)
    method.setup(context(teacher_head=nn.Linear(6, 3)))
    first, second = method.project[0], method.project[2]
    with torch.no_grad():
        first.weight.copy_(torch.eye(5))
        first.bias.zero_()
        second.weight.copy_(torch.eye(6, 5))
        second.bias.zero_()
    return method


def test_soft_proj_feature_level_projects_the_student_onto_the_fixed_teacher() -> None:
    """Version 2: L_feat = mean_i w_i · max(0, 1 − cos(g(f_s,i), f_t,i) − m), g on the
    student side, the teacher's embedding itself the target."""
    assert METHODS.get("soft-proj").version == 2
    e_s = torch.tensor([[1.0, 0, 0, 0, 0], [1.0, 1.0, 0, 0, 0]], requires_grad=True)
    e_t = torch.tensor([[3.0, 0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0, 0]], requires_grad=True)
    # Sample 0: cos 1, inside the margin. Sample 1: cos 1/√2, hinge 1 − 1/√2 − 0.1.
    hinge = 1 - 1 / math.sqrt(2) - 0.1
    method = _soft_proj_feature_only()
    loss = method.losses(Outputs(e_s), Outputs(e_t), Batch(None))["soft_feat"]
    assert loss.item() == pytest.approx(hinge / 2, rel=1e-6)
    loss.backward()
    assert e_t.grad is None, "the teacher's embedding is a constant target"
    assert e_s.grad is not None and e_s.grad[1].abs().sum() > 0 and e_s.grad[0].abs().sum() == 0
    assert all(p.grad is not None for p in method.project.parameters())
    # "norm" quality: w ∝ ‖f_t‖ = (3, 1), mean 1, so w = (1.5, 0.5).
    method = _soft_proj_feature_only("norm")
    got = method.losses(Outputs(e_s), Outputs(e_t), Batch(None))["soft_feat"].item()
    assert got == pytest.approx(0.5 * hinge / 2, rel=1e-6)
    s, t = method.aligned(Outputs(e_s), Outputs(e_t))
    assert torch.equal(s, method.project(e_s)) and torch.equal(t, e_t)


def test_soft_proj_feature_level_has_no_constant_minimiser() -> None:
    """A constant g(f_s) cannot meet the hinge of two orthogonal teacher embeddings: the
    best constant, their bisector, leaves 1 − 1/√2 − m on each. Version 1's reading,
    cos(f_s, g(f_t)) with g on the teacher side, is met exactly by a constant g and a
    student collapsed onto it."""
    e_t = torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0, 0]])
    floor = 1 - 1 / math.sqrt(2) - 0.1
    method = _soft_proj_feature_only()
    gen = torch.Generator().manual_seed(0)
    losses = []
    for c in [torch.tensor([1.0, 1.0, 0, 0, 0, 0]), *torch.randn(20, 6, generator=gen)]:
        with torch.no_grad():  # g(f_s) = c for every input
            method.project[2].weight.zero_()
            method.project[2].bias.copy_(c)
        e_s = torch.randn(2, 5, generator=gen)
        losses.append(method.losses(Outputs(e_s), Outputs(e_t), Batch(None))["soft_feat"].item())
    assert losses[0] == pytest.approx(floor, rel=1e-6)  # the bisector
    assert min(losses) >= floor - 1e-6
    c = torch.randn(1, 5, generator=gen).expand(2, 5)  # version 1: g(f_t) = c = f_s
    assert feature_hinge(c, c, torch.ones(2), margin=0.1).item() == 0.0


# --- CMD -------------------------------------------------------------------------------


def test_cmd_reaches_its_minimum_at_identical_embeddings_and_temperatures() -> None:
    torch.manual_seed(0)
    z_t = F.normalize(torch.randn(4, 6), dim=1)
    queue = F.normalize(torch.randn(10, 6), dim=1)
    z_s = z_t.clone().requires_grad_()
    loss = cmd_loss(z_s, z_t, queue, 0.1, 0.1)
    loss.backward()
    logits = torch.cat([torch.ones(4, 1), z_t @ queue.T], dim=1) / 0.1
    target = logits.softmax(dim=1)
    entropy = -(target * target.log()).sum(dim=1).mean()
    assert loss.item() == pytest.approx(entropy.item(), rel=1e-5)
    assert z_s.grad is not None and z_s.grad.abs().max() < 1e-5
    moved = F.normalize(z_t + 0.3 * torch.randn(4, 6), dim=1)
    assert cmd_loss(moved, z_t, queue, 0.1, 0.1).item() > entropy.item()


def test_cmd_by_hand_and_the_queue_is_fifo() -> None:
    z_t = torch.tensor([[1.0, 0.0]])
    z_s = torch.tensor([[0.0, 1.0]])
    queue = torch.tensor([[0.0, 1.0]])
    # Teacher logits [1, 0]/τ_t, student logits [0, 1]/τ_s.
    p_t = F.softmax(torch.tensor([1.0, 0.0]) / 0.5, dim=0)
    log_p_s = F.log_softmax(torch.tensor([0.0, 1.0]) / 0.2, dim=0)
    expected = -(p_t * log_p_s).sum().item()
    assert cmd_loss(z_s, z_t, queue, 0.2, 0.5).item() == pytest.approx(expected, rel=1e-6)

    method = create_method("cmcd-cmd")
    method.setup(context(num_pairs=5))  # queue capped at 5 pairs
    assert method.queue.shape == (5, 6)
    first, second = torch.randn(3, 6), torch.randn(3, 6)
    method.enqueue(first)
    method.enqueue(second)
    # Rows 0–2 took `first` (pointer → 3); `second` then filled rows 3, 4 and wrapped to 0.
    assert torch.equal(method.queue[:3], torch.stack([second[2], first[1], first[2]]))
    assert torch.equal(method.queue[3:], second[:2]) and int(method.queue_ptr) == 1


# --- KD --------------------------------------------------------------------------------


def test_kd_is_t_squared_kl_and_vanishes_at_the_teacher() -> None:
    teacher = torch.tensor([[3.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    student = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    p_t, p_s = F.softmax(teacher / 4, dim=1), F.softmax(student / 4, dim=1)
    expected = 16 * (p_t * (p_t / p_s).log()).sum(dim=1).mean().item()
    assert kd_loss(student, teacher, 4.0).item() == pytest.approx(expected, rel=1e-5)
    assert kd_loss(teacher, teacher, 4.0).item() == pytest.approx(0.0, abs=1e-7)
    dense_t, dense_s = teacher.T[None, :, None, :], student.T[None, :, None, :]  # [1, 3, 1, 2]
    assert kd_loss(dense_s, dense_t, 4.0).item() == pytest.approx(expected, rel=1e-5)

"""No method's objective may be met by collapsing the student's embeddings.

A distillation loss that a student with one output for every input can satisfy transfers
nothing, and training finds that solution when it is the easy one (`soft-proj` version 1
did: its trainable projection sat on the teacher side, went constant, and the student
followed it). This check trains every registered method, with the student, on one fixed
batch and bounds the effective rank of the student's embeddings afterwards from below:
the batch holds `CLASSES` classes, a student that keeps them apart spans about that many
directions, and a collapsed one spans one (its rows are one vector plus small residues).
The rank is taken without centring, so a collapse onto a shared offset counts too.

The rig is deterministic and tiny. The teacher side is fixed: embeddings of `CLASSES`
classes (a random prototype per class plus noise, so their pairwise cosines are low), its
logits from a linear head reading those embeddings (the teacher's classifier), and its
feature maps the embeddings broadcast over space. The student is a two-layer conv net on
1-channel inputs that carry the class (a per-class pattern plus noise), so it can follow
the teacher. Adam trains the student and the method's modules on the whole batch.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import METHODS, Batch, Context, Method, Outputs, create_method
from benchmark.methods.soft_proj import SoftProj, feature_hinge
from tests.method_selection import selected_methods

CLASSES, PER_CLASS, TEACHER_DIM, STUDENT_DIM, SIZE = 5, 8, 16, 16, 8
PAIRS = CLASSES * PER_CLASS
STEPS, LR = 300, 0.01
# The least effective rank of the student's embeddings after training: one short of the
# number of classes (a collapsed student is near 1; the teacher's embeddings, and the
# untrained student's, are well above).
MIN_RANK = CLASSES - 1


class TinyStudent(nn.Module):
    """conv 3×3 → tanh → conv 3×3 stride 2; the embedding is the deeper map's mean."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(1, STUDENT_DIM // 2, 3, padding=1)
        self.conv1 = nn.Conv2d(STUDENT_DIM // 2, STUDENT_DIM, 3, stride=2, padding=1, bias=False)

    def forward(self, x: Tensor) -> Outputs:
        shallow = torch.tanh(self.conv0(x))
        deep = self.conv1(shallow)
        return Outputs(embedding=deep.mean(dim=(2, 3)), feature_maps=[shallow, deep])


def mean_pairwise_cosine(rows: Tensor) -> float:
    """Mean of cos(e_i, e_j) over ordered pairs i ≠ j."""
    unit = F.normalize(rows.detach(), dim=1)
    n = len(unit)
    return ((unit @ unit.T).sum() - n).item() / (n * (n - 1))


def effective_rank(rows: Tensor) -> float:
    """exp(entropy of the normalised singular values), Roy & Vetterli, EUSIPCO 2007."""
    s = torch.linalg.svdvals(rows.detach())
    p = s / s.sum()
    return torch.exp(-(p * p.clamp_min(1e-12).log()).sum()).item()


def world(seed: int) -> tuple[Tensor, Outputs, nn.Module]:
    """(student inputs, fixed teacher outputs, the teacher's linear head)."""
    g = torch.Generator().manual_seed(seed)
    label = torch.arange(CLASSES).repeat_interleave(PER_CLASS)
    prototypes = torch.randn(CLASSES, TEACHER_DIM, generator=g)
    f_t = prototypes[label] + 0.5 * torch.randn(PAIRS, TEACHER_DIM, generator=g)
    head = nn.Linear(TEACHER_DIM, CLASSES)
    with torch.no_grad():  # a confident teacher: class scores are cosines to prototypes
        head.weight.copy_(2.0 * F.normalize(prototypes, dim=1))
        head.bias.zero_()
        logits = head(f_t)
    patterns = torch.randn(CLASSES, 1, SIZE, SIZE, generator=g)
    x = patterns[label] + 0.5 * torch.randn(PAIRS, 1, SIZE, SIZE, generator=g)
    maps = [f_t[:, :, None, None].expand(-1, -1, s, s).contiguous() for s in (SIZE, SIZE // 2)]
    return x, Outputs(f_t, maps, logits), head


def train(method: Method, seed: int = 0) -> dict[str, float]:
    """Train a fresh student with `method` on the fixed batch; the student's embedding
    statistics before and after, and the last summed loss."""
    x, teacher, head = world(seed)
    torch.manual_seed(seed)
    student = TinyStudent()
    method.setup(
        Context(
            student_dim=STUDENT_DIM,
            teacher_dim=TEACHER_DIM,
            student_channels=(STUDENT_DIM // 2, STUDENT_DIM),
            teacher_channels=(TEACHER_DIM, TEACHER_DIM),
            num_classes=CLASSES,
            num_pairs=PAIRS,
            task_kind="classification",
            teacher_head=head,
        )
    )
    method.train()
    params = [p for p in [*student.parameters(), *method.parameters()] if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR)
    before = student(x).embedding
    batch = Batch(index=torch.arange(PAIRS))
    loss = torch.zeros(())
    for _ in range(STEPS):
        loss = torch.stack(list(method.losses(student(x), teacher, batch).values())).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    after = student(x).embedding
    return {
        "cos_before": mean_pairwise_cosine(before),
        "cos_after": mean_pairwise_cosine(after),
        "rank_before": effective_rank(before),
        "rank_after": effective_rank(after),
        "loss": loss.item(),
    }


class SoftProjV1(SoftProj):
    """`soft-proj` version 1's feature level alone (the `classifier=false` ablation),
    kept to show that the check bites: the MLP g on the teacher side,
    L_feat = mean_i w_i · max(0, 1 − cos(f_s,i, g(f_t,i)) − m)."""

    def setup(self, ctx: Context) -> None:
        self.project = nn.Sequential(
            nn.Linear(ctx.teacher_dim, ctx.teacher_dim),
            nn.ReLU(inplace=True),
            nn.Linear(ctx.teacher_dim, ctx.student_dim),
        )

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        target = self.project(teacher.embedding.detach())
        hinge = feature_hinge(student.embedding, target, self.weights(teacher), self.feature_margin)
        return {"soft_feat": self.feature_weight * hinge}


# Every registered method at its defaults, plus the single-term ablations that the
# defaults would hide (a degenerate term can sit next to a sound one).
SELECTED = selected_methods()
ABLATIONS: list[tuple[str, dict[str, Any]]] = [
    ("soft-proj", {"classifier": False}),
    ("soft-proj", {"feature": False}),
    ("l2", {"pooled": True}),
]
CASES = [(name, {}) for name in SELECTED] + [c for c in ABLATIONS if c[0] in SELECTED]


# Recorded, not hidden: objectives that this rig's teacher cannot pin down. Its feature
# maps are the embeddings broadcast over space, with no spatial structure, and `at`
# (normalised spatial attention) and `nst` (normalised per-channel spatial patterns) read
# nothing else, so a student flat over space and over inputs meets them exactly, and
# training finds it (tests/methods/test_equations_feature.py checks the zero loss by
# hand). Both papers train them beside a labelled cross-entropy, which this benchmark's
# distillation never has. Strict: a change that stops the collapse fails here, to be
# looked at.
# The papers' objectives on their own (they train them beside a labelled cross-entropy,
# which this label-free protocol has not): both read only normalised spatial patterns,
# so nothing holds the pooled embedding apart (README, "The protocol": Methods).
KNOWN_COLLAPSE = {
    "at": "AT matches normalised spatial attention only; the pooled embedding is left free",
    "nst": "NST matches normalised per-channel spatial patterns only; the pooled embedding is free",
}


def marked(case: tuple[str, dict[str, Any]]) -> Any:
    """The case, as an expected (strict) failure where KNOWN_COLLAPSE names it."""
    name, values = case
    if name in KNOWN_COLLAPSE and not values:
        reason = KNOWN_COLLAPSE[name]
        return pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=reason))
    return case


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, values = case
    return ",".join([name, *(f"{k}={v}" for k, v in values.items())])


def describe(stats: dict[str, float]) -> str:
    return (
        f"mean pairwise cosine {stats['cos_before']:.2f} → {stats['cos_after']:.2f}, "
        f"effective rank {stats['rank_before']:.2f} → {stats['rank_after']:.2f}, "
        f"final loss {stats['loss']:.4f}"
    )


@pytest.mark.parametrize("case", [marked(c) for c in CASES], ids=case_id)
@pytest.mark.usefixtures("one_thread")
def test_training_does_not_collapse_the_student(case: tuple[str, dict[str, Any]]) -> None:
    name, values = case
    if not METHODS.get(name).distills:
        pytest.skip(f"'{name}' does not distill: no loss to train the student with")
    stats = train(create_method(name, **values))
    assert stats["rank_after"] >= MIN_RANK, f"{case_id(case)} collapsed: " + describe(stats)


@pytest.mark.usefixtures("one_thread")
def test_version_1_soft_proj_feature_level_collapses_and_fails_the_check() -> None:
    """The old reading meets its own objective by collapse: the check must reject it."""
    stats = train(SoftProjV1(classifier=False))
    assert stats["loss"] < 1e-6, describe(stats)  # its objective is fully met ...
    assert stats["rank_after"] < MIN_RANK, describe(stats)  # ... by a collapsed student,
    assert stats["cos_after"] > 0.8, describe(stats)  # its rows nearly one direction,
    assert stats["rank_before"] >= MIN_RANK, describe(stats)  # which training made


def test_collapse_statistics_by_hand() -> None:
    constant = torch.ones(4, 3) * torch.tensor([1.0, 2.0, 3.0])
    assert mean_pairwise_cosine(constant) == pytest.approx(1.0)
    assert effective_rank(constant) == pytest.approx(1.0, abs=1e-5)
    assert mean_pairwise_cosine(torch.eye(4)) == pytest.approx(0.0)
    assert effective_rank(torch.eye(4)) == pytest.approx(4.0)
    # Two opposite pairs: cosine −1 for 4 ordered pairs, 0 for the other 8 → mean −1/3.
    rows = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert mean_pairwise_cosine(rows) == pytest.approx(-1 / 3)

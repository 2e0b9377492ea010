"""`cmcd-cmc` (alias `cmcd`) and `cmcd-cmd`: the two distillation losses of CMCD.

Paper: Lin, Liu, Xu, Gao, Fu, Yao, "A Generalization Theory of Cross-Modality Distillation
with Contrastive Learning", arXiv 2405.03355 (2024).

Its equation numbers were not available to this project, so the losses are the CLIP and
SEED objectives it builds on. CMC, symmetric InfoNCE over B pairs, with trainable heads
into `proj_dim`, z_s = normalise(p_s(f_s)), z_t = normalise(p_t(f_t)) and
S_ij = ⟨z_s,i, z_t,j⟩ / τ, positives on the diagonal:

    L_CMC = ½ [ −(1/B) Σ_i log softmax_j(S_ij)|_{j=i}  −  (1/B) Σ_j log softmax_i(S_ij)|_{i=j} ].

CMD (SEED, Fang et al., ICLR 2021): a FIFO queue Q of L teacher embeddings, slot 0 the
teacher's own embedding; the batch's z_t are enqueued after the loss,

    p_t,i = softmax([⟨z_t,i, z_t,i⟩, ⟨z_t,i, Q_1⟩, …, ⟨z_t,i, Q_L⟩] / τ_t)
    p_s,i = softmax([⟨z_s,i, z_t,i⟩, ⟨z_s,i, Q_1⟩, …, ⟨z_s,i, Q_L⟩] / τ_s)
    L_CMD = −(1/B) Σ_i Σ_j p_t,ij · log p_s,ij.

Reference code: jacobswan1/SEED for CMD (CMC is CLIP's loss, no code of its own).
Numerics: SEED's: the queue starts as normalised Gaussian noise; similarities precede the
enqueue.
Defaults: τ = 0.07 (CMC, CLIP; `learn_temperature` learns 1/τ = exp(s), capped at 100 as
CLIP does); τ_t = 0.01, τ_s = 0.2 (SEED's paper; its code uses τ_t = 1e-4).

This project's reading: the paper's first step (SimCLR pre-training of the teacher) is
outside this file. CMD's z_t = normalise(f_t), no teacher-side head (a trainable one would
move the targets); the student head maps into the teacher's width; the queue is capped at
the number of pairs. CMC masks pairs that share a source input (off-diagonal S_ij = −∞);
CMD needs no mask. Why: `docs/methods/cmcd.md`.

Labelled track: L = 1·CE + 1·L_CMC (or L_CMD) (`benchmark.tracks`); no reference weighs
CMCD beside a cross-entropy, so γ = 1 (RepDistiller's default `-r`), this file's weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.params import choice, log_uniform, param

MAX_SCALE = 100.0  # CLIP's cap on a learnt 1/τ


def projector(kind: str, dim_in: int, dim_out: int) -> nn.Module:
    """A linear head, or SimCLR's two-layer MLP (hidden width = input width)."""
    if kind == "linear":
        return nn.Linear(dim_in, dim_out)
    return nn.Sequential(
        nn.Linear(dim_in, dim_in), nn.ReLU(inplace=True), nn.Linear(dim_in, dim_out)
    )


def cmc_loss(
    z_s: Tensor, z_t: Tensor, scale: Tensor | float, source_id: Tensor | None = None
) -> Tensor:
    """Symmetric InfoNCE over S = scale · z_s z_tᵀ, positives on the diagonal.

    With `source_id` [B], an off-diagonal S_ij whose pairs share an id is −∞: a pair is
    never a negative of another pair built from the same input (both directions, since
    the relation is symmetric)."""
    logits = scale * z_s @ z_t.T
    if source_id is not None:
        same = source_id[:, None] == source_id[None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(len(z_s), device=z_s.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def cmd_loss(
    z_s: Tensor, z_t: Tensor, queue: Tensor, student_temp: float, teacher_temp: float
) -> Tensor:
    """SEED's soft cross-entropy: the teacher's similarity distribution over [own
    embedding, queue] is the target for the student's over the same anchors."""
    z_t, queue = z_t.detach(), queue.detach()
    logits_s = torch.cat([(z_s * z_t).sum(1, keepdim=True), z_s @ queue.T], dim=1)
    logits_t = torch.cat([(z_t * z_t).sum(1, keepdim=True), z_t @ queue.T], dim=1)
    target = F.softmax(logits_t / teacher_temp, dim=1)
    return -(target * F.log_softmax(logits_s / student_temp, dim=1)).sum(dim=1).mean()


@register_method("cmcd-cmc", aliases=("cmcd",))
class CMC(Method):
    """`cmcd-cmc`: CMCD's contrastive loss, a symmetric InfoNCE between the projected
    student and teacher embeddings, the batch's other pairs as negatives."""

    # Search spaces (`bench tune`): τ over SimCLR's temperature ablation (0.05-0.5 of its
    # Table 5; CMC and CLIP start at 0.07), the projector over SimCLR's linear vs
    # non-linear head comparison, the weight a decade either side of 1.
    weight: float = param(
        1.0, low=0.0, help="scale of the contrastive loss", space=log_uniform(0.1, 10.0)
    )
    proj_dim: int = param(128, low=1, high=8192, help="width of the shared embedding space")
    projector: str = param(
        "mlp", choices=("linear", "mlp"), help="projection heads", space=choice("linear", "mlp")
    )
    temperature: float = param(
        0.07, low=1e-3, high=10.0, help="InfoNCE temperature τ", space=log_uniform(0.05, 0.5)
    )
    learn_temperature: bool = param(False, help="learn 1/τ (CLIP-style, capped at 100)")

    def setup(self, ctx: Context) -> None:
        self.proj_s = projector(self.projector, ctx.student_dim, self.proj_dim)
        self.proj_t = projector(self.projector, ctx.teacher_dim, self.proj_dim)
        if self.learn_temperature:
            self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / self.temperature)))
        # Every pair's source id, for batches that carry only their indices; not state (it
        # is the data's, handed over again by every setup), so not in `state_dict()`.
        ids = None if ctx.source_ids is None else torch.as_tensor(ctx.source_ids).long()
        self.register_buffer("pair_source_ids", ids, persistent=False)

    def scale(self) -> Tensor | float:
        if self.learn_temperature:
            return self.log_scale.clamp(max=math.log(MAX_SCALE)).exp()
        return 1.0 / self.temperature

    def embed(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        z_s = F.normalize(self.proj_s(student.embedding), dim=1)
        z_t = F.normalize(self.proj_t(teacher.embedding.detach()), dim=1)
        return z_s, z_t

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        z_s, z_t = self.embed(student, teacher)
        source_id = batch.source_id
        if source_id is None and self.pair_source_ids is not None:
            source_id = self.pair_source_ids[batch.index]
        return {"cmc": self.weight * cmc_loss(z_s, z_t, self.scale(), source_id)}

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """The shared projection space of the InfoNCE (both projectors, normalised): the
        representation space CMCD's bound speaks of."""
        return self.embed(student, teacher)


@register_method("cmcd-cmd")
class CMD(Method):
    """`cmcd-cmd`: CMCD's distribution loss, SEED's: the teacher's similarity distribution
    over a queue of its own embeddings is the student's target."""

    # Search spaces (`bench tune`): τ_t from SEED's released code (1e-4) past its paper's
    # 0.01 to 0.1 (a sharper or softer teacher distribution), τ_s over 0.05-0.5 around
    # SEED's 0.2, the student head linear or SEED's MLP, the weight a decade either side of 1.
    weight: float = param(
        1.0,
        low=0.0,
        help="scale of the distribution-matching loss",
        space=log_uniform(0.1, 10.0),
    )
    projector: str = param(
        "mlp",
        choices=("linear", "mlp"),
        help="student projection head",
        space=choice("linear", "mlp"),
    )
    queue_size: int = param(
        65536, low=1, high=10_000_000, help="teacher-embedding queue (capped at pairs)"
    )
    student_temperature: float = param(
        0.2, low=1e-4, high=10.0, help="student τ_s", space=log_uniform(0.05, 0.5)
    )
    teacher_temperature: float = param(
        0.01, low=1e-5, high=10.0, help="teacher τ_t", space=log_uniform(1e-4, 0.1)
    )

    queue: Tensor
    queue_ptr: Tensor

    def setup(self, ctx: Context) -> None:
        self.proj_s = projector(self.projector, ctx.student_dim, ctx.teacher_dim)
        length = min(self.queue_size, ctx.num_pairs)
        self.register_buffer("queue", F.normalize(torch.randn(length, ctx.teacher_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, z_t: Tensor) -> None:
        """Overwrite the oldest entries with the batch (FIFO, wrapping around)."""
        length = len(self.queue)
        keys = z_t.detach()[-length:]
        rows = (int(self.queue_ptr) + torch.arange(len(keys), device=keys.device)) % length
        self.queue[rows] = keys
        self.queue_ptr.fill_((int(self.queue_ptr) + len(keys)) % length)

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        z_s = F.normalize(self.proj_s(student.embedding), dim=1)
        z_t = F.normalize(teacher.embedding.detach(), dim=1)
        loss = cmd_loss(
            z_s, z_t, self.queue.clone(), self.student_temperature, self.teacher_temperature
        )
        self.enqueue(z_t)
        return {"cmd": self.weight * loss}

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """The student's projection against the teacher's own normalised embedding, where
        the similarity distributions are compared."""
        z_s = F.normalize(self.proj_s(student.embedding), dim=1)
        return z_s, F.normalize(teacher.embedding, dim=1)

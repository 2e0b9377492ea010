"""`dist`: DIST, relations between predictions matched by Pearson correlation.

Paper: Huang, You, Wang, Qian, Xu, "Knowledge Distillation from A Stronger Teacher",
NeurIPS 2022.

With Y_s, Y_t [B, K] the softmax outputs at temperature τ and ρ the Pearson correlation
(tolerant of a shift and a positive rescaling of each prediction),

    inter-class   L_inter = 1 − (1/B) Σ_i ρ(Y_s[i, :], Y_t[i, :])   (each sample's classes)
    intra-class   L_intra = 1 − (1/K) Σ_k ρ(Y_s[:, k], Y_t[:, k])   (each class over the batch)
    L = τ² · (β · L_inter + γ · L_intra).

Reference code: hunto/DIST_KD (classification: `lib/models/losses/dist_kd.py` of
hunto/image_classification_sota; segmentation: `segmentation/losses/dist_kd.py`).
Numerics: ρ is the cosine of the mean-centred vectors, ε = 1e-8 added to the product of
their norms.
Defaults: β = γ = 2, τ = 1, ce_weight = 1, its ImageNet recipe (`resnet_dist.yaml`:
DIST(1, 1, τ = 1) × `kd_loss_weight: 2`, `ori_loss_weight: 1`).
Deviation: not its CIFAR recipe's τ = 4, whose τ²-scaled steps saturate a fresh head to
one-hot rows under this project's optimiser
(`test_dist_default_temperature_trains_where_the_cifar_one_saturates`).

This project's reading, label-free: the paper's cross-entropy on labels takes the
teacher's argmax, `ce` = ce_weight · CE(z_s, argmax z_t) at temperature 1 (`ce_weight=0`
leaves DIST alone). The student head is this method's own, as in `kd`; segmentation is
the reference's per-pixel form, with one set of defaults. Why: `docs/methods/dist.md`.

Labelled track: L = 1·CE(z_s, y) + β·τ²L_inter + γ·τ²L_intra (`benchmark.tracks`), the
CE the track's, on the same head (`ce_weight` = 1, the reference's `ori_loss_weight`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from benchmark.backbones import class_head, head_logits
from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.params import param

EPS = 1e-8  # the reference's ε in the cosine's denominator


def class_rows(logits: Tensor) -> Tensor:
    """[B, K] as it is, or dense [B, K, H, W] as one row per pixel, [B·H·W, K]."""
    if logits.dim() == 2:
        return logits
    return logits.movedim(1, -1).reshape(-1, logits.shape[1])


def pearson_rows(a: Tensor, b: Tensor) -> Tensor:
    """ρ(a_i, b_i) per row: the cosine of the row-centred vectors, ε added below."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + EPS)


def dist_terms(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float
) -> tuple[Tensor, Tensor]:
    """(τ²·L_inter, τ²·L_intra) on the softmax outputs at temperature τ."""
    y_s = (class_rows(student_logits) / temperature).softmax(dim=1)
    y_t = (class_rows(teacher_logits.detach()) / temperature).softmax(dim=1)
    inter = 1.0 - pearson_rows(y_s, y_t).mean()
    intra = 1.0 - pearson_rows(y_s.T, y_t.T).mean()
    scale = temperature**2
    return scale * inter, scale * intra


@register_method("dist")
class DIST(Method):
    beta: float = param(2.0, low=0.0, high=1000.0, help="weight β of the inter-class term")
    gamma: float = param(2.0, low=0.0, high=1000.0, help="weight γ of the intra-class term")
    temperature: float = param(1.0, low=0.05, high=100.0, help="softmax temperature τ")
    ce_weight: float = param(
        1.0, low=0.0, high=1000.0, help="cross-entropy on the teacher's argmax (0: DIST alone)"
    )

    uses_feature_maps = True  # the segmentation head reads the student's stages

    def needs_teacher_logits(self) -> bool:
        return True  # both relations are the teacher's predictions

    def setup(self, ctx: Context) -> None:
        self.dense = ctx.dense
        self.head = class_head(ctx)

    def student_logits(self, student: Outputs, teacher_logits: Tensor) -> Tensor:
        return head_logits(self.head, student, like=teacher_logits)

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        if teacher.logits is None:
            raise ValueError("dist needs the teacher's logits")
        logits = self.student_logits(student, teacher.logits)
        inter, intra = dist_terms(logits, teacher.logits, self.temperature)
        terms = {"inter": self.beta * inter, "intra": self.gamma * intra}
        if self.ce_weight > 0 and batch.label is None:  # labelled: the track's CE
            target = teacher.logits.detach().argmax(dim=1)
            terms["ce"] = self.ce_weight * F.cross_entropy(logits, target)
        return terms

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor] | None:
        """The logits at temperature (z / τ), the softmax inputs whose outputs DIST
        correlates, as for `kd`; the probabilities themselves can be too flat in float32
        for the gap estimates (a near-uniform teacher gives near-constant rows). Dense
        logits averaged over pixels, one row per image."""
        if teacher.logits is None:
            return None
        z_s = self.student_logits(student, teacher.logits) / self.temperature
        z_t = teacher.logits / self.temperature
        if self.dense:
            return z_s.mean(dim=(2, 3)), z_t.mean(dim=(2, 3))
        return z_s, z_t

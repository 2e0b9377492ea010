"""`kd`: logit distillation onto a student class head trained on the pairs.

Paper: Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", arXiv
1503.02531 (2015), Section 2.

The student matches the teacher's class probabilities softened by a temperature T, the
soft term multiplied by T² so its gradients keep their size as T changes. With no labels
on the pairs only the soft term remains:

    L = weight · T² · mean_i KL( softmax(z_t,i / T) ‖ softmax(z_s,i / T) ),

z_t the frozen teacher's logits on the source view, z_s a class head's on the student's
target view. KL differs from the paper's soft cross-entropy by the teacher's entropy, a
constant, so the gradients are the same.

Reference code: RepDistiller (`distiller_zoo/KD.py`) and mdistiller (`KD`).
Defaults: T = 4 (RepDistiller's), weight 1. Deviations: none beyond the missing
hard-label term.

This project's reading: the student backbone has no class head, so this method owns one
(`class_head`): linear on the pooled embedding; for segmentation a dense head
(`benchmark.backbones.DenseHead`, the teacher's design) on the student's feature maps,
Hinton's loss at each pixel independently, averaged over pixels, as segmentation KD
usually does. The head is discarded after distillation; evaluation reads the backbone.

Labelled track: Hinton's full loss on the student's own head (`benchmark.tracks`),
L = 0.1·CE(z_s, y) + 0.9·T²·KL at T = 4: RepDistiller's `--distill kd -r 0.1 -a 0.9 -b 0`
and mdistiller's `KD.LOSS.CE_WEIGHT = 0.1`, `KD_WEIGHT = 0.9` (`labelled_ce_weight`,
`labelled_defaults`). The head this method owns is the track's head.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from benchmark.backbones import class_head, head_logits
from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.params import log_uniform, param


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """T² · KL(p_t ‖ p_s) over dim 1, averaged over every other position (samples,
    and pixels for dense logits)."""
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)
    return temperature**2 * kl.mean()


@register_method("kd")
class KD(Method):
    # The labelled track's weights (module docstring): RepDistiller's -r 0.1 -a 0.9.
    labelled_defaults = {"weight": 0.9}  # noqa: RUF012
    labelled_ce_weight = 0.1
    # Search spaces (`bench tune`): T from 1 (no softening) to Hinton et al.'s 20 (their
    # MNIST distillation; they found 2.5-4 best for small students, and RepDistiller's
    # default is 4); the weight a decade either side of 1 (with no hard-label term it
    # trades against the learning rate).
    weight: float = param(
        1.0, low=0.0, help="scale of the soft-target loss", space=log_uniform(0.1, 10.0)
    )
    temperature: float = param(
        4.0, low=0.05, high=100.0, help="softmax temperature T", space=log_uniform(1.0, 20.0)
    )

    uses_feature_maps = True  # the segmentation head reads the student's stages

    def needs_teacher_logits(self) -> bool:
        return True  # the soft targets are the teacher's class probabilities

    def setup(self, ctx: Context) -> None:
        self.dense = ctx.dense
        self.head = class_head(ctx)

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        if teacher.logits is None:
            raise ValueError("kd needs the teacher's logits")
        logits = head_logits(self.head, student, like=teacher.logits)
        return {"kd": self.weight * kd_loss(logits, teacher.logits, self.temperature)}

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor] | None:
        """Logits, temperature-scaled (z / T, the softmax inputs KD compares): kd aligns
        nothing else. Dense logits are averaged over pixels, one row per image, like
        every other method's pooled embeddings on segmentation."""
        if teacher.logits is None:
            return None
        logits = head_logits(self.head, student, like=teacher.logits)
        if self.dense:
            return (
                logits.mean(dim=(2, 3)) / self.temperature,
                teacher.logits.mean(dim=(2, 3)) / self.temperature,
            )
        return logits / self.temperature, teacher.logits / self.temperature

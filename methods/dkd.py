"""`dkd`: Decoupled Knowledge Distillation; label-free, the teacher's argmax stands in for
the label.

Zhao, Cui, Song, Qiu, Liang, "Decoupled Knowledge Distillation", CVPR 2022. Sec. 3.1
splits classical KD at temperature T by the target class t: with the binary
probabilities b = [p_t, 1 − p_t] and the distribution p̂ over the non-target classes alone
(p̂_k = p_k / (1 − p_t), k ≠ t),

    KD = KL(b^T ‖ b^S) + (1 − p_t^T) · KL(p̂^T ‖ p̂^S)  =  TCKD + (1 − p_t^T) · NCKD,

so the teacher's confidence in the target class suppresses the non-target term. DKD
(Sec. 3.2) weights the two parts freely:

    L_DKD = T² · mean_i [ α · TCKD_i + β · NCKD_i ],

defaults α = 1, β = 8, T = 4 (the paper's CIFAR-100 values, also mdistiller's
`CFG.DKD`). Numerics follow the reference (megvii-research/mdistiller,
`mdistiller/distillers/DKD.py`): softmax at T, TCKD on the two pooled probabilities, NCKD
on a softmax with the target class removed, both scaled by T² and averaged over samples.
This file removes the target column and works in log space (log-sum-exp for log(1 − p_t))
where the reference subtracts 1000 from the target logit and takes log of summed
probabilities; `tests/test_equations_logit.py` checks the two agree.

Label-free reading: the paper's target class is the ground-truth label, which a method
here never sees; the teacher's argmax takes its place, in DKD's split and in the
reference's cross-entropy term (mdistiller's `loss_ce`, weight `CE_WEIGHT` = 1), which is
kept as `ce` = ce_weight · CE(z_s, argmax z_t) at temperature 1, so that
L = ce_weight · CE + ramp · L_DKD (ramp = 1 unless warmup is set, below). Then p_t^T is the
teacher's top probability: TCKD transfers how confident the teacher is, NCKD how it ranks
the rest. Where the teacher is wrong the paper's TCKD and cross-entropy would point the
student at the true class; this variant follows the teacher's choice. `ce_weight=0`
leaves DKD alone (as `kd` here has no hard term).

Warmup: mdistiller multiplies the DKD term (not the cross-entropy) by min(e / W, 1), e the
epoch counted from 1: W = 20 of 240 epochs on CIFAR-100, W = 1 (no warmup) on ImageNet.
`warmup_epochs=W` applies that factor with e the current pass over the paired set,
counted from 1; the step count is a buffer, so a resumed run continues the ramp. It is
off by default: a method cannot see how long the run is, and CIFAR's 20 epochs would
outlast this project's quick profile (8 distillation epochs), so DKD would never reach
its full weight; mdistiller's ImageNet recipe has no warmup either.

Labelled track (`benchmark.tracks`): the paper's form. The target class is the ground
truth `Batch.label` (the teacher's argmax only where a pair or pixel has no label), and
the cross-entropy is the track's, on the same head, with weight γ = `ce_weight` = 1
(mdistiller's `DKD.CE_WEIGHT`), so L = 1·CE(z_s, y) + α·TCKD + β·NCKD with α = 1, β = 8,
T = 4 (mdistiller's CIFAR-100 `DKD` config; its warmup stays off, as above).

The student backbone has no class head, so this method owns one, as `kd` does: a linear
layer on the pooled embedding; for segmentation a dense head
(`benchmark.backbones.DenseHead`) on the student's stages, with the target class, TCKD,
NCKD and the cross-entropy taken per pixel and averaged over pixels (the per-pixel
reading `kd` uses). The head
is discarded after distillation; evaluation reads the backbone only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.backbones import class_head, head_logits
from benchmark.method import Batch, Context, Method, Outputs, class_targets, register_method
from benchmark.params import param


def class_rows(logits: Tensor) -> Tensor:
    """[B, K] as it is, or dense [B, K, H, W] as one row per pixel, [B·H·W, K]."""
    if logits.dim() == 2:
        return logits
    return logits.movedim(1, -1).reshape(-1, logits.shape[1])


def binary_log_probs(logits: Tensor, target: Tensor) -> Tensor:
    """[log p_t, log(1 − p_t)] per row, [N, 2], computed by log-sum-exp."""
    is_target = F.one_hot(target, logits.shape[1]).bool()
    log_z = logits.logsumexp(dim=1)
    log_t = logits.gather(1, target[:, None]).squeeze(1) - log_z
    log_rest = logits.masked_fill(is_target, float("-inf")).logsumexp(dim=1) - log_z
    return torch.stack([log_t, log_rest], dim=1)


def non_target_logits(logits: Tensor, target: Tensor) -> Tensor:
    """Each row without its target column, [N, K − 1], the other classes in order."""
    keep = ~F.one_hot(target, logits.shape[1]).bool()
    return logits[keep].view(len(logits), -1)


def kl_rows(log_p: Tensor, log_q: Tensor) -> Tensor:
    """KL(p ‖ q) per row from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


def dkd_terms(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float,
    labels: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(TCKD, NCKD), each T² times the mean over rows (samples, or pixels), with the
    label as each row's target class where `labels` gives one, else the teacher's
    argmax."""
    z_s = class_rows(student_logits) / temperature
    z_t = class_rows(teacher_logits.detach()) / temperature
    target = class_targets(labels, z_t)
    tckd = kl_rows(binary_log_probs(z_t, target), binary_log_probs(z_s, target))
    nckd = kl_rows(
        F.log_softmax(non_target_logits(z_t, target), dim=1),
        F.log_softmax(non_target_logits(z_s, target), dim=1),
    )
    scale = temperature**2
    return scale * tckd.mean(), scale * nckd.mean()


def pseudo_label_ce(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """Cross-entropy of the student's logits (temperature 1) against the teacher's argmax,
    averaged over rows (samples, or pixels)."""
    target = teacher_logits.detach().argmax(dim=1)
    return F.cross_entropy(student_logits, target)


@register_method("dkd")
class DKD(Method):
    ce_weight: float = param(
        1.0, low=0.0, high=1000.0, help="cross-entropy on the teacher's argmax (0: DKD alone)"
    )
    alpha: float = param(1.0, low=0.0, high=1000.0, help="weight α of TCKD")
    beta: float = param(8.0, low=0.0, high=1000.0, help="weight β of NCKD")
    temperature: float = param(4.0, low=0.05, high=100.0, help="softmax temperature T")
    warmup_epochs: int = param(
        0, low=0, high=10_000, help="ramp min(e/W, 1) over W passes (0: off, the default)"
    )

    uses_feature_maps = True  # the segmentation head reads the student's stages

    steps: Tensor

    def needs_teacher_logits(self) -> bool:
        return True  # the target class and both distributions are the teacher's

    def setup(self, ctx: Context) -> None:
        self.dense = ctx.dense
        self.num_pairs = ctx.num_pairs
        self.head = class_head(ctx)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def student_logits(self, student: Outputs, teacher_logits: Tensor) -> Tensor:
        return head_logits(self.head, student, like=teacher_logits)

    def ramp(self, batch_size: int) -> float:
        """The reference's warmup factor for the current step: min(e / W, 1), e the pass
        over the paired set this step belongs to, counted from 1."""
        if self.warmup_epochs == 0:
            return 1.0
        per_epoch = max(1, self.num_pairs // max(1, batch_size))
        epoch = int(self.steps) // per_epoch + 1
        return min(epoch / self.warmup_epochs, 1.0)

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        if teacher.logits is None:
            raise ValueError("dkd needs the teacher's logits")
        logits = self.student_logits(student, teacher.logits)
        tckd, nckd = dkd_terms(logits, teacher.logits, self.temperature, batch.label)
        ramp = self.ramp(len(student.embedding))
        if self.training:
            self.steps += 1
        terms = {"tckd": ramp * self.alpha * tckd, "nckd": ramp * self.beta * nckd}
        if self.ce_weight > 0 and batch.label is None:  # labelled: the track's CE
            terms["ce"] = self.ce_weight * pseudo_label_ce(logits, teacher.logits)
        return terms

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor] | None:
        """Logits at temperature (z / T), where both parts of DKD compare the two sides;
        dense logits averaged over pixels, one row per image."""
        if teacher.logits is None:
            return None
        z_s = self.student_logits(student, teacher.logits) / self.temperature
        z_t = teacher.logits / self.temperature
        if self.dense:
            return z_s.mean(dim=(2, 3)), z_t.mean(dim=(2, 3))
        return z_s, z_t

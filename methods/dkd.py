"""`dkd`: Decoupled Knowledge Distillation; label-free, the teacher's argmax stands in for
the label.

Paper: Zhao, Cui, Song, Qiu, Liang, "Decoupled Knowledge Distillation", CVPR 2022,
Sec. 3.1–3.2.

KD at temperature T splits by the target class t, with b = [p_t, 1 − p_t] and p̂ the
distribution over the non-target classes alone (p̂_k = p_k / (1 − p_t), k ≠ t):
KD = KL(b^T ‖ b^S) + (1 − p_t^T) · KL(p̂^T ‖ p̂^S) = TCKD + (1 − p_t^T) · NCKD; DKD weights
the parts freely,

    L_DKD = T² · mean_i [ α · TCKD_i + β · NCKD_i ].

Reference code: megvii-research/mdistiller (`mdistiller/distillers/DKD.py`).
Numerics: softmax at T, both parts scaled by T², averaged over samples; here the target
column is removed and the split taken in log space (log-sum-exp for log(1 − p_t)) where
the reference subtracts 1000 from the target logit
(`tests/methods/test_equations_logit.py` checks the two agree).
Defaults: α = 1, β = 8, T = 4, the paper's CIFAR-100 values (mdistiller's `CFG.DKD`).

This project's reading, label-free: the teacher's argmax is the target class, in the split
and in the reference's cross-entropy, `ce` = ce_weight · CE(z_s, argmax z_t) at
temperature 1 (`CE_WEIGHT` = 1; `ce_weight=0` leaves DKD alone). `warmup_epochs=W` applies
mdistiller's ramp min(e / W, 1) to the DKD term, e the pass over the paired set from 1;
off by default, as in mdistiller's ImageNet recipe. The student head is this method's own,
as in `kd`; segmentation is per pixel. Why: `docs/methods/dkd.md`.

Labelled track: L = 1·CE(z_s, y) + α·TCKD + β·NCKD (`benchmark.tracks`), the target class
`Batch.label`, the CE the track's, on the same head (mdistiller's CIFAR-100 `DKD` config).
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

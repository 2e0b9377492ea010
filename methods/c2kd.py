"""`c2kd`: C2KD with a frozen teacher; label-free, the teacher's argmax stands in for the
label.

Paper: Huo, Xu, Guo, Wang, Guo, "C2KD: Bridging the Modality Gap for Cross-Modal Knowledge
Distillation", CVPR 2024.

Only its abstract was available to this project: proxy heads exchange knowledge both ways,
and On-the-Fly Selection Distillation (OFSD) passes non-target knowledge only on samples
whose proxies rank the classes alike (Kendall's τ). The losses are the reference code's,
all at temperature 1, the side after "←" detached:

    ce       CE(z_s, y)                            the student's own head on the label y
    proxy_t  KL(σ(z_t) ‖ σ(r_t))                   teacher proxy ← teacher (unimodal)
    proxy_s  KL(σ(z_s) ‖ σ(r_s))                   student proxy ← student head
    head_s   KL(σ(r_s) ‖ σ(z_s))                   student head ← student proxy
    ofsd_s   mean_i m_i · KL(ν(r_t,i) ‖ ν(r_s,i))  student proxy ← teacher proxy
    ofsd_t   mean_i m_i · KL(ν(r_s,i) ‖ ν(r_t,i))  teacher proxy ← student proxy
    m_i = [τ_b(r_t,i, r_s,i) > krc],   τ_b Kendall's tau-b (all-tied rows: not selected).

Reference code: huofushuo/C2KD (`ave/utils/helper.py`: `train_network_distill`, `ntkl`;
`ave/utils/module.py`: `Tea`, `Stu`; `ave/utils/model_res.py`).
Numerics: r_s, r_t are proxies on each backbone's second-to-last stage (its `f4`): pool,
1×1 conv, BN, LeakyReLU(0.1), linear; ν is `ntkl`'s non-target softmax, the label's
logit set to 0 (kept, gradient stopped); `non_target=excluded` drops the class instead.
Defaults: krc 0, every weight 1 (the reference's).

This project's reading: the teacher is frozen, so the reference's two teacher-training
terms are dropped and r_t is the only teacher-side module that learns; label-free, y is
the teacher's argmax; segmentation is per pixel. Why: `docs/methods/c2kd.md`.

Labelled track: y is `Batch.label` (`benchmark.tracks`); the CE is the track's, on the
same head, `ce_weight` = 1 (the reference's unweighted sum).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.backbones import class_head, head_logits
from benchmark.method import Batch, Context, Method, Outputs, class_targets, register_method
from benchmark.params import param

KENDALL_CHUNK = 8192  # rows per block of pairwise signs: memory is chunk · K(K−1)/2 values


def class_rows(logits: Tensor) -> Tensor:
    """[B, K] as it is, or dense [B, K, H, W] as one row per pixel, [B·H·W, K]."""
    if logits.dim() == 2:
        return logits
    return logits.movedim(1, -1).reshape(-1, logits.shape[1])


@torch.no_grad()
def kendall_tau_b(x: Tensor, y: Tensor) -> Tensor:
    """Kendall's tau-b between x_i and y_i for each row of [N, K]: (n_c − n_d) /
    sqrt((n_0 − n_x)(n_0 − n_y)) over the K(K−1)/2 class pairs, pairs tied in x or in y
    left out of the matching factor; NaN for a row constant in x or y (as scipy gives)."""
    first, second = torch.triu_indices(x.shape[1], x.shape[1], offset=1, device=x.device)
    out = []
    for start in range(0, len(x), KENDALL_CHUNK):
        a = x[start : start + KENDALL_CHUNK].T  # class-major: [K, n]
        b = y[start : start + KENDALL_CHUNK].T
        sign_a = torch.sign(a[first] - a[second])  # [pairs, n]
        sign_b = torch.sign(b[first] - b[second])
        untied = sign_a.abs().sum(dim=0) * sign_b.abs().sum(dim=0)
        out.append((sign_a * sign_b).sum(dim=0) / untied.sqrt())
    return torch.cat(out)


def non_target_log_probs(logits: Tensor, target: Tensor, form: str) -> Tensor:
    """log ν: "zeroed" sets each row's target logit to 0 and keeps K classes (the
    reference's `ntkl`); "excluded" drops the target column, K − 1 classes."""
    is_target = F.one_hot(target, logits.shape[1]).bool()
    if form == "zeroed":
        return F.log_softmax(logits.masked_fill(is_target, 0.0), dim=1)
    return F.log_softmax(logits[~is_target].view(len(logits), -1), dim=1)


def kl_rows(log_p: Tensor, log_q: Tensor) -> Tensor:
    """KL(p ‖ q) per row from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


def ofsd(learner: Tensor, guide: Tensor, target: Tensor, selected: Tensor, form: str) -> Tensor:
    """mean_i m_i · KL(ν(guide_i) ‖ ν(learner_i)), the guide a constant; rows [N, K]."""
    kl = kl_rows(
        non_target_log_probs(guide.detach(), target, form),
        non_target_log_probs(learner, target, form),
    )
    return (selected * kl).mean()


def soft_kl(learner: Tensor, guide: Tensor) -> Tensor:
    """mean_i KL(σ(guide_i) ‖ σ(learner_i)), the guide a constant (KLDivLoss batchmean)."""
    return kl_rows(F.log_softmax(guide.detach(), dim=1), F.log_softmax(learner, dim=1)).mean()


def c2kd_terms(
    z_s: Tensor,
    r_s: Tensor,
    r_t: Tensor,
    z_t: Tensor,
    krc: float,
    form: str,
    labels: Tensor | None = None,
) -> dict[str, Tensor]:
    """The loss terms on rows [N, K] (samples, or pixels) of the student head z_s, the two
    proxies r_s, r_t and the teacher's logits z_t, the label being `labels` where given,
    else argmax z_t; `ce` unweighted."""
    z_t = z_t.detach()
    target = class_targets(labels, z_t)
    selected = (kendall_tau_b(r_t.detach(), r_s.detach()) > krc).to(r_s.dtype)
    return {
        "ce": F.cross_entropy(z_s, target),
        "proxy_t": soft_kl(r_t, z_t),
        "proxy_s": soft_kl(r_s, z_s),
        "head_s": soft_kl(z_s, r_s),
        "ofsd_s": ofsd(r_s, r_t, target, selected, form),
        "ofsd_t": ofsd(r_t, r_s, target, selected, form),
    }


class Proxy(nn.Module):
    """A proxy classifier on one stage: (pool,) 1×1 conv, BN, LeakyReLU(0.1), classifier."""

    def __init__(self, channels: int, num_classes: int, dense: bool) -> None:
        super().__init__()
        self.dense = dense
        self.layer = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.LeakyReLU(0.1, inplace=True),
        )
        nn.init.kaiming_normal_(self.layer[0].weight, mode="fan_out", nonlinearity="relu")
        self.classify: nn.Module = (
            nn.Conv2d(channels, num_classes, kernel_size=1)
            if dense
            else nn.Linear(channels, num_classes)
        )

    def forward(self, stage: Tensor, size: tuple[int, int]) -> Tensor:
        if not self.dense:
            return self.classify(self.layer(F.adaptive_avg_pool2d(stage, 1)).flatten(1))
        logits = self.classify(self.layer(stage))
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def proxy_stage(count: int) -> int:
    """The second-to-last stage, or the only one."""
    return count - 2 if count >= 2 else 0


@register_method("c2kd")
class C2KD(Method):
    krc: float = param(0.0, low=-1.0, high=1.0, help="OFSD selects samples with Kendall τ > krc")
    non_target: str = param(
        "zeroed", choices=("zeroed", "excluded"), help="non-target softmax form (see docstring)"
    )
    ce_weight: float = param(
        1.0, low=0.0, high=1000.0, help="cross-entropy on the teacher's argmax"
    )

    uses_feature_maps = True  # the proxies read both backbones' second-to-last stages

    def needs_teacher_logits(self) -> bool:
        return True  # the teacher proxy learns them; their argmax is the label

    def setup(self, ctx: Context) -> None:
        self.dense = ctx.dense
        self.stage_s = proxy_stage(len(ctx.student_channels))
        self.stage_t = proxy_stage(len(ctx.teacher_channels))
        self.head = class_head(ctx)
        self.proxy_s = Proxy(ctx.student_channels[self.stage_s], ctx.num_classes, self.dense)
        self.proxy_t = Proxy(ctx.teacher_channels[self.stage_t], ctx.num_classes, self.dense)

    def outputs(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor, Tensor]:
        """(z_s, r_s, r_t) at the teacher logits' shape."""
        assert teacher.logits is not None
        size = tuple(teacher.logits.shape[-2:])
        z_s = head_logits(self.head, student, like=teacher.logits)
        r_s = self.proxy_s(student.feature_maps[self.stage_s], size)
        r_t = self.proxy_t(teacher.feature_maps[self.stage_t].detach(), size)
        return z_s, r_s, r_t

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        if teacher.logits is None:
            raise ValueError("c2kd needs the teacher's logits")
        z_s, r_s, r_t = (class_rows(t) for t in self.outputs(student, teacher))
        terms = c2kd_terms(
            z_s, r_s, r_t, class_rows(teacher.logits), self.krc, self.non_target, batch.label
        )
        ce = terms.pop("ce")
        if self.ce_weight > 0 and batch.label is None:  # labelled: the track's CE
            terms["ce"] = self.ce_weight * ce
        return terms

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor] | None:
        """The two proxies' logits, between which OFSD passes knowledge; dense ones
        averaged over pixels, one row per image."""
        if teacher.logits is None:
            return None
        _, r_s, r_t = self.outputs(student, teacher)
        if self.dense:
            return r_s.mean(dim=(2, 3)), r_t.mean(dim=(2, 3))
        return r_s, r_t

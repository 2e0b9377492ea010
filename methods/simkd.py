"""`simkd`: SimKD, the student's last feature map regressed onto the teacher's through a
projector.

Paper: Chen, Mei, Zhang, Wang, Wang, Feng, Chen, "Knowledge Distillation with the Reused
Teacher Classifier", CVPR 2022.

One loss, an L2 regression of the teacher's final feature map through a trainable
projector P on the student's, with the teacher's own classifier reused on the pooled
P(F_s) at inference:

    L = weight · mean over (channels, positions, samples) of (P(F_s) − F_t)².

Reference code: DefangChen/SimKD (`models/util.py` class `SimKD`, the `simkd` branch of
`helper/loops.py`).
Numerics: the larger map average-pooled to the smaller; P a bias-free bottleneck, 1×1 conv
(C_s → C_t / f), 3×3 conv (C_t / f → C_t / f), 1×1 conv (C_t / f → C_t), each followed by
BN and ReLU; `nn.MSELoss`'s mean. F_s, F_t: the deepest stages (its `feat[-2]`).
Defaults: weight 1, f = 2 (its `scripts/run_distill.sh`: `-c 0 -d 0 -b 1`, `--factor 2`).
No labels and no teacher logits or head are read, so it runs in the label-free track too.
Deviation: evaluation reads the student's backbone alone (probe, fine-tune with a fresh
head); P and the teacher's classifier are dropped after distillation, so the row measures
what the regression teaches the backbone, not SimKD's reused-classifier student.

This project's reading: `aligned` measures P's output, the space the teacher's classifier
would read; segmentation uses the same per-position loss and never reuses the teacher's
dense head. Why, and what a 1×1 last stage makes of P: `docs/methods/simkd.md`.

Labelled track: L = 1·CE + 1·L_SimKD (`benchmark.tracks`). Deviation: the reference has no
CE (its student classifies through the reused teacher classifier); this track scores the
student's own head, which needs one, so γ = 1 (RepDistiller's default `-r`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.params import param


def projector(channels_in: int, channels_out: int, factor: int) -> nn.Module:
    """SimKD's bottleneck: 1×1, 3×3 and 1×1 convolutions, each followed by BN and ReLU."""
    mid = max(1, channels_out // factor)
    return nn.Sequential(
        nn.Conv2d(channels_in, mid, kernel_size=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, mid, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, channels_out, kernel_size=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


def common_size(f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor]:
    """Both maps average-pooled to the smaller height and width (a no-op when equal)."""
    size = (min(f_s.shape[-2], f_t.shape[-2]), min(f_s.shape[-1], f_t.shape[-1]))

    def pool(x: Tensor) -> Tensor:
        return x if tuple(x.shape[-2:]) == size else F.adaptive_avg_pool2d(x, size)

    return pool(f_s), pool(f_t)


@register_method("simkd")
class SimKD(Method):
    weight: float = param(1.0, low=0.0, high=1000.0, help="scale of the feature regression")
    factor: int = param(2, low=1, high=64, help="projector bottleneck: width C_t / factor")

    uses_feature_maps = True  # the loss reads both backbones' last feature maps

    def needs_spatial_maps(self) -> bool:
        return True

    def setup(self, ctx: Context) -> None:
        self.project = projector(ctx.student_channels[-1], ctx.teacher_channels[-1], self.factor)

    def pair(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """(P(F_s), F_t) at a common spatial size."""
        f_s, f_t = common_size(student.feature_maps[-1], teacher.feature_maps[-1].detach())
        return self.project(f_s), f_t

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        projected, target = self.pair(student, teacher)
        return {"simkd": self.weight * F.mse_loss(projected, target)}

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """The pooled projected student feature against the teacher's embedding (its pooled
        last map): the two inputs the teacher's classifier reads in SimKD."""
        projected, _ = self.pair(student, teacher)
        return projected.mean(dim=(2, 3)), teacher.embedding

"""`simkd`: SimKD, the student's last feature map regressed onto the teacher's through a
projector.

Chen, Mei, Zhang, Wang, Wang, Feng, Chen, "Knowledge Distillation with the Reused Teacher
Classifier", CVPR 2022. SimKD trains the student with one loss, an L2 regression of the
teacher's final feature map through a trainable projector P on the student's,

    L = weight · mean over (channels, positions, samples) of (P(F_s) − F_t)²,

and at inference puts the teacher's own classifier on top of the pooled projected student
feature (the "reused teacher classifier"), so the student needs no classifier of its own.
Numerics follow the reference (DefangChen/SimKD, `models/util.py` class `SimKD` and the
`simkd` branch of `helper/loops.py`): spatial sizes aligned by average-pooling the larger
map down to the smaller; P is a bottleneck, 1×1 conv (C_s → C_t / f), BN, ReLU, 3×3 conv
(C_t / f → C_t / f), BN, ReLU, 1×1 conv (C_t / f → C_t), BN, ReLU, convolutions without
bias; `nn.MSELoss`'s mean over every element. Defaults weight 1, f = 2: the reference's
`scripts/run_distill.sh` (`-c 0 -d 0 -b 1`, `--factor 2`). F_s, F_t are the backbones'
deepest stages (the reference's `feat[-2]`, the last map before pooling).

Labels: none. The reference's SimKD runs weight cross-entropy and KD by 0, so nothing is
substituted and the method reads neither the teacher's logits nor its head: it runs in
the label-free track too.

What this protocol measures: the reused classifier is SimKD's inference path (student
backbone → P → the teacher's classifier), but evaluation here reads the student's
backbone alone, a linear probe on its features and a few-label fine-tune with a fresh
head; P and the teacher's classifier are dropped after distillation like every method's
heads. So SimKD's row measures what its training signal, regressing the teacher's last
feature map through a non-linear projector, teaches the backbone, not the accuracy of
SimKD's reused-classifier student: that would be a zero-label classifier on the source
task's classes through a head trained on source labels, outside this protocol (and in
the label-free track there is no classifier to reuse). Part of the alignment can live in
P instead of the backbone; the gap estimates (`aligned`) measure P's output, the space the
teacher's classifier would read.

Segmentation reading: the loss is already per position, on the last stage's maps, the
same for both kinds; the reused classifier would be the teacher's dense head, which reads
every stage, not one projected map, and it is not used either way. Where the last stage is
1×1 (stride-32 backbones at 32×32 inputs, the profiles' test_resnet and resnet10t), the
3×3 convolution sees only its centre tap and P acts as an MLP on the pooled feature.

Labelled track (`benchmark.tracks`): L = 1·CE + 1·L_SimKD. Deviation: the reference runs
`-c 0 -d 0 -b 1`, no cross-entropy at all, because its student classifies through the
reused teacher classifier; this track scores the student's own head, which without a
cross-entropy would never be trained, so the track's γ = 1 (RepDistiller's default `-r`)
is kept and P and the teacher's classifier are dropped as in the other tracks.
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

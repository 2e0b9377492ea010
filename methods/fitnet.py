"""`fitnet`: FitNets hints on a middle stage, with RepDistiller's convolutional regressor.

Paper: Romero, Ballas, Kahou, Chassang, Gatta, Bengio, "FitNets: Hints for Thin Deep
Nets", ICLR 2015, Eq. 3.

L_HT = ½ ‖u_h(x) − r(v_g(x))‖²: the student's guided layer v_g, through a learnt regressor
r, regresses the teacher's hint layer u_h, both mid-network. As RepDistiller builds it,

    L = weight · mean over elements of (T_l(x_src) − ReLU(BN(conv(S_l(x_tgt)))))²,

conv from the two maps' heights: 3×3 stride 2 when the student's is twice the teacher's,
4×4 stride-2 transposed when half, else kernel (1 + H_s − H_t, 1 + W_s − W_t) (1×1 for
equal sizes, and W_s ≥ W_t needed); any other smaller student map is an error, as there.

Reference code: RepDistiller (`helper/loops.py`, `distiller_zoo/FitNet.py`,
`models/util.py`'s `ConvReg`).
Defaults: the middle stage (`stage = -1`: index len(feature_maps) // 2, a timm ResNet's
layer2, RepDistiller's `hint_layer = 2`) and weight 100 (its run-script β for hints).
Deviation: FitNets' second stage (KD on the whole network) is this project's evaluation
(probe, few-label fine-tune); the hint loss is the whole distillation stage, as
RepDistiller's `-a 0`.
Segmentation: position by position, as classification; the embedding is not read.

This project's reading: the kernel reads `Context.student_sizes` / `teacher_sizes`;
without them both stages are taken to be one size (1×1) and another size is an error,
not resampled; `aligned` returns the regressor's output before its ReLU and the hint map,
both spatially averaged (after the ReLU an all-negative eval-mode regressor gives zero
rows). How it differs from `l2`, and why: `docs/methods/fitnet.md`.

Labelled track: L = 1·CE + 100·L_hint (`benchmark.tracks`), RepDistiller's `--distill hint
-a 0 -b 100` (`-r` at its default 1): the weight above is already its β.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.params import param


class ConvReg(nn.Module):
    """conv (kernel from the sizes) → BatchNorm → ReLU, student stage to teacher stage."""

    def __init__(
        self, c_s: int, c_t: int, size_s: tuple[int, int], size_t: tuple[int, int]
    ) -> None:
        super().__init__()
        (h_s, w_s), (h_t, w_t) = size_s, size_t
        if h_s == 2 * h_t:
            self.conv: nn.Module = nn.Conv2d(c_s, c_t, kernel_size=3, stride=2, padding=1)
        elif 2 * h_s == h_t:
            self.conv = nn.ConvTranspose2d(c_s, c_t, kernel_size=4, stride=2, padding=1)
        elif h_s >= h_t and w_s >= w_t:
            self.conv = nn.Conv2d(c_s, c_t, kernel_size=(1 + h_s - h_t, 1 + w_s - w_t))
        else:
            raise ValueError(f"fitnet cannot regress a {size_s} student map to {size_t}")
        self.bn = nn.BatchNorm2d(c_t)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.pre_activation(x))

    def pre_activation(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


@register_method("fitnet")
class FitNet(Method):
    weight: float = param(100.0, low=0.0, high=1e6, help="scale of the hint loss")
    stage: int = param(-1, low=-1, high=15, help="stage hinted (-1 = the middle one, len // 2)")

    uses_feature_maps = True

    def needs_spatial_maps(self) -> bool:
        return True

    def setup(self, ctx: Context) -> None:
        count = min(len(ctx.student_channels), len(ctx.teacher_channels))
        self.index = count // 2 if self.stage == -1 else self.stage
        if self.index >= count:
            raise ValueError(f"fitnet.stage={self.stage} is out of range: {count} stages")
        i = self.index
        if ctx.student_sizes is None or ctx.teacher_sizes is None:
            size_s = size_t = (1, 1)  # unknown: assume one size on both sides
        else:
            size_s, size_t = ctx.student_sizes[i], ctx.teacher_sizes[i]
        c_s, c_t = ctx.student_channels[i], ctx.teacher_channels[i]
        self.regressor = ConvReg(c_s, c_t, size_s, size_t)

    def pair(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """(regressed student stage, teacher hint stage), checked to be of one shape."""
        s = self.regressor(student.feature_maps[self.index])
        t = teacher.feature_maps[self.index].detach()
        if s.shape != t.shape:
            raise ValueError(
                f"fitnet's regressor gives {tuple(s.shape)} for a {tuple(t.shape)} hint: "
                "Context.student_sizes/teacher_sizes did not describe these maps"
            )
        return s, t

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self.pair(student, teacher)
        return {"fitnet": self.weight * F.mse_loss(s, t)}

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """The regressor's pre-activation and the teacher's hint, spatially averaged."""
        self.pair(student, teacher)  # the shape check
        s = self.regressor.pre_activation(student.feature_maps[self.index])
        return s.mean(dim=(2, 3)), teacher.feature_maps[self.index].mean(dim=(2, 3))

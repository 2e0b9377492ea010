"""`l2`: L2 feature matching through a learned regressor.

Paper: Gupta, Hoffman, Malik, "Cross Modal Distillation for Supervision Transfer", CVPR
2016, with FitNets' regressor (Romero et al., ICLR 2015, Eq. 3).

Gupta et al. train the target-modality network so that its mid-level features on one side
of a pair match the frozen source network's features on the other side, with an L2 loss;
FitNets adds a learned regressor r on the student's layer, L_hint = ½‖u_h(x) − r(v_g(x))‖²,
so the two layers may differ in width. This file implements

    L = weight · mean over elements of (T_stage(x_src) − r(S_stage(x_tgt)))²

with r a 1×1 convolution (FitNets' convolutional regressor, which keeps it small).

Reference code: RepDistiller's `HintLoss` (`distiller_zoo/FitNet.py`) for the
mean-squared form; none used for Gupta et al.
Defaults: weight 1, `stage=-1` the deepest stage (Gupta's choice, pool5). `pooled=True`
matches global-pooled embeddings through a linear regressor instead.

This project's reading: the element mean replaces the ½·sum, a constant rescaling that
makes `weight` independent of feature size; where the two maps' sizes differ, the
regressed student map is resampled bilinearly to the teacher's.

Labelled track: L = 1·CE + 1·L_l2 (`benchmark.tracks`). Gupta et al. train the regression
alone and fine-tune after, so no reference weighs it beside a cross-entropy: γ = 1
(RepDistiller's default `-r`) and this file's weight 1, not a reference's values.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.params import choice, log_uniform, param


@register_method("l2")
class L2(Method):
    # Search spaces (`bench tune`): the weight up to RepDistiller's β = 100 for the FitNets
    # hint (its mean-squared HintLoss, as here) and a decade below this file's 1; the
    # stage Gupta's deepest layer (pool5) or the one before it, towards the middle
    # "hint" layer FitNets matches.
    weight: float = param(
        1.0, low=0.0, help="scale of the matching loss", space=log_uniform(0.1, 100.0)
    )
    stage: int = param(
        -1, low=-8, high=8, help="backbone stage to match (-1 = deepest)", space=choice(-1, -2)
    )
    pooled: bool = param(False, help="match pooled embeddings instead of feature maps")

    uses_feature_maps = True

    def needs_spatial_maps(self) -> bool:
        return not self.pooled  # the pooled form compares embeddings only

    def setup(self, ctx: Context) -> None:
        if self.pooled:
            self.regressor: nn.Module = nn.Linear(ctx.student_dim, ctx.teacher_dim)
        else:
            stages = min(len(ctx.student_channels), len(ctx.teacher_channels))
            if not -stages <= self.stage < stages:
                raise ValueError(
                    f"l2.stage={self.stage} is out of range: the backbones have {stages} stages"
                )
            s_ch, t_ch = ctx.student_channels[self.stage], ctx.teacher_channels[self.stage]
            self.regressor = nn.Conv2d(s_ch, t_ch, kernel_size=1)

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        if self.pooled:
            return {
                "l2": self.weight
                * F.mse_loss(self.regressor(student.embedding), teacher.embedding.detach())
            }
        s = self.regressor(student.feature_maps[self.stage])
        t = teacher.feature_maps[self.stage].detach()
        if s.shape[-2:] != t.shape[-2:]:
            s = F.interpolate(s, size=t.shape[-2:], mode="bilinear", align_corners=False)
        return {"l2": self.weight * F.mse_loss(s, t)}

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """The regressor's output against the teacher's matched stage, spatially averaged
        (the regressor is linear per pixel, so this is the regressed pooled map)."""
        if self.pooled:
            return self.regressor(student.embedding), teacher.embedding
        s = self.regressor(student.feature_maps[self.stage])
        return s.mean(dim=(2, 3)), teacher.feature_maps[self.stage].mean(dim=(2, 3))

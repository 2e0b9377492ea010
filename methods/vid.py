"""`vid`: Variational Information Distillation.

Paper: Ahn, Hu, Damianou, Lawrence, Dai, "Variational Information Distillation for
Knowledge Transfer", CVPR 2019.

The mutual information between a teacher stage t and the student's stage s is bounded
through a Gaussian q(t | s) = N(μ(s), σ²), μ a regressor on the student's features, σ²
learnt per channel; maximising the bound minimises

    L = weight · Σ_l mean_{b, c, positions} ½ [ (t_c − μ_c(s))² / σ_c² + log σ_c² ],
    σ_c² = softplus(α_c) + ε,

the constant ½ log 2π left out.

Reference code: RepDistiller (`distiller_zoo/VID.py`, `VIDLoss(s, t, t)` in
`train_student.py`).
Numerics: μ is three bias-free 1×1 convs with ReLUs between, hidden width the teacher
stage's channels; α starts at log(exp(5 − ε) − 1), so σ² starts at 5.0; ε = 1e-5; the
larger of two maps is average-pooled to the smaller's before the regressor.
Defaults: weight 1 (RepDistiller's run-script β). Deviations: none.
Stages: `feature_maps[first_stage:]`, paired by index, one regressor and one α per stage;
the default 1 skips the stem (RepDistiller's feat[1:-1]). Segmentation: per position.

This project's reading: `mid_channels = 0` means RepDistiller's width; softplus is torch's
stable log(1 + exp(α)); `aligned` returns, per stage, the pooled regressor output and
teacher map divided by σ_c (one unit = one predicted standard deviation), concatenated.

Labelled track: L = 1·CE + 1·L_VID (`benchmark.tracks`), RepDistiller's `--distill vid
-a 0 -b 1` (`-r` 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.methods._stages import match_size, paired_stages
from benchmark.params import param

EPS = 1e-5  # RepDistiller's floor on the predicted variance


def regressor(c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    """The mean network μ: three bias-free 1×1 convolutions with ReLUs between."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_mid, kernel_size=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(c_mid, c_mid, kernel_size=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(c_mid, c_out, kernel_size=1, bias=False),
    )


def variance(alpha: Tensor) -> Tensor:
    """σ² = softplus(α) + ε, shaped [1, C, 1, 1]."""
    return (F.softplus(alpha) + EPS).view(1, -1, 1, 1)


def gaussian_nll(mean: Tensor, target: Tensor, var: Tensor) -> Tensor:
    """Mean over every element of ½ [(t − μ)² / σ² + log σ²]."""
    return (0.5 * ((mean - target).pow(2) / var + var.log())).mean()


@register_method("vid")
class VID(Method):
    weight: float = param(1.0, low=0.0, high=1e6, help="scale of the summed stage NLLs")
    init_var: float = param(5.0, low=1e-3, high=1e3, help="initial predicted variance σ²")
    mid_channels: int = param(
        0, low=0, high=8192, help="regressor's hidden width (0 = the teacher stage's)"
    )
    first_stage: int = param(1, low=0, high=15, help="shallowest stage used (1 skips the stem)")

    uses_feature_maps = True

    def needs_spatial_maps(self) -> bool:
        return True

    def setup(self, ctx: Context) -> None:
        self.stages = paired_stages(ctx, self.first_stage, "vid")
        start = math.log(math.exp(self.init_var - EPS) - 1.0)  # softplus⁻¹(init_var − ε)
        self.regressors = nn.ModuleList()
        self.alphas = nn.ParameterList()
        for i in self.stages:
            c_s, c_t = ctx.student_channels[i], ctx.teacher_channels[i]
            self.regressors.append(regressor(c_s, self.mid_channels or c_t, c_t))
            self.alphas.append(nn.Parameter(torch.full((c_t,), start)))

    def stage_pairs(self, student: Outputs, teacher: Outputs) -> list[tuple[Tensor, Tensor]]:
        """(μ(s), t) per used stage, after size matching."""
        pairs = []
        for k, i in enumerate(self.stages):
            f_s, f_t = match_size(student.feature_maps[i], teacher.feature_maps[i].detach())
            pairs.append((self.regressors[k](f_s), f_t))
        return pairs

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        pairs = self.stage_pairs(student, teacher)
        per_stage = [
            gaussian_nll(mean, target, variance(alpha))
            for (mean, target), alpha in zip(pairs, self.alphas, strict=True)
        ]
        return {"vid": self.weight * torch.stack(per_stage).sum()}

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """Pooled μ(s) and pooled teacher maps per stage, standardised by σ_c."""
        rows_s, rows_t = [], []
        pairs = self.stage_pairs(student, teacher)
        for (mean, target), alpha in zip(pairs, self.alphas, strict=True):
            std = variance(alpha).sqrt().flatten(1)
            rows_s.append(mean.mean(dim=(2, 3)) / std)
            rows_t.append(target.mean(dim=(2, 3)) / std)
        return torch.cat(rows_s, dim=1), torch.cat(rows_t, dim=1)

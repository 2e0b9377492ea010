"""`at`: Attention Transfer, activation-based.

Paper: Zagoruyko & Komodakis, "Paying More Attention to Attention: Improving the
Performance of Convolutional Neural Networks via Attention Transfer", ICLR 2017.

A stage's attention map is Q = (1/C) Σ_c |A_c|^p over its H·W positions; the paper's loss

    β/2 · Σ_l ‖ Q_S,l / ‖Q_S,l‖₂ − Q_T,l / ‖Q_T,l‖₂ ‖_p        (p = 2).

Reference code: szagoruyko/attention-transfer (`at_loss`) and RepDistiller
(`distiller_zoo/AT.py`).
Numerics: both compute, and this file reproduces, the squared difference averaged over
batch and positions, summed over stages, with no ½:

    L = β · Σ_l mean_{b, positions} (a_S,l − a_T,l)²,   a = normalise(mean_c A^p).

Defaults: p = 2, β = 1000 (the paper's and RepDistiller's run-script value, for this
averaged form).
Numerics: the larger of two maps is average-pooled to the smaller's (RepDistiller); the
teacher's maps are constants.
Stages: `feature_maps[first_stage:]`, paired by index; the default 1 skips the stem
(RepDistiller's feat[1:-1]). Segmentation: the same, position by position.

This project's reading: the maps are |A|^p as the paper writes (the codes' A^p agrees for
p = 2 and non-negative ResNet stages); `aligned` returns the normalised maps scaled by
1/√(H·W), concatenated over stages, so a row pair's squared distance is its loss before
β. Label-free, a spatially flat (even collapsed) student meets the loss against a teacher
whose maps are flat (`tests/methods/test_collapse.py`; `docs/methods/at.md`).

Labelled track: L = 1·CE + 1000·L_AT (`benchmark.tracks`), RepDistiller's `--distill
attention -a 0 -b 1000` (`-r` 1), the setting the paper trains AT in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.methods._stages import match_size, paired_stages
from benchmark.params import param


def attention_map(f: Tensor, p: int) -> Tensor:
    """[B, H·W]: the channel mean of |f|^p, L2-normalised per sample."""
    return F.normalize(f.abs().pow(p).mean(dim=1).flatten(1), p=2, dim=1)


def at_stage_loss(f_s: Tensor, f_t: Tensor, p: int) -> Tensor:
    """Mean over batch and positions of the squared difference of the normalised maps."""
    f_s, f_t = match_size(f_s, f_t.detach())
    return (attention_map(f_s, p) - attention_map(f_t, p)).pow(2).mean()


@register_method("at")
class AT(Method):
    weight: float = param(1000.0, low=0.0, high=1e7, help="β, scale of the summed stage losses")
    p: int = param(2, low=1, high=4, help="power of the activations in the attention map")
    first_stage: int = param(1, low=0, high=15, help="shallowest stage used (1 skips the stem)")

    uses_feature_maps = True

    def needs_spatial_maps(self) -> bool:
        return True

    def setup(self, ctx: Context) -> None:
        self.stages = paired_stages(ctx, self.first_stage, "at")

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        per_stage = [
            at_stage_loss(student.feature_maps[i], teacher.feature_maps[i], self.p)
            for i in self.stages
        ]
        return {"at": self.weight * torch.stack(per_stage).sum()}

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """Both sides' normalised attention maps over the used stages, each scaled by
        1/√(positions), concatenated."""
        rows_s, rows_t = [], []
        for i in self.stages:
            f_s, f_t = match_size(student.feature_maps[i], teacher.feature_maps[i])
            scale = f_s.shape[-2] * f_s.shape[-1]
            rows_s.append(attention_map(f_s, self.p) / scale**0.5)
            rows_t.append(attention_map(f_t, self.p) / scale**0.5)
        return torch.cat(rows_s, dim=1), torch.cat(rows_t, dim=1)

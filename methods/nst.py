"""`nst`: Neuron Selectivity Transfer, polynomial-kernel MMD.

Paper: Huang & Wang, "Like What You Like: Knowledge Distill via Neuron Selectivity
Transfer", arXiv 1707.01219 (2017).

At a stage each channel's activations over the H·W positions are one sample,
L2-normalised; the teacher's C_T and the student's C_S channels are two sample sets,
matched by the squared MMD under k(x, y) = (xᵀy + c)^d, d = 2, c = 0:

    MMD² = mean_{i,i'} k(t_i, t_i') + mean_{j,j'} k(s_j, s_j') − 2 · mean_{i,j} k(s_j, t_i),

per sample, averaged over the batch; L = weight · Σ_stages MMD².

Reference code: RepDistiller (`distiller_zoo/NST.py`).
Numerics: its `full_loss=True`, the teacher–teacher term kept, so each term is the MMD²
itself, never negative; the larger of two maps is average-pooled to the smaller's. The
kernel's dot products come from one batched matrix product [B, C_a, HW] × [B, HW, C_b]
rather than its broadcast [B, C_b, C_a, HW] product: the same numbers up to summation
order, in far less memory.
Defaults: weight 50, RepDistiller's run-script β.
Stages: `feature_maps[first_stage:]`, paired by index; the default 1 skips the stem
(RepDistiller's feat[1:-1]). Segmentation: the maps are read as they are.

This project's reading: the kernel's feature space (the (H·W)²-wide spatial Gram matrix)
is too wide for the gap estimates, so `aligned` keeps the fitted linear map. Label-free,
a spatially flat (even collapsed) student meets the loss against a teacher whose maps are
flat (`tests/methods/test_collapse.py`; `docs/methods/nst.md`).

Labelled track: L = 1·CE + 50·Σ MMD² (`benchmark.tracks`), RepDistiller's `--distill nst
-a 0 -b 50` (`-r` 1), the setting the paper trains NST in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.methods._stages import match_size, paired_stages
from benchmark.params import param


def channel_samples(f: Tensor) -> Tensor:
    """[B, C, H·W]: every channel's activations over the positions, L2-normalised."""
    return F.normalize(f.flatten(2), p=2, dim=2)


def poly_kernel_mean(a: Tensor, b: Tensor) -> Tensor:
    """Mean over batch and channel pairs of (aᵀb)², for a [B, C_a, N], b [B, C_b, N]."""
    return (a @ b.transpose(1, 2)).pow(2).mean()


def nst_stage_loss(f_s: Tensor, f_t: Tensor) -> Tensor:
    f_s, f_t = match_size(f_s, f_t.detach())
    s, t = channel_samples(f_s), channel_samples(f_t)
    with torch.no_grad():
        tt = poly_kernel_mean(t, t)
    return tt + poly_kernel_mean(s, s) - 2.0 * poly_kernel_mean(s, t)


@register_method("nst")
class NST(Method):
    weight: float = param(50.0, low=0.0, high=1e6, help="scale of the summed stage MMD²")
    first_stage: int = param(1, low=0, high=15, help="shallowest stage used (1 skips the stem)")

    uses_feature_maps = True

    def needs_spatial_maps(self) -> bool:
        return True

    def setup(self, ctx: Context) -> None:
        self.stages = paired_stages(ctx, self.first_stage, "nst")

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        per_stage = [
            nst_stage_loss(student.feature_maps[i], teacher.feature_maps[i]) for i in self.stages
        ]
        return {"nst": self.weight * torch.stack(per_stage).sum()}

"""`pkt`: Probabilistic Knowledge Transfer.

Paper: Passalis & Tefas, "Learning Deep Representations with Probabilistic Knowledge
Transfer", ECCV 2018.

Each side's pooled embeddings define, through the cosine kernel
K(a, b) = (1 + cos(a, b)) / 2 ∈ [0, 1], conditional distributions over the batch,

    p_{j|i} = K(t_i, t_j) / Σ_k K(t_i, t_k)     (teacher),
    q_{j|i} = K(s_i, s_j) / Σ_k K(s_i, s_k)     (student),

and the student minimises their KL divergence,

    L = weight · (1/B²) Σ_i Σ_j p_{j|i} · log((p_{j|i} + ε) / (q_{j|i} + ε)),  ε = 1e-7.

Reference code: RepDistiller's copy of the authors' code (`distiller_zoo/PKT.py`).
Numerics: its own. Rows divided by (‖x‖₂ + ε), any NaN set to 0 before the cosines; sums
over all j, i = j included; the KL averaged over the B² entries (the paper writes the
sum); the teacher's distribution a constant.
Defaults: weight 30000, RepDistiller's run-script β on that averaged form.
Deviations: none.
Stages: the pooled embeddings (RepDistiller's feat[-1]) for both task kinds; a per-pixel
kernel would have (B·H·W)² entries, and the distributions are over a batch's images.

This project's reading: the kernel compares each side only with itself, so there is no
common space; `aligned` keeps the default (the fitted linear map).

Labelled track: L = 1·CE + 30000·L_PKT (`benchmark.tracks`), RepDistiller's `--distill
pkt -a 0 -b 30000` (`-r` 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.method import Batch, Method, Outputs, register_method
from benchmark.params import param

EPS = 1e-7  # RepDistiller's ε, in the row norms and in the log ratio


def conditional_probabilities(x: Tensor) -> Tensor:
    """[B, B] row-stochastic matrix of the rescaled cosine kernel between rows of x."""
    unit = x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + EPS)
    unit = torch.where(torch.isnan(unit), torch.zeros_like(unit), unit)
    kernel = (unit @ unit.T + 1.0) / 2.0
    return kernel / kernel.sum(dim=1, keepdim=True)


def pkt_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean over the B² entries of p · log((p + ε) / (q + ε)), p the teacher's."""
    q = conditional_probabilities(student.flatten(1))
    p = conditional_probabilities(teacher.detach().flatten(1))
    return (p * torch.log((p + EPS) / (q + EPS))).mean()


@register_method("pkt")
class PKT(Method):
    weight: float = param(30000.0, low=0.0, high=1e7, help="scale of the averaged KL term")

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        return {"pkt": self.weight * pkt_loss(student.embedding, teacher.embedding)}

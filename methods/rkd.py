"""`rkd`: Relational Knowledge Distillation, distance-wise and angle-wise.

Paper: Park, Kim, Lu, Cho, "Relational Knowledge Distillation", CVPR 2019.

The student is asked for the teacher's *relations* between the samples of a batch, not
its features, so the embeddings may differ in width and nothing is learnt besides the
student. With e_1..e_B one side's pooled embeddings:

    distance potential  ψ_D(e_i, e_j) = ‖e_i − e_j‖₂ / μ,  μ the mean distance of the batch
    angle potential     ψ_A(e_i, e_j, e_k) = ⟨u_ji, u_jk⟩,  u_ji = (e_i − e_j) / ‖e_i − e_j‖₂
    L = w_d · mean_{i,j} h(ψ_D^s, ψ_D^t) + w_a · mean_{i,j,k} h(ψ_A^s, ψ_A^t),

h the Huber loss with δ = 1 (PyTorch's smooth-L1), means over every ordered pair and
triplet of the batch; the teacher's potentials are constants.

Reference code: RepDistiller (`distiller_zoo/RKD.py`).
Numerics: its own. Squared distances from ‖a‖² + ‖b‖² − 2⟨a, b⟩, clamped at 1e-12 before
the square root, the diagonal set to 0; μ the mean of the positive entries; cosines for
all B³ triplets (its [i, j, k] is the angle at i, the paper's at j: the same mean).
Defaults: w_d = 25, w_a = 50, RepDistiller's (its run script puts an outer β = 1 on them).
Deviations: none.
Stages: the pooled embeddings (RepDistiller's feat[-1]) for both task kinds; per-pixel
relations would make the angle term O((B·H·W)³), and the relations are between images.

This project's reading: no common space exists (only relations are matched), so
`aligned` keeps the default and the gap is taken through the fitted linear map.

Labelled track: L = 1·CE + 1·(25·L_D + 50·L_A) (`benchmark.tracks`), RepDistiller's
`--distill rkd -a 0 -b 1` (`-r` 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.method import Batch, Method, Outputs, register_method
from benchmark.params import param

DIST_EPS = 1e-12  # clamp on squared distances before the square root (RepDistiller's)


def distance_potential(e: Tensor) -> Tensor:
    """[B, B] Euclidean distances divided by the mean of the positive ones; 0 on the
    diagonal."""
    sq = e.pow(2).sum(dim=1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * e @ e.T).clamp(min=DIST_EPS)
    eye = torch.eye(len(e), dtype=torch.bool, device=e.device)
    d = d2.sqrt().masked_fill(eye, 0.0)
    return d / d[d > 0].mean()


def angle_potential(e: Tensor) -> Tensor:
    """[B, B, B] cosines: entry [v, a, b] is the cosine of the angle at e_v between e_a
    and e_b (0 where a or b is v)."""
    unit = F.normalize(e[None, :, :] - e[:, None, :], p=2, dim=2)  # [v, a] = e_a − e_v
    return unit @ unit.transpose(1, 2)


def rkd_terms(student: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
    """(distance term, angle term), each the mean Huber loss, before their weights."""
    s, t = student.flatten(1), teacher.detach().flatten(1)
    with torch.no_grad():
        d_t, a_t = distance_potential(t), angle_potential(t)
    distance = F.smooth_l1_loss(distance_potential(s), d_t)
    angle = F.smooth_l1_loss(angle_potential(s), a_t)
    return distance, angle


@register_method("rkd")
class RKD(Method):
    distance_weight: float = param(25.0, low=0.0, high=1e6, help="w_d, distance-wise term")
    angle_weight: float = param(50.0, low=0.0, high=1e6, help="w_a, angle-wise term")

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        distance, angle = rkd_terms(student.embedding, teacher.embedding)
        return {
            "rkd_distance": self.distance_weight * distance,
            "rkd_angle": self.angle_weight * angle,
        }

"""`crd`: Contrastive Representation Distillation with momentum memory banks.

Paper: Tian, Krishnan, Isola, "Contrastive Representation Distillation", ICLR 2020, Eq. 18.

Both sides' embeddings go through a linear head to `feat_dim`, v = normalise(W·f). An
anchor v is scored against K+1 rows of the *other* side's memory bank M (row 0 its own
pair, rows 1..K negatives), h(v, M_j) = exp(⟨v, M_j⟩ / nce_t) / Z, with
Z = N · mean(exp(⟨v, M_j⟩ / nce_t)) set once from the first batch; with noise Pn = 1/N,

    L = −(1/B) Σ_i [ log h_i0 / (h_i0 + K·Pn)  +  Σ_{j=1..K} log K·Pn / (h_ij + K·Pn) ],

summed over both directions (`crd_s`: student anchors, teacher bank; `crd_t`: the
reverse); then M_i ← normalise(m·M_i + (1−m)·v_i) for the batch's rows.

Reference code: RepDistiller (`crd/memory.py`, `crd/criterion.py`).
Numerics: RepDistiller's. Banks start uniform in ±1/√(feat_dim/3); scores are read before
the bank update; ε = 1e-7 in both denominators; the sum over the batch is divided by B.
Defaults: the paper's, feat_dim 128, K 16384, nce_t 0.07, momentum 0.5.

This project's reading: negatives are other *instances* (no labels), K drawn uniformly
without replacement and capped at N−1; the draw skips pairs that share the anchor's source
input (`Context.source_ids`; K capped at N − the largest same-source group, Pn stays 1/N);
the sampler's seed and step count are buffers, so a resumed run draws the same negatives;
scores come from v·Mᵀ, then the sampled columns (RepDistiller gathers first; the same
dot products up to summation order). Why: `docs/methods/crd.md`.

Labelled track: L = 1·CE + 0.8·(crd_s + crd_t) (`benchmark.tracks`), RepDistiller's
`--distill crd -a 0 -b 0.8` (`-r` at its default 1); negatives stay other instances.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.params import choice, log_uniform, param

EPS = 1e-7  # RepDistiller's ε in the NCE denominators


def nce_loss(scores: Tensor, num_data: int) -> Tensor:
    """Eq. 18 for normalised scores [B, K+1] (slot 0 the positive), noise Pn = 1/N."""
    k = scores.shape[1] - 1
    noise = k / num_data  # K·Pn
    log_pos = torch.log(scores[:, 0] / (scores[:, 0] + noise + EPS))
    log_neg = torch.log(noise / (scores[:, 1:] + noise + EPS))
    return -(log_pos.sum() + log_neg.sum()) / scores.shape[0]


@torch.no_grad()
def momentum_update(memory: Tensor, index: Tensor, value: Tensor, momentum: float) -> None:
    """M_i ← normalise(m·M_i + (1−m)·v_i) for the rows in `index`, in place."""
    mixed = memory[index] * momentum + value.detach() * (1.0 - momentum)
    memory[index] = mixed / mixed.norm(dim=1, keepdim=True)


def sample_contrast_index(
    index: Tensor,
    num_data: int,
    k: int,
    generator: torch.Generator,
    source_ids: Tensor | None = None,
) -> Tensor:
    """[B, k+1] bank rows: column 0 the positive `index`, then k distinct other rows drawn
    uniformly. Drawn on the CPU from `generator`, returned on `index`'s device.

    With `source_ids` [num_data] (the source id of every bank row), the rows that share
    the anchor's source are excluded from the draw like the positive itself: the k
    negatives are uniform without replacement over the other sources' rows, so k must not
    exceed num_data minus the largest group of one id. The same keys are drawn with or
    without ids, so the ids add no RNG draw."""
    pos = index.detach().cpu().long()
    keys = torch.rand(len(pos), num_data, generator=generator)
    if source_ids is None:
        keys[torch.arange(len(pos)), pos] = 2.0  # above every uniform key: never picked
    else:
        ids = source_ids.detach().cpu()
        keys[ids[pos][:, None] == ids[None, :]] = 2.0  # the positive and its same-source rows
    negatives = keys.topk(k, dim=1, largest=False).indices
    return torch.cat([pos[:, None], negatives], dim=1).to(index.device)


def bank_source_ids(ctx: Context) -> Tensor | None:
    """The paired set's source id of every bank row (CPU, long), or None."""
    if ctx.source_ids is None:
        return None
    ids = torch.as_tensor(ctx.source_ids).detach().cpu().long()
    if ids.shape != (ctx.num_pairs,):
        raise ValueError(f"{tuple(ids.shape)} source ids for {ctx.num_pairs} pairs")
    return ids


class Embed(nn.Module):
    """Linear map to the contrast space, then L2 normalisation (RepDistiller's `Embed`)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.linear(x.flatten(1)), dim=1, eps=1e-12)


@register_method("crd")
class CRD(Method):
    labelled_defaults = {"weight": 0.8}  # noqa: RUF012  # RepDistiller's -b 0.8
    version = 2  # in the record hash: raised when the loss's numerics change
    # Search spaces (`bench tune`): the weight a decade either side of 1 (RepDistiller
    # runs CRD at β = 0.8); τ over the range of the paper's temperature study (0.02-0.3,
    # 0.07 its choice); K over the paper's study of the number of negatives, 256 to its
    # 16384 (capped at pairs − 1, so the larger values coincide on small paired sets).
    weight: float = param(
        1.0, low=0.0, help="scale of the summed two-way NCE loss", space=log_uniform(0.1, 10.0)
    )
    feat_dim: int = param(128, low=1, high=8192, help="dimension of the contrast space")
    nce_k: int = param(
        16384,
        low=1,
        high=1_000_000,
        help="negatives per anchor (capped at pairs − 1)",
        space=choice(256, 1024, 4096, 16384),
    )
    nce_t: float = param(
        0.07, low=1e-3, high=10.0, help="temperature of the scores", space=log_uniform(0.02, 0.3)
    )
    momentum: float = param(0.5, low=0.0, high=0.999, help="memory-bank momentum")

    memory_s: Tensor
    memory_t: Tensor
    z: Tensor
    rng: Tensor

    def setup(self, ctx: Context) -> None:
        if ctx.num_pairs < 2:
            raise ValueError("crd needs at least 2 pairs: negatives are other pairs")
        self.num_data = ctx.num_pairs
        self.source_ids = bank_source_ids(ctx)
        if self.source_ids is None:
            self.k = min(self.nce_k, ctx.num_pairs - 1)
        else:  # every anchor needs K pairs of other sources
            largest = int(torch.unique(self.source_ids, return_counts=True)[1].max())
            if largest == ctx.num_pairs:
                raise ValueError("crd needs pairs of at least 2 sources: all share one input")
            self.k = min(self.nce_k, ctx.num_pairs - largest)
        self.embed_s = Embed(ctx.student_dim, self.feat_dim)
        self.embed_t = Embed(ctx.teacher_dim, self.feat_dim)
        stdv = 1.0 / (self.feat_dim / 3) ** 0.5
        for name in ("memory_s", "memory_t"):
            bank = torch.rand(ctx.num_pairs, self.feat_dim) * (2 * stdv) - stdv
            self.register_buffer(name, bank)
        # Z for (student-anchor scores, teacher-anchor scores); negative = not yet set.
        self.register_buffer("z", torch.full((2,), -1.0))
        seed = int(torch.randint(0, 2**62, (1,)))
        self.register_buffer("rng", torch.tensor([seed, 0], dtype=torch.long))

    def _generator(self) -> torch.Generator:
        """This step's sampling stream; advances the step counter."""
        seed, step = (int(v) for v in self.rng.tolist())
        self.rng[1] += 1
        return torch.Generator().manual_seed((seed * 6_364_136_223_846_793_005 + step) % 2**63)

    def contrast(
        self, v_s: Tensor, v_t: Tensor, index: Tensor, contrast_index: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The two NCE losses for normalised embeddings, then the bank update.

        Returns (student-anchor loss, teacher-anchor loss). `contrast_index` is [B, K+1]
        with the positive in column 0."""
        # Each anchor against every bank row, then the K+1 sampled columns: the dot
        # products RepDistiller takes after gathering a [B, K+1, D] block of bank rows,
        # without building that block (K+1 ≈ N here, since negatives are capped at N−1:
        # B·N·D floats per bank per step: hundreds of MB at the paper profile's sizes).
        # The banks are snapshot (N·D floats) because backward needs them as they were
        # before the momentum update below.
        bank_t, bank_s = self.memory_t.clone(), self.memory_s.clone()
        out_s = torch.exp((v_s @ bank_t.T).gather(1, contrast_index) / self.nce_t)
        out_t = torch.exp((v_t @ bank_s.T).gather(1, contrast_index) / self.nce_t)
        with torch.no_grad():
            if self.z[0] < 0:
                self.z[0] = out_s.mean() * self.num_data
            if self.z[1] < 0:
                self.z[1] = out_t.mean() * self.num_data
        loss_s = nce_loss(out_s / self.z[0], self.num_data)
        loss_t = nce_loss(out_t / self.z[1], self.num_data)
        momentum_update(self.memory_s, index, v_s, self.momentum)
        momentum_update(self.memory_t, index, v_t, self.momentum)
        return loss_s, loss_t

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        v_s = self.embed_s(student.embedding)
        v_t = self.embed_t(teacher.embedding.detach())
        if batch.source_id is not None and self.source_ids is None:
            raise ValueError(
                "crd got Batch.source_id but no Context.source_ids: it cannot tell which "
                "bank rows share an anchor's source"
            )
        contrast_index = sample_contrast_index(
            batch.index, self.num_data, self.k, self._generator(), self.source_ids
        )
        loss_s, loss_t = self.contrast(v_s, v_t, batch.index, contrast_index)
        return {"crd_s": self.weight * loss_s, "crd_t": self.weight * loss_t}

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        """Both normalised embed heads: the contrast space the NCE scores live in."""
        return self.embed_s(student.embedding), self.embed_t(teacher.embedding)

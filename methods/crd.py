"""`crd`: Contrastive Representation Distillation with momentum memory banks.

Tian, Krishnan, Isola, "Contrastive Representation Distillation", ICLR 2020. Both
embeddings go through a linear head to `feat_dim` and are L2-normalised,
v = normalise(W·f). For an anchor v and the K+1 rows it is scored against (row 0 its
own pair, rows 1..K negatives) taken from the *other* side's memory bank M,

    h(v, M_j) = exp(⟨v, M_j⟩ / nce_t) / Z,

with Z = N · mean(exp(⟨v, M_j⟩ / nce_t)) estimated once, from the first batch, and kept.
The loss is the NCE objective with uniform noise Pn = 1/N (paper Eq. 18):

    L = −(1/B) Σ_i [ log h_i0 / (h_i0 + K·Pn)  +  Σ_{j=1..K} log K·Pn / (h_ij + K·Pn) ],

computed twice and summed: student as anchor against the teacher bank (`crd_s`) and
teacher as anchor against the student bank (`crd_t`). After the loss, each bank's rows of
the batch's pairs move towards the new embeddings, M_i ← normalise(m·M_i + (1−m)·v_i).

Numerics follow the reference code (RepDistiller, `crd/memory.py`, `crd/criterion.py`):
banks start uniform in ±1/√(feat_dim/3) (rows of roughly unit norm, not normalised);
the positive sits in slot 0 of the index matrix and negatives fill slots 1..K; scores are
gathered from the banks *before* the banks are updated; ε = 1e-7 in both denominators;
the loss sums over the batch and divides by B. Defaults are the paper's: feat_dim 128,
K 16384, nce_t 0.07, momentum 0.5.

This project's reading:
- the paired set is unlabelled, so negatives are other *instances*: K indices drawn
  uniformly without replacement from the N−1 other pairs (RepDistiller draws from other
  *classes* when labels exist), and K is capped at N−1 so small paired sets still work;
- the sampling stream is a seed plus a step counter kept as buffers, so a resumed run
  draws the same negatives as an uninterrupted one (RepDistiller samples in the data
  loader with numpy); the seed is drawn from torch's global RNG in `setup`;
- banks, Z and the sampler state are buffers, so they survive `state_dict()`;
- scores are taken as v·Mᵀ over the whole bank, then the sampled columns (version 2):
  the same dot products as RepDistiller's gather-then-bmm without building the gathered
  block (the gather and bmm dominated a CRD epoch in torch.profiler), equal up to
  floating-point summation order.

False negatives (pairs that share an input). On real data several pairs can be built from
one file (Sketchy: sketches of one photo; AV-MNIST: one recording for several digits):
their bank rows hold the anchor's own positive, or its twin, and scoring them as noise
would push the anchor away from itself. Approach: *exclusion from the draw*, not masking
in the loss. `setup` reads the paired set's `Context.source_ids` (the source id of every
bank row) and the sampler gives every row that shares the anchor's id the same
never-picked key as the positive, so the K negatives are drawn uniformly without
replacement from the pairs of *other* sources: RepDistiller's own recipe when labels
exist, where the negatives of an anchor are drawn from the other classes only. K is then
capped at N − (largest group of pairs sharing one id), so every anchor has K of them and
Eq. 18 keeps one K for the batch; the noise stays Pn = 1/N and Z = N·mean, as
RepDistiller keeps 1/N when it excludes the anchor's class. Drawing instead of masking
keeps the K+1 columns, the NCE normaliser and Eq. 18 exactly as they are, with no slot
wasted on a masked column. Without source ids (the embedded world: every pair its own
scene) the sampler, K and the loss are bit for bit those of before, no extra RNG draw, so
version 2's records stay valid. The anchor's id is read from the bank's ids at
`Batch.index` (what `Batch.source_id` holds, sliced from the same split), so anchor and
bank rows are always judged by one list; a `Batch.source_id` given without
`Context.source_ids` is an error (the bank rows' ids would be unknown).

Labelled track (`benchmark.tracks`): L = 1·CE + 0.8·(crd_s + crd_t), RepDistiller's
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
    version = 2  # 2: scores from v·Mᵀ instead of gathered bank rows
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

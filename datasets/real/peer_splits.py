"""MST-Distill's data partition (`data.split: mst`), for comparing with that paper's CMKD
benchmark (Li et al., ACM MM 2025; code Gray-OREO/MST-Distill).

What its code does (`indices_gen.py`, `utils.get_indices`, `utils.get_av_mnist`,
`utils.get_nyu_depth_v2`): every sample of the dataset is pooled (AV-MNIST: the 60,000
training and 10,000 test rows concatenated, in that order; NYU-Depth V2: the 1,449
labelled frames), `seed_all(19980427)` seeds numpy, and 20 permutations of the pool are
drawn one after the other with `np.random.permutation`; run `--seed s` uses permutation s
(column `group_s` of `metadata/<dataset>_indices.csv`) and takes its first 60% as
training, the next 20% as validation and the last 20% as test (`int(n · 0.6)`,
`int(n · 0.8)` as the boundaries). This module draws the same permutations with numpy's
legacy generator (what `np.random.seed` seeds), so seed s of a run here is the peer's
group s; the published CSVs could not be fetched to compare with, so this reproduces the
procedure of `indices_gen.py`, not a checked copy of the files.

Here: the peer's training rows are the rows the source pool, the paired set and the
few-label set are drawn from (by the usual seeded draws, so with `data.source_pool` and
`data.paired` at least the training size the teacher and the student see all of them, as
in the peer's runs); its test rows are the test split, whole; its validation rows are not
used (the peer picks the epoch with the lowest validation loss; this harness trains a
fixed schedule and selects nothing).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark.errors import UserError

MST_SEED = 19980427
MST_GROUPS = 20
TRAIN_SHARE, VALIDATION_END = 0.6, 0.8


def mst_permutation(n: int, group: int) -> np.ndarray:
    """The peer's permutation `group` of n samples (`indices_gen.py`)."""
    if not 0 <= group < MST_GROUPS:
        raise UserError(
            f"data.split=mst has MST-Distill's {MST_GROUPS} index groups, seeds "
            f"0..{MST_GROUPS - 1}; seed {group} has none: run with --seeds {MST_GROUPS} or fewer"
        )
    rng = np.random.RandomState(MST_SEED)
    for _ in range(group):
        rng.permutation(n)
    return rng.permutation(n)


def mst_split(n: int, group: int) -> tuple[Tensor, Tensor, Tensor]:
    """(train, validation, test) row indices of the pooled n samples for seed `group`."""
    perm = torch.from_numpy(mst_permutation(n, group).astype(np.int64))
    return (
        perm[: int(n * TRAIN_SHARE)],
        perm[int(n * TRAIN_SHARE) : int(n * VALIDATION_END)],
        perm[int(n * VALIDATION_END) :],
    )


class Joined:
    """Two row arrays read as one (the second's rows after the first's), for fancy
    indexing only: what the loaders do with their memory-mapped arrays."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first, self.second = first, second
        self.shape = (len(first) + len(second), *first.shape[1:])
        self.dtype = np.result_type(first.dtype, second.dtype)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> np.ndarray:
        rows = np.asarray(rows)
        in_first = rows < len(self.first)
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        if in_first.any():
            out[in_first] = self.first[rows[in_first]]
        if (~in_first).any():
            out[~in_first] = self.second[rows[~in_first] - len(self.first)]
        return out

"""Modality-gap measurements of a cell: which held-out pairs, which features, which keys.

Every cell measures the gap between the teacher's and the student's features on held-out
pairs (the task's test split: both views, never distilled on), in one common space shared
by every method of a (task, seed), from a **fixed number of pairs**, so two methods'
figures — and two runs with different test-split sizes — can be compared. The estimators
themselves (the common space, the classifier two-sample bound on TV, debiased CKA, the
pair distance) work on plain tensors and live in `benchmark.protocol.gap_estimators`; this
module wires them to a task, a teacher, a student and a method.

The pairs: `gap_split` draws, by a seeded permutation of the test split, at most one pair
per shared input (`Split.source_ids`: the photo of several Sketchy sketches, the recording
of several AV-MNIST pairs; without ids every pair has inputs of its own), then five
disjoint sets: `GAP_MAP_PAIRS` map pairs, and `GAP_SAMPLES` pairs each for the
classifier's teacher-fit, student-fit, teacher-test and student-test samples. So the two
samples of the two-sample test come from disjoint pairs (no photo on both sides or in both
halves), the rows of one sample are independent draws, and the classifier is fitted and
scored on disjoint pairs. When the test split has fewer than 6·`GAP_SAMPLES` usable pairs,
every set shrinks in proportion; `gap_n` records the size used.

Keys: `gap_*` are the common-space estimates of a method cell (the ones the leaderboard
reads). `gap_own_*` are the same estimators in the method's own alignment space
(`Method.aligned`), on the same pairs: that space's width and even its teacher side
differ per method (a trainable teacher-side head can shrink it), so they are **not
comparable across methods** and are absent for methods without such a space. The
*input gap* `input_gap_*` of a task is the common-space estimate between the teacher's
features of the source view and the same (source-trained) teacher's features of the
target view, mapped exactly as a student's would be: it depends on the task and seed
only, so tasks can be ordered by how far apart their modalities are, on the same scale
as the methods' `gap_*`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from benchmark.backbones import forward_all, is_sequence
from benchmark.datasets.tasks import Split, TaskData
from benchmark.method import Method, Outputs
from benchmark.protocol.gap_estimators import GapSplit, estimate
from benchmark.protocol.training import seeded

GAP_SAMPLES = 250  # rows per side in each of the classifier's fit and test samples
GAP_MAP_PAIRS = 500  # pairs that fit the common space and the student → common-space map
BATCH = 256


def one_per_source(n: int, generator: torch.Generator, source_ids: Tensor | None) -> Tensor:
    """A seeded random order of pair indices keeping one pair per id (the first in the
    permutation), so no shared input — a photo with several sketches — appears twice;
    without ids every pair has inputs of its own. Keeping one pair, rather than all of a
    source's pairs on one side, also keeps the rows of a sample independent: this
    project's reading."""
    order = torch.randperm(n, generator=generator)
    if source_ids is None:
        return order
    ids = torch.as_tensor(source_ids).reshape(-1)
    if len(ids) != n:
        raise ValueError(f"source_ids has {len(ids)} entries for {n} pairs")
    _, group = torch.unique(ids[order], return_inverse=True)
    first = torch.full((int(group.max()) + 1,), n, dtype=torch.long)
    first = first.scatter_reduce(0, group, torch.arange(n), reduce="amin")
    return order[first.sort().values]


def gap_split(
    n: int,
    seed: int,
    source_ids: Tensor | None = None,
    samples: int = GAP_SAMPLES,
    map_pairs: int = GAP_MAP_PAIRS,
) -> GapSplit:
    """Seeded disjoint sets over n pairs (module docstring): `samples` pairs per classifier
    sample and `map_pairs` map pairs, shrunk in proportion (samples : map_pairs) when
    fewer usable pairs exist. This project's reading."""
    order = one_per_source(n, seeded(seed, "gap"), source_ids)
    usable = len(order)
    per = min(samples, usable * samples // (4 * samples + map_pairs))
    if per < 2:
        raise ValueError(f"the gap estimates need more pairs than {usable} (one per input)")
    fitted = min(map_pairs, usable - 4 * per)
    cuts = [0, *(fitted + k * per for k in range(5))]
    return GapSplit(*(order[a:b] for a, b in itertools.pairwise(cuts)))


def _rows(out: Outputs, start: int, stop: int) -> Outputs:
    return Outputs(
        embedding=out.embedding[start:stop],
        feature_maps=[m[start:stop] for m in out.feature_maps],
        logits=None if out.logits is None else out.logits[start:stop],
    )


@torch.no_grad()
def aligned_features(
    method: Method, student: Outputs, teacher: Outputs
) -> tuple[Tensor, Tensor] | None:
    """The method's `aligned` hook over all rows (in batches, modules in eval mode)."""
    was_training = method.training
    method.eval()
    try:
        parts = []
        for start in range(0, len(student.embedding), BATCH):
            stop = start + BATCH
            pair = method.aligned(_rows(student, start, stop), _rows(teacher, start, stop))
            if pair is None:
                return None
            parts.append(pair)
    finally:
        method.train(was_training)
    return torch.cat([s for s, _ in parts]), torch.cat([t for _, t in parts])


def gap_pairs(data: TaskData, seed: int) -> tuple[Split, GapSplit]:
    """The test split's (task, seed)-fixed gap pairs: the used rows of both views, and
    the split over those rows (positions 0..k−1). Features are computed on these rows only,
    so the cost does not grow with the test split."""
    test = data.test
    if test.source is None or test.target is None:
        raise ValueError(f"task {data.name}'s test split lacks paired source/target views")
    split = gap_split(len(test), seed, test.source_ids)
    used = split.used
    return Split(source=test.source[used], target=test.target[used]), split.compact()


def teacher_gap_outputs(teacher: nn.Module, data: TaskData, seed: int, maps: bool) -> Outputs:
    """The teacher's outputs on the (task, seed)'s gap pairs: the same for every method
    cell of the (task, seed), so a runner computes them once (`teacher_rows`)."""
    rows, _ = gap_pairs(data, seed)
    assert rows.source is not None
    return forward_all(teacher, rows.source, keep_maps=maps, on_cpu=False)


def gap_metrics(
    student: nn.Module,
    method: Method,
    teacher: nn.Module,
    data: TaskData,
    seed: int,
    teacher_rows: Callable[[bool], Outputs] | None = None,
) -> dict[str, float]:
    """`gap_*`: a distilled (or, for `scratch`, untouched) student's gap in the common
    space, comparable across methods; `gap_own_*`: the same estimators in the method's
    own alignment space, where it has one (not comparable across methods).
    `teacher_rows(keep_maps)` gives `teacher_gap_outputs` from a cache (default: computed)."""
    rows, split = gap_pairs(data, seed)
    assert rows.source is not None and rows.target is not None
    maps = method.uses_feature_maps
    s_out = forward_all(student, rows.target, keep_maps=maps, on_cpu=False)
    if teacher_rows is None:
        t_out = teacher_gap_outputs(teacher, data, seed, maps)
    else:
        t_out = teacher_rows(maps)
    out = estimate(s_out.embedding, t_out.embedding, split, common=True, prefix="gap")
    pair = aligned_features(method, s_out, t_out) if method.distills else None
    if pair is not None:
        out.update(estimate(pair[0], pair[1], split, common=False, prefix="gap_own"))
    return out


def adapt_channels(x: Tensor, channels: int) -> Tensor:
    """Target images for a source-trained encoder: channels repeated cyclically, then cut
    to the encoder's count (a 1-channel sketch becomes grey RGB), so no weights change."""
    if x.shape[1] == channels:
        return x
    reps = math.ceil(channels / x.shape[1])
    return x.repeat(1, reps, *([1] * (x.dim() - 2)))[:, :channels]


def input_gap(teacher: nn.Module, data: TaskData, seed: int) -> dict[str, float]:
    """`input_gap_*`: the teacher's source-view features against the same teacher's
    features of the target view, in the common space (the target-view features mapped as
    a student's would be), on the same pairs as the method cells' `gap_*`. Undefined (no
    entries) when the target is a token sequence: the image teacher cannot read it."""
    rows, split = gap_pairs(data, seed)
    assert rows.source is not None and rows.target is not None
    if is_sequence(rows.target):
        return {}
    source = forward_all(teacher, rows.source, keep_maps=False, on_cpu=False).embedding
    target = forward_all(
        teacher, adapt_channels(rows.target, rows.source.shape[1]), keep_maps=False, on_cpu=False
    ).embedding
    return estimate(target, source, split, common=True, prefix="input_gap")

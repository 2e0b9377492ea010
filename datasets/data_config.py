"""The sizes of a task's splits: the one piece of the run configuration the data layer
reads. It lives here, below the configuration layer (`benchmark.config`, which holds it
in `RunConfig.data`), so that loaders never import the configuration layer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from benchmark.params import MAX_COUNT, bounded

STANDARD_SPLIT = "standard"
MST_SPLIT = "mst"  # MST-Distill's 60/20/20 permutation splits (datasets/real/peer_splits.py)
SPLITS = (STANDARD_SPLIT, MST_SPLIT)


@dataclass
class DataConfig:
    """Split sizes for the embedded world (real adapters subsample to them)."""

    image_size: int = bounded(32, 8, 4096)
    source_pool: int = bounded(2000, 1, MAX_COUNT)  # labelled source samples to train the teacher
    paired: int = bounded(1000, 1, MAX_COUNT)  # unlabelled (source, target) pairs to distill on
    # Few-label target set: k per class (segmentation: k·C images).
    labels_per_class: int = bounded(10, 1, MAX_COUNT)
    # Target test set (its source view scores the teacher). Large, because test sampling
    # is nearly free here and its variance would otherwise blur every comparison; real
    # datasets always use their whole test partition instead (datasets/real/common.py).
    test: int = bounded(5000, 1, MAX_COUNT)
    # Which partition a real dataset's train/test rows come from: the dataset's own
    # (`standard`) or MST-Distill's (`mst`: datasets/real/peer_splits.py). Only the
    # adapters that implement a split accept it.
    split: str = STANDARD_SPLIT
    # The labelled track's label budget: the fraction of paired samples whose labels the
    # student's cross-entropy (and a method reading `Batch.label`) sees; the rest count as
    # unlabelled (benchmark.protocol.labelled). The other tracks never read labels.
    labelled_fraction: float = bounded(1.0, 0.0, 1.0, closed=False)


def hashed(data: DataConfig, labelled: bool) -> dict[str, Any]:
    """The data settings as a record's hash covers them: a setting added after records
    existed enters only when it can change the cell (a split other than the standard one;
    the label fraction, below 1, in the labelled track), so every earlier record keeps
    its hash (`benchmark.hashing.LEGACY_RULES`: data-split, labelled-fraction)."""
    values = dataclasses.asdict(data)
    if values["split"] == STANDARD_SPLIT:
        del values["split"]
    if not labelled or values["labelled_fraction"] == 1.0:
        del values["labelled_fraction"]
    return values

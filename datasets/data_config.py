"""The sizes of a task's splits: the one piece of the run configuration the data layer
reads. It lives here, below the configuration layer (`benchmark.config`, which holds it
in `RunConfig.data`), so that loaders never import the configuration layer."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.params import MAX_COUNT, bounded


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

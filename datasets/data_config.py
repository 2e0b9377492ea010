"""The sizes of a task's splits: the one piece of the run configuration the data layer
reads. It lives here, below the configuration layer (`benchmark.config`, which holds it
in `RunConfig.data`), so that loaders never import the configuration layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Split sizes for the embedded world (real adapters subsample to them)."""

    image_size: int = 32
    source_pool: int = 2000  # labelled source samples to train the teacher
    paired: int = 1000  # unlabelled (source, target) pairs to distill on
    labels_per_class: int = 10  # few-label target set: k per class (segmentation: k·C images)
    # Target test set (its source view scores the teacher). Large, because test sampling
    # is nearly free here and its variance would otherwise blur every comparison; real
    # datasets always use their whole test partition instead (datasets/real/common.py).
    test: int = 5000

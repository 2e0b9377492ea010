"""The validation split `bench tune` selects hyperparameters on: labelled target samples,
disjoint from the test split and from the few-label set, with as many labels per class as
the few-label set (k; k·C images for segmentation), as a practitioner with k labels per
class for training and k more for validation would have.

It is drawn only when a tune trial asks for it, never by the four splits a task loads, so
every other split, cell hash and metric of a normal `bench run` is what it was:

- embedded world: the stream of a (task, seed) is laid out as [source pool | paired |
  few-label candidates | test] and a sample depends only on (config, seed, position). The
  validation block is a further block of few-label candidates, starting at the first chunk
  boundary after the test split (`validation_start`), so its samples come from chunks,
  each with its own random streams, that no other split reads; k per class are picked
  from it exactly as the few-label set picks its own. Disjoint from every split by
  position.
- real datasets: the few-label set is the first k of each class in a seeded order of the
  train partition (`datasets.real.common.few_per_class`); the validation split is the
  next k of each class in that same order (segmentation: the next k·C images), so it is
  disjoint from the few-label set by construction and, being from the train partition,
  from the test split. Drawing it reloads the task with that one draw changed
  (`validation_draw`); all other splits come from their own streams and are unchanged.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmark.datasets.data_config import DataConfig
from benchmark.datasets.tasks import (
    Split,
    TaskSpec,
    _first_k_per_class,
    load_world_task,
    world_config,
)
from benchmark.datasets.world import generate
from benchmark.datasets.world.config import chunk_size
from benchmark.errors import UserError
from benchmark.kinds import SEGMENTATION


def _few_block(kind: str, k: int, classes: int) -> int:
    """The size of the world's few-label candidate block (as `load_world_task` lays it
    out; a test checks that the validation block starts past everything it generates)."""
    return k * classes if kind == SEGMENTATION else 8 * k * classes + 20


def validation_start(spec: TaskSpec, data: DataConfig, world: dict[str, Any]) -> int:
    """The stream position of the world's validation block: the first chunk boundary at or
    after the end of the four splits."""
    config = world_config(spec, data, world)
    few = _few_block(spec.kind, data.labels_per_class, config.num_classes)
    end = data.source_pool + data.paired + few + data.test
    chunk = chunk_size(config.image_size)
    return math.ceil(end / chunk) * chunk


def world_validation(
    spec: TaskSpec, data: DataConfig, world: dict[str, Any], seed: int
) -> tuple[Split, Tensor]:
    """The world's validation split and the stream position of each of its samples (the
    positions are what makes it disjoint from the other splits: tests check them)."""
    config = world_config(spec, data, world)
    segmentation = spec.kind == SEGMENTATION
    k, classes = data.labels_per_class, config.num_classes
    block = _few_block(spec.kind, k, classes)
    start = validation_start(spec, data, world)
    modalities = sorted({spec.target} | ({"seg"} if segmentation else set()))
    arrays = generate(config, block, seed, modalities, start=start)
    labels = arrays["seg"] if segmentation else arrays["label"]
    index = torch.arange(block)
    if not segmentation:
        index = index[_first_k_per_class(labels, k, classes)]
    split = Split(target=arrays[spec.target][index], labels=labels[index])
    return split, start + index


def load_validation(
    spec: TaskSpec,
    data: DataConfig,
    world: dict[str, Any],
    seed: int,
    cache_dir: Path | None = None,
    data_root: Path | None = None,
) -> Split:
    """The task's validation split for `seed` (target view and labels only)."""
    if spec.loader is load_world_task:
        return world_validation(spec, data, world, seed)[0]
    if spec.needs_data_root:
        from benchmark.datasets.real.common import validation_draw

        with validation_draw():
            loaded = spec.load(data, world, seed, cache_dir, data_root)
        return loaded.few
    raise UserError(f"task {spec.name} has no validation split: bench tune cannot select on it")

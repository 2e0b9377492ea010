"""Tasks: a (source modality, target modality, task type) pair with its four splits.

A task's loader returns every split as in-memory tensors, so training code slices batches
by index instead of looping over samples. Splits, in protocol order:

- `source_pool`: labelled source samples; the teacher trains on them;
- `paired`: unlabelled (source, target) pairs; distillation sees only these. Their labels
  are kept solely to train the *all-labels* reference, never shown to a method;
- `few`: the few labelled target samples (k per class; k·C images for segmentation);
- `test`: target test set with labels; its source view scores the teacher.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmark.datasets.data_config import STANDARD_SPLIT, DataConfig
from benchmark.datasets.world import WorldConfig, load_or_generate
from benchmark.errors import UserError, did_you_mean
from benchmark.kinds import CLASSIFICATION, SEGMENTATION
from benchmark.params import annotation_type, coerce
from benchmark.registry import Registry


@dataclass
class Split:
    """One split's tensors, row i of each the same sample.

    `source_ids` (LongTensor [N], or None) groups samples that share an input: two rows
    with equal ids were built from one and the same file, so they are not each other's
    negatives in a contrastive loss and must not straddle the halves of an estimate fitted
    on one half and scored on the other. The id is a stable integer of the shared file
    (its index in the dataset's file list, the same in every split and seed). Where it is
    the source that repeats (Sketchy: several sketches of one photo) it is the source
    file's; where only the target repeats (AV-MNIST: one FSDD recording heard with several
    MNIST digits) it is the target file's. None means every sample has inputs of its own:
    the embedded world (each pair its own scene), NYU-Depth V2, `pairs:` folders.
    """

    source: Tensor | None = None
    target: Tensor | None = None
    labels: Tensor | None = None
    source_ids: Tensor | None = None

    def __len__(self) -> int:
        for tensor in (self.target, self.source, self.labels):
            if tensor is not None:
                return len(tensor)
        return 0


@dataclass
class TaskData:
    """A task's four splits and what models are sized by. A text modality's tensors are
    token ids (int64 [N, L], 0 = padding), and its `*_channels` is the vocabulary size."""

    name: str
    kind: str
    num_classes: int  # segmentation counts the background as class 0
    source_channels: int
    target_channels: int
    source_pool: Split
    paired: Split
    few: Split
    test: Split
    info: dict[str, Any] = field(default_factory=dict)


# (spec, data sizes, world knob overrides, seed, cache dir, data root) → splits. Real-data
# loaders read their files under the data root; the embedded world ignores it.
Loader = Callable[["TaskSpec", DataConfig, dict[str, Any], int, Path | None, Path | None], TaskData]
# data root → ("found" | "missing" | "malformed", summary or one-line reason)
Checker = Callable[[Path | None], tuple[str, str]]


@dataclass(frozen=True)
class TaskSpec:
    """A registered task. `world` holds its defaults for the embedded world's knobs; a
    real-data task has the dataset's project page and a cheap `check` of its files."""

    name: str
    source: str
    target: str
    kind: str
    description: str
    loader: Loader
    world: dict[str, Any] = field(default_factory=dict)
    homepage: str = ""
    check: Checker | None = None
    # The `data.split` partitions the loader implements (datasets/real/peer_splits.py).
    splits: tuple[str, ...] = (STANDARD_SPLIT,)

    @property
    def needs_data_root(self) -> bool:
        return self.check is not None

    @property
    def sequence_target(self) -> bool:
        """Whether the target modality is a token sequence (its student is a sequence
        backbone: `benchmark.backbones.build_backbone`)."""
        return self.target in SEQUENCE_MODALITIES

    def load(
        self,
        data: DataConfig,
        world: dict[str, Any],
        seed: int,
        cache_dir: Path | None,
        data_root: Path | None = None,
    ) -> TaskData:
        self.check_split(data)
        return self.loader(self, data, world, seed, cache_dir, data_root)

    def check_split(self, data: DataConfig) -> None:
        """A one-line error unless the task's loader implements `data.split`."""
        if data.split not in self.splits:
            raise UserError(
                f"data.split={data.split} is not available for task '{self.name}': it has "
                f"{', '.join(self.splits)} (MST-Distill's split: avmnist-audio-cls, "
                "nyuv2-depth-seg, nyuv2-depth-seg13)"
            )


# Modalities whose tensors are token ids rather than images.
SEQUENCE_MODALITIES = frozenset({"text"})


def channels(modality: str, x: Tensor) -> int:
    """What a backbone for `x` is sized by: its channels, or for text its vocabulary."""
    if modality in SEQUENCE_MODALITIES:
        from benchmark.datasets.world.text import VOCAB_SIZE

        return VOCAB_SIZE
    return int(x.shape[1])


# The real-dataset tasks register themselves when `benchmark.datasets.real` is imported,
# which the registry does on its first lookup (they build on this module).
TASKS: Registry[TaskSpec] = Registry("task", plugins="benchmark.datasets.real")


def register_task(spec: TaskSpec) -> TaskSpec:
    return TASKS.register(spec.name)(spec)


def get_task(name: str) -> TaskSpec:
    return TASKS.get(name)


def list_tasks(pattern: str = "*") -> list[str]:
    return TASKS.names(pattern)


def world_config(spec: TaskSpec, data: DataConfig, overrides: dict[str, Any]) -> WorldConfig:
    """The task's world: its own knob defaults, the image size, then the user's overrides."""
    known = {f.name for f in dataclasses.fields(WorldConfig)}
    for key in overrides:
        if key not in known:
            raise UserError(f"unknown world knob 'world.{key}': {did_you_mean(key, known)}")
    values = {**spec.world, "image_size": data.image_size, **overrides}
    types = {f.name: annotation_type(f.type) for f in dataclasses.fields(WorldConfig)}
    values = {k: coerce(v, types[k], f"world.{k}") for k, v in values.items()}
    config = WorldConfig(**values)
    try:
        config.validate()
    except ValueError as err:
        raise UserError(str(err)) from None
    return config


# World knobs that only one modality reads, with their defaults. A cell's hashed settings
# keep such a knob only for a task with that modality, and only away from its default
# (`hashed_world`), so setting it for a run leaves every other task's records valid
# (`benchmark.hashing`, modality-knobs).
MODALITY_KNOBS: dict[str, tuple[str, float]] = {"text_abstraction": ("text", 0.5)}


def hashed_world(task: str, world: dict[str, Any]) -> dict[str, Any]:
    """The world overrides that can change `task`'s data: `world` less the knobs of
    modalities the task does not have and those knobs at their defaults."""
    spec = TASKS.get(task) if task in TASKS else None
    modalities = {spec.source, spec.target} if spec is not None else set()
    out = dict(world)
    for knob, (modality, default) in MODALITY_KNOBS.items():
        if knob not in out:
            continue
        value = out[knob]
        at_default = isinstance(value, int | float) and float(value) == default
        if modality not in modalities or at_default:
            del out[knob]
    return out


def _first_k_per_class(labels: Tensor, k: int, num_classes: int) -> Tensor:
    """Indices of the first k samples of each class, in stream order (deterministic)."""
    chosen: list[Tensor] = []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()[:k]
        if len(idx) < k:
            raise UserError(
                f"only {len(idx)} samples of class {c} for the few-label set "
                f"(need {k}); lower data.labels_per_class"
            )
        chosen.append(idx)
    return torch.sort(torch.cat(chosen)).values


def load_world_task(
    spec: TaskSpec,
    data: DataConfig,
    overrides: dict[str, Any],
    seed: int,
    cache_dir: Path | None,
    data_root: Path | None = None,
) -> TaskData:
    """Carve the four splits out of one seeded stream of the embedded world.

    The stream is laid out as [source pool | paired | few-label candidates | test]; since a
    world sample depends only on (config, seed, position), growing one split never changes
    the samples of the splits before it.
    """
    config = world_config(spec, data, overrides)
    segmentation = spec.kind == SEGMENTATION
    k, classes = data.labels_per_class, config.num_classes
    few_block = k * classes if segmentation else 8 * k * classes + 20
    sizes = [data.source_pool, data.paired, few_block, data.test]
    modalities = sorted({spec.source, spec.target} | ({"seg"} if segmentation else set()))
    world_dir = cache_dir / "world" if cache_dir is not None else None
    arrays = load_or_generate(config, sum(sizes), seed, modalities, world_dir)
    labels = arrays["seg"] if segmentation else arrays["label"]
    source, target = arrays[spec.source], arrays[spec.target]

    bounds = list(itertools.accumulate(sizes, initial=0))
    pool, paired, few, test = (slice(a, b) for a, b in itertools.pairwise(bounds))
    few_idx = torch.arange(few.start, few.stop)
    if not segmentation:
        few_idx = few_idx[_first_k_per_class(labels[few_idx], k, classes)]
    return TaskData(
        name=spec.name,
        kind=spec.kind,
        num_classes=classes + 1 if segmentation else classes,
        source_channels=channels(spec.source, source),
        target_channels=channels(spec.target, target),
        source_pool=Split(source=source[pool], labels=labels[pool]),
        paired=Split(source=source[paired], target=target[paired], labels=labels[paired]),
        few=Split(target=target[few_idx], labels=labels[few_idx]),
        test=Split(source=source[test], target=target[test], labels=labels[test]),
        info={"world": dataclasses.asdict(config)},
    )


def _world_task(name: str, target: str, kind: str, description: str, **world: Any) -> TaskSpec:
    return register_task(
        TaskSpec(name, "rgb", target, kind, description, load_world_task, world=world)
    )


_world_task(
    "sketch-cls",
    "sketch",
    CLASSIFICATION,
    "shape class from a hand-drawn-style sketch (embedded world)",
)
_world_task(
    "depth-cls", "depth", CLASSIFICATION, "shape class from a noisy depth map (embedded world)"
)
_world_task(
    "depth-seg",
    "depth",
    SEGMENTATION,
    "per-pixel shape class from a noisy depth map, 2–3 objects (embedded world)",
    min_objects=2,
    max_objects=3,
)
_world_task(
    "audio-cls",
    "audio",
    CLASSIFICATION,
    "shape class from the log-mel of an impact sound (embedded world)",
)
_world_task(
    "text-cls",
    "text",
    CLASSIFICATION,
    "shape class from a short word description, sequence student (embedded world)",
)

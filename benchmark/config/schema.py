"""The run configuration's schema: one dataclass per section, each field with its
default and, for a numeric knob, its allowed range (`bounded`), so a new knob is one line;
and `merge`, which overlays a nested mapping onto it, coercing each value to its field's
type. What a value may be beyond its range is checked in `benchmark.config.validation`;
where values come from (profiles, YAML, `--set`) in `benchmark.config.loading`.

Every value that can change a result lives here (or in a method's declared parameters),
is resolved before anything runs, and is hashed into the record (`benchmark.hashing`), so
a re-run can tell whether an existing record still answers the same question.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from benchmark.datasets.data_config import DataConfig
from benchmark.errors import UserError, did_you_mean
from benchmark.params import MAX_COUNT, annotation_type, bounded, coerce

MAX_SEEDS = 1000  # a bound on any seed count, so a typo cannot ask for a billion cells


# `label-free` is the label-free track's teacher (benchmark.tracks): set by the track.
PRETRAIN_CHOICES = ("supervised", "simclr", "label-free")


@dataclass
class TrainConfig:
    """A training recipe (teacher, and the all-labels reference, which is always supervised).

    `pretrain: simclr` trains the backbone without labels for `epochs` (SimCLR, as CMCD's
    protocol starts), then fits the task head on frozen features for `head_epochs`.
    `pretrain: label-free` (the label-free track) stops after SimCLR: no head, no labels.
    """

    backbone: str = "test_resnet"
    epochs: int = bounded(12, 1, MAX_COUNT)
    # 128 gave too few steps: a visibly weaker RGB segmentation teacher.
    batch_size: int = bounded(64, 1, MAX_COUNT)
    lr: float = bounded(0.05, 0.0, 100.0, closed=False)
    weight_decay: float = bounded(5e-4, 0.0, 1.0)
    pretrain: str = "supervised"  # PRETRAIN_CHOICES
    simclr_temperature: float = bounded(0.5, 0.0, 100.0, closed=False)
    head_epochs: int = bounded(10, 1, MAX_COUNT)
    # Where the backbone starts (scratch | timm:<model-name> | a checkpoint file) and, when
    # pretrained, whether it is fine-tuned or frozen under a fitted head: benchmark.weights.
    weights: str = "scratch"
    adapt: str = "finetune"

    def total_epochs(self) -> int:
        return self.epochs + (self.head_epochs if self.pretrain == "simclr" else 0)

    @property
    def self_supervised(self) -> bool:
        """The backbone learns by SimCLR, without labels (with or without a head after)."""
        return self.pretrain in ("simclr", "label-free")


@dataclass
class StudentConfig:
    backbone: str = "test_resnet"


@dataclass
class DistillConfig:
    """The one distillation schedule shared by every method (no per-method tuning)."""

    epochs: int = bounded(8, 1, MAX_COUNT)
    batch_size: int = bounded(64, 1, MAX_COUNT)
    lr: float = bounded(0.05, 0.0, 100.0, closed=False)
    weight_decay: float = bounded(5e-4, 0.0, 1.0)
    # 0: the seed's own run. Another value re-draws only the training's own randomness
    # (distillation batch order, the method's head initialisation, the fine-tune
    # restarts' heads and batch order), keeping data, teacher, student initialisation and
    # test set: re-running a seed so, `bench power` measures the training noise.
    training_noise: int = bounded(0, 0, 2**31 - 1)


@dataclass
class EvalConfig:
    """Linear probe on frozen features, then fine-tuning with the few labels."""

    probe_steps: int = bounded(200, 1, MAX_COUNT)
    probe_weight_decay: float = bounded(1e-3, 0.0, 100.0)
    finetune_epochs: int = bounded(25, 1, MAX_COUNT)
    finetune_batch_size: int = bounded(32, 1, MAX_COUNT)
    finetune_lr: float = bounded(0.01, 0.0, 100.0, closed=False)
    # Fine-tunes per cell from the same distilled student, averaged (benchmark.protocol.evaluate).
    finetune_restarts: int = bounded(3, 1, 100)


@dataclass
class RunConfig:
    profile: str = "quick"
    # Seeds a run takes unless `--seeds` says otherwise (the profile's choice; a task may
    # plan its own in `tasks.<task>.seeds`). Not a cell setting, so never in a record's hash.
    seeds: int = 3
    data: DataConfig = field(default_factory=DataConfig)
    world: dict[str, Any] = field(default_factory=dict)  # WorldConfig knob overrides
    teacher: TrainConfig = field(default_factory=TrainConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-method params
    # Per-task values, by canonical task name, already ordered by precedence (`resolve`).
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def for_task(self, task: str) -> RunConfig:
        """The settings `task`'s cells run with: the run's, under the task's own values."""
        values = self.tasks.get(task)
        if not values:
            return self
        config = copy.deepcopy(self)
        config.tasks = {}
        merge(config, values, f"tasks.{task}")
        return config


SECTIONS = {f.name for f in dataclasses.fields(RunConfig)} - {"profile", "tasks", "seeds"}


def merge(config: RunConfig, overrides: dict[str, Any], origin: str) -> None:
    """Overlay nested `overrides` onto `config`, coercing each value to its field type."""
    for section, values in overrides.items():
        if section == "profile":
            continue
        if section == "seeds":  # the run's count, or a task's own (`tasks.<task>.seeds`)
            config.seeds = coerce(values, int, "seeds")
            if not 1 <= config.seeds <= MAX_SEEDS:
                raise UserError(f"seeds={config.seeds} in {origin} must be 1..{MAX_SEEDS}")
            continue
        if section == "tasks" and origin.startswith("tasks."):
            raise UserError(f"{origin} cannot hold a 'tasks' section of its own")
        if section not in SECTIONS:
            raise UserError(
                f"unknown config section '{section}' in {origin}: {did_you_mean(section, SECTIONS)}"
            )
        if not isinstance(values, dict):
            raise UserError(f"config section '{section}' in {origin} must be a mapping")
        target = getattr(config, section)
        if section == "world":
            target.update(values)
            continue
        if section == "methods":
            for method, params in values.items():
                if not isinstance(params, dict):
                    raise UserError(f"methods.{method} in {origin} must be a mapping")
                target.setdefault(method, {}).update(params)
            continue
        types = {f.name: f.type for f in dataclasses.fields(target)}
        for key, value in values.items():
            if key not in types:
                raise UserError(
                    f"unknown setting '{section}.{key}' in {origin}: {did_you_mean(key, types)}"
                )
            setattr(target, key, coerce(value, annotation_type(types[key]), f"{section}.{key}"))

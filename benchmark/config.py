"""Typed run configuration: defaults ← profile ← YAML file ← `--set key=value`.

Every value that can change a result lives here (or in a method's declared parameters),
is resolved before anything runs, and is hashed into the record, so a re-run can tell
whether an existing record still answers the same question.

Each of the three sources may also hold a `tasks` section of per-task values (e.g. the
`paper` profile's image size per dataset, or `--set tasks.sketch-cls.data.image_size=48`).
Precedence, lowest first: defaults, profile, profile's `tasks.<task>`, YAML file, file's
`tasks.<task>`, `--set`, `--set tasks.<task>...`. So a value the user sets for the whole
run beats what the profile chose for one task, and a value the user sets for one task
beats everything. A record hashes the settings its task ran with (`for_task`), never
the `tasks` section itself, so values for one task leave every other task's records valid.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.datasets.data_config import DataConfig
from benchmark.errors import UserError, did_you_mean
from benchmark.params import annotation_kind, coerce

# Bump when the protocol changes what a cell computes, so old records stop matching.
PROTOCOL_VERSION = 3  # 3: larger test sets, fine-tune restarts, per-sample outcomes
MAX_SEEDS = 1000  # a bound on any seed count, so a typo cannot ask for a billion cells
MAX_COUNT = 10_000_000  # a bound on any sample count, epoch count, step count or batch


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
    epochs: int = 12
    batch_size: int = 64  # 128 gave too few steps: a visibly weaker RGB segmentation teacher
    lr: float = 0.05
    weight_decay: float = 5e-4
    pretrain: str = "supervised"
    simclr_temperature: float = 0.5
    head_epochs: int = 10
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

    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    # 0: the seed's own run. Another value re-draws only the training's own randomness
    # (distillation batch order, the method's head initialisation, the fine-tune
    # restarts' heads and batch order), keeping data, teacher, student initialisation and
    # test set: re-running a seed so, `bench power` measures the training noise.
    training_noise: int = 0


@dataclass
class EvalConfig:
    """Linear probe on frozen features, then fine-tuning with the few labels."""

    probe_steps: int = 200
    probe_weight_decay: float = 1e-3
    finetune_epochs: int = 25
    finetune_batch_size: int = 32
    finetune_lr: float = 0.01
    # Fine-tunes per cell from the same distilled student, averaged (benchmark.protocol.evaluate).
    finetune_restarts: int = 3


@dataclass
class RunConfig:
    profile: str = "quick"
    # Seeds a run takes unless `--seeds` says otherwise (the profile's choice: enough for
    # the resolution README reports). Not a cell setting, so never in a record's hash.
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
        own = self.tasks.get(task)
        if not own:
            return self
        config = copy.deepcopy(self)
        config.tasks = {}
        _merge(config, own, f"tasks.{task}")
        return config


PROFILES: dict[str, dict[str, Any]] = {
    # Tests: every code path, in seconds.
    "smoke": {
        "data": {"source_pool": 120, "paired": 96, "labels_per_class": 2, "test": 64},
        "teacher": {"epochs": 1, "batch_size": 32},
        "distill": {"epochs": 1, "batch_size": 32},
        "eval": {"probe_steps": 10, "finetune_epochs": 1, "finetune_batch_size": 16},
    },
    # The default: CPU-sized (README, "Resolving power": its resolution and cost).
    "quick": {
        # The most seeds that fit about an hour on 2 cores; the MDE they give per task is
        # in README ("Resolving power"), with the seeds a 2-point MDE would take.
        "seeds": 8,
        # 2,000 test scenes of ~1,000 labelled pixels each already make test sampling a
        # small part of a segmentation difference's variance (`bench power`), at 2/5 of
        # the probe's memory and time for 5,000.
        "tasks": {"depth-seg": {"data": {"test": 2000}}},
    },
    # Full sizes and schedules, for GPUs; real datasets at their own resolution.
    "paper": {
        "data": {
            "image_size": 64,
            "source_pool": 20000,
            "paired": 10000,
            "labels_per_class": 10,
            "test": 5000,
        },
        "teacher": {"backbone": "resnet18", "epochs": 60, "batch_size": 128},
        "student": {"backbone": "resnet18"},
        "distill": {"epochs": 100, "batch_size": 128},
        "eval": {"probe_steps": 500, "finetune_epochs": 100},
        # Real datasets at their own scale (README, "The paper profile per dataset").
        "tasks": {
            # Photos and sketches rendered at 256×256, seen at the 224×224 of ImageNet
            # CNNs; 125 classes of ImageNet-like photos get an ImageNet-sized teacher.
            "sketchy-sketch-cls": {
                "data": {"image_size": 224},
                "teacher": {"backbone": "resnet50"},
            },
            # 640×480 frames squeezed to 224×224; 795 training frames would make 6 steps
            # an epoch at batch 128, so the small batch of segmentation practice.
            **{
                task: {
                    "data": {"image_size": 224},
                    "teacher": {"batch_size": 16},
                    "distill": {"batch_size": 16},
                    "eval": {"finetune_batch_size": 16},
                }
                for task in ("nyuv2-depth-seg", "nyuv2-depth-seg13")
            },
            "nyuv2-depth-cls": {
                "data": {"image_size": 224},
                "teacher": {"batch_size": 32},
                "distill": {"batch_size": 32},
            },
            # MNIST digits at their native 28×28 (the audio side is a 32×32 log-mel), in
            # both AV-MNIST pairings: MultiBench's published arrays and MNIST + FSDD.
            **{
                task: {"data": {"image_size": 28}}
                for task in ("avmnist-audio-cls", "mnist-fsdd-audio-cls")
            },
        },
    },
}

_SECTIONS = {f.name for f in dataclasses.fields(RunConfig)} - {"profile", "tasks", "seeds"}


def _merge(config: RunConfig, overrides: dict[str, Any], origin: str) -> None:
    """Overlay nested `overrides` onto `config`, coercing each value to its field type."""
    for section, values in overrides.items():
        if section == "profile":
            continue
        if section == "seeds" and not origin.startswith("tasks."):
            config.seeds = coerce(values, int, "seeds")
            if not 1 <= config.seeds <= MAX_SEEDS:
                raise UserError(f"seeds={config.seeds} in {origin} must be 1..{MAX_SEEDS}")
            continue
        if section == "tasks" and origin.startswith("tasks."):
            raise UserError(f"{origin} cannot hold a 'tasks' section of its own")
        if section not in _SECTIONS:
            raise UserError(
                f"unknown config section '{section}' in {origin}: "
                f"{did_you_mean(section, _SECTIONS)}"
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
            setattr(target, key, coerce(value, annotation_kind(types[key]), f"{section}.{key}"))


def _known_head(name: str, item: str, method_names: list[str]) -> None:
    """The first part of a `--set` key (after `tasks.<task>.`) is a config section or a
    method name; otherwise one line suggests the closest of both together (`rdk.w=1` →
    'rkd', `teachr.epochs=5` → 'teacher')."""
    if name in _SECTIONS or name in ("tasks", "seeds", "profile"):
        return
    raise UserError(
        f"--set '{item}': '{name}' is neither a config section nor a method: "
        f"{did_you_mean(name, [*_SECTIONS, *method_names])}"
    )


def parse_assignments(items: list[str], method_names: list[str]) -> dict[str, Any]:
    """`--set a.b=v` items → nested dict. `l2.weight=2` is short for `methods.l2.weight=2`,
    and `tasks.T.l2.weight=2` for `tasks.T.methods.l2.weight=2`. A task name holding a dot
    (a `pairs:` folder) cannot be addressed here; its values go in the YAML file."""
    nested: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise UserError(
                f"--set '{item}' must look like section.key=value "
                "(e.g. teacher.epochs=5 or l2.weight=0.5)"
            )
        if parts[0] in method_names:
            parts = ["methods", *parts]
        elif parts[0] == "tasks" and len(parts) > 3 and parts[2] in method_names:
            parts = [*parts[:2], "methods", *parts[2:]]
        else:
            head = 2 if parts[0] == "tasks" and len(parts) > 3 else 0
            _known_head(parts[head], item, method_names)
        value: Any = _safe_load(raw, f"--set '{item}'") if raw.strip() else ""
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


class _StrictLoader(yaml.SafeLoader):
    """`yaml.safe_load` that rejects a key written twice in one mapping (YAML's own rule,
    which PyYAML does not enforce: there the last one silently wins)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges, by design
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: PyYAML's own error says so
            break
        if duplicate:
            raise _DuplicateKey(key, seen[key], line)
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, first: int, second: int) -> None:
        super().__init__(f"'{key}' is set twice (lines {first} and {second}): keep one")
        self.key, self.first, self.second = key, first, second


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _safe_load(text: str, what: str) -> Any:
    """YAML text as plain data, or a one-line UserError saying what is wrong and where."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no code runs
    except _DuplicateKey as err:
        raise UserError(f"{what}: {err}") from None
    except yaml.constructor.ConstructorError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}" if mark else ""
        tag = re.search(r"for the tag '([^']*)'", err.problem or "")
        if tag:
            name = tag.group(1).replace("tag:yaml.org,2002:", "!!")
            raise UserError(
                f"{what} uses the YAML tag '{name}'{where}: tags are not allowed, "
                "write plain values"
            ) from None
        raise UserError(f"{what} is not valid YAML{where}: {err.problem}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None)
        raise UserError(
            f"{what} is not valid YAML{where}" + (f": {problem}" if problem else "")
        ) from None
    except RecursionError:
        raise UserError(f"{what} is nested too deeply to be a config") from None


def load_yaml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise UserError(f"config file '{path}' is a directory: pass a YAML file")
    if not path.is_file():
        raise UserError(f"config file '{path}' does not exist")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"config file '{path}' is not a text file (not UTF-8 at byte {err.start}): "
            "pass a YAML file"
        ) from None
    except OSError as err:
        raise UserError(f"cannot read config file '{path}': {err.strerror or err}") from None
    loaded = _safe_load(text, f"config file '{path}'")
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"config file '{path}' must hold a mapping at the top level")
    return loaded


def resolve(
    profile: str | None = None,
    file_overrides: dict[str, Any] | None = None,
    set_overrides: dict[str, Any] | None = None,
    *,
    canonical_task: Callable[[str], str] | None = None,
) -> RunConfig:
    """Defaults, then the profile, then the YAML file, then `--set`, each source's
    `tasks.<task>` values right after its run-wide ones (module docstring).

    `canonical_task` maps a task name as written (an alias such as `pairs:/data/x`) to
    the name records use, raising `UserError` for an unknown one: the command line passes
    the task registry's (`TASKS.canonical`). The configuration layer sits above the data
    layer and does not consult the registry itself; given per-task sections from a file
    or `--set` without it, resolution stops rather than keep names it cannot check (the
    profiles' own sections use canonical names)."""
    file_overrides = file_overrides or {}
    name = profile or file_overrides.get("profile") or "quick"
    if not isinstance(name, str) or name not in PROFILES:
        raise UserError(f"unknown profile '{name}': {did_you_mean(name, PROFILES)}")
    config = RunConfig(profile=name)
    per_task: dict[str, dict[str, Any]] = {}
    sources = (
        (f"profile '{name}'", PROFILES[name]),
        ("the config file", file_overrides),
        ("--set", set_overrides or {}),
    )
    for origin, overrides in sources:
        run_wide = {k: v for k, v in overrides.items() if k != "tasks"}
        _merge(config, run_wide, origin)
        for values in per_task.values():  # a later run-wide value beats an earlier task's
            _drop_leaves(values, run_wide)
        canonical = canonical_task if overrides is not PROFILES[name] else _as_written
        for task, values in _task_sections(overrides.get("tasks"), origin, canonical).items():
            _deep_update(per_task.setdefault(task, {}), values)
    # Weights resolution may name the backbone a timm spec runs or make a path absolute:
    # the config records those values in place of the ones written.
    config.teacher = dataclasses.replace(config.teacher, **_check(config, ""))
    config.tasks = per_task
    for task in per_task:
        recorded = _check(config.for_task(task), f"tasks.{task}.")
        if "teacher" in per_task[task]:  # the task's own teacher settings
            per_task[task]["teacher"].update(recorded)
    return config


# Every numeric setting's allowed range: (low, high, whether low itself is allowed).
# Counts are bounded above so a typo cannot ask for a billion of anything; rates and
# temperatures must be finite and positive (nan or inf would only surface as a NaN loss
# in every cell).
_INT_RANGES: dict[str, tuple[int, int]] = {
    "data.image_size": (8, 4096),
    "data.source_pool": (1, MAX_COUNT),
    "data.paired": (1, MAX_COUNT),
    "data.labels_per_class": (1, MAX_COUNT),
    "data.test": (1, MAX_COUNT),
    "teacher.epochs": (1, MAX_COUNT),
    "teacher.batch_size": (1, MAX_COUNT),
    "teacher.head_epochs": (1, MAX_COUNT),
    "distill.epochs": (1, MAX_COUNT),
    "distill.batch_size": (1, MAX_COUNT),
    "distill.training_noise": (0, 2**31 - 1),
    "eval.probe_steps": (1, MAX_COUNT),
    "eval.finetune_epochs": (1, MAX_COUNT),
    "eval.finetune_batch_size": (1, MAX_COUNT),
    "eval.finetune_restarts": (1, 100),
}
_FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {
    "teacher.lr": (0.0, 100.0, False),
    "teacher.weight_decay": (0.0, 1.0, True),
    "teacher.simclr_temperature": (0.0, 100.0, False),
    "distill.lr": (0.0, 100.0, False),
    "distill.weight_decay": (0.0, 1.0, True),
    "eval.probe_weight_decay": (0.0, 100.0, True),
    "eval.finetune_lr": (0.0, 100.0, False),
}


def _check_ranges(config: RunConfig, where: str) -> None:
    for name, (low, high) in _INT_RANGES.items():
        section, key = name.split(".")
        value = getattr(getattr(config, section), key)
        if value < low:
            raise UserError(f"{where}{name}={value} must be at least {low}")
        if value > high:
            raise UserError(f"{where}{name}={value} must be at most {high:,}")
    for name, (low_f, high_f, closed) in _FLOAT_RANGES.items():
        section, key = name.split(".")
        value = getattr(getattr(config, section), key)
        above = value >= low_f if closed else value > low_f
        if not math.isfinite(value) or not above or value > high_f:
            bound = "≥" if closed else ">"
            raise UserError(
                f"{where}{name}={value!r} must be a finite number {bound} {low_f:g} "
                f"and at most {high_f:g} (default {_default(section, key)!r})"
            )


def _default(section: str, key: str) -> Any:
    return getattr(getattr(RunConfig(), section), key)


def _check(config: RunConfig, where: str) -> dict[str, str]:
    """Values that parse but mean nothing; `where` prefixes the setting's name. Returns
    the teacher settings to record in place of the written ones (`benchmark.weights`)."""
    _check_ranges(config, where)
    for key, value in config.world.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{where}world.{key}={value!r} must be a finite number")
    if config.teacher.pretrain not in PRETRAIN_CHOICES:
        raise UserError(
            f"unknown {where}teacher.pretrain '{config.teacher.pretrain}': "
            f"{did_you_mean(config.teacher.pretrain, PRETRAIN_CHOICES)}"
        )
    from benchmark.weights import check as check_weights  # timm and torch: on use

    return check_weights(config.teacher)


def _as_written(task: str) -> str:
    return task


def _task_sections(
    raw: Any, origin: str, canonical: Callable[[str], str] | None
) -> dict[str, dict[str, Any]]:
    """A source's `tasks` section, keyed by canonical task name (an alias such as
    `pairs:/data/x` becomes the name records use)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"config section 'tasks' in {origin} must map task names to sections")
    if canonical is None:
        raise TypeError(f"resolve() needs canonical_task to read the tasks section of {origin}")
    sections: dict[str, dict[str, Any]] = {}
    for task, values in raw.items():
        if not isinstance(values, dict):
            raise UserError(f"tasks.{task} in {origin} must be a mapping of config sections")
        try:
            sections[canonical(str(task))] = values
        except UserError as err:
            raise UserError(f"tasks.{task} in {origin}: {err}") from None
    return sections


def _deep_update(into: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_update(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def _drop_leaves(values: dict[str, Any], setting: dict[str, Any]) -> None:
    """Remove from `values` every setting that `setting` sets (its leaves)."""
    for key, value in setting.items():
        if key not in values:
            continue
        if isinstance(value, dict) and isinstance(values[key], dict):
            _drop_leaves(values[key], value)
            if not values[key]:
                del values[key]
        else:
            del values[key]


def config_hash(payload: dict[str, Any]) -> str:
    """A short, stable content hash of a JSON-able mapping (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

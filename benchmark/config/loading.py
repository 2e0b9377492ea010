"""Where a run's configuration comes from: defaults ← profile ← YAML file ← `--set
key=value`, resolved into one `RunConfig` before anything runs.

Each of the three sources may also hold a `tasks` section of per-task values (e.g. the
`paper` profile's image size per dataset, or `--set tasks.sketch-cls.data.image_size=48`).
Precedence, lowest first: defaults, profile, profile's `tasks.<task>`, YAML file, file's
`tasks.<task>`, `--set`, `--set tasks.<task>...`. So a value the user sets for the whole
run beats what the profile chose for one task, and a value the user sets for one task
beats everything. A record hashes the settings its task ran with (`for_task`), never
the `tasks` section itself, so values for one task leave every other task's records valid.

YAML is read strictly (`_StrictLoader`): no tags, no key written twice.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from benchmark.config.profiles import PROFILES
from benchmark.config.schema import SECTIONS, RunConfig, merge
from benchmark.config.validation import check
from benchmark.errors import UserError, did_you_mean


def _known_head(name: str, item: str, method_names: list[str]) -> None:
    """The first part of a `--set` key (after `tasks.<task>.`) is a config section or a
    method name; otherwise one line suggests the closest of both together (`rdk.w=1` →
    'rkd', `teachr.epochs=5` → 'teacher')."""
    if name in SECTIONS or name in ("tasks", "seeds", "profile"):
        return
    raise UserError(
        f"--set '{item}': '{name}' is neither a config section nor a method: "
        f"{did_you_mean(name, [*SECTIONS, *method_names])}"
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


# What a config may expand to. YAML aliases share one object per anchor, so a document of
# a few hundred bytes can stand for 10^9 values ("billion laughs"): whatever later walks,
# copies, hashes or prints it would never end. Every profile is far below these bounds.
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 10_000
MAX_CONFIG_DEPTH = 32


class _StrictLoader(yaml.SafeLoader):
    """`yaml.safe_load` that rejects a key written twice in one mapping (YAML's own rule,
    which PyYAML does not enforce: there the last one silently wins), and stops composing
    after `MAX_CONFIG_VALUES` nodes, so a long document costs no more than that to refuse
    (PyYAML parses as it composes)."""

    nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.nodes += 1
        if self.nodes > MAX_CONFIG_VALUES:
            raise _TooLarge()
        return super().compose_node(parent, index)


class _TooLarge(yaml.YAMLError):
    """More than `MAX_CONFIG_VALUES` nodes written out."""


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


def _too_many(what: str) -> str:
    return (
        f"{what} holds more than {MAX_CONFIG_VALUES:,} values once its YAML aliases are "
        "expanded: no config needs that many; write the settings out"
    )


def _check_size(loaded: Any, what: str) -> None:
    """One line if `loaded`, counted as the tree its aliases expand to, holds more than
    `MAX_CONFIG_VALUES` values or is nested deeper than `MAX_CONFIG_DEPTH`. The count
    stops at the bound, so the check itself is cheap whatever the document stands for."""
    count = 0
    stack: list[tuple[Any, int]] = [(loaded, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise UserError(_too_many(what))
        if depth > MAX_CONFIG_DEPTH:
            raise UserError(f"{what} is nested too deeply to be a config")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for pair in node.items() for v in pair)
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _safe_load(text: str, what: str) -> Any:
    """YAML text as plain data, or a one-line UserError saying what is wrong and where;
    what it expands to is bounded (`_check_size`)."""
    loaded = _parse(text, what)
    _check_size(loaded, what)
    return loaded


def _parse(text: str, what: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no code runs
    except _DuplicateKey as err:
        raise UserError(f"{what}: {err}") from None
    except _TooLarge:
        raise UserError(_too_many(what)) from None
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
    except (ValueError, OverflowError) as err:  # a constructor's own: an int of 5,000 digits
        raise UserError(f"{what} is not valid YAML: {err}") from None


def load_yaml(path: Path) -> dict[str, Any]:
    """A config file's top-level mapping. The file must be a regular file (a FIFO or a
    device would block or never end) of at most `MAX_CONFIG_BYTES`, and what it expands to
    is bounded (`_check_size`)."""
    from benchmark.storage import read_input

    if path.is_dir():
        raise UserError(f"config file '{path}' is a directory: pass a YAML file")
    if not path.exists():
        raise UserError(f"config file '{path}' does not exist")
    data = read_input(path, "config file", MAX_CONFIG_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"config file '{path}' is not a text file (not UTF-8 at byte {err.start}): "
            "pass a YAML file"
        ) from None
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
    # An empty name is an error, never "the default" (`profile: ''` in a file).
    name = profile if profile is not None else file_overrides.get("profile", "quick")
    name = "quick" if name is None else name
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
        merge(config, run_wide, origin)
        for values in per_task.values():  # a later run-wide value beats an earlier task's
            _drop_leaves(values, run_wide)
        canonical = canonical_task if overrides is not PROFILES[name] else _as_written
        for task, values in _task_sections(overrides.get("tasks"), origin, canonical).items():
            _deep_update(per_task.setdefault(task, {}), values)
    # Weights resolution may name the backbone a timm spec runs or make a path absolute:
    # the config records those values in place of the ones written.
    config.teacher = dataclasses.replace(config.teacher, **check(config, ""))
    config.tasks = per_task
    for task in per_task:
        recorded = check(config.for_task(task), f"tasks.{task}.")
        if "teacher" in per_task[task]:  # the task's own teacher settings
            per_task[task]["teacher"].update(recorded)
    return config


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

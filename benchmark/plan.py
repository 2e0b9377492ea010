"""A plan: tasks × methods × seeds expanded into cells, each with its resolved config and
hash; a cell is done when a record with status ok and the same hash exists.

Each (task, seed) also gets a reference cell (the teacher's source score and the
all-labels target score), which runs first and trains the teacher the method cells share.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.config import PROTOCOL_VERSION, RunConfig, config_hash
from benchmark.errors import UserError, did_you_mean
from benchmark.method import load_methods
from benchmark.params import validate
from benchmark.records import REFERENCE, load_record, record_path
from benchmark.tracks import SUPERVISED, file_suffix, with_track
from benchmark.weights import key_settings


@dataclass(frozen=True)
class Cell:
    task: str
    method: str  # a method name or REFERENCE
    seed: int
    track: str = SUPERVISED  # benchmark.tracks

    @property
    def label(self) -> str:
        who = "reference" if self.method == REFERENCE else self.method
        return f"{self.task}/{who}/seed{self.seed}{file_suffix(self.track)}"

    def record_path(self, out: Path) -> Path:
        return record_path(out, self.task, self.method, self.seed, self.track)


def cell_run_config(cell: Cell, cfg: RunConfig) -> RunConfig:
    """The settings `cell` runs with: its task's, in its track."""
    return with_track(cfg.for_task(cell.task), cell.track)


def method_params(cfg: RunConfig, method: str) -> dict[str, Any]:
    """The method's declared defaults overlaid with the user's values, validated."""
    cls = load_methods().get(method)
    return validate(cls.params, cfg.methods.get(method, {}), method)


def check_method_settings(cfg: RunConfig) -> None:
    """Every `methods.<name>` section, run-wide or in `tasks.<task>`, names a registered
    method with valid values."""
    registry = load_methods()
    for where, own in [("", cfg), *((f"tasks.{t}.", cfg.for_task(t)) for t in cfg.tasks)]:
        for name in own.methods:
            if name not in registry:
                raise UserError(
                    f"config names unknown method '{where}methods.{name}': "
                    f"{did_you_mean(name, registry.names())}"
                )
            method_params(own, registry.canonical(name))


def cell_config(cell: Cell, cfg: RunConfig) -> dict[str, Any]:
    """Exactly the settings that can change this cell's result (what the hash covers):
    those its task runs with, so another task's `tasks.<name>` values never enter it.
    The track enters through the teacher's settings, so supervised cells keep the hashes
    they had before tracks existed."""
    cfg = cell_run_config(cell, cfg)
    payload: dict[str, Any] = {
        "protocol": PROTOCOL_VERSION,
        "task": cell.task,
        "seed": cell.seed,
        "data": dataclasses.asdict(cfg.data),
        "world": dict(cfg.world),
        "teacher": key_settings(cfg.teacher),  # scratch: as before the weights setting
        "student": dataclasses.asdict(cfg.student),
    }
    if cell.method != REFERENCE:
        payload["method"] = {"name": cell.method, "params": method_params(cfg, cell.method)}
        version = load_methods().get(cell.method).version
        if version != 1:  # version 1 keeps the hashes made before methods had versions
            payload["method"]["version"] = version
        payload["distill"] = dataclasses.asdict(cfg.distill)
        payload["eval"] = dataclasses.asdict(cfg.eval)
    return payload


def expand(
    tasks: list[str], methods: list[str], seeds: list[int], tracks: tuple[str, ...] = (SUPERVISED,)
) -> list[Cell]:
    """Cells grouped by (track, task, seed) so consecutive cells share data and teacher."""
    cells: list[Cell] = []
    for track in tracks:
        for task in tasks:
            for seed in seeds:
                cells.append(Cell(task, REFERENCE, seed, track))
                cells.extend(Cell(task, method, seed, track) for method in methods)
    return cells


def is_done(out: Path, cell: Cell, cfg: RunConfig) -> bool:
    """A done record (ok, or not applicable in its track) with the cell's config hash."""
    path = cell.record_path(out)
    if not path.is_file():
        return False
    record = load_record(path)
    return (
        record is not None
        and record.done
        and record.config_hash == config_hash(cell_config(cell, cfg))
    )

"""One JSON record per cell: the unit of results. Tables are always derived from records.

Records are written atomically, one file per cell, so any number of writers can share an
output folder and a reader never needs a lock. Readers accept records of this schema
version or older and ignore keys they do not know.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.storage import write_json

SCHEMA_VERSION = 2  # 2: per-sample test outcomes (benchmark.outcomes)
REFERENCE = "_reference"  # the method slot of a (task, seed)'s teacher/all-labels record
log = logging.getLogger(__name__)


@dataclass
class Record:
    task: str
    method: str  # a method name, or REFERENCE
    seed: int
    status: str  # "ok" | "failed"
    config_hash: str
    profile: str
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    teacher: dict[str, Any] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    # What the cell's data was: split sizes, class count, which test split, the loader's
    # warnings (`benchmark.runner.data_facts`).
    data: dict[str, Any] = field(default_factory=dict)
    # Per-sample test outcomes the metrics were computed from, by protocol ("probe",
    # "finetune"), encoded by `benchmark.outcomes.encode`.
    outcomes: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    git: str = "unknown"
    host: str = ""
    device: str = ""
    # Microseconds, not seconds: `--force` redoes records created before its plan started,
    # and a smoke cell can finish within the second a forced re-run starts.
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    )
    schema: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def record_path(out: Path, task: str, method: str, seed: int) -> Path:
    return out / "runs" / task / method / f"seed{seed}.json"


def write_record(out: Path, record: Record) -> Path:
    path = record_path(out, record.task, record.method, record.seed)
    write_json(path, dataclasses.asdict(record))
    return path


def load_record(path: Path) -> Record | None:
    """A record from disk; None (with a warning) for a file that is not one of ours."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        log.warning("skipping unreadable record %s: %s", path, err)
        return None
    if not isinstance(raw, dict) or raw.get("schema", 0) > SCHEMA_VERSION:
        log.warning("skipping %s: not a record of schema ≤ %d", path, SCHEMA_VERSION)
        return None
    known = {f.name for f in dataclasses.fields(Record)}
    try:
        return Record(**{k: v for k, v in raw.items() if k in known})
    except TypeError as err:
        log.warning("skipping malformed record %s: %s", path, err)
        return None


def read_records(out: Path) -> list[Record]:
    runs = out / "runs"
    if not runs.is_dir():
        return []
    records = (load_record(p) for p in sorted(runs.glob("*/*/seed*.json")))
    return [r for r in records if r is not None]


def records_frame(records: list[Record]) -> pd.DataFrame:
    """One row per record: identity columns, then one column per metric."""
    rows = []
    for r in records:
        row: dict[str, Any] = {
            "task": r.task,
            "method": r.method,
            "seed": r.seed,
            "status": r.status,
            "profile": r.profile,
            "config_hash": r.config_hash,
            "git": r.git,
            "seconds": sum(r.seconds.values()),
            "created": r.created,
        }
        row.update(r.metrics)
        rows.append(row)
    columns = [
        "task",
        "method",
        "seed",
        "status",
        "profile",
        "config_hash",
        "git",
        "seconds",
        "created",
    ]
    frame = pd.DataFrame(rows, columns=None if rows else columns)
    return frame.sort_values(["task", "method", "seed"]).reset_index(drop=True) if rows else frame

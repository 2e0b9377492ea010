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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.errors import UserError
from benchmark.protocol.curves import Curves, curve_problem
from benchmark.storage import read_input, write_json
from benchmark.tracks import SUPERVISED, TRACKS, file_suffix

MAX_RECORD_BYTES = 64 << 20  # a record is ~200 KB at most; a larger file is not one of ours
# 2: per-sample test outcomes (benchmark.protocol.outcomes); 3: per-epoch training curves
# (benchmark.protocol.curves). Older records read as they are, without curves.
SCHEMA_VERSION = 3
REFERENCE = "_reference"  # the method slot of a (task, seed)'s teacher/all-labels record
OK, FAILED, NOT_APPLICABLE = "ok", "failed", "not_applicable"
STATUSES = (OK, FAILED, NOT_APPLICABLE)
log = logging.getLogger(__name__)
# The columns `records_frame` gives every record before its metrics.
IDENTITY = (
    "task",
    "kind",
    "track",
    "method",
    "seed",
    "status",
    "profile",
    "config_hash",
    "git",
    "seconds",
    "created",
)


@dataclass
class Record:
    task: str
    method: str  # a method name, or REFERENCE
    seed: int
    # ok | failed | not_applicable (a method that cannot run in the cell's track: the
    # reason says why; like ok, it is done, but it has no metrics)
    status: str
    config_hash: str
    profile: str
    # benchmark.tracks; a record without `track` is supervised (benchmark.hashing,
    # record-without-track)
    track: str = SUPERVISED
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    teacher: dict[str, Any] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    # What the cell's data was: split sizes, class count, which test split, the loader's
    # warnings (`benchmark.execution.cell_setup.data_facts`).
    data: dict[str, Any] = field(default_factory=dict)
    # Per-sample test outcomes the metrics were computed from, by protocol ("probe",
    # "finetune"), encoded by `benchmark.protocol.outcomes.encode`.
    outcomes: dict[str, str] = field(default_factory=dict)
    # Per stage (distill, finetune, finetune1, ...), each loss term's mean and the learning
    # rate per epoch (`benchmark.protocol.curves`); empty in records of schema < 3.
    curves: Curves = field(default_factory=dict)
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
        """A result: the record has its metrics."""
        return self.status == OK

    @property
    def done(self) -> bool:
        """Nothing left to run for this record's cell: a result, or not applicable."""
        return self.status in (OK, NOT_APPLICABLE)


def record_path(out: Path, task: str, method: str, seed: int, track: str = SUPERVISED) -> Path:
    return out / "runs" / task / method / f"seed{seed}{file_suffix(track)}.json"


def write_record(out: Path, record: Record) -> Path:
    """Write `record` atomically at its path; its non-finite metrics and losses are stored
    as None (`finite_or_none`), so every record this writes is one its readers accept."""
    path = record_path(out, record.task, record.method, record.seed, record.track)
    record.metrics = finite_or_none(record.metrics)
    record.losses = finite_or_none(record.losses)
    write_json(path, dataclasses.asdict(record))
    return path


def load_record(path: Path, skipped: list[tuple[Path, str]] | None = None) -> Record | None:
    """A record from disk; None for a file that is not one of ours: unreadable,
    truncated, of a newer schema, or with a field of the wrong type (`schema_problem`).
    Each skipped file is logged as a warning naming it, or appended to `skipped`."""
    problem = ""
    try:
        raw = json.loads(read_input(path, "record", MAX_RECORD_BYTES))
    except UserError as err:  # not a regular file, or too large to be one of ours
        raw, problem = None, f"unreadable: {err}"
    except ValueError as err:
        raw, problem = None, f"unreadable: {err}"
    except RecursionError:
        raw, problem = None, "unreadable: nested too deeply"
    if not problem and (not isinstance(raw, dict) or not _schema_ok(raw)):
        problem = f"not a record of schema ≤ {SCHEMA_VERSION}"
    if not problem and isinstance(raw, dict):
        problem = schema_problem(raw)
    if problem or not isinstance(raw, dict):
        if skipped is None:
            log.warning("skipping record %s: %s", path, problem)
        else:
            skipped.append((path, problem))
        return None
    known = {f.name for f in dataclasses.fields(Record)}
    return Record(**{k: v for k, v in raw.items() if k in known})


def _schema_ok(raw: dict[str, Any]) -> bool:
    schema = raw.get("schema", 0)
    return isinstance(schema, int) and not isinstance(schema, bool) and schema <= SCHEMA_VERSION


def _number(value: Any, none_ok: bool) -> bool:
    if value is None:
        return none_ok
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: float) -> bool:
    """Finite, and representable as a float (a JSON integer can have 400 digits)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def finite_or_none(values: dict[str, float | None]) -> dict[str, float | None]:
    """Metrics as a record stores them: a value that is not a finite number (a CKA of
    constant features is NaN) becomes None, "undefined", which every reader handles; a
    non-finite number in a record on disk marks the file as malformed (`schema_problem`)."""
    return {
        k: v if v is None or not isinstance(v, float) or math.isfinite(v) else None
        for k, v in values.items()
    }


def schema_problem(raw: dict[str, Any]) -> str:
    """What is wrong with a record's fields ('' when nothing): every field the tables and
    the leaderboard read must have its type, so a hand-edited or foreign file is skipped
    by name instead of failing the rendering half-way."""
    for name in ("task", "method", "status", "config_hash", "profile"):
        if name not in raw:
            return f"no '{name}' field"
    for name in ("task", "method", "status", "config_hash", "profile"):
        if not isinstance(raw[name], str) or not raw[name]:
            return f"{name}={_short(raw[name])} is not a non-empty string"
    for name in ("reason", "git", "host", "device", "created"):
        if name in raw and not isinstance(raw[name], str):
            return f"{name}={_short(raw[name])} is not a string"
    if raw["status"] not in STATUSES:
        return f"status={_short(raw['status'])} is not one of {', '.join(STATUSES)}"
    if raw.get("track", SUPERVISED) not in TRACKS:
        return f"track={_short(raw.get('track'))} is not one of {', '.join(TRACKS)}"
    seed = raw.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        return f"seed={_short(seed)} is not a non-negative int"
    for name in ("config", "teacher", "data", "versions"):
        if name in raw and not isinstance(raw[name], dict):
            return f"{name} is a {type(raw[name]).__name__}, not a mapping"
    for name, none_ok in (("metrics", True), ("losses", True), ("seconds", False)):
        values = raw.get(name, {})
        if not isinstance(values, dict):
            return f"{name} is a {type(values).__name__}, not a mapping"
        for key, value in values.items():
            if not _number(value, none_ok):
                return f"{name}.{str(key)[:60]}={_short(value)} is not a number"
            if value is not None and not _finite(value):
                return f"{name}.{str(key)[:60]}={_short(value)} is not a finite number"
            if name == "metrics" and key in IDENTITY:
                return f"metrics.{key} would hide the record's own '{key}' column"
    outcomes = raw.get("outcomes", {})
    if not isinstance(outcomes, dict) or not all(isinstance(v, str) for v in outcomes.values()):
        return "outcomes is not a mapping of encoded strings"
    return curve_problem(raw.get("curves", {}))


def _short(value: Any, limit: int = 60) -> str:
    """`repr` of a value from a file, cut to `limit` characters: a message never carries
    an unbounded value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_records(out: Path, skipped: list[tuple[Path, str]] | None = None) -> list[Record]:
    """Every valid record under `out/runs`; the files skipped go to `skipped` if given
    (else each is logged as a warning)."""
    runs = out / "runs"
    if not runs.is_dir():
        return []
    records = (load_record(p, skipped) for p in sorted(runs.glob("*/*/seed*.json")))
    return [r for r in records if r is not None]


def records_frame(records: list[Record]) -> pd.DataFrame:
    """One row per record: identity columns, then one column per metric."""
    rows = []
    for r in records:
        row: dict[str, Any] = {
            "task": r.task,
            "kind": r.data.get("kind"),  # None before the data facts (hashing: record-without-kind)
            "track": r.track,
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
    frame = pd.DataFrame(rows, columns=None if rows else list(IDENTITY))
    if not rows:
        return frame
    return frame.sort_values(["task", "track", "method", "seed"]).reset_index(drop=True)

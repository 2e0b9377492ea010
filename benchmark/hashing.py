"""How a cell's settings become its record's hash, and every rule that keeps records
made before a setting existed valid.

A cell's record carries the settings that can change its result (`cell_payload`, the
schema below) and a short content hash of them (`config_hash`); a re-run compares hashes
to tell whether an existing record still answers the same question, and
`tests/results/test_reference_results.py` checks that the committed reference still
hashes to what it says. A change to what a cell computes bumps `PROTOCOL_VERSION` (every
record stops matching) or, for one method, its `version` (`benchmark.method.Method`).

When a setting is added, the records made before it must keep their hashes, so its
default is left out of the payload (or the record reads as before). Each such rule is in
`LEGACY_RULES`, with where it is applied, why, and the protocol version whose records it
keeps valid; `tests/core/test_legacy_hash_rules.py` lists and checks them all. This
module is a leaf (nothing from the package), so the configuration layer can re-export it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

# Bump when the protocol changes what a cell computes, so old records stop matching.
PROTOCOL_VERSION = 3  # 3: larger test sets, fine-tune restarts, per-sample outcomes

# The record payload: what `cell_payload` hashes, section by section. The last three are
# absent from the all-labels reference cell, which neither distils nor has a method.
PAYLOAD_SCHEMA: dict[str, str] = {
    "protocol": "PROTOCOL_VERSION",
    "task": "the canonical task name",
    "seed": "the cell's seed",
    "data": "the task's split sizes (DataConfig)",
    "world": "the embedded world's knob overrides",
    "teacher": "the teacher recipe as weights.key_settings writes it (the track via pretrain)",
    "student": "the student's settings (StudentConfig)",
    "method": "{name, params} and, unless 1, version",
    "distill": "the distillation schedule (DistillConfig)",
    "eval": "the probe and fine-tuning settings (EvalConfig); the probe's alone in the "
    "labelled track",
    "track": "the labelled track's name, in its cells only (the others: track-via-teacher)",
    "labelled": "{ce_weight: γ}, the labelled track's cross-entropy weight (its method cells)",
}
# Sections only the labelled track's cells have (`cell_payload`'s `track` argument).
LABELLED_SECTIONS = ("track", "labelled")

# A method at this version is hashed without its version (rule `method-version-1`).
UNVERSIONED_METHOD = 1
# The track a record or manifest written before tracks belongs to (`record-without-track`).
TRACK_BEFORE_TRACKS = "supervised"


@dataclass(frozen=True)
class LegacyRule:
    """One rule that keeps existing records' hashes (or readings) valid."""

    name: str
    where: str  # the code that applies it
    rule: str
    reason: str
    keeps_protocol: int  # the protocol version whose records it keeps valid


LEGACY_RULES: tuple[LegacyRule, ...] = (
    LegacyRule(
        "method-version-1",
        "hashing.cell_payload",
        "a method at version 1 has no `version` key in the payload",
        "records made before methods had versions keep their hashes",
        3,
    ),
    LegacyRule(
        "scratch-weights",
        "weights.key_settings",
        "a teacher starting from scratch has no `weights` or `adapt` key in its settings",
        "record hashes and teacher cache keys made before the weights setting still match",
        3,
    ),
    LegacyRule(
        "track-via-teacher",
        "execution.plan._payload, hashing.cell_payload",
        "the payload has no `track` key: the track enters as teacher.pretrain, which the "
        "supervised track leaves as it was",
        "supervised cells keep the hashes they had before tracks existed",
        3,
    ),
    LegacyRule(
        "supervised-paths",
        "tracks.file_suffix",
        "the supervised track adds nothing to a record's or log's file name",
        "records from before tracks keep their paths",
        3,
    ),
    LegacyRule(
        "record-without-track",
        "results.records.Record.track, results.compare.track_of, execution.status",
        "a record or plan manifest without `track` is the supervised track's",
        "records and manifests written before tracks are read as they were",
        3,
    ),
    LegacyRule(
        "modality-knobs",
        "datasets.tasks.hashed_world, execution.plan._payload",
        "a world knob that one modality reads (text_abstraction) is in a cell's `world` "
        "only for a task with that modality, and only away from its default",
        "setting it for a run leaves every other task's records valid, and records made "
        "before the knob existed keep their hashes",
        3,
    ),
    LegacyRule(
        "data-split",
        "datasets.data_config.hashed",
        "`data.split` at `standard` (the datasets' own partitions) has no key in the payload",
        "records made before MST-Distill's split existed keep their hashes",
        3,
    ),
    LegacyRule(
        "labelled-fraction",
        "datasets.data_config.hashed",
        "`data.labelled_fraction` has a key only in the labelled track and only below 1",
        "records of every track made before it existed keep their hashes; the other tracks "
        "never read labels, so it cannot change their cells",
        3,
    ),
    LegacyRule(
        "record-without-kind",
        "results.records.records_frame, cli.power",
        "a record without `data.kind` has kind None in the records table (`bench power` reads "
        "the kind from its metric columns)",
        "records written before the data facts stay readable",
        3,
    ),
)


def cell_payload(
    task: str,
    seed: int,
    sections: dict[str, Any],
    teacher: dict[str, Any],
    method: tuple[str, dict[str, Any], int] | None,
    track: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The hashed settings of one cell (`PAYLOAD_SCHEMA`). `sections` holds the cell's
    data, world, student, distill and eval settings as plain dicts, `teacher` the recipe's
    key settings; `method` is (name, params, version), or None for the reference cell;
    `track` the labelled track's own sections (`LABELLED_SECTIONS`), None in the other
    tracks, whose payloads have no track key (rule `track-via-teacher`)."""
    payload: dict[str, Any] = {
        "protocol": PROTOCOL_VERSION,
        "task": task,
        "seed": seed,
        "data": sections["data"],
        "world": sections["world"],
        "teacher": teacher,
        "student": sections["student"],
    }
    if method is not None:
        name, params, version = method
        payload["method"] = {"name": name, "params": params}
        if version != UNVERSIONED_METHOD:  # LEGACY_RULES: method-version-1
            payload["method"]["version"] = version
        payload["distill"] = sections["distill"]
        payload["eval"] = sections["eval"]
    if track is not None:
        payload.update(track)
    return payload


def config_hash(payload: dict[str, Any]) -> str:
    """A short, stable content hash of a JSON-able mapping (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

"""Every legacy hash-compatibility rule (`benchmark.hashing.LEGACY_RULES`), listed and
checked on the code that applies it: a rule added or dropped must show up here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmark.config import TrainConfig, resolve
from benchmark.execution.plan import REFERENCE, Cell, plan_cell
from benchmark.execution.status import cell_states
from benchmark.hashing import (
    LABELLED_SECTIONS,
    LEGACY_RULES,
    PAYLOAD_SCHEMA,
    PROTOCOL_VERSION,
    cell_payload,
)
from benchmark.results.compare import track_of
from benchmark.results.records import load_record, records_frame
from benchmark.tracks import LABEL_FREE, LABELLED, SUPERVISED, file_suffix
from benchmark.weights import key_settings
from tests.paths import ROOT

REFERENCE_RECORD = ROOT / "results/runs/sketch-cls/l2/seed0.json"


def test_every_legacy_rule_is_listed_and_holds(tmp_path: Path) -> None:
    assert [rule.name for rule in LEGACY_RULES] == [
        "method-version-1",
        "scratch-weights",
        "track-via-teacher",
        "supervised-paths",
        "record-without-track",
        "modality-knobs",
        "data-split",
        "labelled-fraction",
        "record-without-kind",
    ]
    for rule in LEGACY_RULES:
        assert rule.where and rule.rule and rule.reason, rule.name
        assert 1 <= rule.keeps_protocol <= PROTOCOL_VERSION, rule.name

    cfg = resolve("smoke")
    sections = {k: {} for k in ("data", "world", "student", "distill", "eval")}
    # method-version-1
    assert "version" not in cell_payload("t", 0, sections, {}, ("l2", {}, 1))["method"]
    assert cell_payload("t", 0, sections, {}, ("l2", {}, 2))["method"]["version"] == 2
    # scratch-weights
    assert not {"weights", "adapt"} & key_settings(TrainConfig()).keys()
    # track-via-teacher: the payload's sections are the schema's, none is the track
    supervised = plan_cell(Cell("sketch-cls", "l2", 0), cfg)
    label_free = plan_cell(Cell("sketch-cls", "l2", 0, LABEL_FREE), cfg)
    assert set(supervised.payload) == set(PAYLOAD_SCHEMA) - set(LABELLED_SECTIONS)
    assert set(label_free.payload) == set(supervised.payload)
    assert set(plan_cell(Cell("sketch-cls", REFERENCE, 0), cfg).payload) < set(PAYLOAD_SCHEMA)
    labelled = plan_cell(Cell("sketch-cls", "l2", 0, LABELLED), cfg)
    assert set(labelled.payload) == set(PAYLOAD_SCHEMA)
    assert supervised.payload["teacher"]["pretrain"] == "supervised"
    assert label_free.payload["teacher"]["pretrain"] == "label-free"
    # supervised-paths
    assert file_suffix(SUPERVISED) == ""
    assert Cell("sketch-cls", "l2", 0).record_path(tmp_path).name == "seed0.json"
    # record-without-track: a committed reference record as it was written before records
    # named their track (the field left out), read as supervised and settling its cell
    raw = json.loads(REFERENCE_RECORD.read_text())
    assert raw.get("track", SUPERVISED) == SUPERVISED
    raw.pop("track", None)
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps(raw))
    record = load_record(legacy)
    assert record is not None and record.track == SUPERVISED and track_of(record) == SUPERVISED
    out = tmp_path / "out"
    path = Cell("sketch-cls", "l2", 0).record_path(out)
    path.parent.mkdir(parents=True)
    shutil.copy(legacy, path)
    manifest = {"label": "sketch-cls/l2/seed0", "task": "sketch-cls", "method": "l2"}
    manifest |= {"seed": 0, "config_hash": raw["config_hash"]}
    (out / "plan.json").write_text(json.dumps({"cells": [manifest], "jobs": {}}))
    [state] = cell_states(out, {})
    assert state.state == "done", state
    # modality-knobs: text_abstraction enters text tasks' payloads only, and not at 0.5
    knob = resolve("smoke", set_overrides={"world": {"text_abstraction": 0.9}})
    assert plan_cell(Cell("sketch-cls", "l2", 0), knob).hash == supervised.hash
    assert plan_cell(Cell("text-cls", "l2", 0), knob).payload["world"] == {"text_abstraction": 0.9}
    default = resolve("smoke", set_overrides={"world": {"text_abstraction": 0.5}})
    assert plan_cell(Cell("text-cls", "l2", 0), default).payload["world"] == {}
    # data-split, labelled-fraction: at their defaults no key; set, a key where it counts
    assert not {"split", "labelled_fraction"} & supervised.payload["data"].keys()
    assert not {"split", "labelled_fraction"} & labelled.payload["data"].keys()
    low = resolve("smoke", set_overrides={"data": {"labelled_fraction": 0.5, "split": "mst"}})
    assert plan_cell(Cell("sketch-cls", "l2", 0), low).payload["data"]["split"] == "mst"
    assert "labelled_fraction" not in plan_cell(Cell("sketch-cls", "l2", 0), low).payload["data"]
    assert (
        plan_cell(Cell("sketch-cls", "l2", 0, LABELLED), low).payload["data"]["labelled_fraction"]
        == 0.5
    )
    # record-without-kind
    raw["data"].pop("kind", None)
    stripped = tmp_path / "seed0.json"
    stripped.write_text(json.dumps(raw))
    kindless = load_record(stripped)
    assert kindless is not None
    assert records_frame([kindless])["kind"].isna().all()

"""The README's "Reliability" policies, checked below the command line: special files,
non-finite numbers in records, records of other settings, a full disk, the study journal."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
from pathlib import Path

import pytest

from benchmark.config import RunConfig
from benchmark.errors import UserError, bounded
from benchmark.execution.jobs import record_cell
from benchmark.execution.plan import Cell, check_records, plan_cell
from benchmark.execution.status import cell_states, plan_cells, read_manifest
from benchmark.protocol.checkpoint import checkpoint_path
from benchmark.results.records import Record, load_record, read_records, write_record
from benchmark.storage import atomic_write, check_target, full_disk_message, read_input, write_json
from tests.paths import ROOT

RESULTS = ROOT / "results"


def test_special_files_are_refused_as_outputs_and_inputs(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, kind in ((fifo, "FIFO"), (Path("/dev/null"), "character device")):
        with pytest.raises(UserError, match=kind):
            check_target(target, "--output")
        with pytest.raises(UserError, match=kind):
            atomic_write(target, lambda handle: handle.write(b"x"))
        with pytest.raises(UserError, match=kind):
            read_input(target, "record", 100)  # a FIFO is opened without blocking
    assert fifo.exists() and not fifo.is_file()  # neither replaced nor written
    link = tmp_path / "link"
    link.symlink_to("/dev/null")
    with pytest.raises(UserError, match="character device"):
        check_target(link, "--output")
    check_target(tmp_path / "new.md", "--output")  # absent: fine
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(UserError, match="larger than 100 bytes"):
        read_input(tmp_path / "big", "record", 100)


def _record(seed: int = 0) -> Record:
    return Record("sketch-cls", "l2", seed, "ok", "h" * 64, "smoke", metrics={"acc": 0.5})


def test_non_finite_metrics_are_written_as_none_and_refused_when_read(tmp_path: Path) -> None:
    record = _record()
    record.metrics.update(gap_cka=math.nan, gap_tv=math.inf)
    path = write_record(tmp_path, record)
    raw = json.loads(path.read_text())
    assert raw["metrics"] == {"acc": 0.5, "gap_cka": None, "gap_tv": None}
    assert load_record(path) is not None
    for token in ("NaN", "Infinity", "-Infinity", "1e999"):
        path.write_text(json.dumps(raw).replace('"acc": 0.5', f'"acc": {token}'))
        skipped: list[tuple[Path, str]] = []
        assert read_records(tmp_path, skipped) == []
        assert skipped and "not a finite number" in skipped[0][1], (token, skipped)


def test_a_finished_record_of_other_settings_is_never_replaced_without_force(
    smoke: RunConfig, tmp_path: Path
) -> None:
    cell = plan_cell(Cell("sketch-cls", "l2", 0), smoke)
    check_records(tmp_path, [cell], force=False)  # nothing there yet
    other = dataclasses.replace(_record(), config_hash="0" * 64, profile="quick")
    write_record(tmp_path, other)
    with pytest.raises(UserError, match=r"other settings \(profile quick.*--force"):
        check_records(tmp_path, [cell], force=False)
    check_records(tmp_path, [cell], force=True)
    write_record(tmp_path, dataclasses.replace(other, status="failed"))
    check_records(tmp_path, [cell], force=False)  # a failed record is no finished one
    write_record(tmp_path, dataclasses.replace(other, config_hash=cell.hash))
    check_records(tmp_path, [cell], force=False)  # the same settings: done, kept


def test_status_judges_a_record_by_its_hash(smoke: RunConfig, tmp_path: Path) -> None:
    cell = plan_cell(Cell("sketch-cls", "l2", 0), smoke)
    write_json(tmp_path / "plan.json", {"cells": plan_cells([cell]), "runs": [], "jobs": {}})
    write_record(tmp_path, dataclasses.replace(_record(), config_hash="0" * 64, profile="quick"))
    [state] = cell_states(tmp_path, {})
    assert state.state == "pending" and "other settings (profile quick)" in state.detail
    write_record(tmp_path, dataclasses.replace(_record(), config_hash=cell.hash))
    assert cell_states(tmp_path, {})[0].state == "done"
    assert read_manifest(tmp_path)["cells"][0]["config_hash"] == cell.hash


class _FullDisk:
    """A runner whose cell writes its epoch checkpoint, then meets a full disk."""

    def __init__(self, cfg: RunConfig, out: Path) -> None:
        self.cfg, self.out = cfg, out

    def run(self, cell: object) -> Record:
        path = checkpoint_path(self.out, "sketch-cls", "l2", 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"state")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")  # no file named
        except OSError as inner:  # what torch's zip writer raises on top of it
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from inner


def test_a_full_disk_removes_the_cells_checkpoint(smoke: RunConfig, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        cell = plan_cell(Cell("sketch-cls", "l2", 0), smoke)
        record_cell(_FullDisk(smoke, tmp_path), tmp_path, cell, {})  # type: ignore[arg-type]
    assert not checkpoint_path(tmp_path, "sketch-cls", "l2", 0).exists()


def test_a_full_disk_names_the_file_being_written(tmp_path: Path) -> None:
    def write(handle: object) -> None:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("unexpected pos") from inner

    target = tmp_path / "seed0.pt"
    with pytest.raises(OSError) as caught:
        atomic_write(target, write)
    assert f"writing '{target}'" in full_disk_message(caught.value)
    assert list(tmp_path.iterdir()) == []  # no temp file left


def test_messages_are_bounded() -> None:
    text = bounded("unknown profile '" + "k" * 100_000 + "': did you mean 'quick'?")
    assert len(text) < 400 and text.endswith("did you mean 'quick'?")
    assert len(bounded("x" * 100_000)) <= 1000
    assert bounded("two\nlines") == "two lines"


def test_the_committed_study_journal_replays(tmp_path: Path) -> None:
    from benchmark.execution.tune_study import check_journal

    check_journal(RESULTS / "tune", [])
    check_journal(tmp_path, [])  # no journal yet: nothing to check
    (tmp_path / "journal.log").write_bytes((RESULTS / "tune" / "journal.log").read_bytes()[:999])
    with pytest.raises(UserError, match="corrupt at line"):
        check_journal(tmp_path, [])

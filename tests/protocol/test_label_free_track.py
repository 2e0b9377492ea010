"""The label-free track: a teacher that never sees a label, methods that need teacher
logits recorded as not applicable, and two tracks that share a results folder without
touching each other's records, hashes or leaderboard sections."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from benchmark.cli.main import main
from benchmark.config import RunConfig
from benchmark.datasets.tasks import get_task
from benchmark.errors import UserError
from benchmark.execution.plan import Cell, cell_run_config, is_done, plan_cell
from benchmark.execution.runner import CellRunner
from benchmark.method import create_method
from benchmark.protocol.teacher import get_teacher
from benchmark.results.leaderboard import render
from benchmark.results.records import NOT_APPLICABLE, REFERENCE, read_records, write_record
from benchmark.tracks import LABEL_FREE, LABELLED, SUPERVISED, parse_tracks, with_track
from tests.method_selection import selected_methods


def test_label_free_teacher_never_reads_a_label(smoke: RunConfig, cache_dir: Path) -> None:
    """Shuffled source labels (and test labels) give the identical teacher and cache key;
    it has no head and no score."""
    data = get_task("sketch-cls").load(smoke.data, smoke.world, 0, cache_dir)
    cfg = with_track(smoke, LABEL_FREE)
    device = torch.device("cpu")
    first = get_teacher(data, cfg, 0, None, device)
    assert data.source_pool.labels is not None and data.test.labels is not None
    shuffled = dataclasses.replace(
        data,
        source_pool=dataclasses.replace(data.source_pool, labels=data.source_pool.labels.roll(1)),
        test=dataclasses.replace(data.test, labels=data.test.labels.roll(3)),
    )
    second = get_teacher(shuffled, cfg, 0, None, device)
    assert first.key == second.key
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert first.model.head is None and first.metrics == {}
    assert first.model(data.paired.source[:4]).logits is None  # type: ignore[index]
    assert first.key != get_teacher(data, smoke, 0, None, device).key


def test_supervised_cells_keep_their_hash_and_path(smoke: RunConfig, tmp_path: Path) -> None:
    plain, tracked = Cell("sketch-cls", "l2", 0), Cell("sketch-cls", "l2", 0, SUPERVISED)
    assert plan_cell(plain, smoke).payload == plan_cell(tracked, smoke).payload
    free = Cell("sketch-cls", "l2", 0, LABEL_FREE)
    assert plan_cell(free, smoke).payload["teacher"]["pretrain"] == "label-free"
    assert plan_cell(free, smoke).payload != plan_cell(plain, smoke).payload
    assert plain.record_path(tmp_path).name == "seed0.json"
    assert free.record_path(tmp_path).name == "seed0.label-free.json"
    assert free.label == "sketch-cls/l2/seed0.label-free"


def test_label_free_is_set_by_the_track_only(smoke: RunConfig) -> None:
    task_cfg = dataclasses.replace(
        smoke, teacher=dataclasses.replace(smoke.teacher, pretrain="label-free")
    )
    with pytest.raises(UserError, match="--tracks label-free"):
        plan_cell(Cell("sketch-cls", "l2", 0), task_cfg)
    assert parse_tracks("all") == [SUPERVISED, LABEL_FREE, LABELLED]
    with pytest.raises(UserError, match="did you mean 'label-free'"):
        parse_tracks("supervised,labelfree")


@pytest.mark.parametrize("method", selected_methods())
@pytest.mark.usefixtures("one_thread")  # tiny smoke cells: faster on a shared 2-core host
def test_every_method_runs_or_is_not_applicable_in_the_label_free_track(
    method: str, smoke: RunConfig, cache_dir: Path
) -> None:
    """A method that says it needs no teacher logits must run on a teacher without any (a
    method that reads them anyway fails here); one that needs them gets a not-applicable
    record with its reason, which the plan counts as done."""
    runner = CellRunner(smoke, cache_dir, torch.device("cpu"))
    cell = plan_cell(Cell("sketch-cls", method, 0, LABEL_FREE), smoke)
    record = runner.run(cell)
    cfg = cell_run_config(cell, smoke)
    needs = create_method(method).needs_teacher_logits()
    assert cfg.teacher.pretrain == "label-free"
    if needs:
        assert record.status == NOT_APPLICABLE and "logits" in record.reason
        assert not record.metrics and not record.ok and record.done
    else:
        assert record.status == "ok", record.reason
        assert record.metrics["finetune_acc"] >= 0.0
    assert record.track == LABEL_FREE


def test_soft_proj_feature_level_alone_runs_label_free() -> None:
    assert create_method("soft-proj").needs_teacher_logits()
    assert not create_method("soft-proj", classifier=False).needs_teacher_logits()
    assert create_method("soft-proj", classifier=False, quality="confidence").needs_teacher_logits()
    assert create_method("kd").needs_teacher_logits()


def test_both_tracks_in_one_folder(tmp_path: Path) -> None:
    """One `bench run` of both teacher tracks: each track's cells get their own records;
    the n/a cells are done (a re-run runs nothing) and the leaderboard shows each track
    apart. (The labelled track's own run: tests/protocol/test_labelled_track.py.)"""
    out = tmp_path / "out"
    argv = ["run", "--methods", "kd,l2,scratch", "--tasks", "sketch-cls", "--seeds", "1"]
    argv += ["--profile", "smoke", "--tracks", f"{SUPERVISED},{LABEL_FREE}", "--out", str(out)]
    assert main(argv) == 0
    records = read_records(out)
    assert {(r.track, r.method) for r in records} == {
        (t, m) for t in (SUPERVISED, LABEL_FREE) for m in (REFERENCE, "kd", "l2", "scratch")
    }
    by = {(r.track, r.method): r for r in records}
    assert by[(LABEL_FREE, "kd")].status == NOT_APPLICABLE
    assert by[(SUPERVISED, "kd")].ok
    assert by[(LABEL_FREE, REFERENCE)].metrics.get("teacher_acc") is None
    assert by[(SUPERVISED, REFERENCE)].metrics["teacher_acc"] >= 0.0
    # Same seed, same student start, no teacher in the loop: scratch is the same network.
    s, f = by[(SUPERVISED, "scratch")], by[(LABEL_FREE, "scratch")]
    assert s.metrics["finetune_acc"] == f.metrics["finetune_acc"]
    assert s.config_hash != f.config_hash

    board = render(records, "x")
    assert "# Label-free track" in board and "## sketch-cls · label-free" in board
    assert "Not applicable in this track: kd" in board
    # The supervised part reads as a board of the supervised records alone.
    alone = render([r for r in records if r.track == SUPERVISED], "x")
    part = board[board.index("## Headroom") : board.index("# Label-free track")]
    assert part.strip() == alone[alone.index("## Headroom") : alone.index("---\n")].strip()

    # Nothing left to run: the not-applicable cell counts as done.
    from benchmark.config import resolve

    cfg = resolve("smoke")
    assert is_done(out, plan_cell(Cell("sketch-cls", "kd", 0, LABEL_FREE), cfg))
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")}
    assert main(argv) == 0
    assert before == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")}


def test_a_record_of_another_track_is_not_this_cells(smoke: RunConfig, tmp_path: Path) -> None:
    """A label-free record never satisfies the supervised cell, even with its hash."""
    runner = CellRunner(smoke, None, torch.device("cpu"))
    record = runner.run(plan_cell(Cell("sketch-cls", "kd", 0, LABEL_FREE), smoke))
    write_record(tmp_path, record)
    assert not is_done(tmp_path, plan_cell(Cell("sketch-cls", "kd", 0), smoke))
    assert is_done(tmp_path, plan_cell(Cell("sketch-cls", "kd", 0, LABEL_FREE), smoke))

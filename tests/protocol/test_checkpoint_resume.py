"""Epoch checkpoints: a cell interrupted after any epoch (or during its evaluation) and run
again by a fresh runner ends with exactly the record an uninterrupted run writes."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from benchmark.config import RunConfig
from benchmark.execution.jobs import record_cell
from benchmark.execution.plan import Cell, plan_cell
from benchmark.execution.progress import Advance
from benchmark.execution.runner import CellRunner
from benchmark.protocol.checkpoint import EpochCheckpoint, checkpoint_path
from benchmark.results.records import load_record, record_path

CPU = torch.device("cpu")


class _Killed(BaseException):
    """Stands for a kill: not an Exception, so the runner does not turn it into a record."""


class _KillAfter:
    """A reporter that 'kills' the run once `epochs` epochs of `stage` have finished (the
    epoch's checkpoint is saved before progress is reported, as after a real kill)."""

    def __init__(self, stage: str, epochs: int) -> None:
        self.target, self.epochs, self.seen = stage, epochs, 0

    @contextlib.contextmanager
    def stage(self, label: str, total: int) -> Iterator[Advance]:
        def advance(n: int) -> None:
            if self.target in label:
                self.seen += n
                if self.seen >= self.epochs:
                    raise _Killed

        yield advance


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def longer(smoke: RunConfig) -> RunConfig:
    return dataclasses.replace(smoke, distill=dataclasses.replace(smoke.distill, epochs=4))


@pytest.mark.parametrize(
    ("method", "stage", "after"),
    [
        ("crd", "distill", 2),
        ("cmcd-cmd", "distill", 2),
        ("l2", "distill", 1),
        ("crd", "evaluate", 1),
    ],
)
def test_resumed_cell_equals_uninterrupted(
    method: str, stage: str, after: int, longer: RunConfig, cache_dir: Path, tmp_path: Path
) -> None:
    """crd (memory banks, sampler counter) and cmcd-cmd (queue) carry state across
    epochs; killed after 2 of 4 epochs, or during evaluation, they resume to the same
    metrics and losses, in a new runner whose global RNG has moved on."""
    cell = plan_cell(Cell("sketch-cls", method, 0), longer)
    whole = CellRunner(longer, cache_dir, CPU, out=tmp_path / "whole").run(cell)
    assert whole.ok, whole.reason

    out = tmp_path / "killed"
    with pytest.raises(_Killed):
        CellRunner(longer, cache_dir, CPU, _KillAfter(stage, after), out=out).run(cell)
    saved = checkpoint_path(out, cell.task, cell.method, cell.seed)
    state = torch.load(saved, weights_only=True)  # the safe loader reads it
    expected_epoch = after if stage == "distill" else longer.distill.epochs
    assert state["epoch"] == expected_epoch
    assert {"model", "optimizer", "scheduler", "rng", "losses"} <= set(
        state
    )  # benchmark.protocol.loop

    torch.manual_seed(12345)  # a new process would not share this one's RNG state
    resumed = CellRunner(longer, cache_dir, CPU, out=out).run(cell)
    assert resumed.ok, resumed.reason
    assert resumed.config["run"]["resumed_epoch"] == expected_epoch
    assert resumed.metrics == whole.metrics
    assert resumed.losses == whole.losses
    assert resumed.curves == whole.curves  # the epochs before the kill came from the checkpoint
    assert len(whole.curves["distill"]["lr"]) == longer.distill.epochs


def test_checkpoint_of_other_settings_is_ignored(
    longer: RunConfig, cache_dir: Path, tmp_path: Path
) -> None:
    cell = plan_cell(Cell("sketch-cls", "l2", 0), longer)
    with pytest.raises(_Killed):
        CellRunner(longer, cache_dir, CPU, _KillAfter("distill", 1), out=tmp_path).run(cell)
    other = dataclasses.replace(longer, distill=dataclasses.replace(longer.distill, lr=0.01))
    record = CellRunner(other, cache_dir, CPU, out=tmp_path).run(plan_cell(cell.cell, other))
    assert record.ok and "resumed_epoch" not in record.config.get("run", {})

    path = checkpoint_path(tmp_path, cell.task, cell.method, cell.seed)
    path.write_bytes(b"half a file")  # unreadable: ignored with a warning, not a crash
    assert EpochCheckpoint(path, "x").load() is None


def test_record_cell_writes_once_and_removes_the_checkpoint(
    longer: RunConfig, cache_dir: Path, tmp_path: Path
) -> None:
    cell = plan_cell(Cell("sketch-cls", "crd", 0), longer)
    with pytest.raises(_Killed):
        CellRunner(longer, cache_dir, CPU, _KillAfter("distill", 3), out=tmp_path).run(cell)
    runner = CellRunner(longer, cache_dir, CPU, out=tmp_path)
    record = record_cell(runner, tmp_path, cell, {"executor": "test"})
    assert record is not None and record.ok
    assert record.config["run"] == {"executor": "test", "resumed_epoch": 3}
    assert not list((tmp_path / "checkpoints").rglob("*.pt"))
    on_disk = load_record(record_path(tmp_path, cell.task, cell.method, cell.seed))
    assert on_disk is not None and on_disk.metrics == record.metrics
    # Done cells are skipped, not recomputed.
    assert record_cell(runner, tmp_path, cell, {"executor": "test"}) is None


def test_finetune_resumes_from_its_own_checkpoint(
    longer: RunConfig, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed during the few-label fine-tune: the distillation is not redone, the fine-tune
    continues from its last epoch, and the metrics are those of an uninterrupted run. (A
    fine-tune this short checkpoints only with the interval at zero: every epoch.)"""
    monkeypatch.setattr("benchmark.execution.runner.FINETUNE_EVERY_S", 0.0)
    cfg = dataclasses.replace(longer, eval=dataclasses.replace(longer.eval, finetune_epochs=3))
    cell = plan_cell(Cell("sketch-cls", "l2", 0), cfg)
    whole = CellRunner(cfg, cache_dir, CPU, out=tmp_path / "whole").run(cell)
    out = tmp_path / "killed"
    with pytest.raises(_Killed):
        CellRunner(cfg, cache_dir, CPU, _KillAfter("evaluate", 2), out=out).run(cell)
    tune = checkpoint_path(out, cell.task, cell.method, cell.seed, "finetune")
    assert torch.load(tune, weights_only=True)["epoch"] == 2
    torch.manual_seed(999)
    resumed = CellRunner(cfg, cache_dir, CPU, out=out).run(cell)
    assert resumed.ok, resumed.reason
    assert resumed.metrics == whole.metrics
    assert resumed.curves == whole.curves
    assert [len(whole.curves[s]["ce"]) for s in ("finetune", "finetune1")] == [3, 3]


def test_short_finetunes_write_no_checkpoint(
    longer: RunConfig, cache_dir: Path, tmp_path: Path
) -> None:
    """At the runner's interval a fine-tune of a few seconds saves nothing (the
    distillation still saves every epoch), and the metrics do not depend on it."""
    cell = plan_cell(Cell("sketch-cls", "l2", 0), longer)
    with pytest.raises(_Killed):
        CellRunner(longer, cache_dir, CPU, _KillAfter("evaluate", 1), out=tmp_path).run(cell)
    assert checkpoint_path(tmp_path, cell.task, cell.method, cell.seed).is_file()
    assert not checkpoint_path(tmp_path, cell.task, cell.method, cell.seed, "finetune").exists()


@pytest.mark.parametrize(
    ("pretrain", "stage", "after"),
    [
        ("supervised", "teacher", 2),
        ("simclr", "teacher", 1),  # inside SimCLR pre-training
        ("simclr", "teacher", 4),  # inside the head fit on frozen features
        ("supervised", "all-labels reference", 1),
    ],
)
def test_teacher_and_reference_training_resume(
    pretrain: str,
    stage: str,
    after: int,
    smoke: RunConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reference cell killed while its teacher (supervised or SimCLR) or its all-labels
    reference trains: run again, the training resumes from the epoch checkpoint kept next
    to the cache entry, is logged as trained once, and ends in the uninterrupted weights."""
    teacher = dataclasses.replace(smoke.teacher, epochs=3, head_epochs=2, pretrain=pretrain)
    cfg = dataclasses.replace(smoke, teacher=teacher)
    cell = plan_cell(Cell("depth-cls", "_reference", 0), cfg)
    whole = CellRunner(cfg, tmp_path / "cache-whole", CPU).run(cell)
    assert whole.ok, whole.reason

    cache = tmp_path / "cache-killed"
    with pytest.raises(_Killed):
        CellRunner(cfg, cache, CPU, _KillAfter(stage, after)).run(cell)
    role = "reference" if "reference" in stage else "teacher"
    partial = list((cache / f"{role}s").glob("*.partial/*.pt"))
    assert partial, "no epoch checkpoint was kept for the interrupted training"
    loaded: list[tuple[str, int]] = []
    load = EpochCheckpoint.load

    def spy(self: EpochCheckpoint) -> dict | None:
        state = load(self)
        if state is not None:
            loaded.append((self.path.stem, int(state["epoch"])))
        return state

    monkeypatch.setattr(EpochCheckpoint, "load", spy)
    torch.manual_seed(4321)
    resumed = CellRunner(cfg, cache, CPU).run(cell)
    expected = {
        ("supervised", "teacher", 2): [("fit", 2)],
        ("simclr", "teacher", 1): [("simclr", 1)],
        ("simclr", "teacher", 4): [("simclr", 3), ("fit", 1)],
        ("supervised", "all-labels reference", 1): [("fit", 1)],
    }
    assert loaded == expected[(pretrain, stage, after)]
    assert resumed.ok, resumed.reason
    assert resumed.metrics == whole.metrics
    for kind in ("teacher", "reference"):
        (mine,) = (cache / f"{kind}s").glob(f"{kind}-*.pt")
        (theirs,) = (tmp_path / "cache-whole" / f"{kind}s").glob(f"{kind}-*.pt")
        a, b = torch.load(mine, weights_only=True), torch.load(theirs, weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a)
        log = (cache / f"{kind}s" / "trained.jsonl").read_text().splitlines()
        assert len(log) == 1
    assert not list(cache.rglob("*.partial"))

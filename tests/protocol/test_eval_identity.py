"""Evaluation speed-ups change no metric: smoke cells' per-sample outcomes equal frozen ones,
and the fast evaluation paths equal their plain forms bit for bit.

`FROZEN` (tests/protocol/frozen_outcomes.json) holds the metrics and per-sample outcomes
(the records' encoded `outcomes`) of three smoke cells run by one runner on one thread,
as the code before the evaluation changes (commit 92d5e83: `no_grad` forwards, fine-tune
checkpoints every epoch, the gap's teacher side recomputed per cell) produced them:

    PYTHONPATH=<that tree> python tests/protocol/test_eval_identity.py --freeze

Bits depend on the machine (torch's kernels per instruction set), so the exact comparison
runs where torch's version and CPU capability are the frozen ones; the plain-form
comparisons below run everywhere.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from benchmark.backbones import Backbone, TaskModel
from benchmark.config import resolve
from benchmark.datasets.tasks import get_task
from benchmark.execution.cell_setup import initial_student, method_context
from benchmark.execution.plan import Cell
from benchmark.execution.runner import CellRunner
from benchmark.kinds import get_kind
from benchmark.method import create_method
from benchmark.protocol.evaluate import probe_features
from benchmark.protocol.training import predict

FROZEN = Path(__file__).with_name("frozen_outcomes.json")
CELLS = [Cell("sketch-cls", "l2", 0), Cell("sketch-cls", "kd", 0), Cell("depth-seg", "l2", 1)]


def machine() -> dict[str, str]:
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability()}


def _planned(cell: Cell) -> object:
    """The cell as the runner takes it (a planned cell; a bare one before plans existed)."""
    try:
        from benchmark.execution.plan import plan_cell
    except ImportError:
        return cell
    return plan_cell(cell, resolve("smoke"))


def run_cells(cache: Path, out: Path) -> dict[str, dict]:
    """The cells' metrics and outcomes, one runner (so later cells reuse what it keeps)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner = CellRunner(resolve("smoke"), cache, torch.device("cpu"), out=out, threads=1)
        records = [runner.run(_planned(cell)) for cell in CELLS]
    finally:
        torch.set_num_threads(before)
    assert all(r.ok for r in records), [r.reason for r in records]
    return {
        cell.label: {"metrics": r.metrics, "outcomes": r.outcomes}
        for cell, r in zip(CELLS, records, strict=True)
    }


def test_smoke_cells_equal_frozen_outcomes(tmp_path: Path) -> None:
    """On a cache of its own: the suite's shared cache may hold a teacher or data that
    another test made under other threads, and a cell reads them by key, not by bits."""
    frozen = json.loads(FROZEN.read_text())
    if frozen["machine"] != machine():
        pytest.skip(f"outcomes frozen on {frozen['machine']}, this is {machine()}")
    got = run_cells(tmp_path / "cache", tmp_path / "out")
    for label, want in frozen["cells"].items():
        assert got[label]["outcomes"] == want["outcomes"], label
        assert got[label]["metrics"] == want["metrics"], label


@pytest.mark.parametrize("task", ["sketch-cls", "depth-seg"])
def test_fast_paths_equal_plain_forms(task: str, cache_dir: Path, one_thread: None) -> None:
    """`predict` and `probe_features` (inference mode) give the bits of a plain `no_grad`
    forward; the gap with the runner's cached teacher side equals the one computed afresh."""
    from benchmark.protocol.gaps import gap_metrics, teacher_gap_outputs

    cfg = resolve("smoke").for_task(task)
    data = get_task(task).load(cfg.data, cfg.world, 0, cache_dir)
    student = initial_student(cfg.student.backbone, data, 0)
    model = TaskModel(student, data.num_classes, data.kind).eval()
    x, source = data.test.target, data.paired.source
    assert x is not None and source is not None
    with torch.no_grad():
        plain = torch.cat([model(x[i : i + 256]).logits.argmax(1) for i in range(0, len(x), 256)])
        embedding = student(x[:256]).embedding
    assert torch.equal(predict(model, x), plain)
    fast = probe_features(student, x[:256], data.kind)
    assert not fast.is_inference()  # the probe's solver differentiates through it
    if not get_kind(data.kind).dense:
        assert torch.equal(fast, embedding)

    torch.manual_seed(1)
    teacher = TaskModel(
        Backbone(cfg.teacher.backbone, source.shape[1]), data.num_classes, data.kind
    )
    method = create_method("l2")
    method.setup(method_context(student, teacher, data))
    fresh = gap_metrics(student, method, teacher, data, 0)
    kept = teacher_gap_outputs(teacher, data, 0, method.uses_feature_maps)
    for _ in range(2):  # the cached side is read, never changed
        assert gap_metrics(student, method, teacher, data, 0, lambda maps: kept) == fresh


if __name__ == "__main__" and sys.argv[1:] == ["--freeze"]:
    with tempfile.TemporaryDirectory() as tmp:
        cells = run_cells(Path(tmp) / "cache", Path(tmp) / "out")
    FROZEN.write_text(json.dumps({"machine": machine(), "cells": cells}, indent=1) + "\n")
    print(f"wrote {FROZEN}")

"""A plan is made once: each (task, track)'s settings are resolved once and each cell's
payload is hashed once, whatever reads the plan afterwards (the pending check, the
manifest, the runner, the jobs); and one predicate decides whether a record settles a
cell."""

from __future__ import annotations

from pathlib import Path

import pytest

import benchmark.execution.plan as plan_module
from benchmark.cli.main import main
from benchmark.config import RunConfig
from benchmark.execution.plan import Cell, counts, make_plan, plan_cell
from benchmark.results.records import Record


def test_a_run_resolves_each_task_and_hashes_each_cell_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []
    for_task: list[str] = []
    real_hash, real_for_task = plan_module.config_hash, RunConfig.for_task

    def counting_hash(payload: dict) -> str:
        hashed.append(f"{payload['task']}/{payload.get('method', {}).get('name', '-')}")
        return real_hash(payload)

    def counting_for_task(self: RunConfig, task: str) -> RunConfig:
        for_task.append(task)
        return real_for_task(self, task)

    monkeypatch.setattr(plan_module, "config_hash", counting_hash)
    monkeypatch.setattr(RunConfig, "for_task", counting_for_task)
    argv = ["run", "--methods", "l2,scratch", "--tasks", "sketch-cls,depth-seg", "--seeds", "2"]
    assert main([*argv, "--profile", "smoke", "--out", str(tmp_path)]) == 0
    cells = 2 * 2 * 3  # tasks × seeds × (reference + 2 methods)
    assert len(hashed) == cells, hashed
    planned = [t for t in for_task if t in ("sketch-cls", "depth-seg")]
    assert sorted(planned) == ["depth-seg", "sketch-cls"], for_task


def test_planned_cells_equal_by_identity_and_carry_their_hash(smoke: RunConfig) -> None:
    plan = make_plan(["sketch-cls"], ["l2"], [0, 1], smoke)
    assert [c.label for c in plan] == [
        "sketch-cls/reference/seed0",
        "sketch-cls/l2/seed0",
        "sketch-cls/reference/seed1",
        "sketch-cls/l2/seed1",
    ]
    again = plan_cell(Cell("sketch-cls", "l2", 1), smoke)
    assert again == plan[3] and again.hash == plan[3].hash and hash(again) == hash(plan[3])
    assert plan[1].params is not None and plan[0].params is None


def test_one_predicate_for_done() -> None:
    def record(status: str, digest: str = "h") -> Record:
        return Record("t", "m", 0, status, digest, "smoke")

    assert counts(record("ok"), "h") and counts(record("not_applicable"), "h")
    assert not counts(record("failed"), "h")
    assert not counts(record("ok", "other"), "h")
    assert not counts(None, "h")


def test_the_runner_runs_only_planned_cells(smoke: RunConfig) -> None:
    """A cell's settings have one path, the planner: the runner refuses a raw `Cell`
    instead of re-deriving them."""
    import torch

    from benchmark.execution.runner import CellRunner

    runner = CellRunner(smoke, None, torch.device("cpu"))
    with pytest.raises(TypeError, match="plan_cell"):
        runner.run(Cell("sketch-cls", "l2", 0))  # type: ignore[arg-type]

"""The plan bar's ETA (`benchmark.execution.estimate`): priors from a reference folder's
records, known from the first second, then scaled by this run's measured cells; the
printed line of a finished cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.config import RunConfig
from benchmark.execution.estimate import PlanClock, priors
from benchmark.execution.plan import make_plan
from benchmark.execution.progress import cell_line
from benchmark.results.records import REFERENCE, Record


def _write(folder: Path, method: str, seed: int, seconds: dict, **extra: object) -> None:
    path = folder / "runs" / "sketch-cls" / method / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"status": "ok", "method": method, "profile": "smoke", "seconds": seconds, **extra}
    path.write_text(json.dumps(record))


def test_priors_then_scaled_by_measured_cells(smoke: RunConfig, tmp_path: Path) -> None:
    ref = tmp_path / "results"
    for seed, s in enumerate((10.0, 20.0, 30.0)):  # median 20 s (teacher not counted)
        _write(ref, "l2", seed, {"data": 1.0, "teacher": 99.0, "distill": s - 1.0})
    _write(ref, REFERENCE, 0, {"data": 1, "reference": 4}, teacher={"seconds": 5})
    _write(ref, "kd", 0, {"distill": 1.0}, status="failed")  # not a cost
    (ref / "runs" / "sketch-cls" / "l2" / "seed0.label-free.json").write_text("{}")
    plan = make_plan(["sketch-cls"], ["l2", "kd"], [0, 1], smoke)
    got = {c.label: v for c, v in priors(ref, plan).items()}
    assert got["sketch-cls/l2/seed0"] == got["sketch-cls/l2/seed1"] == 20.0
    assert got["sketch-cls/kd/seed0"] == 20.0  # no kd record: the task's method cells
    assert got["sketch-cls/reference/seed0"] == 10.0  # data + teacher + ceiling training

    clock = PlanClock(plan, priors(ref, plan), parallel=2)
    assert clock.eta() == pytest.approx((2 * 10 + 4 * 20) / 2, abs=0.5)  # from the start
    clock.done("sketch-cls/reference/seed0", 20.0)  # this machine: twice as slow
    assert clock.scale() == 2.0
    assert clock.eta() == pytest.approx((10 + 4 * 20) * 2 / 2, abs=0.5)
    assert PlanClock(plan, {}, 1).eta() is None  # nothing to go by yet


def test_a_finished_cell_is_one_line() -> None:
    record = Record(
        task="sketch-cls",
        method="l2",
        seed=3,
        status="ok",
        config_hash="h",
        profile="quick",
        data={"kind": "classification"},
        metrics={"finetune_acc": 0.4567, "probe_acc": 0.321},
        seconds={"distill": 10.0, "evaluate": 2.5},
    )
    assert cell_line(record) == "sketch-cls l2 seed 3: fine-tune 45.7 · probe 32.1 · 12.5 s"

"""Per-epoch curves (`benchmark.protocol.curves`) in the loop and in records: stages and
restarts named, kept when a loop fails, stored in records of schema 3, and records of
older schemas (the committed reference) still read, without curves. The curves of real
cells are checked in tests/execution/test_runner.py (`check_curves`) and
tests/protocol/test_checkpoint_resume.py (whole after a resume)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from benchmark.protocol.curves import collect, columns
from benchmark.protocol.loop import LoopSettings, train_loop
from benchmark.results.records import (
    SCHEMA_VERSION,
    Record,
    load_record,
    read_records,
    record_path,
    write_record,
)
from tests.paths import ROOT

REFERENCE_RESULTS = ROOT / "results"


def _loop(epochs: int, fail_at: int | None = None) -> dict[str, float]:
    """A tiny real loop: a linear model fitted to zeros, two named terms per step."""
    model = nn.Linear(3, 1)
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    calls = {"n": 0}

    def step(idx: torch.Tensor) -> dict[str, torch.Tensor]:
        calls["n"] += 1
        out = model(x[idx]).pow(2).mean()
        bad = fail_at is not None and calls["n"] > fail_at * 4  # 4 steps per epoch
        return {"fit": out, "half": (out * 0.5) if not bad else out * math.nan}

    return train_loop(
        model,
        list(model.parameters()),
        16,
        LoopSettings(epochs, 4, 0.1, 0.0),
        torch.Generator().manual_seed(1),
        step,
    )


def test_each_loop_of_a_stage_gets_its_curve_and_the_last_epoch_is_the_loop_result() -> None:
    curves: dict = {}
    with collect(curves, "finetune"):
        first = _loop(3)
        second = _loop(2)
    _loop(2)  # outside any stage: kept nowhere
    assert list(curves) == ["finetune", "finetune1"]
    assert list(curves["finetune"]) == ["fit", "half", "lr"]  # terms in order, lr last
    assert [len(v) for v in curves["finetune"].values()] == [3, 3, 3]
    assert {k: v[-1] for k, v in curves["finetune"].items() if k != "lr"} == first
    assert {k: v[-1] for k, v in curves["finetune1"].items() if k != "lr"} == second
    lr = curves["finetune"]["lr"]
    assert lr[0] < 0.1 and lr == sorted(lr, reverse=True)  # epoch means of a cosine decay


def test_a_failing_loop_leaves_the_epochs_it_finished() -> None:
    curves: dict = {}
    with pytest.raises(FloatingPointError), collect(curves, "distill"):
        _loop(4, fail_at=2)
    assert [len(v) for v in curves["distill"].values()] == [2, 2, 2]


def test_a_loss_term_named_lr_is_refused() -> None:
    model = nn.Linear(3, 1)
    x = torch.ones(8, 3)

    def step(idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"lr": model(x[idx]).pow(2).mean()}

    settings = LoopSettings(1, 4, 0.1, 0.0)
    with pytest.raises(ValueError, match="named 'lr'"):
        train_loop(model, list(model.parameters()), 8, settings, torch.Generator(), step)


def test_columns_fill_missing_and_non_finite_values_with_none() -> None:
    rows = [{"a": 1.0, "lr": 0.1}, {"a": math.inf, "b": 2.0, "lr": 0.05}]
    assert columns(rows) == {"a": [1.0, None], "b": [None, 2.0], "lr": [0.1, 0.05]}
    assert json.loads(json.dumps(columns(rows))) == columns(rows)  # valid JSON throughout


def _record(**curves: dict) -> Record:
    return Record("t", "m", 0, "ok", "h", "smoke", metrics={"finetune_acc": 0.5}, curves=curves)


def test_records_keep_curves_and_bad_curves_are_skipped_by_name(tmp_path: Path) -> None:
    rec = _record(distill={"l2": [2.0, 1.0], "lr": [0.1, 0.0]})
    write_record(tmp_path, rec)
    assert read_records(tmp_path) == [rec] and rec.schema == SCHEMA_VERSION == 3
    path = record_path(tmp_path, "t", "m", 1)
    for bad, why in (
        ([1.0], "curves is a list, not a mapping"),
        ({"distill": [1.0]}, "curves.distill is not a mapping of series"),
        ({"distill": {"l2": ["x"]}}, "curves.distill.l2 is not a list of finite numbers"),
        ({"distill": {"l2": 1.0}}, "curves.distill.l2 is not a list of finite numbers"),
        ({"distill": {"l2": [10**400]}}, "curves.distill.l2 is not a list of finite numbers"),
        ({"distill": {"l2": [math.inf]}}, "curves.distill.l2 is not a list of finite numbers"),
    ):
        raw = {**json.loads(record_path(tmp_path, "t", "m", 0).read_text()), "seed": 1}
        path.write_text(json.dumps({**raw, "curves": bad}))
        skipped: list = []
        assert load_record(path, skipped) is None and skipped[0][1] == why


def test_older_records_read_without_curves(tmp_path: Path) -> None:
    """A committed record as schema 2 wrote it (no `curves` field) reads with no curves."""
    committed = REFERENCE_RESULTS / "runs" / "sketch-cls" / "kd" / "seed0.json"
    raw = json.loads(committed.read_text())
    raw.pop("curves", None)
    path = tmp_path / "seed0.json"
    path.write_text(json.dumps({**raw, "schema": 2}))
    old = load_record(path)
    assert old is not None and old.schema == 2 and old.curves == {} and old.losses


def test_report_bands_are_the_seeds_mean_and_t_interval_per_epoch() -> None:
    from benchmark.results.report_curves import band, distill_bands
    from benchmark.results.stats import mean_ci

    b = band([[3.0, 2.0, 1.0], [5.0, 2.5], [4.0, None, 2.0]])
    assert b.epochs == [1, 2, 3] and b.seeds == [3, 2, 2]
    for epoch, values in enumerate(([3.0, 5.0, 4.0], [2.0, 2.5], [1.0, 2.0])):
        mean, half = mean_ci(pd.Series(values))
        assert (b.mean[epoch], b.half[epoch]) == (mean, half)
    records = [
        Record("t", m, s, st, "h", "smoke", curves={"distill": {m: [1.0, 0.5], "lr": [0.1, 0.0]}})
        for m, s, st in (("kd", 0, "ok"), ("kd", 1, "failed"), ("l2", 0, "ok"))
    ]
    records.append(Record("t", "scratch", 0, "ok", "h", "smoke"))  # no curves: no panel
    bands = distill_bands(records, "t", "supervised")
    assert list(bands) == ["kd", "l2"] and list(bands["kd"]) == ["kd"]  # no lr panel
    assert bands["kd"]["kd"].seeds == [2, 2]  # the failed cell's curve counts
    assert distill_bands(records, "t", "label-free") == {}

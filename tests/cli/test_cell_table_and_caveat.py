"""What a newcomer reads first: `bench run`'s per-cell table at 80 columns, and the word
at the top of a board whose records are not the benchmark's results (smoke profile, too
few seeds), and a negative headroom named as such."""

from __future__ import annotations

import io

from rich.console import Console

from benchmark.cli.cells_table import print_cells
from benchmark.results.caveat import SMOKE_CAVEAT, caveat, seed_floor
from benchmark.results.leaderboard import render
from benchmark.results.records import NOT_APPLICABLE, REFERENCE, Record

METHODS = ("scratch", "l2", "kd", "cmcd-cmc", "soft-proj", "simkd", "rkd", "crd", REFERENCE)
TASKS = ("sketch-cls", "depth-cls", "audio-cls", "depth-seg")


def _cell(task: str, method: str, seed: int, track: str = "supervised", **fields: object) -> Record:
    kind, m = ("segmentation", "miou") if task.endswith("-seg") else ("classification", "acc")
    value = 0.3 + 0.01 * seed + 0.02 * METHODS.index(method)
    metrics = {f"finetune_{m}": value, f"probe_{m}": value - 0.1}
    if method == REFERENCE:
        metrics = {f"all_labels_{m}": 0.8, f"teacher_{m}": 0.9}
    record = Record(
        task=task,
        method=method,
        seed=seed,
        status="ok",
        config_hash=f"{task}{method}{seed}{track}",
        profile="smoke",
        track=track,
        metrics=metrics,
        seconds={"distill": 123.4, "eval": 45.6},
        data={"kind": kind},
    )
    for key, value_ in fields.items():
        setattr(record, key, value_)
    return record


def _render(records: list[Record], width: int = 80) -> list[str]:
    console = Console(file=io.StringIO(), width=width)
    print_cells(console, records)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_the_run_table_fits_80_columns_one_line_a_cell() -> None:
    """108 cells over two tracks, one failed with a long reason, one not applicable:
    every column whole (nothing cut to '…'), one line a cell, the reason below."""
    records = [
        _cell(task, method, seed, track)
        for task in TASKS[:2]
        for track in ("supervised", "label-free")
        for method in METHODS
        for seed in range(3)
    ]
    records[5] = _cell(
        TASKS[0], "kd", 9, status="failed", metrics={}, reason="RuntimeError: " + "x" * 300
    )
    records[6] = _cell(TASKS[0], "kd", 8, "label-free", status=NOT_APPLICABLE, metrics={})
    lines = _render(records)
    assert max(map(len, lines)) <= 80 and not any("…" in line for line in lines[:-1])
    rows = [line for line in lines if line.split()[-1:] == ["169.0"]]  # a cell's seconds
    assert len(rows) == len(records) and len(lines) <= len(records) + 16
    assert any("label-free cmcd-cmc" in line and " 36.0 " in line for line in rows)
    assert any(" n/a " in line for line in rows) and "n/a: the method cannot run" in "".join(lines)
    assert lines[0].startswith("S" + SMOKE_CAVEAT[1:] + " (its tiny data")
    failed = [line for line in lines if line.startswith("failed: sketch-cls supervised kd")]
    assert len(failed) == 1 and "RuntimeError:" in failed[0] and lines[-1].endswith("x…")


def test_one_track_and_quick_cells_say_neither() -> None:
    lines = _render([_cell("sketch-cls", m, 0, profile="quick") for m in METHODS])
    assert "track" not in lines[0] + lines[1] and "label-free" not in "".join(lines)
    assert not any(SMOKE_CAVEAT[1:] in line for line in lines)


def _board(profile: str, seeds: int) -> list[Record]:
    return [
        _cell(task, method, seed, profile=profile)
        for task in TASKS[:2]
        for method in METHODS
        for seed in range(seeds)
    ]


def test_a_smoke_board_says_at_its_top_that_it_is_no_result() -> None:
    text = render(_board("smoke", 3), "runs")
    head = text.splitlines()[:4]
    assert head[0] == "# XMD-Bench leaderboard"
    assert head[2].startswith(f"> **Not the benchmark's results.** {SMOKE_CAVEAT} (")


def test_too_few_seeds_say_so_and_the_reference_profile_says_nothing() -> None:
    floor = seed_floor("quick")
    assert floor > 2
    assert caveat(_board("quick", floor)) is None
    assert "Not the benchmark's results" not in render(_board("quick", floor), "runs")
    found = caveat(_board("quick", 4))  # `bench run --seeds 4`
    assert found == f"at most 4 seed(s) a task, fewer than the quick profile's {floor}: " + (
        "a first look, not results"
    )
    # One track at the floor, another at fewer but enough seeds: the committed reference's
    # shape. Under three seeds on any task and track: named.
    other = [
        _cell("sketch-cls", m, s, "label-free", profile="quick")
        for m in METHODS[:3]
        for s in range(4)
    ]
    assert caveat([*_board("quick", floor), *other]) is None
    thin = caveat([*_board("quick", floor), *[r for r in other if r.seed < 2]])
    assert thin is not None and thin.startswith("fewer than 3 seeds on sketch-cls (label-free, 2)")
    mixed = [*_board("quick", floor), _cell("sketch-cls", "l2", 99, profile="paper")]
    assert caveat(mixed) is not None and "several profiles (paper, quick)" in str(caveat(mixed))


def test_a_negative_headroom_is_named() -> None:
    """scratch above the all-labels ceiling: the headroom is negative and says so."""
    records = [r for r in _board("quick", seed_floor("quick")) if r.task == "sketch-cls"]
    for r in records:
        if r.method == "scratch":
            r.metrics["finetune_acc"] = 0.86  # the ceiling is 0.8
    text = render(records, "runs")
    row = next(line for line in text.splitlines() if line.startswith("| sketch-cls (acc) |"))
    assert row.endswith("| -6.0 (negative: scratch above all labels) |")
    assert "Left out (no positive headroom)" in text or "No cross-task summary" in text

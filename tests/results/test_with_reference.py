"""A new method ranked against a committed reference (`--with-reference`): the board pairs
the new records with the reference's by seed, a reference of another experiment is
refused in one line, and the re-created teacher is checked against the reference's."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from benchmark.errors import UserError
from benchmark.results.compare import BIT_IDENTICAL, DIFFERS, WITHIN_NOISE
from benchmark.results.leaderboard import summarize
from benchmark.results.records import REFERENCE, Record
from benchmark.results.with_reference import (
    Reference,
    check_compatible,
    combine,
    recreated,
    render_board,
)

CONFIG = {"protocol": 3, "data": {"test": 5000}, "world": {}, "teacher": {"epochs": 4},
          "student": {}, "distill": {"epochs": 8}, "eval": {"finetune_epochs": 25}}  # fmt: skip
# Seeds differ a lot from each other; within a seed the methods differ little.
SEED_LEVEL = [0.40, 0.60, 0.50, 0.70, 0.45, 0.65]


def _rec(method: str, seed: int, value: float, teacher: float = 0.8) -> Record:
    metrics = {"finetune_acc": value, "probe_acc": value - 0.1, "input_gap_cka": 0.3}
    if method == REFERENCE:
        metrics = {"teacher_acc": teacher, "all_labels_acc": 0.9, "input_gap_cka": 0.3}
    return Record(
        task="sketch-cls",
        method=method,
        seed=seed,
        status="ok",
        config_hash=f"{method}{seed}",
        profile="quick",
        metrics=metrics,
        config={**copy.deepcopy(CONFIG), "seed": seed, "run": {}},
        teacher={"key": f"t{seed}", "metrics": {"acc": teacher}},
        data={"kind": "classification", "sizes": {"test": 5000}},
        git="a" * 40,
    )


def _reference(seeds: int = 6) -> Reference:
    records = [
        _rec(m, s, SEED_LEVEL[s] + shift)
        for m, shift in (("scratch", 0.0), ("kd", 0.05), (REFERENCE, 0.0))
        for s in range(seeds)
    ]
    return Reference(Path("results"), records)


def test_the_board_pairs_the_new_records_with_the_references_by_seed() -> None:
    ref = _reference()
    # Two points above scratch on every seed, though seeds differ by up to 30 points: only
    # a pairing by seed finds the difference, and finds it exactly.
    mine = [_rec("mine", s, SEED_LEVEL[s] + 0.02) for s in range(4)]
    seeds = {("sketch-cls", "supervised"): [0, 1, 2, 3]}
    records = combine(ref, mine, seeds)
    assert {r.seed for r in records} == {0, 1, 2, 3}  # the reference at the planned seeds
    table = summarize(records).set_index("method")
    assert table.loc["mine", "gain"] == pytest.approx(0.02)
    assert table.loc["mine", "gain_ci"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["mine", "gain_sig"] and table.loc["mine", "seeds"] == 4
    assert table.loc["kd", "rank"] == "1" and table.loc["mine", "rank"] == "2"  # rank sets
    board = render_board(ref, mine, seeds, Path("runs"))
    assert "Run here: mine" in board and "The reference's records" in board
    assert "kd, scratch, and the teacher" in board
    assert board.startswith("# XMD-Bench leaderboard\n\n**Ranked against the reference `results`")


def test_a_method_run_again_replaces_its_committed_records() -> None:
    mine = [_rec("kd", s, SEED_LEVEL[s] - 0.1) for s in range(3)]
    records = combine(_reference(), mine, {("sketch-cls", "supervised"): [0, 1, 2]})
    kd = [r for r in records if r.method == "kd"]
    assert sorted(r.seed for r in kd) == [0, 1, 2] and all(r in mine for r in kd)


@dataclass
class _Cell:
    task: str = "sketch-cls"
    track: str = "supervised"
    method: str = "mine"
    seed: int = 0
    hash: str = "h"
    payload: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(CONFIG))


def test_a_reference_of_another_protocol_or_settings_is_refused_in_one_line() -> None:
    ref = _reference()
    check_compatible(ref, [_Cell()], "quick")  # the same experiment: accepted
    newer = _Cell()
    newer.payload["protocol"] = 4
    with pytest.raises(UserError, match="at protocol 3, this checkout runs protocol 4") as err:
        check_compatible(ref, [newer], "quick")
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="at profile quick, this run at smoke"):
        check_compatible(ref, [_Cell()], "smoke")
    other = _Cell()
    other.payload["distill"] = {"epochs": 2}
    with pytest.raises(UserError, match=r"settings differ from its records' \(distill"):
        check_compatible(ref, [other], "quick")
    with pytest.raises(UserError, match="no records of depth-seg"):
        ref.seeds("depth-seg", "supervised")


def test_the_recreated_teacher_is_checked_against_the_references() -> None:
    ref = _reference()
    same = [_rec("mine", s, 0.5) for s in range(6)]
    (row,) = recreated(ref, same)
    assert row.verdict == BIT_IDENTICAL and row.seeds == list(range(6))
    # Another machine's teacher: a little off, both ways: within seed noise.
    noisy = [_rec("mine", s, 0.5, teacher=0.8 + (0.003 if s % 2 else -0.003)) for s in range(6)]
    (row,) = recreated(ref, noisy)
    assert row.verdict == WITHIN_NOISE and row.what == "teacher acc"
    shifted = [_rec("mine", s, 0.5, teacher=0.7 + 0.001 * s) for s in range(6)]
    (row,) = recreated(ref, shifted)
    assert row.verdict == DIFFERS


def test_a_run_with_reference_runs_only_the_new_cells_and_refuses_another_protocol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    import json

    from benchmark.cli.main import main

    ref, mine = tmp_path / "ref", tmp_path / "mine"
    common = ["--tasks", "sketch-cls", "--threads", "1"]
    assert main(["run", "--profile", "smoke", "--methods", "scratch", "--seeds", "2",
                 "--out", str(ref), *common]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["run", "--methods", "l2", "--with-reference", str(ref), "--out", str(mine),
                 *common]) == 0  # fmt: skip
    said = " ".join(capsys.readouterr().out.split())
    assert f"re-created here vs {ref}: bit-identical over 2 seed(s)" in said
    ran = sorted(p.relative_to(mine / "runs").as_posix() for p in (mine / "runs").rglob("*.json"))
    assert ran == ["sketch-cls/l2/seed0.json", "sketch-cls/l2/seed1.json"]  # no reference cell
    board = (mine / "LEADERBOARD-with-reference.md").read_text()
    assert "| l2 |" in board and "| scratch |" in board
    # The reference re-labelled as made at another protocol: refused, nothing run.
    for path in (ref / "runs").rglob("*.json"):
        record = json.loads(path.read_text())
        record["config"]["protocol"] = 2
        path.write_text(json.dumps(record))
    other = tmp_path / "other"
    assert main(["run", "--methods", "l2", "--with-reference", str(ref), "--out", str(other),
                 *common]) == 2  # fmt: skip
    err = capsys.readouterr().err
    from benchmark.config import PROTOCOL_VERSION

    assert err.count("\n") == 1
    assert f"at protocol 2, this checkout runs protocol {PROTOCOL_VERSION}" in err
    assert not (other / "runs").exists()

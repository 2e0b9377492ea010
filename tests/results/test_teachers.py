"""One teacher per seed (`benchmark.results.teachers`): the board names the methods whose
records of a seed were made with another teacher than the others'."""

from __future__ import annotations

from benchmark.results.leaderboard import render
from benchmark.results.records import REFERENCE, Record
from benchmark.results.teachers import mixed_teachers, mixed_teachers_line


def _record(method: str, seed: int, teacher: str, acc: float = 0.5) -> Record:
    return Record(
        task="sketch-cls",
        method=method,
        seed=seed,
        status="ok",
        config_hash="h",
        profile="quick",
        data={"kind": "classification"},
        metrics={"finetune_acc": acc, "probe_acc": acc},
        teacher={"key": teacher},
    )


def test_the_odd_methods_at_the_mixed_seeds_are_named() -> None:
    records = [_record(m, s, "new") for m in ("kd", "l2", "scratch") for s in range(3)]
    assert mixed_teachers(records, "sketch-cls", "supervised") is None
    records[0] = _record("kd", 0, "old")  # kd's seed 0 made with another teacher
    records.append(_record(REFERENCE, 1, "other"))  # a reference cell pairs with nothing
    mixed = mixed_teachers(records, "sketch-cls", "supervised")
    assert mixed is not None and mixed.seeds == [0] and mixed.of == 3 and mixed.odd == ["kd"]
    (line, _) = mixed_teachers_line(mixed)
    assert line.startswith("**Teachers differ** at 1 of 3 seeds: the records of `kd`")
    assert mixed_teachers(records, "sketch-cls", "label-free") is None  # another track


def test_the_board_says_so() -> None:
    methods = ("kd", "l2", "scratch")
    records = [_record(m, s, "new", 0.5 + 0.01 * s) for m in methods for s in range(3)]
    assert "Teachers differ" not in render(records, "runs")
    records[0] = _record("kd", 0, "old", 0.5)
    assert "**Teachers differ** at 1 of 3 seeds: the records of `kd`" in render(records, "runs")

"""`bench compare`: bit-identical, within seed noise, differs, and why (issue 18)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from benchmark.cli.main import main
from benchmark.results.compare import (
    BIT_IDENTICAL,
    DIFFERS,
    TOO_FEW,
    WITHIN_NOISE,
    compare,
    reference_folder,
)
from benchmark.results.records import REFERENCE, Record, read_records, write_record
from tests.paths import ROOT

RESULTS = ROOT / "results"


def _rec(method: str, seed: int, value: float, **fields: object) -> Record:
    metrics = {"finetune_acc": value, "probe_acc": value / 2}
    if method == REFERENCE:
        metrics = {"teacher_acc": 0.9, "all_labels_acc": value}
    record = Record(
        task="sketch-cls",
        method=method,
        seed=seed,
        status="ok",
        config_hash=f"h{seed}",
        profile="quick",
        metrics=metrics,
        config={"data": {"test": 5000}, "eval": {"finetune_epochs": 25}, "run": {"job": seed}},
        versions={"torch": "2.4", "torch_threads": "1"},
        git="a" * 40,
        device="cpu",
        outcomes={"finetune": f"o{seed}"},
    )
    for key, value_ in fields.items():
        setattr(record, key, value_)
    return record


def _reference(seeds: int = 4) -> list[Record]:
    values = [0.50, 0.55, 0.45, 0.52, 0.48, 0.51]
    return [_rec(m, s, values[s]) for m in ("l2", REFERENCE) for s in range(seeds)]


def _one(rows: list, method: str = "l2"):  # the row of a method
    (row,) = [r for r in rows if r.method == method]
    return row


def test_the_same_records_are_bit_identical() -> None:
    rows, only_yours, only_theirs = compare(copy.deepcopy(_reference()), _reference())
    assert {r.verdict for r in rows} == {BIT_IDENTICAL}
    assert (only_yours, only_theirs) == (0, 0)
    assert _one(rows).reasons == [] and _one(rows).diff is None


def test_other_threads_within_seed_noise_names_the_thread_count() -> None:
    mine = copy.deepcopy(_reference())
    for i, r in enumerate(mine):  # last-bit differences of both signs
        r.versions["torch_threads"] = "2"
        r.metrics["finetune_acc" if r.method != REFERENCE else "all_labels_acc"] += (
            0.004 if i % 2 else -0.004
        )
        r.outcomes = {"finetune": "other"}
    rows, _, _ = compare(mine, _reference())
    row = _one(rows)
    assert row.verdict == WITHIN_NOISE and row.diff is not None and row.diff.n == 4
    assert row.reasons == ["other thread count (2 vs 1)"]
    assert _one(rows, REFERENCE).metric == "all_labels_acc"  # the reference cell's ceiling


def test_a_consistent_shift_differs_and_names_commit_device_versions_and_sections() -> None:
    mine = copy.deepcopy(_reference())
    for r in mine:
        r.metrics["finetune_acc" if r.method != REFERENCE else "all_labels_acc"] += 0.05
        r.config_hash += "x"
        r.config["eval"] = {"finetune_epochs": 5}
        r.config["run"] = {"job": "another"}  # not a setting: not named
        r.git, r.device, r.versions["torch"] = "b" * 40 + "+dirty", "cuda", "2.5"
    (row,) = [r for r in compare(mine, _reference())[0] if r.method == "l2"]
    assert row.verdict == DIFFERS and row.diff is not None
    assert row.diff.mean == pytest.approx(0.05)
    assert row.reasons == [
        f"other commit ({'b' * 12}+dirty vs {'a' * 12})",
        "other device (cuda vs cpu)",
        "other package versions (torch 2.5 vs 2.4)",
        "other settings (eval)",
    ]


def test_only_shared_seeds_are_compared_and_one_seed_gives_no_interval() -> None:
    mine = [r for r in copy.deepcopy(_reference(6)) if r.seed in (0, 5)]
    for r in mine:
        r.outcomes = {}
    rows, only_yours, only_theirs = compare(mine, _reference(4))
    assert _one(rows).seeds == [0] and _one(rows).verdict == TOO_FEW
    assert (only_yours, only_theirs) == (2, 6)  # seed 5 twice; seeds 1-3 twice


def test_failed_records_and_other_tasks_are_left_out() -> None:
    mine = copy.deepcopy(_reference())
    mine[0].status = "failed"
    mine.append(_rec("l2", 0, 0.5, task="depth-cls"))
    rows, only_yours, _ = compare(mine, _reference())
    assert _one(rows).seeds == [1, 2, 3] and only_yours == 1


def test_cli_against_the_committed_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Committed records copied as they are reproduce themselves bit for bit."""
    for method in ("l2", "scratch"):
        shutil.copytree(
            RESULTS / "runs" / "depth-cls" / method, tmp_path / "runs/depth-cls" / method
        )
    assert reference_folder(tmp_path) is not None
    assert main(["compare", "--out", str(tmp_path), "--against", str(RESULTS)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # lines wrapped at the console's width
    copied = read_records(tmp_path)
    cells, rows = len(copied), len({(r.track, r.method) for r in copied})  # a row per track
    assert f"compared with the committed reference: {rows} bit-identical, 0 within seed " in out
    assert "0 differ — bench compare" in out  # no reason when every row is bit-identical
    assert f"Only seeds present in both folders are compared ({cells} cells)" in out


def test_a_run_ends_with_the_comparison_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # rich tables unwrapped
    argv = ["run", "--profile", "smoke", "--seeds", "2", "--methods", "scratch"]
    assert main([*argv, "--tasks", "depth-cls", "--out", str(tmp_path)]) == 0
    summary, command = capsys.readouterr().out.strip().splitlines()[-2:]
    # smoke's sizes against the quick reference: another profile, so they differ
    assert summary.startswith("compared with the committed reference: 0 bit-identical, ")
    assert "differ (other commit, " in summary and summary.endswith("other settings)")
    # the command on a line of its own, to be copied
    assert command == f"  bench compare --out {tmp_path} --against {reference_folder(tmp_path)}"
    assert main(["compare", "--out", str(tmp_path)]) == 0  # --against found by itself
    assert "other settings (profile smoke vs quick, data, distill, eval, teacher)" in (
        capsys.readouterr().out
    )


METHODS = ("scratch", "l2", "kd", "crd", "cmcd-cmc", "soft-proj", "pkt", "rkd", REFERENCE)


def test_36_rows_fit_80_columns_one_line_a_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 tasks × 2 tracks × 9 methods, every row with the four kinds of reason: each row
    is one line of at most 80 characters, its reasons numbered in a legend below."""
    values = [0.50, 0.55, 0.45]
    for task in ("sketch-cls", "depth-cls"):
        for track in ("supervised", "label-free"):
            for method in METHODS:
                for seed in range(3):
                    ref = _rec(method, seed, values[seed], task=task, track=track)
                    write_record(tmp_path / "ref", ref)
                    mine = _rec(method, seed, values[seed] + 0.01 * seed, task=task, track=track)
                    mine.git, mine.profile, mine.config_hash = "b" * 40, "smoke", "other"
                    mine.config["eval"] = {"finetune_epochs": 1}
                    mine.versions = {"torch": "2.5", "torch_threads": "2"}
                    write_record(tmp_path / "mine", mine)
    monkeypatch.setenv("COLUMNS", "80")
    argv = ["compare", "--out", str(tmp_path / "mine"), "--against", str(tmp_path / "ref")]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 80
    body = [line for line in lines if " 0–2 " in line]  # a row's seeds, on its first line
    assert len(body) == 36 and 36 + 20 <= len(lines) <= 70  # title, header, legend, notes
    assert sum("sketch-cls" in line for line in body) == 1  # a task is named once
    assert all(line.rstrip().endswith(" 1 2 3 4") for line in body)
    assert any(line.strip() == f"1  other commit ({'b' * 12} vs {'a' * 12})" for line in lines)
    assert any(line.strip().startswith("4  other settings (profile smoke vs") for line in lines)

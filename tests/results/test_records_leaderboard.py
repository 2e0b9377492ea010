from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from benchmark.results.aggregate import failed_methods
from benchmark.results.leaderboard import (
    mean_ci,
    render,
    short_commit,
    summarize,
    t975,
    write_outputs,
)
from benchmark.results.records import REFERENCE, Record, read_records, record_path, write_record


def _rec(task: str, method: str, seed: int, **metrics: float) -> Record:
    return Record(
        task=task,
        method=method,
        seed=seed,
        status="ok",
        config_hash="h",
        profile="quick",
        metrics=metrics,
        git="abc",
    )


def test_write_record_is_atomic_and_round_trips(tmp_path: Path) -> None:
    rec = _rec("sketch-cls", "l2", 0, finetune_acc=0.5)
    path = write_record(tmp_path, rec)
    assert path == record_path(tmp_path, "sketch-cls", "l2", 0)
    assert [p.name for p in path.parent.iterdir()] == ["seed0.json"]  # no temp file left
    (loaded,) = read_records(tmp_path)
    assert loaded == rec


def test_reader_tolerates_unknown_keys_and_skips_garbage(tmp_path: Path) -> None:
    good = record_path(tmp_path, "t", "m", 0)
    good.parent.mkdir(parents=True)
    payload = {
        "task": "t",
        "method": "m",
        "seed": 0,
        "status": "ok",
        "config_hash": "h",
        "profile": "quick",
        "schema": 1,
        "from_the_future": 1,
    }
    good.write_text(json.dumps(payload))
    record_path(tmp_path, "t", "m", 1).write_text("{not json")
    record_path(tmp_path, "t", "m", 2).write_text(json.dumps({**payload, "schema": 99}))
    record_path(tmp_path, "t", "m", 3).write_text(json.dumps({"task": "t"}))
    (only,) = read_records(tmp_path)
    assert only.seed == 0


def test_t_quantiles_and_interval_by_hand() -> None:
    assert t975(1) == 12.706 and t975(2) == 4.303 and t975(30) == 2.042
    assert abs(t975(60) - 2.000) < 0.003 and abs(t975(1000) - 1.962) < 0.003
    mean, half = mean_ci(pd.Series([0.5, 0.6, 0.7]))
    # sd = 0.1, n = 3: half-width = 4.303 · 0.1 / √3
    assert mean == pytest.approx(0.6) and half == pytest.approx(4.303 * 0.1 / math.sqrt(3))
    assert math.isnan(mean_ci(pd.Series([0.5]))[1])


def test_summary_gains_are_paired_by_seed_and_ranked() -> None:
    records = [
        _rec("a", "scratch", 0, finetune_acc=0.40, probe_acc=0.3),
        _rec("a", "scratch", 1, finetune_acc=0.60, probe_acc=0.3),
        _rec("a", "l2", 0, finetune_acc=0.50, probe_acc=0.4),
        _rec("a", "l2", 1, finetune_acc=0.72, probe_acc=0.4),
        _rec("b", "scratch", 0, finetune_miou=0.2, probe_miou=0.1),
        _rec("b", "l2", 0, finetune_miou=0.1, probe_miou=0.1),
    ]
    table = summarize(records).set_index(["task", "method"])
    row = table.loc[("a", "l2")]
    # per-seed differences 0.10 and 0.12: mean 0.11, sd 0.01414, t(1) = 12.706
    assert row["gain"] == pytest.approx(0.11)
    assert row["gain_ci"] == pytest.approx(12.706 * math.sqrt(2e-4) / math.sqrt(2))
    # The interval includes zero (0.11 ± 0.127): no resolved win, so overlapping sets.
    assert row["rank"] == "1–2" and table.loc[("a", "scratch"), "rank"] == "1–2"
    assert table.loc[("b", "l2"), "metric"] == "finetune_miou"
    assert table.loc[("b", "scratch"), "rank"] == "1–2"  # one seed: nothing resolved
    third = [
        _rec("a", "scratch", 2, finetune_acc=0.50, probe_acc=0.3),
        _rec("a", "l2", 2, finetune_acc=0.61, probe_acc=0.4),
    ]
    table = summarize(records + third).set_index(["task", "method"])
    # 0.10, 0.12, 0.11: one-sided p = 0.0013 on 3 seeds, Holm over 2 hypotheses: resolved.
    assert table.loc[("a", "l2"), "gain_sig"]
    assert table.loc[("a", "l2"), "rank"] == "1" and table.loc[("a", "scratch"), "rank"] == "2"


def test_render_shows_references_ranks_failures_and_provenance(tmp_path: Path) -> None:
    records = [
        _rec("a", REFERENCE, 0, teacher_acc=0.9, all_labels_acc=0.8),
        _rec("a", "scratch", 0, finetune_acc=0.4, probe_acc=0.3),
        _rec("a", "l2", 0, finetune_acc=0.5, probe_acc=0.4),
        failed_record("a", "crd", 0, reason="FloatingPointError: loss is nan"),
    ]
    text = render(records, "out/runs")
    assert "Teacher on the source modality: 90.0" in text
    assert "all target labels: 80.0" in text
    row = "| 1–2 | l2 | 50.0 | +10.0 | +10.0 (scratch) | undetermined | 40.0 | — | — | 1 |"
    assert row in text
    assert "paired t interval" in text and "Holm" in text
    assert "| a | crd | 0 | FloatingPointError: loss is nan |" in text
    assert "| a (acc) | 90.0 | 40.0 | 80.0 | +40.0 |" in text  # the headroom row
    assert "Profile: quick · commit: abc" in text
    board = write_outputs(records, tmp_path)
    assert board.read_text() == text.replace("out/runs", str(tmp_path / "runs"))
    csv = pd.read_csv(tmp_path / "results.csv")
    assert len(csv) == 4 and set(csv.status) == {"ok", "failed"}


def failed_record(
    task: str,
    method: str,
    seed: int,
    reason: str = "FloatingPointError: loss 'tckd' of method 'dkd' is nan",
) -> Record:
    """A record of a cell that failed (its training diverged)."""
    return Record(
        task=task,
        method=method,
        seed=seed,
        status="failed",
        config_hash="h",
        profile="quick",
        reason=reason,
    )


def test_a_method_with_a_failed_cell_is_not_ranked_on_its_surviving_seeds() -> None:
    """dkd's one surviving seed scores best of all; ranked on it, dkd would lead the task.
    It is left out of the task's verdicts and said to be so; the other task, where none
    of its cells failed, ranks it as usual."""
    records = [
        _rec("a", "scratch", 0, finetune_acc=0.40),
        _rec("a", "scratch", 1, finetune_acc=0.42),
        _rec("a", "l2", 0, finetune_acc=0.50),
        _rec("a", "l2", 1, finetune_acc=0.53),
        _rec("a", "dkd", 0, finetune_acc=0.90),
        failed_record("a", "dkd", 1),
        _rec("b", "scratch", 0, finetune_acc=0.40),
        _rec("b", "scratch", 1, finetune_acc=0.41),
        _rec("b", "dkd", 0, finetune_acc=0.60),
        _rec("b", "dkd", 1, finetune_acc=0.62),
    ]
    assert failed_methods(records) == {("supervised", "a", "dkd"): (1, 2)}
    table = summarize(records)
    assert set(table[table.task == "a"].method) == {"scratch", "l2"}
    assert set(table[table.task == "a"].hypotheses) == {2}  # the family of two methods
    assert set(table[table.task == "b"].method) == {"scratch", "dkd"}
    text = render(records, "out/runs")
    section = text[text.index("\n## a\n") : text.index("\n## b\n")]
    assert "| dkd |" not in section
    assert "Not ranked, a cell failed: dkd (1 of 2 seeds)." in section
    assert "Not ranked" not in text[text.index("\n## b\n") :]
    assert "| a | dkd | 1 | FloatingPointError" in text  # under Failed cells


def test_commit_keeps_the_dirty_mark() -> None:
    assert short_commit("0123456789abcdef" * 2 + "+dirty") == "0123456789ab+dirty"
    assert short_commit("0123456789abcdef" * 2) == "0123456789ab"


def test_render_without_results() -> None:
    assert "No finished cells yet." in render([], "x")


def test_dirty_means_the_code_changed_not_the_committed_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    import benchmark
    from benchmark.execution.provenance import git_commit

    repo = tmp_path / "checkout"
    (repo / "benchmark").mkdir(parents=True)
    (repo / "results").mkdir()
    code, record = repo / "benchmark" / "__init__.py", repo / "results" / "r.json"
    code.write_text("x = 1\n")
    record.write_text("{}\n")
    (repo / "LEADERBOARD.md").write_text("# board\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    monkeypatch.setattr(benchmark, "__file__", str(code))
    commit = git_commit.__wrapped__
    clean = commit()
    assert len(clean) == 40 and not clean.endswith("+dirty")
    record.write_text('{"new": 1}\n')
    (repo / "LEADERBOARD.md").write_text("# board, re-rendered\n")
    assert commit() == clean  # outputs rewritten by a reference run
    code.write_text("x = 2\n")
    assert commit() == clean + "+dirty"


def test_each_task_prints_its_resolution_from_the_records() -> None:
    # Differences l2 − scratch of 0.10, 0.12, 0.11 over 3 seeds (one pair): SD 0.01, so
    # MDE = (t_{0.975,2} + t_{0.80,2}) · 0.01 / √3 = (4.303 + 1.061) · 0.01 / √3.
    records = [
        _rec("a", m, s, finetune_acc=acc, probe_acc=0.3)
        for s, (lo, hi) in enumerate([(0.40, 0.50), (0.60, 0.72), (0.50, 0.61)])
        for m, acc in (("scratch", lo), ("l2", hi))
    ]
    text = render(records, "out/runs")
    expected = 100 * (4.303 + 1.061) * 0.01 / math.sqrt(3)
    assert "per-seed SD of 1.00 points (pooled over 1 method pairs)" in text
    assert f"is **{expected:.2f} points**" in text
    assert "2 points take" in text

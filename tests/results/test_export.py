"""`bench leaderboard --format latex|parquet` (`benchmark.results.export`): the LaTeX
tables carry the board's numbers and compile with pdflatex, hostile names included; the
parquet file is one row per record and reads back through pandas to the same values."""

from __future__ import annotations

import importlib.util
import math
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from benchmark.results.board_prose import VERDICT_TEXT
from benchmark.results.export import latex, records_table, tex, write_parquet
from benchmark.results.leaderboard import summarize
from benchmark.results.records import REFERENCE, Record

HOSTILE = "a_b & c%$#{}~^\\"  # every character LaTeX treats specially


def _rec(task: str, method: str, seed: int, track: str = "supervised", **metrics: float) -> Record:
    curves = {"distill": {"l2": [3.0 - seed, 2.0], "lr": [0.1, 0.0]}} if method != "scratch" else {}
    return Record(
        task=task,
        method=method,
        seed=seed,
        status="ok",
        config_hash=f"{task}{method}{seed}",
        profile="smoke",
        track=track,
        metrics=metrics,
        losses={"l2": 2.0} if curves else {},
        curves=curves,
        seconds={"distill": 1.5, "evaluate": 0.5},
        config={"distill": {"epochs": 2}},
        outcomes={"probe": "AAAA"},
        git="0123456789abcdef",
    )


def records() -> list[Record]:
    out = []
    for seed in range(3):
        out.append(_rec("sketch-cls", REFERENCE, seed, teacher_acc=0.8, all_labels_acc=0.7))
        for i, method in enumerate(("scratch", "l2", "kd", HOSTILE)):
            acc = 0.3 + 0.05 * i + 0.013 * seed * i
            out.append(_rec("sketch-cls", method, seed, finetune_acc=acc, probe_acc=acc - 0.1))
            miou = 0.2 + 0.01 * i + 0.003 * seed
            out.append(
                _rec("depth-seg", method, seed, "label-free", finetune_miou=miou, probe_miou=0.1)
            )
    return out


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Each table's body rows (cells), by its label."""
    found = {}
    for block in text.split(r"\begin{table}")[1:]:
        label = re.search(r"\\label\{(.+?)\}", block)
        assert label is not None
        body = block.split(r"\midrule")[1].split(r"\bottomrule")[0]
        found[label.group(1)] = [
            [c.strip() for c in line.removesuffix(r"\\").split(" & ")]
            for line in body.strip().splitlines()
        ]
    return found


def _number(cell: str) -> tuple[float, float]:
    """'$-$1.2 $\\pm$ 1.3$^{*}$ (kd)' → (-1.2, 1.3)."""
    parts = re.findall(r"[-+]?\d+\.\d", cell.replace("$-$", "-"))
    return float(parts[0]), float(parts[1]) if len(parts) > 1 else math.nan


def test_latex_tables_carry_the_boards_numbers() -> None:
    recs = records()
    text = latex(recs, "out")
    tables = _tables(text)
    assert set(tables) == {"tab:xmd-supervised-sketch-cls", "tab:xmd-label-free-depth-seg"}
    assert text.index("sketch-cls") < text.index("depth-seg")  # supervised track first
    board = summarize(recs)
    cells = {"sketch": ("supervised", "sketch-cls"), "depth": ("label-free", "depth-seg")}
    for label, rows in tables.items():
        track, task = cells["sketch" if "sketch" in label else "depth"]
        own = board[(board.task == task) & (board.track == track)].set_index("method")
        by_mean = own.sort_values("mean", ascending=False).index
        assert [r[1] for r in rows] == [tex(m) for m in by_mean]  # the board's order
        for rank, method, score, gain, vs_best, verdict, probe, seeds in rows:
            row = own.loc[next(m for m in own.index if tex(m) == method)]
            assert rank == tex(row["rank"]) and int(seeds) == row["seeds"] == 3
            assert verdict == tex(VERDICT_TEXT.get(row["vs_best_verdict"], "--"))
            for cell, name in ((score, ""), (gain, "gain"), (vs_best, "vs_best")):
                mean = row["mean"] if not name else row[name]
                half = row["ci"] if not name else row[f"{name}_ci"]
                if pd.isna(mean):
                    assert cell == "--"
                    continue
                got = _number(cell)
                assert got[0] == pytest.approx(round(100 * mean, 1), abs=1e-9), (method, name)
                assert got[1] == pytest.approx(round(100 * half, 1), abs=1e-9), (method, name)
                assert cell.count("$^{*}$") == int(bool(row.get(f"{name}_sig", False)))
            assert _number(probe)[0] == pytest.approx(round(100 * row["probe_mean"], 1))
    assert r"a\_b \& c\%$\$$\#\{\}$\sim$\^{}$\backslash$" in text


def test_latex_compiles_with_pdflatex(tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip(
            "no pdflatex on PATH (apt-get install texlive-latex-base texlive-latex-recommended; "
            ".ci/run installs them)"
        )
    tables = latex(records(), "out")
    doc = tmp_path / "board.tex"
    doc.write_text(
        # the default font encoding: its fonts ship as Type 1, so nothing is generated
        "\\documentclass{article}\n\\usepackage{booktabs}\n"
        f"\\begin{{document}}\n{tables}\n\\end{{document}}\n"
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "board.pdf").stat().st_size > 1000
    log = (tmp_path / "board.log").read_text(errors="replace")
    assert "Missing character" not in log and "undefined" not in log, log[-3000:]
    assert ".600pk" not in log  # only the Type 1 fonts texlive-latex-base ships, no bitmap


def test_parquet_round_trips_through_pandas(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="pyarrow is the optional extra xmd-bench[parquet]")
    recs = records()
    path = tmp_path / "records.parquet"
    write_parquet(recs, path)
    back = pd.read_parquet(path)
    table = records_table(recs)
    assert len(back) == len(recs) and list(back.columns) == list(table.columns)
    assert "outcomes" not in back.columns and not any("outcome" in c for c in back.columns)
    for (_, got), (_, want) in zip(back.iterrows(), table.iterrows(), strict=True):
        for column in table.columns:
            a, b = got[column], want[column]
            if column.startswith("curve."):
                if not isinstance(b, list):  # no such curve in this record
                    assert a is None, column
                else:
                    assert list(a) == b, column
            elif isinstance(b, float) and math.isnan(b):
                assert pd.isna(a), column
            else:
                assert a == b, column
    by_cell = back.set_index(["task", "track", "method", "seed"])
    kd = by_cell.loc[("sketch-cls", "supervised", "kd", 1)]
    assert list(kd["curve.distill.l2"]) == [2.0, 2.0] and kd["loss.l2"] == 2.0
    assert kd["finetune_acc"] == pytest.approx(0.3 + 0.1 + 0.026)
    assert kd["seconds.distill"] == 1.5 and kd["config"] == '{"distill": {"epochs": 2}}'


def test_bench_leaderboard_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmark.cli.main import main
    from benchmark.results.records import write_record

    out = tmp_path / "out"
    for record in records():
        write_record(out, record)
    formats = ["--format", "latex"]
    if importlib.util.find_spec("pyarrow") is not None:
        formats += ["--format", "parquet"]
    assert main(["leaderboard", "--out", str(out), *formats]) == 0
    assert (out / "LEADERBOARD.tex").read_text() == latex(records(), str(out / "runs"))
    assert not (out / "LEADERBOARD.md").exists()  # only what was asked for
    if "parquet" in formats:
        assert len(pd.read_parquet(out / "results.parquet")) == len(records())
    capsys.readouterr()

    bad = [
        (["--format", "pdf"], "invalid choice: 'pdf'"),
        (["--format", "latex", "--format", "parquet", "--output", "x"], "--output names one"),
    ]
    real = importlib.util.find_spec
    monkeypatch.setattr(  # no pyarrow, whether or not it is installed here
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    bad.append((["--format", "parquet", "--output", str(tmp_path / "r.parquet")], "[parquet]'"))
    for extra, message in bad:
        assert main(["leaderboard", "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "r.parquet").exists() and not (out / "LEADERBOARD.md").exists()

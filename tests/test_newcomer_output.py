"""What a newcomer is shown beyond the board and `bench run`'s table (tests/test_first_read.py):
the LaTeX and parquet exports of records that are no results say so (`caveat`), and
`bench status`, `bench tune`'s table and `bench run --with-reference`'s closing lines fit
80 columns, nothing cut off, a bounded number of lines a row."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark.results.caveat import NOT_RESULTS, SMOKE_CAVEAT, caveat, seed_floor
from benchmark.results.export import CAVEAT_KEY, latex, tex, write_parquet
from benchmark.results.records import REFERENCE, Record


def _rec(task: str, method: str, seed: int, profile: str) -> Record:
    value = 0.3 + 0.02 * seed + 0.05 * ("scratch", "l2", "kd", REFERENCE).index(method)
    metrics = {"finetune_acc": value, "probe_acc": value - 0.1}
    if method == REFERENCE:
        metrics = {"all_labels_acc": 0.8, "teacher_acc": 0.9}
    return Record(
        task=task,
        method=method,
        seed=seed,
        status="ok",
        config_hash=f"{task}{method}{seed}",
        profile=profile,
        metrics=metrics,
        git="0123456789abcdef",
    )


def _records(profile: str, seeds: int) -> list[Record]:
    return [
        _rec(task, method, seed, profile)
        for task in ("sketch-cls", "depth-cls")
        for method in ("scratch", "l2", "kd", REFERENCE)
        for seed in range(seeds)
    ]


def test_latex_of_records_that_are_no_results_says_so_in_a_comment_and_each_caption() -> None:
    for records in (_records("smoke", 3), _records("quick", 2)):
        note = caveat(records)
        assert note is not None
        text = latex(records, "out")
        comments = [line for line in text.splitlines() if line.startswith("%")]
        assert f"% {NOT_RESULTS}. {note}." in comments
        captions = [line for line in text.splitlines() if line.startswith(r"\caption{")]
        assert len(captions) == 2
        for caption in captions:
            assert caption.startswith(rf"\caption{{\textbf{{{NOT_RESULTS}.}} {tex(note)}. ")
    assert SMOKE_CAVEAT in latex(_records("smoke", 3), "out")
    clean = latex(_records("quick", seed_floor("quick")), "out")
    assert NOT_RESULTS not in clean and r"\caption{sketch-cls (supervised track)" in clean


def test_latex_with_its_caveat_compiles(tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex on PATH (apt-get install texlive-latex-base)")
    doc = tmp_path / "board.tex"
    body = latex(_records("quick", 2), "out")
    doc.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n"
        f"\\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]


def test_parquet_of_records_that_are_no_results_carries_the_caveat_key(tmp_path: Path) -> None:
    if importlib.util.find_spec("pyarrow") is None:
        pytest.skip("pyarrow is the optional extra xmd-bench[parquet]")
    import pandas as pd
    import pyarrow.parquet as pq

    smoke, clean = _records("smoke", 3), _records("quick", seed_floor("quick"))
    write_parquet(smoke, tmp_path / "smoke.parquet")
    write_parquet(clean, tmp_path / "clean.parquet")
    meta = pq.read_schema(tmp_path / "smoke.parquet").metadata
    assert meta[CAVEAT_KEY].decode() == caveat(smoke) and b"pandas" in meta
    assert CAVEAT_KEY not in (pq.read_schema(tmp_path / "clean.parquet").metadata or {})
    assert len(pd.read_parquet(tmp_path / "smoke.parquet")) == len(smoke)

"""What a newcomer is shown beyond the board and `bench run`'s table
(tests/cli/test_cell_table_and_caveat.py): the LaTeX and parquet exports of records that
are no results say so (`caveat`), and `bench status`, `bench tune`'s table and `bench run
--with-reference`'s closing lines fit 80 columns, nothing cut off, a bounded number of
lines a row."""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

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


def _lines(print_to: Callable[[Console], None], width: int = 80) -> list[str]:
    console = Console(file=io.StringIO(), width=width)
    print_to(console)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


LONG_TASK = "mnist-fsdd-audio-cls"  # the longest task name
LOG = "/scratch/someone/xmd-bench/runs/jobs/slurm-12345678/worker-17.log"


def test_bench_status_fits_80_columns_one_line_a_cell() -> None:
    """Two tracks, the longest task, a SLURM array job id, a failed cell whose reason is
    a traceback's long last line, a killed job's cells sharing one detail: nothing cut
    in the table, one line a cell, each long detail once, numbered, below."""
    from benchmark.cli.status import DETAIL_CHARS, print_states
    from benchmark.execution.plan import Cell
    from benchmark.execution.status import CellState

    states = []
    for track in ("supervised", "label-free"):
        for seed in range(8):
            for method in ("soft-proj", "cmcd-cmc", REFERENCE):
                cell = Cell(LONG_TASK, method, seed, track)
                states.append(CellState(cell.label, "done", f"12345678_{seed}", "", cell))
    ended = f"job ended without a record; log {LOG}"
    reason = "RuntimeError: CUDA out of memory. " + "Tried to allocate 2.00 GiB; " * 20
    states[0].state, states[0].detail = "failed", f"{reason}; {LOG}"
    for s in states[1:4]:
        s.state, s.detail = "failed", ended
    states[4].state, states[4].detail = "running", "on gpu017"
    states[5].state, states[5].detail = "queued", "pending"
    states[-1].detail = "not applicable"
    lines = _lines(lambda c: print_states(c, states, f"plan in {LOG}"))
    assert max(map(len, lines)) <= 80
    rows = [line for line in lines if line.startswith(LONG_TASK)]
    assert len(rows) == len(states) and not any("…" in row for row in rows)
    assert rows[0].split()[1:6] == ["supervised", "soft-proj", "0", "failed", "12345678_0"]
    assert rows[0].rstrip().endswith("(1)") and all(r.rstrip().endswith("(2)") for r in rows[1:4])
    assert "on gpu017" in rows[4] and rows[5].split()[-1] == "pending"
    assert rows[-1].split()[-1] == "n/a" and "n/a: done, the method cannot run" in "".join(lines)
    notes = lines[lines.index(next(x for x in lines if x.startswith("(1) "))) :]
    assert sum(x.startswith("(") for x in notes) == 2  # one entry a detail, however shared
    text = " ".join(x.strip() for x in notes)
    first, second = text.split(" (2) ")
    assert first.startswith("(1) RuntimeError: CUDA out of memory.") and " … " in first
    assert first.replace(" ", "").endswith(LOG.replace(" ", ""))  # the log path kept whole
    assert len(first) < DETAIL_CHARS + 20
    assert second.replace(" ", "") == ended.replace(" ", "")
    assert len(lines) <= len(states) + 12  # title, header, rule, the notes


def test_bench_status_on_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command itself, on a folder whose manifest holds a done, a failed, a not
    applicable and a pending cell (one track: no track column)."""
    from benchmark.cli.main import main
    from benchmark.execution.plan import Cell
    from benchmark.results.records import write_record
    from benchmark.storage import write_json

    cells = [Cell(LONG_TASK, m, 0) for m in ("soft-proj", "cmcd-cmc", "kd", REFERENCE)]
    entries = [
        {"label": c.label, "task": c.task, "method": c.method, "seed": c.seed,
         "track": c.track, "config_hash": f"h{i}"}
        for i, c in enumerate(cells)
    ]  # fmt: skip
    write_json(tmp_path / "plan.json", {"cells": entries, "runs": [], "jobs": {}})
    for i, status in enumerate(("ok", "failed", "not_applicable")):
        record = _rec(LONG_TASK, "scratch", 0, "smoke")
        record.method, record.status, record.config_hash = cells[i].method, status, f"h{i}"
        record.reason = "ValueError: " + "y" * 150 if status == "failed" else ""
        write_record(tmp_path, record)
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["status", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 80 and "track" not in lines[1]
    rows = [line.split() for line in lines if line.startswith(LONG_TASK)]
    assert [r[1:] for r in rows] == [
        ["soft-proj", "0", "done"],
        ["cmcd-cmc", "0", "failed", "(1)"],
        ["kd", "0", "done", "n/a"],
        [REFERENCE, "0", "pending"],
    ]
    assert lines[-1] == "4 cells: 2 done, 0 running, 0 queued, 1 failed, 1 pending"


def test_bench_tunes_table_fits_80_columns_one_line_a_study() -> None:
    """The longest task and method names, a study with no finished trial: every column
    whole, one line a (task, method), what the columns hold below."""
    import argparse

    from benchmark.cli.tune import _summary
    from benchmark.execution.selection import TrialResult

    def trial(n: int, val: float | None, test: float | None) -> TrialResult:
        return TrialResult(n, {}, "ok" if val is not None else "failed", val, test)

    studies = [
        SimpleNamespace(
            task=LONG_TASK,
            method=method,
            results={n: trial(n, 0.5 + 0.01 * n, 0.4 + 0.02 * n) for n in range(16)},
        )
        for method in ("soft-proj", "cmcd-cmc", "scratch")
    ]
    studies.append(SimpleNamespace(task=LONG_TASK, method="kd", results={0: trial(0, None, None)}))
    args = argparse.Namespace(selection="val")
    lines = _lines(lambda c: _summary(c, studies, args))  # type: ignore[arg-type]
    assert max(map(len, lines)) <= 80 and not any("…" in line for line in lines)
    rows = [line.split() for line in lines if line.startswith(LONG_TASK)]
    assert rows[0] == [LONG_TASK, "soft-proj", "16/16", "15", "65.0", "70.0", "70.0"]
    assert rows[-1] == [LONG_TASK, "kd", "0/1", "—", "—", "—", "—"]
    assert len(rows) == len(studies) and len(lines) <= len(studies) + 7
    assert "oracle test: the best test score over the trials" in " ".join(lines)


def test_the_runs_closing_lines_are_broken_at_spaces_within_80_columns() -> None:
    """`bench run --with-reference`'s lines on the re-created teacher (a differing one,
    with its Δ and reasons) and the closing summary with its command: each statement's
    words in order, continuation lines indented, nothing past 80 columns, the command
    whole on a line of its own."""
    import pandas as pd

    from benchmark.cli.cells_table import print_wrapped
    from benchmark.results.compare import DIFFERS, summary_parts
    from benchmark.results.stats import paired_test
    from benchmark.results.with_reference import Recreated, recreated_lines

    diff = paired_test(pd.Series({0: 0.50, 1: 0.51, 2: 0.52}), pd.Series({0: 0.56, 1: 0.58}))
    row = Recreated(LONG_TASK, "label-free", [0, 1, 2], DIFFERS, "teacher acc", diff)
    row.reasons = [
        "other teacher key",
        "other teacher scores or input gap",
        "other commit (893837fd2d34+dirty vs deadbeefdead)",
        "other thread count (1 vs 2)",
    ]
    ref = SimpleNamespace(folder=Path("/scratch/someone/xmd-bench/reference-folder"))
    said = recreated_lines([row], ref)  # type: ignore[arg-type]
    assert said[0].startswith(f"{LONG_TASK} (label-free): teacher and data re-created here vs ")
    assert f"{ref.folder}: differs over 3 seed(s), teacher acc Δ " in said[0]
    assert len(said) == 2 and max(map(len, said)) > 160  # one line each, as the record says

    def show(console: Console) -> None:
        for line in said:
            print_wrapped(console, line)
        print_wrapped(console, *summary_parts([], Path(LOG).parent, ref.folder))

    lines = _lines(show)
    assert max(map(len, lines)) <= 80 and len(lines) <= 12
    starts = [i for i, line in enumerate(lines) if not line.startswith("  ")]
    assert len(starts) == 3  # one statement each, its continuation lines indented
    for i, text in zip(starts, said, strict=False):
        end = starts[starts.index(i) + 1]
        assert " ".join(x.strip() for x in lines[i:end]) == text
    command = [i for i, line in enumerate(lines) if line.startswith("  bench compare")]
    assert len(command) == 1 and lines[command[0] - 1].endswith("differ")
    assert lines[command[0]].endswith(" \\") and lines[-1].startswith("    --against")
    asked = " ".join(x.strip().removesuffix(" \\") for x in lines[command[0] :])
    assert asked == f"bench compare --out {Path(LOG).parent} --against {ref.folder}"
    assert " ".join(x.strip() for x in lines[starts[2] : command[0]]).startswith(
        "compared with the committed reference: 0 bit-identical"
    )


def test_the_progress_bars_keep_their_figures_whole_at_80_columns() -> None:
    """A real task's stage label and a tune study's bar with its best score: the label
    folds, the counts and times stay whole (no '…'), one or two lines a bar."""
    from benchmark.execution.progress import RichReporter

    console = Console(file=io.StringIO(), width=80)
    reporter = RichReporter(140, console=console)
    progress = reporter.progress
    progress.advance(reporter.plan, 40)
    progress.add_task(f"tune {LONG_TASK}/soft-proj · best val 10.0% (trial 0)", total=70)
    with reporter.stage(f"{LONG_TASK}/soft-proj/seed0.label-free distill", 100) as advance:
        advance(12)
        console.print(progress.make_tasks_table(progress.tasks))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert max(map(len, lines)) <= 80 and not any("…" in line for line in lines)
    figures = [line.split()[-4:] for line in lines if " eta " in line]
    assert [f[0] for f in figures] == ["40/140", "0/70", "12/100"]
    assert len(lines) <= 2 * len(figures)

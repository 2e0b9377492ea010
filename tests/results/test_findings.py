"""The results page (`docs/results.md`) is rendered from records, never typed: the
committed page is what `render_findings` makes of the committed records; it renders from
any subset of tracks and tasks; and a pair its family did not resolve is never called
resolved."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.cli.main import main as bench
from benchmark.results.findings import render_findings
from benchmark.results.ranks import analyse
from benchmark.results.records import REFERENCE, Record, write_record
from benchmark.tracks import LABEL_FREE, SUPERVISED
from tests.paths import ROOT

PAGE = ROOT / "docs" / "results.md"


def test_committed_page_is_the_rendering_of_the_committed_records() -> None:
    rendered = render_findings(ROOT / "results")
    assert PAGE.read_text() == rendered, "docs/results.md is stale: run `bench docs` and commit it"
    # Nothing machine- or day-specific in it.
    assert str(ROOT) not in rendered
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", rendered)


def _write(
    out: Path,
    task: str,
    method: str,
    seed: int,
    acc: float,
    track: str = SUPERVISED,
) -> None:
    write_record(
        out,
        Record(
            task=task,
            method=method,
            seed=seed,
            status="ok",
            config_hash=f"{task}{method}{seed}{track}",
            profile="quick",
            track=track,
            metrics={"finetune_acc": acc, "probe_acc": acc - 0.05, "gap_tv": 0.8, "gap_cka": acc},
            seconds={"data": 1.0, "teacher": 0.5, "distill": 5.0, "evaluate": 8.0, "gap": 1.0},
            data={"kind": "classification"},
            teacher={"key": f"t{seed}{track}", "seconds": 30.0},
            git="abc",
            host="test",
            versions={"torch_threads": "1"},
        ),
    )


def _reference(out: Path, task: str, seed: int, track: str = SUPERVISED) -> None:
    write_record(
        out,
        Record(
            task=task,
            method=REFERENCE,
            seed=seed,
            status="ok",
            config_hash=f"{task}ref{seed}{track}",
            profile="quick",
            track=track,
            metrics={"all_labels_acc": 0.7, "teacher_acc": 0.75, "input_gap_tv": 0.8},
            seconds={"data": 1.0, "gap": 1.0, "reference": 20.0, "teacher": 30.0},
            data={"kind": "classification"},
            teacher={"key": f"t{seed}{track}", "seconds": 30.0, "trained_now": True},
            git="abc",
            host="test",
        ),
    )


# Per seed: scratch's accuracy, and each method's lead over it. cmcd-cmc − crd is
# +0.01, +0.04, +0.02, +0.05: its unadjusted 95% interval excludes zero (p ≈ 0.046) but
# Holm over the task's 20 one-sided hypotheses does not resolve it, and at 3 points mean
# it is not equivalent within 2 either: undetermined.
BASE = [0.30, 0.33, 0.28, 0.31]
LEADS = {
    "scratch": [0.0, 0.0, 0.0, 0.0],
    "l2": [0.05, 0.06, 0.04, 0.05],
    "crd": [0.10, 0.11, 0.09, 0.10],
    "cmcd-cmc": [0.11, 0.15, 0.11, 0.15],
    "kd": [0.20, 0.21, 0.19, 0.22],
}


def _folder(out: Path, tasks: list[str], tracks: list[str]) -> Path:
    for track in tracks:
        for task in tasks:
            for seed, base in enumerate(BASE):
                _reference(out, task, seed, track)
                for method, lead in LEADS.items():
                    _write(out, task, method, seed, base + lead[seed], track)
    return out


def test_renders_one_task_and_one_track_and_twice_identically(tmp_path: Path) -> None:
    out = _folder(tmp_path / "results", ["sketch-cls"], [SUPERVISED])
    page = render_findings(out)
    assert page == render_findings(out)
    assert "## The supervised track" in page
    assert "label-free" not in page.split("## Resolving power")[0]
    assert "seeds 0–3 (4 seeds)" in page
    assert "## Cost" in page and "## Resolving power" in page
    # No replicate, no tune, no sweeps: their sections say so or are left out.
    assert "No replicate records" in page
    assert "## Tuning" not in page and "## What the sweeps show" not in page
    assert str(tmp_path) not in page
    # The command writes the same page.
    docs = tmp_path / "docs"
    docs.mkdir()
    assert bench(["docs", "--output", str(docs), "--records", str(out)]) == 0
    assert (docs / "results.md").read_text() == page
    assert bench(["docs", "--output", str(docs), "--records", str(tmp_path / "nothing")]) == 2


def test_renders_a_track_that_lacks_a_task(tmp_path: Path) -> None:
    out = _folder(tmp_path / "results", ["sketch-cls", "depth-cls"], [SUPERVISED])
    _folder(out, ["sketch-cls"], [LABEL_FREE])
    page = render_findings(out)
    supervised, rest = page.split("## The label-free track")
    label_free, side = rest.split("## The tracks side by side")
    assert "depth-cls" in supervised and "depth-cls" not in label_free
    # The side-by-side table shows no figure for the missing (track, task).
    row = next(line for line in side.splitlines() if line.startswith("| depth-cls | "))
    assert row.endswith("| — | — |")
    assert not next(
        line for line in side.splitlines() if line.startswith("| sketch-cls | ")
    ).endswith("| — | — |")


def test_a_pair_unresolved_after_holm_is_never_called_resolved(tmp_path: Path) -> None:
    scores = {m: pd.Series([b + lead[i] for i, b in enumerate(BASE)]) for m, lead in LEADS.items()}
    pair = analyse(scores).pair("cmcd-cmc", "crd")
    assert pair.diff.excludes_zero and pair.diff.p < 0.05  # resolved if tested alone
    assert pair.resolved == 0 and pair.word == "undetermined"  # not within its family
    assert analyse(scores).pair("cmcd-cmc", "scratch").resolved == 1

    page = render_findings(_folder(tmp_path / "results", ["sketch-cls"], [SUPERVISED]))
    section = page.split("### `cmcd-cmc` against every other method")[1].split("###")[0]
    row = next(line for line in section.splitlines() if line.startswith("| `crd` |"))
    assert row.endswith("? |") and "▲" not in row
    lines = section.splitlines()
    ahead = next(line for line in lines if line.startswith("- Resolved ahead on every"))
    assert "`crd`" not in ahead and "`scratch`" in ahead
    neither = next(line for line in lines if "in neither direction" in line)
    assert "`crd`" in neither


def test_bench_power_refuses_a_replicate_without_the_tracks_records(tmp_path: Path) -> None:
    """A replicate of another track would restrict the decomposition to no method pairs
    and print an empty table: the command says so instead (exit code 2)."""

    out = _folder(tmp_path / "results", ["sketch-cls"], [SUPERVISED, LABEL_FREE])
    again = _folder(tmp_path / "replicate", ["sketch-cls"], [SUPERVISED])
    argv = ["power", "--out", str(out), "--replicate", str(again)]
    assert bench([*argv, "--track", LABEL_FREE]) == 2


def _timed(task: str, method: str, seed: int, seconds: dict[str, float], key: str) -> Record:
    return Record(
        task=task,
        method=method,
        seed=seed,
        status="ok",
        config_hash="h",
        profile="quick",
        seconds=seconds,
        teacher={"key": key, "seconds": 30.0},
    )


def test_cost_projection_by_hand() -> None:
    """Each stage charged at its cost when computed; a teacher once per seed for the
    tasks that share it, up to the largest of their seed counts."""
    from benchmark.results.findings_cost import measure, project

    records = []
    for seed in range(2):
        key = f"rgb{seed}"  # both tasks share the seed's teacher
        for task in ("a", "b"):
            records.append(_timed(task, "m1", seed, {"data": 1.0, "distill": 5.0}, key))
            records.append(_timed(task, "m2", seed, {"data": 1.0, "distill": 7.0}, key))
            # The ceiling was trained in seed 0's cell only (cached, reads 0, in seed 1's).
            ceiling = 10.0 if seed == 0 else 0.0
            ref = {"data": 2.0, "gap": 1.0, "reference": ceiling, "teacher": 0.0}
            records.append(_timed(task, REFERENCE, seed, ref, key))
    measured = measure(records)
    cells, cost = project(measured, {"a": 3, "b": 5}, [SUPERVISED])
    assert cells == 3 * 3 + 5 * 3
    # Method cells: (1 + 5) + (1 + 7) = 14 a seed; reference: 2 + 1 + 10 = 13 a seed.
    assert sum(v for k, v in cost.items() if k not in ("teachers",)) == 8 * (14 + 13)
    assert cost["reference"] == 8 * 10.0
    assert cost["teachers"] == 5 * 30.0  # one teacher a seed, for the larger plan
    cells, one = project(measured, {"a": 3, "b": 5}, [SUPERVISED], ["new"])
    assert cells == 8 * 2
    assert sum(one.values()) == 8 * (7 + 13) + 5 * 30.0
    # reference cells on the seeds that report headroom only: 2 of a's 3, 2 of b's 5
    cells, few = project(measured, {"a": 3, "b": 5}, [SUPERVISED], headroom=2)
    assert cells == 8 * 2 + 2 * 2
    assert few["reference"] == 4 * 10.0
    assert sum(few.values()) == 8 * 14 + 4 * 13 + 5 * 30.0


def test_a_sweep_table_marks_only_what_survives_holm_over_the_table() -> None:
    """cmcd-cmc − crd excludes zero at each value unadjusted (p ≈ 0.046) but not after
    Holm over the versus table's tests: no mark; the clear differences keep theirs."""
    from benchmark.results.findings_sweeps import _sweep
    from benchmark.results.sweep_trends import trends

    rows = []
    lift = [0.01, 0.04, 0.02, 0.05]
    for value in (0.0, 1.0):
        for seed in range(4):
            base = 0.3 + 0.01 * seed
            accs = {
                "scratch": base,
                "l2": base + 0.05,
                "crd": base + 0.10,
                "cmcd-cmc": base + 0.10 + lift[seed],
                "kd": base + 0.20,
            }
            for method, acc in accs.items():
                rows.append((value, method, seed, acc, None, None))
            rows.append((value, REFERENCE, seed, None, 0.7 - 0.1 * value, 0.6 + 0.1 * value))
    frame = pd.DataFrame(
        rows,
        columns=["value", "method", "seed", "finetune_acc", "all_labels_acc", "input_gap_pair"],
    ).assign(knob="world.k", task="t", status="ok")
    t = trends(frame)
    assert t.versus["cmcd-cmc"]["crd"][0].excludes_zero
    page = "\n".join(_sweep(t, "sweeps/world.k"))
    versus = page.split("cmcd-cmc minus |")[1]
    crd = next(line for line in versus.splitlines() if line.startswith("| `crd` |"))
    kd = next(line for line in versus.splitlines() if line.startswith("| `kd` |"))
    assert "▲" not in crd and "▼" not in crd
    assert kd.count("▼") == 2

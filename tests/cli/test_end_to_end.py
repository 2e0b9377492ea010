"""The CLI end to end on the smoke profile: records, tables, skip on re-run, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli.main import main
from benchmark.results.records import read_records

BENCH = Path(sys.executable).parent / "bench"


def _run(tmp: Path, *extra: str) -> int:
    return main(["run", "--profile", "smoke", "--out", str(tmp), "--seeds", "1", *extra])


# One method per kind of teacher output a cell reads (none, feature maps, logits):
# test_runner.py already runs every registered method's cell on these two tasks, so
# `--methods all` here would train all of them a second time.
METHODS = "scratch,l2,kd"


def test_run_writes_records_tables_and_skips_on_rerun(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run(out, "--methods", METHODS, "--tasks", "sketch-cls,depth-seg") == 0
    records = read_records(out)
    methods = {r.method for r in records}
    assert {"scratch", "l2", "_reference"} <= methods
    assert all(r.ok for r in records), [r.reason for r in records if not r.ok]
    assert {r.task for r in records} == {"sketch-cls", "depth-seg"}
    assert (out / "results.csv").is_file()
    board = (out / "LEADERBOARD.md").read_text()
    assert "## sketch-cls" in board and "## depth-seg" in board

    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")}
    assert _run(out, "--methods", METHODS, "--tasks", "sketch-cls,depth-seg") == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")} == stamps

    # A changed setting changes the hash of the cells it touches: their finished records
    # are never replaced silently (one line names the first), only with --force.
    other = ["--methods", "l2", "--tasks", "sketch-cls", "--set", "l2.weight=2"]
    assert _run(out, *other) == 2
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")} == stamps
    assert _run(out, *other, "--force") == 0
    path = out / "runs" / "sketch-cls" / "l2" / "seed0.json"
    assert json.loads(path.read_text())["config"]["method"]["params"]["weight"] == 2.0


def test_force_recomputes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run(out, "--methods", "scratch", "--tasks", "sketch-cls") == 0
    path = out / "runs" / "sketch-cls" / "scratch" / "seed0.json"
    before = json.loads(path.read_text())["created"], path.stat().st_mtime_ns
    assert _run(out, "--methods", "scratch", "--tasks", "sketch-cls", "--force") == 0
    assert path.stat().st_mtime_ns != before[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--methods", "nope", "--tasks", "sketch-cls"], "unknown method 'nope'"),
        (["run", "--methods", "l3"], "unknown method 'l3': did you mean 'l2'?"),
        (["run", "--tasks", "sketchcls"], "unknown task 'sketchcls': did you mean 'sketch-cls'?"),
        (["run", "--profile", "quik"], "unknown profile 'quik': did you mean 'quick'?"),
        (["run", "--set", "teacher.epoch=3"], "unknown setting 'teacher.epoch'"),
        (["run", "--set", "l2.weight=-1"], "l2.weight=-1.0 is below its minimum 0.0"),
        (["run", "--set", "world.depth_nois=0"], "unknown world knob 'world.depth_nois'"),
        (["run", "--set", "teacher.backbone=resnet181"], "unknown backbone 'resnet181'"),
        (["run", "--seeds", "0"], "--seeds 0 must be between 1 and 1000"),
        (["run", "--seeds", "99999999999"], "--seeds 99999999999 must be between 1 and 1000"),
        (["run", "--seeds", "x"], "invalid int value: 'x'"),
        (["list", "widgets"], "invalid choice: 'widgets'"),
        (["leaderboard", "--out", "/nonexistent"], "no records under"),
        (["validate", "/nonexistent.yaml"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([*argv, *(["--out", str(tmp_path)] if argv[0] == "run" else [])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error: ") and message in err
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BENCH), "run", "--methods", "nope", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert "did you mean" in proc.stderr


def test_list_shows_methods_with_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "methods", "-v"]) == 0
    out = capsys.readouterr().out
    assert "scratch" in out and "l2" in out and "weight: float = 1.0" in out
    assert main(["list", "tasks"]) == 0
    out = capsys.readouterr().out
    for task in ("sketch-cls", "depth-cls", "depth-seg", "audio-cls"):
        assert task in out
    assert main(["list", "backbones"]) == 0
    assert "test_resnet" in capsys.readouterr().out


def test_validate_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("profile: smoke\nteacher:\n  epochs: 2\nmethods:\n  l2:\n    weight: 0.5\n")
    assert main(["validate", str(good)]) == 0
    assert "ok (profile smoke)" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods:\n  l2:\n    wieght: 0.5\n")
    assert main(["validate", str(bad)]) == 2
    assert "did you mean 'weight'" in capsys.readouterr().err
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("methods:\n  crdd: {}\n")
    assert main(["validate", str(unknown)]) == 2


def test_leaderboard_rerenders_from_records(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run(out, "--methods", "scratch", "--tasks", "audio-cls") == 0
    (out / "LEADERBOARD.md").unlink()
    target = tmp_path / "BOARD.md"
    assert main(["leaderboard", "--out", str(out), "--output", str(target)]) == 0
    assert "## audio-cls" in target.read_text()

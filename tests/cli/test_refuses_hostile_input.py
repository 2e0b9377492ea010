"""Hostile inputs by class (issue 27), each class parametrised over the commands it reaches:
resource exhaustion from small inputs, inputs checked before anything is written, output
paths that are not regular files, non-finite numbers in records, refused inputs that must
not write (caches included), empty option values, and finished records of other settings.

Every case must exit with code 2, print one short line on stderr naming the problem, print
no traceback, end within 30 s, and create or change nothing under the test's folder (a
listing of every entry, with a digest for regular files, compared before and after).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.refusal import Setup, assert_refused, both, write
from tests.paths import ROOT

REFERENCE = ROOT / "results" / "runs" / "sketch-cls" / "l2" / "seed0.json"
SMOKE = ["--profile", "smoke", "--seeds", "1", "--tasks", "sketch-cls"]
RUN = ["run", *SMOKE, "--methods", "l2", "--out", "{out}"]
SWEEP = ["sweep", *SMOKE, "--methods", "l2", "--out", "{out}", "--knob", "world.depth_noise=0,1"]
TUNE = ["tune", *SMOKE, "--methods", "l2", "--trials", "2", "--out", "{out}"]
VALIDATE = ["validate", "{tmp}/c.yaml"]
DATA = ["data", "check", "--tasks", "pairs:{tmp}/p-{name}", "--deep"]


def _fifo(rel: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(tmp / rel)

    return setup


def _link(rel: str, target: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).symlink_to(target)

    return setup


def _record(rel: str, text_change: Callable[[str], str] = lambda t: t) -> Callable[[Path], None]:
    """The committed reference record (quick profile) at `rel`, its JSON text changed."""
    return lambda tmp: write(rel, text_change(REFERENCE.read_text()))(tmp)


def _metric(value: str) -> Callable[[str], str]:
    """A record's first metric set to a raw JSON token (NaN, Infinity, 1e400)."""

    def change(text: str) -> str:
        raw = json.loads(text)
        key = next(iter(raw["metrics"]))
        raw["metrics"][key] = 0.123456789
        return json.dumps(raw).replace("0.123456789", value, 1)

    return change


def _pairs(bad: str, data: bytes) -> Callable[[Path], None]:
    """A `pairs:` folder of 8×8 PNGs (two classes) with `bad` replaced by `data`, named
    after the test's folder (tasks of one folder name cannot share a process)."""

    def setup(tmp: Path) -> None:
        import io

        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        for part in ("source/train", "source/test", "target/train", "target/test"):
            for cls in ("a", "b"):
                folder = tmp / f"p-{tmp.name}" / part / cls
                folder.mkdir(parents=True)
                for i in range(4):
                    pixels = (rng.random((8, 8, 3)) * 255).astype("uint8")
                    Image.fromarray(pixels).save(folder / f"{i}.png")
        content = data
        if data == b"fifo":  # a sample that is not a regular file is never opened
            os.mkfifo(tmp / f"p-{tmp.name}" / bad)
            return
        if data == b"16x16":
            buffer = io.BytesIO()
            Image.fromarray(np.zeros((16, 16, 3), "uint8")).save(buffer, format="png")
            content = buffer.getvalue()
        (tmp / f"p-{tmp.name}" / bad).write_bytes(content)

    return setup


def _laughs(levels: int = 9) -> str:
    """A "billion laughs" document: 10^levels strings from a few hundred bytes."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        refs = ",".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def _flow_laughs(levels: int) -> str:
    """The same as one flow value, for `--set`."""
    parts = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    parts += [f"&a{i} [{','.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "[" + ", ".join(parts) + "]"


BOMB = write("c.yaml", _laughs())
DEEP_ALIAS = write("c.yaml", "x: &x " + "[" * 40 + "1" + "]" * 40 + "\ny: [*x, *x]\n")
HUGE = write("c.yaml", "# " + "x" * (2 << 20) + "\n")
LONG_NAME = write("c.yaml", "profile: " + "k" * 200_000 + "\n")
LONG_VALUE = write("c.yaml", "teacher:\n  backbone: [" + "a," * 3000 + "a]\n")
JOURNAL = "out/tune/journal.log"
OTHER = _record("out/runs/sketch-cls/l2/seed0.json")  # a quick-profile record: other settings

CASES: list[tuple[str, list[str], str, Setup]] = [
    # resource exhaustion: aliases, depth, size, long names, every command taking a config
    ("bomb-run", [*RUN, "--config", "{tmp}/c.yaml"], "more than 10,000 values", BOMB),
    ("bomb-validate", VALIDATE, "more than 10,000 values", BOMB),
    ("bomb-sweep", [*SWEEP, "--config", "{tmp}/c.yaml"], "more than 10,000 values", BOMB),
    ("bomb-tune", [*TUNE, "--config", "{tmp}/c.yaml"], "more than 10,000 values", BOMB),
    ("bomb-data", [*DATA, "--config", "{tmp}/c.yaml"], "more than 10,000 values", BOMB),
    (
        "bomb-set",
        [*RUN, "--set", "teacher.epochs=" + _flow_laughs(7)],
        "more than 10,000 values",
        None,
    ),
    ("bomb-deep", VALIDATE, "nested too deeply", DEEP_ALIAS),
    ("set-400-digits", [*RUN, "--set", "distill.lr=1" + "0" * 400], "is not a valid float", None),
    ("set-5000-digits", [*RUN, "--set", "l2.weight=1" + "0" * 5000], "not valid YAML", None),
    ("config-huge", [*RUN, "--config", "{tmp}/c.yaml"], "larger than", HUGE),
    (
        "config-long-list",
        VALIDATE,
        "more than 10,000",
        write("c.yaml", "a: [" + "1," * 300_000 + "1]"),
    ),
    ("config-long-name", VALIDATE, "unknown profile 'kkk", LONG_NAME),
    ("config-long-value", VALIDATE, "teacher.backbone=", LONG_VALUE),
    ("config-fifo", [*RUN, "--config", "{tmp}/c.yaml"], "FIFO", _fifo("c.yaml")),
    ("validate-dev-zero", ["validate", "/dev/zero"], "not a regular file", None),
    # every input a command reads, checked before its first write
    ("tune-journal", TUNE, "journal.log' is corrupt at line 1", write(JOURNAL, "garbage\n")),
    ("tune-journal-op", TUNE, "cannot be replayed", write(JOURNAL, '{"op_code": 99}\n')),
    ("tune-journal-fifo", TUNE, "FIFO", _fifo(JOURNAL)),
    (
        "tune-journal-orphan",
        TUNE,
        "names study 3",
        write(JOURNAL, '{"op_code": 4, "worker_id": "w", "study_id": 3}\n'),
    ),
    (
        "sweep-point-plan",
        SWEEP,
        "plan.json' is malformed",
        write("out/sweeps/world.depth_noise/1/plan.json", "[1]"),
    ),
    ("run-plan-fifo", RUN, "FIFO", _fifo("out/plan.json")),
    ("status-plan-fifo", ["status", "--out", "{out}"], "FIFO", _fifo("out/plan.json")),
    # outputs that are not regular files: refused, never replaced or written through
    (
        "board-devnull",
        ["leaderboard", "--out", "{out}", "--output", "/dev/null"],
        "character device",
        OTHER,
    ),
    (
        "board-fifo",
        ["leaderboard", "--out", "{out}", "--output", "{tmp}/f"],
        "FIFO",
        both(OTHER, _fifo("f")),
    ),
    (
        "board-link-devnull",
        ["leaderboard", "--out", "{out}"],
        "LEADERBOARD.md' is a character",
        both(OTHER, _link("out/LEADERBOARD.md", "/dev/null")),
    ),
    (
        "board-csv-fifo",
        ["leaderboard", "--out", "{out}"],
        "results.csv' is a FIFO",
        both(OTHER, _fifo("out/results.csv")),
    ),
    (
        "report-devnull",
        ["report", "--out", "{out}", "--html", "/dev/null"],
        "character device",
        OTHER,
    ),
    (
        "report-fifo",
        ["report", "--out", "{out}"],
        "report.html' is a FIFO",
        both(OTHER, _fifo("out/report.html")),
    ),
    (
        "plot-fifo",
        ["plot", "--out", "{out}"],
        "task-sketch-cls.png' is a FIFO",
        both(OTHER, _fifo("out/figures/task-sketch-cls.png")),
    ),
    ("run-board-fifo", RUN, "LEADERBOARD.md' is a FIFO", _fifo("out/LEADERBOARD.md")),
    ("run-record-fifo", RUN, "seed0.json' is a FIFO", _fifo("out/runs/sketch-cls/l2/seed0.json")),
    (
        "run-record-dir",
        RUN,
        "seed0.json' is a folder",
        write("out/runs/sketch-cls/l2/seed0.json/x", ""),
    ),
    ("run-locks-fifo", RUN, "locks' is a file, not a folder", _fifo("out/locks")),
    (
        "run-task-folder-file",
        RUN,
        "'{out}/runs/sketch-cls' is a file",
        write("out/runs/sketch-cls", ""),
    ),
    (
        "sweep-table-fifo",
        SWEEP,
        "sweep.csv' is a FIFO",
        _fifo("out/sweeps/world.depth_noise/sweep.csv"),
    ),
    ("tune-board-fifo", TUNE, "LEADERBOARD-tuned.md' is a FIFO", _fifo("out/LEADERBOARD-tuned.md")),
    (
        "data-cache-file",
        [*DATA, "--cache-dir", "{tmp}/afile"],
        "is a file",
        both(_pairs("source/train/a/0.png", b""), write("afile", "x")),
    ),
    # non-finite numbers in records: skipped by name, like a truncated record
    (
        "board-nan",
        ["leaderboard", "--out", "{out}"],
        "is not a finite number",
        _record("out/runs/sketch-cls/l2/seed0.json", _metric("NaN")),
    ),
    (
        "board-inf",
        ["leaderboard", "--out", "{out}"],
        "is not a finite number",
        _record("out/runs/sketch-cls/l2/seed0.json", _metric("-Infinity")),
    ),
    (
        "board-overflow",
        ["leaderboard", "--out", "{out}"],
        "is not a finite number",
        _record("out/runs/sketch-cls/l2/seed0.json", _metric("1e400")),
    ),
    (
        "board-400-digit-int",
        ["leaderboard", "--out", "{out}"],
        "is not a finite number",
        _record("out/runs/sketch-cls/l2/seed0.json", _metric("1" + "0" * 400)),
    ),
    (
        "power-nan",
        ["power", "--out", "{out}"],
        "not a finite number",
        _record("out/runs/sketch-cls/l2/seed0.json", _metric("NaN")),
    ),
    (
        "report-nan",
        ["report", "--out", "{out}"],
        "no finished record",
        _record("out/runs/sketch-cls/l2/seed0.json", _metric("NaN")),
    ),
    (
        "plot-nan",
        ["plot", "--out", "{out}"],
        "nothing to plot",
        _record("out/runs/sketch-cls/l2/seed0.json", _metric("Infinity")),
    ),
    (
        "compare-nan",
        ["compare", "--out", "{out}", "--against", str(REFERENCE.parents[3])],
        "no finished record",
        _record("out/runs/sketch-cls/l2/seed0.json", _metric("NaN")),
    ),
    # a refused input writes nothing, caches included (the cache is under the test folder)
    (
        "pairs-empty-image",
        [*RUN[:-4], "--tasks", "pairs:{tmp}/p-{name}", "--out", "{out}"],
        "not a readable image",
        _pairs("source/train/a/0.png", b""),
    ),
    (
        "pairs-text-image",
        [*RUN[:-4], "--tasks", "pairs:{tmp}/p-{name}", "--out", "{out}"],
        "not a readable image",
        _pairs("target/test/b/1.png", b"hello\n"),
    ),
    (
        "pairs-fifo",
        [*RUN[:-4], "--tasks", "pairs:{tmp}/p-{name}", "--out", "{out}"],
        "not a regular file",
        _pairs("source/train/a/9.png", b"fifo"),
    ),
    (
        "pairs-odd-size",
        [*RUN[:-4], "--tasks", "pairs:{tmp}/p-{name}", "--out", "{out}"],
        "16×16",
        _pairs("source/train/b/2.png", b"16x16"),
    ),
    (
        "sweep-pairs",
        [*SWEEP[:-2], "--tasks", "pairs:{tmp}/p-{name}", "--knob", "distill.lr=0.1,0.2"],
        "not a readable image",
        _pairs("source/test/a/0.png", b""),
    ),
    (
        "tune-pairs",
        [*TUNE[:-2], "--tasks", "pairs:{tmp}/p-{name}", "--out", "{out}"],
        "not a readable image",
        _pairs("target/train/a/3.png", b""),
    ),
    # an empty value for a named option is an error, whatever the option and command
    ("empty-profile", [*RUN, "--profile", ""], "--profile ''", None),
    ("empty-profile-eq", [*RUN, "--profile="], "--profile ''", None),
    ("empty-methods", [*RUN, "--methods", ""], "--methods ''", None),
    ("empty-out", [*RUN, "--out", " "], "--out ' '", None),
    ("empty-set", [*RUN, "--set", ""], "--set ''", None),
    ("empty-config", [*RUN, "--config", ""], "--config ''", None),
    ("empty-executor", [*RUN, "--executor", ""], "--executor ''", None),
    ("empty-validate", ["validate", ""], "empty argument", None),
    ("empty-board-output", ["leaderboard", "--out", "{out}", "--output", ""], "--output ''", OTHER),
    ("empty-report-html", ["report", "--out", "{out}", "--html", ""], "--html ''", OTHER),
    ("empty-plot-figures", ["plot", "--out", "{out}", "--figures", ""], "--figures ''", OTHER),
    ("empty-compare", ["compare", "--out", "{out}", "--against", ""], "--against ''", OTHER),
    ("empty-power", ["power", "--out", "{out}", "--replicate", ""], "--replicate ''", OTHER),
    ("empty-status", ["status", "--out", ""], "--out ''", None),
    ("empty-data-root", [*DATA, "--data-root", ""], "--data-root ''", None),
    ("empty-knob", [*SWEEP[:-2], "--knob", ""], "--knob ''", None),
    ("empty-yaml-profile", VALIDATE, "unknown profile ''", write("c.yaml", "profile: ''\n")),
    # finished records made with other settings are never replaced without --force
    ("conflict-run", RUN, "made with other settings (profile quick", OTHER),
    (
        "conflict-sweep",
        SWEEP,
        "made with other settings",
        _record("out/sweeps/world.depth_noise/1/runs/sketch-cls/l2/seed0.json"),
    ),
    ("conflict-tune", TUNE, "made with other settings", OTHER),
]


@pytest.mark.parametrize(
    ("argv", "message", "setup"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_input_is_one_line_exit_2_and_writes_nothing(
    argv: list[str],
    message: str,
    setup: Setup,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_refused(argv, message, setup, tmp_path, monkeypatch, capsys)


def test_each_class_has_cases_for_several_commands() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    commands = {c[1][0] for c in CASES if c[1]}
    assert commands >= {"run", "validate", "leaderboard", "status", "power", "data", "sweep"}
    assert commands >= {"tune", "plot", "compare", "report"}

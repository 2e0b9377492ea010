"""The hold-out list of bad inputs (issue 17): every case must exit with code 2, print one
line on stderr that names the bad value, print no traceback, and create or change no
file under the test's folder (a listing with digests is compared before and after).

Each case is (id, argv, what the line must contain, setup). `{out}` and `{tmp}` in argv
are the case's output folder and temp folder; `setup(tmp)` writes the files the case
needs before the "before" listing is taken. Every case fails before any cell runs, so
the whole table takes seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.refusal import Setup, assert_refused, both, write
from tests.paths import ROOT

REFERENCE_RECORD = ROOT / "results" / "runs" / "sketch-cls" / "l2"
RESULTS = str(REFERENCE_RECORD.parents[2])  # the committed reference folder


def _record(rel: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A committed reference record, changed by `change`, written at `rel`."""

    def setup(tmp: Path) -> None:
        raw = json.loads((REFERENCE_RECORD / "seed0.json").read_text())
        change(raw)
        write(rel, json.dumps(raw))(tmp)

    return setup


def _set(key: str, value: object) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        raw[key] = value

    return change


def _string_metrics(raw: dict) -> None:
    raw["metrics"] = {k: "high" for k in raw["metrics"]}


BINARY = bytes(range(200, 256)) * 4
DEEP_JSON = "[" * 100_000 + "]" * 100_000
VALID = _record("out/runs/sketch-cls/l2/seed0.json", lambda raw: None)
OLD_TABLES = both(write("out/results.csv", "old\n"), write("out/LEADERBOARD.md", "old\n"))
RUN = ["run", "--profile", "smoke", "--seeds", "1", "--methods", "scratch", "--tasks", "sketch-cls"]
RUN += ["--out", "{out}"]

CASES: list[tuple[str, list[str], str, Setup]] = [
    # --set values that do not parse, or parse to nothing meaningful
    ("set-yaml-error", [*RUN, "--set", "distill.epochs=["], "'distill.epochs=['", None),
    ("set-no-equals", [*RUN, "--set", "teacher.epochs"], "'teacher.epochs'", None),
    ("set-no-key", [*RUN, "--set", "teacher=5"], "'teacher=5'", None),
    ("set-unknown-section", [*RUN, "--set", "teachr.epochs=5"], "did you mean 'teacher'", None),
    ("set-unknown-key", [*RUN, "--set", "teacher.epoch=5"], "did you mean 'epochs'", None),
    ("set-not-int", [*RUN, "--set", "teacher.epochs=abc"], "teacher.epochs='abc'", None),
    ("set-fraction-int", [*RUN, "--set", "distill.epochs=1.5"], "distill.epochs=1.5", None),
    ("set-huge-int", [*RUN, "--set", "teacher.epochs=1e400"], "teacher.epochs='1e400'", None),
    ("set-empty-float", [*RUN, "--set", "distill.lr="], "distill.lr=''", None),
    ("set-list-str", [*RUN, "--set", "teacher.backbone=[a]"], "teacher.backbone=['a']", None),
    ("lr-nan", [*RUN, "--set", "distill.lr=nan"], "distill.lr=nan", None),
    ("lr-yaml-nan", [*RUN, "--set", "teacher.lr=.nan"], "teacher.lr=nan", None),
    ("lr-inf", [*RUN, "--set", "distill.lr=inf"], "distill.lr=inf", None),
    ("lr-negative", [*RUN, "--set", "distill.lr=-0.1"], "distill.lr=-0.1", None),
    ("lr-huge", [*RUN, "--set", "teacher.lr=1e300"], "teacher.lr=1e+300", None),
    ("finetune-lr-zero", [*RUN, "--set", "eval.finetune_lr=0"], "eval.finetune_lr=0.0", None),
    ("wd-negative", [*RUN, "--set", "eval.probe_weight_decay=-1"], "probe_weight_decay=-1", None),
    ("wd-inf", [*RUN, "--set", "teacher.weight_decay=inf"], "teacher.weight_decay=inf", None),
    ("temperature-0", [*RUN, "--set", "teacher.simclr_temperature=0"], "simclr_temperature", None),
    ("epochs-negative", [*RUN, "--set", "distill.epochs=-1"], "distill.epochs=-1", None),
    ("epochs-zero", [*RUN, "--set", "teacher.epochs=0"], "teacher.epochs=0", None),
    ("head-epochs-0", [*RUN, "--set", "teacher.head_epochs=0"], "teacher.head_epochs=0", None),
    ("batch-zero", [*RUN, "--set", "distill.batch_size=0"], "distill.batch_size=0", None),
    ("batch-huge", [*RUN, "--set", "teacher.batch_size=99999999999"], "teacher.batch_size", None),
    ("test-zero", [*RUN, "--set", "data.test=0"], "data.test=0", None),
    ("test-huge", [*RUN, "--set", "data.paired=10000000000"], "data.paired=10000000000", None),
    ("image-tiny", [*RUN, "--set", "data.image_size=4"], "data.image_size=4", None),
    ("probe-steps-0", [*RUN, "--set", "eval.probe_steps=0"], "eval.probe_steps=0", None),
    ("restarts", [*RUN, "--set", "eval.finetune_restarts=1000"], "finetune_restarts=1000", None),
    ("noise-negative", [*RUN, "--set", "distill.training_noise=-1"], "training_noise=-1", None),
    ("pretrain", [*RUN, "--set", "teacher.pretrain=simclrr"], "did you mean 'simclr'", None),
    ("method-param-nan", [*RUN, "--set", "l2.weight=nan"], "l2.weight=nan", None),
    ("method-param-low", [*RUN, "--set", "l2.weight=-1"], "l2.weight=-1", None),
    ("method-param-name", [*RUN, "--set", "l2.wieght=1"], "did you mean 'weight'", None),
    ("world-nan", [*RUN, "--set", "world.depth_noise=nan"], "depth_noise=nan", None),
    ("world-range", [*RUN, "--set", "world.depth_noise=2"], "depth_noise=2", None),
    ("world-unknown", [*RUN, "--set", "world.dept_noise=0.1"], "world.dept_noise", None),
    ("task-unknown", [*RUN, "--set", "tasks.nope.data.test=5"], "tasks.nope", None),
    ("task-value", [*RUN, "--set", "tasks.sketch-cls.data.test=0"], "data.test=0", None),
    # counts and names on the command line
    ("seeds-huge", [*RUN, "--seeds", "99999999999"], "--seeds 99999999999", None),
    ("seeds-zero", [*RUN, "--seeds", "0"], "--seeds 0", None),
    ("seeds-negative", [*RUN, "--seeds", "-3"], "--seeds -3", None),
    ("seeds-text", [*RUN, "--seeds", "three"], "'three'", None),
    ("threads-zero", [*RUN, "--threads", "0"], "executor.threads=0", None),
    ("threads-huge", [*RUN, "--threads", "99999"], "executor.threads=99999", None),
    ("workers-inline", [*RUN, "--workers", "2"], "--workers does not apply", None),
    ("workers-zero", [*RUN, "--executor", "local", "--workers", "0"], "workers=0", None),
    ("slurm-flag-local", [*RUN, "--executor", "local", "--mem", "4G"], "--mem", None),
    ("no-wait-inline", [*RUN, "--no-wait"], "--no-wait", None),
    ("executor", [*RUN, "--executor", "slrum"], "did you mean 'slurm'", None),
    ("method", [*RUN, "--methods", "l3"], "did you mean 'l2'", None),
    # case is ignored in the suggestion, and --set's first part is matched against the
    # config sections and the method names together (issue 19)
    ("method-case", [*RUN, "--methods", "L2"], "unknown method 'L2': did you mean 'l2'?", None),
    ("method-case-list", [*RUN, "--methods", "scratch,SOFT-PROJ"], "'soft-proj'", None),
    ("task-case", [*RUN, "--tasks", "Sketch-Cls"], "did you mean 'sketch-cls'", None),
    ("set-method-typo", [*RUN, "--set", "kdd.weight=1"], "'kdd' is neither", None),
    ("set-method-near", [*RUN, "--set", "sfot-proj.temperature=2"], "mean 'soft-proj'", None),
    ("set-method-case", [*RUN, "--set", "KD.weight=1"], "did you mean 'kd'", None),
    ("set-task-method", [*RUN, "--set", "tasks.sketch-cls.kdd.weight=1"], "mean 'kd'", None),
    ("task", [*RUN, "--tasks", "sketchcls"], "did you mean 'sketch-cls'", None),
    ("profile", [*RUN, "--profile", "quik"], "did you mean 'quick'", None),
    # the folders a run writes to
    (
        "out-is-file",
        [*RUN, "--out", "{tmp}/afile"],
        "'{tmp}/afile' is a file",
        write("afile", "x"),
    ),
    ("out-under-file", [*RUN, "--out", "{tmp}/afile/sub"], "is a file", write("afile", "x")),
    ("out-proc", [*RUN, "--out", "/proc/x"], "'/proc/x' is not writable", None),
    (
        "cache-is-file",
        [*RUN, "--cache-dir", "{tmp}/afile"],
        "'{tmp}/afile' is a file",
        write("afile", "x"),
    ),
    ("plan-list", RUN, "plan.json' is malformed", write("out/plan.json", "[1]")),
    # config files
    (
        "config-binary",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "not a text file",
        write("c.yaml", BINARY),
    ),
    ("config-dir", [*RUN, "--config", "{tmp}"], "is a directory", None),
    (
        "config-missing",
        [*RUN, "--config", "{tmp}/none.yaml"],
        "'{tmp}/none.yaml' does not exist",
        None,
    ),
    (
        "config-syntax",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "not valid YAML at line 2",
        write("c.yaml", "a: 1\n b: [\n"),
    ),
    (
        "config-dup-section",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "'teacher' is set twice (lines 1 and 3)",
        write("c.yaml", "teacher:\n  epochs: 2\nteacher:\n  epochs: 3\n"),
    ),
    (
        "config-dup-key",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "'epochs' is set twice (lines 2 and 3)",
        write("c.yaml", "teacher:\n  epochs: 2\n  epochs: 3\n"),
    ),
    (
        "config-tag",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "'!!python/object/apply:os.system'",
        write("c.yaml", "a: !!python/object/apply:os.system ['true']\n"),
    ),
    (
        "config-local-tag",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "tag '!env'",
        write("c.yaml", "teacher: !env X\n"),
    ),
    (
        "config-list",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "mapping at the top level",
        write("c.yaml", "- 1\n"),
    ),
    (
        "config-number-key",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "section '1'",
        write("c.yaml", "1: 2\n"),
    ),
    (
        "config-profile-list",
        ["validate", "{tmp}/c.yaml"],
        "unknown profile '[1]'",
        write("c.yaml", "profile: [1]\n"),
    ),
    (
        "config-section-scalar",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "'teacher'",
        write("c.yaml", "teacher: 3\n"),
    ),
    (
        "config-method-scalar",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "methods.l2",
        write("c.yaml", "methods: {l2: 3}\n"),
    ),
    (
        "config-deep",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "nested too deeply",
        write("c.yaml", "a: " + "[" * 50_000),
    ),
    (
        "config-seeds",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "seeds=5000",
        write("c.yaml", "seeds: 5000\n"),
    ),
    (
        "config-executor",
        [*RUN, "--config", "{tmp}/c.yaml"],
        "executor.workers=0",
        write("c.yaml", "executor: {kind: local, workers: 0}\n"),
    ),
    ("validate-binary", ["validate", "{tmp}/c.yaml"], "not a text file", write("c.yaml", BINARY)),
    (
        "validate-tag",
        ["validate", "{tmp}/c.yaml"],
        "tags are not allowed",
        write("c.yaml", "x: !!python/name:os.system\n"),
    ),
    (
        "validate-dup",
        ["validate", "{tmp}/c.yaml"],
        "'distill' is set twice",
        write("c.yaml", "distill: {}\ndistill: {}\n"),
    ),
    (
        "validate-nan",
        ["validate", "{tmp}/c.yaml"],
        "distill.lr=nan",
        write("c.yaml", "distill: {lr: .nan}\n"),
    ),
    ("validate-missing", ["validate", "{tmp}/none.yaml"], "does not exist", None),
    # sweeps
    (
        "sweep-knob",
        ["sweep", "--out", "{out}", "--knob", "world.depth_noise"],
        "--knob 'world.depth_noise'",
        None,
    ),
    (
        "sweep-repeat",
        ["sweep", "--out", "{out}", "--knob", "world.depth_noise=0,0"],
        "repeats a value",
        None,
    ),
    (
        "sweep-unknown",
        ["sweep", "--out", "{out}", "--knob", "world.nope=1"],
        "'world.nope'",
        None,
    ),
    (
        "sweep-seeds",
        ["sweep", "--out", "{out}", "--seeds", "99999999999", "--knob", "world.depth_noise=0,1"],
        "--seeds 99999999999",
        None,
    ),
    (
        "sweep-value",
        ["sweep", "--out", "{out}", "--tasks", "depth-cls", "--knob", "world.depth_noise=0,7"],
        "depth_noise=7",
        None,
    ),
    # records, tables and the leaderboard
    ("board-no-runs", ["leaderboard", "--out", "{out}"], "no records under", None),
    (
        "board-seconds-list",
        ["leaderboard", "--out", "{out}"],
        "seconds is a list",
        both(OLD_TABLES, _record("out/runs/t/m/seed0.json", _set("seconds", [1, 2]))),
    ),
    (
        "board-string-metric",
        ["leaderboard", "--out", "{out}"],
        "is not a number",
        both(OLD_TABLES, _record("out/runs/t/m/seed0.json", _string_metrics)),
    ),
    (
        "board-deep",
        ["leaderboard", "--out", "{out}"],
        "nested too deeply",
        both(OLD_TABLES, write("out/runs/t/m/seed0.json", DEEP_JSON)),
    ),
    (
        "board-truncated",
        ["leaderboard", "--out", "{out}"],
        "seed0.json: unreadable",
        write("out/runs/t/m/seed0.json", '{"task": '),
    ),
    (
        "board-bool-seed",
        ["leaderboard", "--out", "{out}"],
        "seed=True",
        _record("out/runs/t/m/seed0.json", _set("seed", True)),
    ),
    (
        "board-status",
        ["leaderboard", "--out", "{out}"],
        "status='done'",
        _record("out/runs/t/m/seed0.json", _set("status", "done")),
    ),
    (
        "board-output-proc",
        ["leaderboard", "--out", "{out}", "--output", "/proc/x/LB.md"],
        "'/proc/x' is not writable",
        both(OLD_TABLES, VALID),
    ),
    (
        "board-output-dir",
        ["leaderboard", "--out", "{out}", "--output", "{tmp}"],
        "is a folder",
        both(OLD_TABLES, VALID),
    ),
    (
        "plot-no-sweep",
        ["plot", "--out", "{out}", "--sweep", "/nonexistent"],
        "'/nonexistent' does not exist",
        VALID,
    ),
    (
        "plot-empty-sweep",
        ["plot", "--out", "{out}", "--sweep", "{tmp}/sw"],
        "holds no finished cell",
        both(VALID, write("sw/0/x", "")),
    ),
    (
        "plot-nothing",
        ["plot", "--out", "{out}"],
        "nothing to plot",
        write("out/runs/t/m/seed0.json", "[]"),
    ),
    (
        "plot-figures-file",
        ["plot", "--out", "{out}", "--figures", "{tmp}/afile"],
        "is a file",
        both(VALID, write("afile", "x")),
    ),
    # the plan manifest
    ("status-no-plan", ["status", "--out", "{out}"], "no plan in", None),
    (
        "status-label",
        ["status", "--out", "{out}"],
        "cells[0].label=1",
        write("out/plan.json", '{"cells":[{"label":1}]}'),
    ),
    (
        "status-list",
        ["status", "--out", "{out}"],
        "a list, not a mapping",
        write("out/plan.json", "[1]"),
    ),
    (
        "status-json",
        ["status", "--out", "{out}"],
        "cannot read the plan manifest",
        write("out/plan.json", "{"),
    ),
    (
        "status-deep",
        ["status", "--out", "{out}"],
        "nested too deeply",
        write("out/plan.json", DEEP_JSON),
    ),
    (
        "status-cells",
        ["status", "--out", "{out}"],
        "'cells' is not a list",
        write("out/plan.json", '{"cells": 3}'),
    ),
    # the other commands
    ("power-no-runs", ["power", "--out", "{out}"], "no records under", None),
    (
        "power-replicate",
        ["power", "--out", "{out}", "--replicate", "{tmp}/none"],
        "none/runs",
        VALID,
    ),
    (
        "board-margin",
        ["leaderboard", "--out", "{out}", "--margin", "0"],
        "--margin 0 must be between 0 and 100 points",
        VALID,
    ),
    # bench compare and bench report (issue 18)
    ("compare-no-out", ["compare", "--out", "{out}", "--against", RESULTS], "no records", None),
    (
        "compare-no-against",
        ["compare", "--out", "{out}", "--against", "{tmp}/none"],
        "none/runs",
        VALID,
    ),
    (
        "compare-same",
        ["compare", "--out", "{out}", "--against", "{out}"],
        "are the same folder",
        VALID,
    ),
    (
        "compare-garbage",
        ["compare", "--out", "{out}", "--against", RESULTS],
        "no finished record",
        write("out/runs/t/m/seed0.json", '{"task": '),
    ),
    (
        "compare-nothing-shared",
        ["compare", "--out", "{out}", "--against", RESULTS],
        "nothing to compare",
        _record("out/runs/sketch-cls/l2/seed99.json", _set("seed", 99)),
    ),
    ("report-no-runs", ["report", "--out", "{out}"], "no records under", None),
    (
        "report-garbage",
        ["report", "--out", "{out}"],
        "no finished record",
        write("out/runs/t/m/seed0.json", "[]"),
    ),
    ("report-html-dir", ["report", "--out", "{out}", "--html", "{tmp}"], "is a folder", VALID),
    (
        "report-html-proc",
        ["report", "--out", "{out}", "--html", "/proc/x/r.html"],
        "'/proc/x' is not writable",
        VALID,
    ),
    ("perf-repeats", ["perf", "--repeats", "0"], "--repeats 0", None),
    ("perf-threads", ["perf", "--threads", "-1"], "executor.threads=-1", None),
    ("list", ["list", "metods"], "'metods'", None),
    ("no-command", [], "required", None),
    ("unknown-flag", [*RUN, "--dry-run"], "--dry-run", None),
]


@pytest.mark.parametrize(
    ("argv", "message", "setup"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    argv: list[str],
    message: str,
    setup: Setup,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_refused(argv, message, setup, tmp_path, monkeypatch, capsys)


def test_the_table_is_the_size_the_issue_asks_for() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 85

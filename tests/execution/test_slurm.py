"""End to end on a real SLURM cluster (`bash scripts/slurm-local.sh` starts a single-node
one on this machine; `.ci/run` does so before the tests).

`bench run --executor slurm` for 2 methods × 2 tasks × 2 seeds: two job arrays (reference
cells, then method cells depending on them), a cancelled array task reported as failed,
a re-run that attaches to the live jobs and resubmits only the cancelled cell, and at the
end records whose metrics equal an inline run's, with every teacher trained once.
Skipped, saying so on the terminal, only where SLURM's `sbatch` does not exist.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from benchmark.cli.main import main
from benchmark.execution.executors import watchers
from benchmark.execution.status import cell_states, read_manifest, squeue_states
from benchmark.results.records import REFERENCE, read_records

BENCH = Path(sys.executable).parent / "bench"
PLAN = ["--profile", "smoke", "--methods", "l2,crd", "--tasks", "sketch-cls,depth-cls"]
PLAN += ["--seeds", "2", "--threads", "1"]

NO_SLURM = "no SLURM here (no 'sbatch' on PATH): start one with 'bash scripts/slurm-local.sh'"


@pytest.fixture(autouse=True)
def _needs_slurm() -> None:
    """Skip where SLURM is absent, saying so in the warnings summary too (which `-q`
    still prints, unlike skip reasons)."""
    if shutil.which("sbatch") is None:
        warnings.warn(f"tests/execution/test_slurm.py skipped: {NO_SLURM}", stacklevel=1)
        pytest.skip(NO_SLURM)


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _metrics(out: Path) -> dict[tuple[str, str, int], dict[str, float]]:
    return {(r.task, r.method, r.seed): r.metrics for r in read_records(out)}


def test_slurm_run_matches_inline_and_survives_scancel(tmp_path: Path, one_thread: None) -> None:
    inline, out, cache = tmp_path / "inline", tmp_path / "slurm", tmp_path / "cache"
    assert main(["run", *PLAN, "--out", str(inline), "--cache-dir", str(tmp_path / "c0")]) == 0

    slurm = [str(BENCH), "run", *PLAN, "--out", str(out), "--cache-dir", str(cache)]
    slurm += ["--executor", "slurm", "--slurm-partition", "debug", "--slurm-time", "20"]
    submitted = subprocess.run([*slurm, "--no-wait"], capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    jobs = read_manifest(out)["jobs"]
    assert len(jobs) == 12
    arrays = {j["job_id"].split("_")[0] for j in jobs.values()}
    assert len(arrays) == 2 and all(j["job_id"].count("_") == 1 for j in jobs.values())
    queue = subprocess.run(["squeue", "--array"], capture_output=True, text=True).stdout
    assert any(a in queue for a in arrays), queue

    # Method cells wait for the reference array (afterany): cancel two of them.
    cancelled = [label for label in jobs if "/reference/" not in label][:2]
    ids = [jobs[label]["job_id"] for label in cancelled]
    subprocess.run(["scancel", *ids], check=True)
    _wait_for(lambda: not squeue_states(ids), "the cancelled tasks to leave the queue")
    states = {s.label: s for s in cell_states(out, watchers())}
    for label in cancelled:
        assert states[label].state == "failed", states[label]
        assert "job ended without a record" in states[label].detail
        assert jobs[label]["log"] in states[label].detail

    # The same command again: attaches to the live jobs, resubmits the cancelled cells.
    again = subprocess.run(slurm, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    records = read_records(out)
    assert len(records) == 12 and all(r.ok for r in records), [r.reason for r in records]
    job_of = {
        f"{r.task}/{'reference' if r.method == REFERENCE else r.method}/seed{r.seed}": r
        for r in records
    }
    for label, job in jobs.items():
        ran = job_of[label].config["run"]
        assert ran["executor"] == "slurm"
        if label in cancelled:
            assert ran["job_id"] != job["job_id"]
        else:
            assert ran["job_id"] == job["job_id"]  # not resubmitted
    assert {s.state for s in cell_states(out, watchers())} == {"done"}

    assert _metrics(out) == _metrics(inline)
    assert {r.versions["torch_threads"] for r in records} == {"1"}
    lines = (cache / "teachers" / "trained.jsonl").read_text().splitlines()
    keys = [json.loads(line)["key"] for line in lines]
    assert sorted(keys) == sorted({r.teacher["key"] for r in records}), keys  # once each
    assert len(keys) == 2  # one per seed: both tasks share the RGB source pool

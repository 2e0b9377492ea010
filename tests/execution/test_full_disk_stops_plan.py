"""A full disk is named once and stops the plan, rather than failing every later cell
with a message that never says "no space left on device"."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest
import torch

from benchmark.cli.main import main
from benchmark.config import RunConfig
from benchmark.execution.plan import Cell, plan_cell
from benchmark.execution.runner import CellRunner
from benchmark.storage import disk_full, full_disk_message


def test_full_disk_errors_are_recognised_with_their_path() -> None:
    err = OSError(errno.ENOSPC, "No space left on device", "/x/seed0.pt")
    assert disk_full(err) and "writing '/x/seed0.pt'" in full_disk_message(err)
    try:
        try:
            raise err
        except OSError as inner:  # torch's zip writer says only "unexpected pos"
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from inner
    except RuntimeError as outer:
        assert disk_full(outer) and "/x/seed0.pt" in full_disk_message(outer)
    assert not disk_full(ValueError("a bad value"))


def test_a_full_disk_in_a_cell_is_raised_not_recorded(
    smoke: RunConfig, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/full/seed0.pt")

    monkeypatch.setattr("benchmark.execution.runner.distill", no_space)
    cell = plan_cell(Cell("sketch-cls", "l2", 0), smoke)
    with pytest.raises(OSError):
        CellRunner(smoke, cache_dir, torch.device("cpu")).run(cell)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()[:80]}")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_bench_run_on_a_full_disk_says_so_in_one_line(
    tiny_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--profile", "smoke", "--methods", "l2", "--tasks", "sketch-cls"]
    code = main([*argv, "--seeds", "2", "--out", str(tiny_disk)])
    err = capsys.readouterr().err
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("bench: error: ")]
    assert len(errors) == 1 and errors[0].startswith("bench: error: no space left on device")
    assert "Traceback" not in err and err.rstrip().endswith("finished cells are kept")

"""Faults that heal (issue 17): a corrupted cache entry is named, moved aside and rebuilt
once, with a `trained.jsonl` line; temp files of writes a kill cut short are removed by
the next run."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from benchmark.config import RunConfig
from benchmark.datasets.tasks import TaskData, get_task
from benchmark.protocol.teacher import get_all_labels_reference, get_teacher
from benchmark.protocol.teacher_outputs import cached_teacher_outputs
from benchmark.storage import remove_stale_temps

CPU = torch.device("cpu")


def _truncate(path: Path) -> None:
    """Cut to 1,000 bytes, as the issue did (a small metadata file: to half)."""
    raw = path.read_bytes()
    path.write_bytes(raw[: min(1000, len(raw) // 2)])


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _random(path: Path) -> None:
    size = path.stat().st_size
    path.write_bytes(
        torch.randint(0, 256, (size,), generator=torch.Generator().manual_seed(0))
        .to(torch.uint8)
        .numpy()
        .tobytes()
    )


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncate": _truncate,
    "zero": _zero,
    "random": _random,
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TaskData, RunConfig]:
    """A cache holding one teacher, its reference and its outputs (maps too)."""
    from benchmark.config import resolve

    cfg = resolve("smoke")
    cache = tmp_path_factory.mktemp("pristine")
    data = get_task("sketch-cls").load(cfg.data, cfg.world, 0, cache, None)
    teacher = get_teacher(data, cfg, 0, cache, CPU)
    get_all_labels_reference(data, cfg, 0, cache, CPU)
    assert data.paired.source is not None
    cached_teacher_outputs(teacher, data.paired.source, keep_maps=True, cache_dir=cache)
    return cache, data, cfg


def _only(folder: Path, pattern: str) -> Path:
    (path,) = folder.glob(pattern)
    return path


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize(
    ("role", "pattern"),
    [("teacher", "teacher-*.pt"), ("teacher", "teacher-*.json"), ("reference", "reference-*.pt")],
)
def test_a_bad_model_entry_is_named_moved_aside_and_rebuilt_once(
    role: str,
    pattern: str,
    damage: str,
    pristine: tuple[Path, TaskData, RunConfig],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, data, cfg = pristine
    cache = tmp_path / "cache"
    shutil.copytree(source, cache)
    folder = cache / f"{role}s"
    bad = _only(folder, pattern)
    DAMAGE[damage](bad)
    get = get_teacher if role == "teacher" else get_all_labels_reference
    with caplog.at_level(logging.WARNING):
        healed = get(data, cfg, 0, cache, CPU)
    assert healed.trained_now
    assert bad.name in caplog.text and "moved aside" in caplog.text
    assert len(list((folder / "corrupt").glob(f"{bad.name}.*"))) == 1
    lines = [json.loads(line) for line in (folder / "trained.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and bad.name in lines[1]["healed"], lines
    again = get(data, cfg, 0, cache, CPU)  # healed: loaded, not trained a third time
    assert not again.trained_now and again.metrics == healed.metrics
    assert len((folder / "trained.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("pattern", ["outputs-*.pt", "maps-*.pt"])
def test_a_bad_teacher_outputs_entry_heals_with_the_same_numbers(
    pattern: str,
    damage: str,
    pristine: tuple[Path, TaskData, RunConfig],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, data, cfg = pristine
    cache = tmp_path / "cache"
    shutil.copytree(source, cache)
    teacher = get_teacher(data, cfg, 0, cache, CPU)
    folder = cache / "teachers" / "outputs"
    bad = _only(folder, pattern)
    DAMAGE[damage](bad)
    assert data.paired.source is not None
    with caplog.at_level(logging.WARNING):
        healed = cached_teacher_outputs(
            teacher, data.paired.source, keep_maps=True, cache_dir=cache
        )
    assert bad.name in caplog.text
    assert list((folder / "corrupt").glob(f"{bad.name}.*"))
    (line,) = (folder / "trained.jsonl").read_text().splitlines()
    assert json.loads(line)["role"] == "teacher-outputs"
    loaded = cached_teacher_outputs(teacher, data.paired.source, keep_maps=True, cache_dir=cache)
    assert torch.equal(loaded.embedding, healed.embedding)
    assert torch.equal(loaded.logits, healed.logits)
    assert all(
        torch.equal(a, b) for a, b in zip(loaded.feature_maps, healed.feature_maps, strict=True)
    )
    assert len((folder / "trained.jsonl").read_text().splitlines()) == 1


def test_stale_temp_files_go_and_live_ones_stay(tmp_path: Path) -> None:
    import fcntl

    dead = tmp_path / "runs" / ".seed0.json.abc.tmp"
    live = tmp_path / "checkpoints" / ".seed0.pt.def.tmp"
    young = tmp_path / ".results.csv.ghi.tmp"
    for path in (dead, live, young):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    old = time.time() - 3600
    for path in (dead, live):
        os.utime(path, (old, old))
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a writer still at work
    try:
        assert remove_stale_temps(tmp_path) == [dead]
    finally:
        os.close(fd)
    assert live.exists() and young.exists() and not dead.exists()


KILL_DURING_CHECKPOINT = """
import os, signal, sys
import benchmark.protocol.checkpoint as checkpoint
import benchmark.storage as storage
from benchmark.cli.main import main

real = checkpoint.save_tensors

def dying(path, payload):
    if "checkpoints" not in path.parts:  # a teacher's own epoch checkpoints: let them be
        return real(path, payload)

    def write(handle):
        handle.write(b"half a checkpoint")
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    storage.atomic_write(path, write)

checkpoint.save_tensors = dying
sys.exit(main(sys.argv[1:]))
"""


def test_a_kill_during_a_checkpoint_write_leaves_no_temp_file_after_the_rerun(
    tmp_path: Path, cache_dir: Path
) -> None:
    from benchmark.cli.main import main

    out = tmp_path / "out"
    argv = ["run", "--profile", "smoke", "--seeds", "1", "--methods", "l2", "--tasks", "sketch-cls"]
    argv += ["--out", str(out), "--threads", "1"]
    env = {**os.environ, "XMD_CACHE": str(cache_dir)}
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DURING_CHECKPOINT, *argv], env=env, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    left = list((out / "checkpoints").rglob(".*.tmp"))
    assert left, "the kill should have cut a checkpoint write short"
    assert main(argv) == 0
    assert not list(out.rglob("*.tmp")) and not list(cache_dir.rglob(".*.tmp"))

"""Real-dataset tasks: Sketchy, NYU-Depth V2, AV-MNIST and `pairs:<path>` folders.

Each adapter reads its dataset's published on-disk format under the data root
(`--data-root`, else $XMD_DATA) and registers its tasks with a `check` that
`bench data check` reports and `bench run` consults before it starts, so a missing or
malformed file stops a run with one line (exit 2) instead of failing every cell.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets.tasks import TASKS, TaskSpec
from benchmark.errors import UserError

from . import avmnist, nyuv2, pairs, sketchy
from .common import FOUND, MALFORMED, MISSING

__all__ = [
    "FOUND",
    "MALFORMED",
    "MISSING",
    "avmnist",
    "check_all",
    "nyuv2",
    "pairs",
    "real_tasks",
    "resolve_tasks",
    "sketchy",
]


def real_tasks() -> list[str]:
    """Registered tasks that read files under the data root."""
    return [name for name in TASKS.names() if TASKS.get(name).needs_data_root]


def check_all(data_root: Path | None) -> list[tuple[str, str, str]]:
    """(task, found | missing | malformed, summary or reason) for every real task."""
    return [(name, *_status(TASKS.get(name), data_root)) for name in real_tasks()]


def _status(spec: TaskSpec, data_root: Path | None) -> tuple[str, str]:
    assert spec.check is not None
    return spec.check(data_root)


def resolve_tasks(spec: str, data_root: Path | None) -> tuple[list[str], list[str]]:
    """`--tasks` → (tasks to run, real tasks that `all` left out for want of data).

    `all` means every embedded task and every real task whose data is found; a real task
    named explicitly, or a malformed one under `all`, is checked here and stops the run
    with its one-line reason before any cell starts.
    """
    names = TASKS.resolve(spec)
    explicit = spec.strip() != "all"
    run, skipped = [], []
    for name in names:
        task = TASKS.get(name)
        if not task.needs_data_root:
            run.append(name)
            continue
        status, reason = _status(task, data_root)
        if status == FOUND:
            run.append(name)
        elif status == MISSING and not explicit:
            skipped.append(name)
        else:
            raise UserError(f"{name}: {reason}")
    return run, skipped

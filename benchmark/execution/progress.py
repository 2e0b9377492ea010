"""Progress reporting for long stages, decoupled from the runner.

The runner only calls `reporter.stage(label, total)` and advances it; the CLI plugs in
rich progress bars with an ETA, tests plug in nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[[int], None]


class Reporter(Protocol):
    def stage(self, label: str, total: int) -> contextlib.AbstractContextManager[Advance]: ...


class NullReporter:
    @contextlib.contextmanager
    def stage(self, label: str, total: int) -> Iterator[Advance]:
        yield lambda n: None


class RichReporter:
    """One bar for the whole plan and one for the running stage, both with an ETA."""

    def __init__(self, cells: int, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.plan = self.progress.add_task("plan", total=cells)

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def cell_done(self) -> None:
        self.progress.advance(self.plan)

    @contextlib.contextmanager
    def stage(self, label: str, total: int) -> Iterator[Advance]:
        task = self.progress.add_task(f"  {label}", total=max(1, total))
        try:
            yield lambda n: self.progress.advance(task, n)
        finally:
            self.progress.remove_task(task)

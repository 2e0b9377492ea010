"""Progress reporting for long stages, decoupled from the runner.

The runner only calls `reporter.stage(label, total)` and advances it; the CLI plugs in
rich progress bars with an ETA, tests plug in nothing. The plan's bar takes its ETA from a
`PlanClock` (`benchmark.execution.estimate`: the committed records' seconds, scaled by
this machine's), so it shows one from the first second; each finished cell prints one line
(`cell_line`) above the bars.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

if TYPE_CHECKING:
    from rich.progress import Task

    from benchmark.results.records import Record

Advance = Callable[[int], None]


class PlanClock(Protocol):
    """What the plan bar reads of a clock (`benchmark.execution.estimate.PlanClock`,
    declared here so that progress, which the planner imports, imports no planner)."""

    def eta(self) -> float | None: ...

    def record_done(self, record: Record) -> None: ...


class Reporter(Protocol):
    def stage(self, label: str, total: int) -> contextlib.AbstractContextManager[Advance]: ...


class NullReporter:
    @contextlib.contextmanager
    def stage(self, label: str, total: int) -> Iterator[Advance]:
        yield lambda n: None


def cell_line(record: Record) -> str:
    """One finished cell: task, method, seed (and track), its scores, its seconds."""
    from benchmark.kinds import get_kind
    from benchmark.results.records import REFERENCE
    from benchmark.tracks import file_suffix

    who = "reference" if record.method == REFERENCE else record.method
    head = f"{record.task} {who} seed {record.seed}{file_suffix(record.track)}"
    seconds = f"{sum(record.seconds.values()):.1f} s"
    if not record.done:
        return f"{head}: [red]failed[/] ({record.reason[:100]})"
    if not record.ok:
        return f"{head}: not applicable"
    m = record.metrics
    name = get_kind(record.data["kind"]).primary if "kind" in record.data else ""
    pairs = (("fine-tune", "finetune"), ("probe", "probe"))
    if record.method == REFERENCE:
        pairs = (("all-labels", "all_labels"), ("teacher", "teacher"))
    scores = [
        f"{label} {100 * m[f'{key}_{name}']:.1f}" for label, key in pairs if f"{key}_{name}" in m
    ]
    return f"{head}: {' · '.join([*scores, seconds])}"


class EtaColumn(ProgressColumn):
    """The plan's remaining time from a `PlanClock` (the stage bars' own from rich)."""

    def __init__(self, clock: PlanClock | None, plan_task: list[int]) -> None:
        super().__init__()
        self.clock, self.plan_task = clock, plan_task
        self.rich = TimeRemainingColumn()

    def render(self, task: Task) -> Text:
        if self.clock is None or task.id not in self.plan_task:
            return self.rich.render(task)
        left = self.clock.eta()
        if left is None:
            return Text("-:--:--", style="progress.remaining")
        return Text(str(dt.timedelta(seconds=round(left))), style="progress.remaining")


BAR_WIDTH = 12  # the label takes the rest of the line


class RichReporter:
    """One bar for the whole plan and one for the running stage, both with an ETA; one
    printed line per finished cell."""

    def __init__(
        self, cells: int, console: Console | None = None, clock: PlanClock | None = None
    ) -> None:
        self.clock = clock
        plan_task: list[int] = []
        self.progress = Progress(
            # The label folds onto a second line rather than squeezing the figures to
            # '…' at 80 columns (a real task's cell label, a tune study's best score).
            TextColumn("{task.description}", table_column=Column(overflow="fold", ratio=1)),
            BarColumn(bar_width=BAR_WIDTH),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            EtaColumn(clock, plan_task),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.plan = self.progress.add_task("plan", total=cells)
        plan_task.append(self.plan)

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def cell_done(self, record: Record | None = None) -> None:
        if record is not None:
            if self.clock is not None:
                self.clock.record_done(record)
            self.progress.console.print(cell_line(record), highlight=False)
        self.progress.advance(self.plan)

    @contextlib.contextmanager
    def stage(self, label: str, total: int) -> Iterator[Advance]:
        task = self.progress.add_task(f"  {label}", total=max(1, total))
        try:
            yield lambda n: self.progress.advance(task, n)
        finally:
            self.progress.remove_task(task)

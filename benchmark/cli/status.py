"""`bench status`: each cell of the plan in OUT: done / running / queued / failed / pending.

The table fits 80 columns the way `bench run`'s does (`benchmark.cli.cells_table`): no
box, the cell as task, track (only when the plan spans several), method and seed, a short
detail in its column and a long one (a failed cell's reason and log, other settings'
record) as a number whose text follows the table, once however many cells share it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmark.cli.common import OUT_HELP, USER_OUT, Command

if TYPE_CHECKING:
    from benchmark.execution.status import CellState

COLOUR = {"done": "green", "running": "cyan", "queued": "blue", "failed": "red"}
INLINE_CHARS = 12  # a longer detail goes below the table, numbered
DETAIL_CHARS = 300  # of a detail below the table; the middle is cut, the log path kept
NOT_APPLICABLE = "not applicable"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    from benchmark.execution.executors import watchers
    from benchmark.execution.status import cell_states, summary

    states = cell_states(args.out, watchers())
    print_states(console, states, f"plan in {args.out}")
    counts = summary(states)
    console.print(
        f"{len(states)} cells: " + ", ".join(f"{n} {k}" for k, n in counts.items()),
        highlight=False,
        markup=False,
    )
    return 0


def _short(text: str) -> str:
    """`text` within `DETAIL_CHARS`, its middle cut (a reason's end and a log path stay)."""
    if len(text) <= DETAIL_CHARS:
        return text
    half = (DETAIL_CHARS - 3) // 2
    return f"{text[:half]} … {text[-half:]}"


def print_states(console: Console, states: list[CellState], title: str) -> None:
    """The cells' states as a table within 80 columns, then the numbered details and what
    n/a means where a cell needs it."""
    tracks = {s.cell.track for s in states if s.cell is not None}
    several = len(tracks) > 1
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    for col in ["task", *(["track"] if several else []), "method"]:
        table.add_column(col, overflow="fold")
    table.add_column("seed", justify="right")
    table.add_column("state")
    table.add_column("job", overflow="fold")
    table.add_column("detail", overflow="fold")
    legend: dict[str, int] = {}
    for s in states:
        if s.cell is None:  # a state made without its cell: its label says it all
            names = [s.label, *([""] if several else []), ""]
            seed = ""
        else:
            c = s.cell
            names = [c.task, *([c.track] if several else []), c.method]
            seed = str(c.seed)
        if s.detail == NOT_APPLICABLE:
            detail = "n/a"
        elif len(s.detail) <= INLINE_CHARS:
            detail = escape(s.detail)
        else:
            detail = f"({legend.setdefault(_short(s.detail), len(legend) + 1)})"
        state = f"[{COLOUR[s.state]}]{s.state}[/]" if s.state in COLOUR else s.state
        table.add_row(*(escape(n) for n in names), seed, state, escape(s.job_id), detail)
    console.print(table)
    if any(s.detail == NOT_APPLICABLE for s in states):
        console.print(
            "n/a: done, the method cannot run in that track.", highlight=False, markup=False
        )
    if legend:
        notes = Table.grid(padding=(0, 1))
        notes.add_column(justify="right")
        notes.add_column(overflow="fold")
        for text, code in legend.items():
            notes.add_row(f"({code})", escape(text))
        console.print(notes)


COMMAND = Command("status", "progress of the plan in an output folder", add_arguments, cmd_status)

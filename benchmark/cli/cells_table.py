"""The table `bench run` ends with: one line per cell it ran, at most 80 columns wide.

What a newcomer reads first after a run, so it keeps to the columns that say what
happened (task, track, method, seed, status, the two scores, seconds), draws no box,
names the track only where the cells span several, and prints a failed cell's reason
below the table instead of in a column (a traceback's last line would widen every row).
Cells of the smoke profile are preceded by the line saying they are no results
(`benchmark.results.caveat`). The lines after the table (`print_wrapped`) are broken at
spaces to the console's width, with a hanging indent, rather than left to the terminal
to cut mid-word.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from benchmark.results.records import Record

REASON_CHARS = 200  # of a failed cell's reason, below the table (the record holds it all)


def scores(record: Record) -> tuple[float | None, float | None]:
    """A cell's two figures in its task's primary metric: a method cell's fine-tune (the
    labelled track's own head instead) and probe; a reference cell's all-labels ceiling
    and teacher."""
    from benchmark.kinds import get_kind

    m = record.metrics
    name = get_kind(record.data["kind"]).primary if "kind" in record.data else None
    first = m.get(f"finetune_{name}", m.get(f"head_{name}", m.get(f"all_labels_{name}")))
    return first, m.get(f"probe_{name}", m.get(f"teacher_{name}"))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def print_cells(console: Console, records: list[Record]) -> None:
    """The per-cell table, then one line per failed cell with its reason; first, where
    the profile makes these cells no results (smoke), the line that says so."""
    from benchmark.results.caveat import profile_caveat
    from benchmark.results.records import NOT_APPLICABLE

    if not records:
        return
    found = profile_caveat(r.profile for r in records)
    if found is not None:
        console.print(f"[bold red]{escape(found[0].upper() + found[1:])}.[/]")
    title = "cells run"
    tracks = {r.track for r in records}
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    names = ["task", *(["track"] if len(tracks) > 1 else []), "method"]
    for col in names:
        table.add_column(col, overflow="fold")
    table.add_column("seed", justify="right")
    table.add_column("status")
    # A labelled-track cell has its own head instead of a fine-tune; a reference cell
    # its all-labels ceiling and its teacher (the note below says so).
    table.add_column("fine-tune\nor head", justify="right")
    table.add_column("probe", justify="right")
    table.add_column("seconds", justify="right")
    failed = []
    for r in records:
        first, probe = scores(r)
        status = "n/a" if r.status == NOT_APPLICABLE else r.status if r.done else "[red]failed[/]"
        if not r.done:
            failed.append(r)
        table.add_row(
            *(escape(c) for c in [r.task, *([r.track] if len(tracks) > 1 else []), r.method]),
            str(r.seed),
            status,
            _pct(first),
            _pct(probe),
            f"{sum(r.seconds.values()):.1f}",
        )
    console.print(table)
    inapplicable = any(r.status == NOT_APPLICABLE for r in records)
    console.print(
        "Scores in % of the task's primary metric; a reference row (_reference) shows the "
        "all-labels ceiling and the teacher."
        + (" n/a: the method cannot run in that track." if inapplicable else ""),
        highlight=False,
        markup=False,
    )
    for r in failed:
        reason = r.reason if len(r.reason) <= REASON_CHARS else r.reason[:REASON_CHARS] + "…"
        console.print(
            f"failed: {r.task} {r.track} {r.method} seed {r.seed}: {reason}",
            highlight=False,
            markup=False,
        )


def print_wrapped(console: Console, text: str, command: str | None = None) -> None:
    """`text` broken at spaces to the console's width, its continuation lines indented
    so each statement reads as one item; a word or path longer than a line stays whole
    on a line of its own, to be copied. `command` follows on lines of its own, indented,
    broken only at spaces and with the shell's ` \\` continuation, so it can be copied
    and run as printed."""
    width = max(console.width, 40)
    lines = _wrap(text, width, "", "  ")
    if command:
        parts = _wrap(command, width - 2, "  ", "    ")
        lines += [f"{part} \\" for part in parts[:-1]] + parts[-1:]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )

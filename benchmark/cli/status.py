"""`bench status`: each cell of the plan in OUT: done / running / queued / failed / pending."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmark.cli.common import OUT_HELP, USER_OUT, Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    from benchmark.execution.executors import watchers
    from benchmark.execution.status import cell_states, summary

    states = cell_states(args.out, watchers())
    colour = {"done": "green", "running": "cyan", "queued": "blue", "failed": "red"}
    table = Table(title=f"plan in {args.out}")
    for col in ("cell", "state", "job", "detail"):
        table.add_column(col, overflow="fold")
    for s in states:
        state = f"[{colour[s.state]}]{s.state}[/]" if s.state in colour else s.state
        table.add_row(s.label, state, s.job_id, s.detail)
    console.print(table)
    counts = summary(states)
    console.print(f"{len(states)} cells: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


COMMAND = Command("status", "progress of the plan in an output folder", add_arguments, cmd_status)

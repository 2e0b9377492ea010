"""`bench report`: a self-contained HTML page of the records."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from benchmark.cli.common import OUT_HELP, USER_OUT, Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    p.add_argument("--html", type=Path, default=None, help="default OUT/report.html")


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from benchmark.results.report import report_command

    console.print(str(report_command(args.out, args.html)), highlight=False)
    return 0


COMMAND = Command("report", "a self-contained HTML page of the records", add_arguments, cmd_report)

"""`bench compare`: do your records reproduce the reference? per task and method."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from benchmark.cli.common import USER_OUT, Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=USER_OUT, help="your output folder (runs/)")
    p.add_argument(
        "--against",
        type=Path,
        default=None,
        help="the reference folder (default results/ here or in the checkout)",
    )


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from benchmark.results.compare import cmd_compare as compare

    return compare(args, console)


COMMAND = Command(
    "compare",
    "do your records reproduce the reference? per task and method",
    add_arguments,
    cmd_compare,
)

"""`bench plot`: PNG and SVG figures from records (needs xmd-bench[plot])."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from benchmark.cli.common import OUT_HELP, USER_OUT, Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    p.add_argument(
        "--sweep",
        type=Path,
        action="append",
        default=[],
        help="a sweep folder OUT/sweeps/KNOB (default: every one under OUT)",
    )
    p.add_argument("--figures", type=Path, default=None, help="default OUT/figures")


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    from benchmark.results.plots import plot_command

    for path in plot_command(args.out, args.sweep, args.figures):
        console.print(str(path), highlight=False)
    return 0


COMMAND = Command(
    "plot", "PNG and SVG figures from records (needs xmd-bench[plot])", add_arguments, cmd_plot
)

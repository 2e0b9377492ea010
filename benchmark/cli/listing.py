"""`bench list`: the registered methods, tasks or backbones, one line each."""

from __future__ import annotations

import argparse

from rich.console import Console

from benchmark.cli.common import Command, default_cache_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["methods", "tasks", "backbones"])
    p.add_argument("-v", "--verbose", action="store_true", help="show parameters")


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    """From the registries' catalog (`benchmark.cli.catalog`): no torch once it is cached."""
    from benchmark.cli.catalog import list_lines, load

    for text, highlight in list_lines(load(default_cache_dir()), args.what, args.verbose):
        console.print(text, highlight=highlight)
    return 0


COMMAND = Command("list", "list registered methods, tasks or backbones", add_arguments, cmd_list)

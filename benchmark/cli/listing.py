"""`bench list`: the registered methods, tasks or backbones, one line each."""

from __future__ import annotations

import argparse
import re
import sys

from rich.console import Console

from benchmark.cli.common import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["methods", "tasks", "backbones"])
    p.add_argument("-v", "--verbose", action="store_true", help="show parameters")


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    if args.what == "methods":
        _methods(console, args.verbose)
    elif args.what == "tasks":
        _tasks(console, args.verbose)
    else:
        _backbones(console, args.verbose)
    return 0


def _methods(console: Console, verbose: bool) -> None:
    from benchmark.method import load_methods

    registry = load_methods()
    aliases = registry.aliases()
    for name in registry.names():
        cls = registry.get(name)
        alias = [a for a, target in aliases.items() if target == name]
        doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip()
        paragraph = " ".join(doc.split("\n\n")[0].split())  # its lines joined
        first = re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]  # the whole sentence
        console.print(
            f"[bold]{name}[/]" + (f" (alias {', '.join(alias)})" if alias else "") + f"  {first}",
            highlight=False,
        )
        if verbose:
            for pname, spec in cls.params.items():
                console.print(f"    {pname}: {spec.describe()}", highlight=False)


def _tasks(console: Console, verbose: bool) -> None:
    from benchmark.datasets.tasks import TASKS

    for name in TASKS.names():
        spec = TASKS.get(name)
        console.print(
            f"[bold]{name}[/]  {spec.source} → {spec.target}, {spec.kind}: {spec.description}",
            highlight=False,
        )
        if verbose and spec.world:
            console.print(f"    world: {spec.world}", highlight=False)


def _backbones(console: Console, verbose: bool) -> None:
    from benchmark.backbones import SUGGESTED

    for name in SUGGESTED:
        console.print(name)
    if verbose:
        console.print("(any timm model with features_only support can be named)")


COMMAND = Command("list", "list registered methods, tasks or backbones", add_arguments, cmd_list)

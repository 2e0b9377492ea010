"""`bench validate`: check a YAML config without running anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from benchmark.cli.common import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path)


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from benchmark.config import load_yaml, resolve
    from benchmark.datasets.tasks import TASKS
    from benchmark.execution.executor_settings import parse_settings
    from benchmark.execution.plan import check_method_settings

    loaded = load_yaml(args.file)
    section = loaded.pop("executor", None)
    settings = parse_settings(section, {})
    cfg = resolve(None, loaded, None, canonical_task=TASKS.canonical)
    check_method_settings(cfg)
    extra = f" · executor {settings.kind}" if section is not None else ""
    console.print(f"{args.file}: ok (profile {cfg.profile}){extra}")
    return 0


COMMAND = Command(
    "validate", "check a YAML config without running anything", add_arguments, cmd_validate
)

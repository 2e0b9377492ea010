"""`bench validate`: check a YAML config without running anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from benchmark.cli.common import Command, default_cache_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path)


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from benchmark.cli import catalog
    from benchmark.config import load_yaml, resolve
    from benchmark.execution.executor_settings import parse_settings

    loaded = load_yaml(args.file)
    section = loaded.pop("executor", None)
    settings = parse_settings(section, {})
    # The registries' declarations, without torch once cached; kept only once the file
    # is valid, since bad input writes nothing.
    names = catalog.load(default_cache_dir(), store=False)
    cfg = resolve(None, loaded, None, canonical_task=names.canonical_task)
    catalog.check_method_settings(names, cfg)
    catalog.save(default_cache_dir(), names)
    extra = f" · executor {settings.kind}" if section is not None else ""
    console.print(f"{args.file}: ok (profile {cfg.profile}){extra}")
    return 0


COMMAND = Command(
    "validate", "check a YAML config without running anything", add_arguments, cmd_validate
)

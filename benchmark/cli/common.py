"""What the subcommand modules share: the `Command` each one declares, the default
folders, and the argument groups several commands take (`--profile/--config/--set`,
and `bench run`'s arguments, which `sweep` and `tune` take too).

A command module stays light at import time (`bench --help` builds every parser): it
imports torch and the heavy layers only inside its handler."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from rich.console import Console

from benchmark.execution.executor_settings import add_arguments as add_executor_arguments

# A user's runs go to runs/ (git-ignored); results/ holds the committed reference records,
# which a command reads only when asked with --out results.
USER_OUT = Path("runs")
OUT_HELP = "output folder (default runs/; the committed reference is results/)"


class Command(NamedTuple):
    """One `bench` subcommand: its name and one-line help, the function that adds its
    arguments to its parser, and its handler (returns the exit code)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handle: Callable[[argparse.Namespace, Console], int]


def default_cache_dir() -> Path:
    env = os.environ.get("XMD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "xmd-bench"


def default_data_root() -> Path | None:
    """Where real datasets live: `--data-root`, else $XMD_DATA, else none (embedded only)."""
    env = os.environ.get("XMD_DATA")
    return Path(env) if env else None


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=None, help="smoke | quick (default) | paper")
    p.add_argument("--config", type=Path, help="YAML file with config sections")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. teacher.epochs=5 or l2.weight=0.5",
    )


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """The arguments of `bench run`, which `bench sweep` and `bench tune` share."""
    run.add_argument("--methods", default="all", help="'all' or comma-separated names")
    run.add_argument("--tasks", default="all", help="'all' or comma-separated names")
    run.add_argument(
        "--seeds", type=int, default=None, help="number of seeds 0..N-1 (default: the profile's)"
    )
    run.add_argument(
        "--tracks",
        default="supervised",
        help="protocols: supervised, label-free (CMCD's: no labels before the few-label "
        "step), labelled (the literature's: CE on labelled pairs + the method's loss) or "
        "all (default supervised)",
    )
    add_config_arguments(run)
    run.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    run.add_argument("--force", action="store_true", help="recompute finished cells")
    run.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="world/teacher cache (default $XMD_CACHE or ~/.cache/xmd-bench)",
    )
    run.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding real datasets (default $XMD_DATA)",
    )
    run.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per cell, the same under every executor (default: cores, ≤ 8)",
    )
    run.add_argument(
        "--log",
        action="append",
        default=None,
        metavar="LOGGER",
        help="also write each cell this run finishes as a run of tensorboard, wandb (offline) "
        "or mlflow (local store), under OUT/logs; repeatable (default none)",
    )
    add_executor_arguments(run)

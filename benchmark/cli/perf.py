"""`bench perf`: measure the harness against bare loops, one table
(`benchmark.execution.perf` says what each row measures)."""

from __future__ import annotations

import argparse

from rich.console import Console

from benchmark.cli.common import Command, default_cache_dir
from benchmark.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="smoke-profile sizes (for tests)")
    p.add_argument(
        "--full", action="store_true", help="also time bench run --methods all --tasks all"
    )
    p.add_argument("--repeats", type=int, default=None, help="repeats per row (default 5)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: cores)")


def cmd_perf(args: argparse.Namespace, console: Console) -> int:
    import torch

    from benchmark.config import resolve
    from benchmark.execution.executor_settings import parse_settings
    from benchmark.execution.perf import measure, render

    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    if not 1 <= repeats <= 1000:
        raise UserError(f"--repeats {repeats} must be between 1 and 1000")
    threads = parse_settings(None, {"threads": args.threads}).resolved_threads()
    torch.set_num_threads(threads)
    cfg = resolve("smoke" if args.quick else "quick")
    rows = measure(cfg, repeats=repeats, full=args.full, cache_dir=default_cache_dir())
    render(rows, console, f"bench perf · profile {cfg.profile} · {threads} threads · CPU")
    return 0


COMMAND = Command(
    "perf", "measure the harness against bare loops (one table)", add_arguments, cmd_perf
)

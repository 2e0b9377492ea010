"""`bench sweep`: one `bench run` per value of one knob, and a tidy table of them all.

The point is the modality-gap question (`benchmark.protocol.gaps`): widen the gap with a world
knob, and see whether each method's target error follows the measured gap. A sweep is
nothing but ordinary runs, so it inherits everything a run has (every executor, resume,
`--force`, `bench status`, the leaderboard) by calling the same code:

    OUT/sweeps/<knob>/<value>/            a complete `bench run` output folder
    OUT/sweeps/<knob>/<value>/runs/...    its records
    OUT/sweeps/<knob>/sweep.csv           one row per record of every value

(`benchmark.results.sweeps` owns that layout and the table). Values run one after the
other; within a value the executor decides. On the embedded world the continuous knobs
only change how the same random draws are used, so the values of a sweep show the same
scenes and the teacher (keyed by its RGB data) is trained once per seed and shared by
every value.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from collections.abc import Callable

from rich.console import Console

from benchmark.cli.common import Command, add_run_arguments
from benchmark.cli.run import cmd_run
from benchmark.config import RunConfig
from benchmark.errors import UserError, did_you_mean

RunCommand = Callable[[argparse.Namespace, Console], int]


def canonical_knob(key: str) -> str:
    """`section.key` as `--set` spells it; `sketch.abstraction` (modality.rest) is a
    friendly alias of the world knob `world.sketch_abstraction` when that knob exists."""
    from benchmark.datasets.world import WorldConfig
    from benchmark.method import list_methods

    parts = key.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise UserError(
            f"--knob '{key}' must look like section.key=v1,v2,... "
            "(e.g. world.sketch_abstraction=0,0.5,1)"
        )
    world = {f.name for f in dataclasses.fields(WorldConfig)}
    alias = f"{parts[0]}_{parts[1]}"
    if parts[0] != "world" and alias in world:
        return f"world.{alias}"
    sections = {f.name for f in dataclasses.fields(RunConfig)} - {"profile"}
    if parts[0] not in sections and parts[0] not in list_methods():
        knobs = [f"world.{name}" for name in world]
        raise UserError(f"unknown knob '{key}': {did_you_mean(key, knobs)}")
    return ".".join(parts)


def parse_knob(text: str) -> tuple[str, list[str]]:
    """`key=v1,v2,...` → (canonical key, the values as typed, in order, no repeats)."""
    key, sep, raw = text.partition("=")
    values = [v.strip() for v in raw.split(",")]
    if not sep or not all(values):
        raise UserError(f"--knob '{text}' must look like section.key=v1,v2,... with no empty value")
    if len(set(values)) != len(values):
        raise UserError(f"--knob '{text}' repeats a value")
    return canonical_knob(key), values


def _value_args(args: argparse.Namespace, knob: str, value: str) -> argparse.Namespace:
    """The `bench run` arguments of one point: the user's settings, then the knob (last,
    so it wins), written to the point's own folder."""
    from benchmark.results.sweeps import value_dir

    point = copy.copy(args)
    point.sets = [*args.sets, f"{knob}={value}"]
    point.out = value_dir(args.out, knob, value)
    return point


def check(args: argparse.Namespace, knob: str, values: list[str]) -> None:
    """Resolve every point's config before any runs, so a bad knob or value stops the
    sweep with one line before anything is written."""
    from benchmark.cli.run import (
        check_run_outputs,
        default_cache_dir,
        default_data_root,
        resolve_config,
    )
    from benchmark.datasets.real import Verdicts, resolve_tasks, save_verdicts
    from benchmark.datasets.tasks import get_task, world_config
    from benchmark.results.sweeps import TABLE, sweep_dir
    from benchmark.storage import check_target, check_writable

    check_writable(args.out, "--out")
    check_target(sweep_dir(args.out, knob) / TABLE, "the sweep table")
    cache_dir = args.cache_dir or default_cache_dir()
    verdicts: list[Verdicts] = []
    tasks, _ = resolve_tasks(
        args.tasks, args.data_root or default_data_root(), cache_dir=cache_dir, pending=verdicts
    )
    for value in values:
        point = _value_args(args, knob, value)
        request = resolve_config(point)
        for task in tasks:
            task_cfg = request.cfg.for_task(task)
            world_config(get_task(task), task_cfg.data, task_cfg.world)
        seeds = {task: list(range(request.task_seeds(task))) for task in tasks}
        check_run_outputs(point, request.cfg, seeds, tasks, cache_dir)
    save_verdicts(verdicts)


def run_sweep(args: argparse.Namespace, console: Console, run: RunCommand) -> int:
    """Run every point with `run` (the `bench run` command), then write the table.
    Returns the worst exit code of the points (1 when any cell failed)."""
    from benchmark.results.sweeps import sweep_dir, write_table

    knob, values = parse_knob(args.knob)
    check(args, knob, values)
    worst = 0
    for i, value in enumerate(values, 1):
        console.print(f"[bold]bench sweep[/] · {knob} = {value} ({i}/{len(values)})")
        worst = max(worst, run(_value_args(args, knob, value), console))
    table = write_table(sweep_dir(args.out, knob))
    console.print(f"sweep table: {table}")
    return worst


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p)
    p.add_argument(
        "--knob",
        required=True,
        metavar="KEY=V1,V2,...",
        help="e.g. world.sketch_abstraction=0,0.25,0.5,0.75,1",
    )


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    return run_sweep(args, console, cmd_run)


COMMAND = Command(
    "sweep",
    "one run per value of a knob, and OUT/sweeps/KNOB/sweep.csv",
    add_sweep_arguments,
    cmd_sweep,
)

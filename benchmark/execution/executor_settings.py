"""Executor settings: `--executor`, `--workers`, the `--slurm-*` flags and `--slurm
key=value`, or the same names in an `executor:` section of the YAML config (flags win).

They say where and how cells run, never what they compute, so they stay out of
`RunConfig` and out of every config hash: moving a plan from a laptop to a cluster keeps
its finished records valid. The one setting that changes results in the last bits, the
torch thread count, is set deliberately per executor and recorded in every record
(`versions.torch_threads`): inline cells use all cores, local workers split them (see
`resolved_threads`). `--threads N` pins it, which makes any two executors' records equal.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import UserError, did_you_mean
from benchmark.params import annotation_type, coerce

EXECUTORS = ("inline", "local", "slurm")
# Default torch threads per cell: the machine's cores (what `bench run` always used), but
# at most this many, so a default run on a big login node does not ask SLURM for 128 CPUs.
MAX_DEFAULT_THREADS = 8
SLURM_TIMEOUT_MIN = 60  # short jobs schedule sooner; longer cells resume after requeue


@dataclass
class ExecutorSettings:
    """How and where to run cells (never what they compute)."""

    kind: str = "inline"
    workers: int | None = None
    threads: int | None = None
    partition: str | None = None
    time: str | None = None  # minutes, or SLURM's [D-]HH:MM[:SS]
    cpus_per_task: int | None = None
    gpus_per_task: int | None = None
    mem: str | None = None  # "16G", "500M" or a number of GB
    array_parallelism: int | None = None
    signal_delay_s: int | None = None  # how long before the time limit the job is warned
    max_requeues: int = 10  # timeouts/preemptions a cell may survive (submitit's countdown)
    cells_per_job: int | None = None  # slurm: cells of one (task, seed) per array task (1)
    wait: bool = True  # slurm: wait for the jobs (False: submit and return)
    poll_s: float = 5.0  # slurm: seconds between squeue polls
    slurm: dict[str, Any] = field(default_factory=dict)  # any other sbatch option

    def resolved_threads(self) -> int:
        """Torch threads per cell. Inline and SLURM cells get the machine's cores (on
        SLURM, `--cpus-per-task` follows); local workers share the machine, so by default
        they split its cores, one thread each: two small cells on one thread each train
        faster together than one cell on two threads, because these models are too small
        to keep two threads busy (`bench perf` measures it)."""
        if self.threads:
            return self.threads
        cores = min(os.cpu_count() or 1, MAX_DEFAULT_THREADS)
        if self.kind == "local":
            return max(1, cores // (self.workers or cores))
        return cores

    def resolved_workers(self) -> int:
        return self.workers or max(1, (os.cpu_count() or 1) // self.resolved_threads())


_FIELDS = {f.name: f for f in dataclasses.fields(ExecutorSettings)}
_ALIASES = {"executor": "kind", "slurm_partition": "partition", "slurm_time": "time"}


def parse_settings(section: dict[str, Any] | str | None, flags: dict[str, Any]) -> ExecutorSettings:
    """The YAML `executor:` section overlaid with the command line's (non-None) flags.
    `executor: slurm` is short for `executor: {kind: slurm}`."""
    if isinstance(section, str):
        section = {"kind": section}
    settings = ExecutorSettings()
    merged: dict[str, Any] = {}
    for origin, values in (("the config's executor section", section or {}), ("flags", flags)):
        if not isinstance(values, dict):
            raise UserError("config section 'executor' must be a mapping")
        for key, value in values.items():
            name = _ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
            if name not in _FIELDS:
                raise UserError(f"unknown executor setting '{key}': {did_you_mean(name, _FIELDS)}")
            if value is None:
                continue
            if name == "slurm":
                if not isinstance(value, dict):
                    raise UserError(f"executor.slurm in {origin} must map sbatch options to values")
                merged["slurm"] = {**merged.get("slurm", {}), **value}
            else:
                merged[name] = value
    for name, value in merged.items():
        if name != "slurm":
            value_type = annotation_type(str(_FIELDS[name].type).removesuffix(" | None"))
            value = coerce(value, value_type, f"executor.{name}")
        setattr(settings, name, value)
    _validate(settings)
    return settings


def _validate(s: ExecutorSettings) -> None:
    if s.kind not in EXECUTORS:
        raise UserError(f"unknown executor '{s.kind}': {did_you_mean(s.kind, EXECUTORS)}")
    bounds = (
        ("workers", 1, 1024),
        ("threads", 1, 1024),
        ("cpus_per_task", 1, 4096),
        ("gpus_per_task", 0, 64),
        ("signal_delay_s", 0, 86400),
        ("max_requeues", 0, 1000),
        ("cells_per_job", 1, 1000),
    )
    for name, low, high in bounds:
        value = getattr(s, name)
        if value is not None and value < low:
            raise UserError(f"executor.{name}={value} must be at least {low}")
        if value is not None and value > high:
            raise UserError(f"executor.{name}={value} must be at most {high}")
    if s.array_parallelism is not None and not 1 <= s.array_parallelism <= 1_000_000:
        raise UserError(
            f"--slurm-array-parallelism {s.array_parallelism} must be between 1 and 1000000"
        )
    if not math.isfinite(s.poll_s) or not 0 < s.poll_s <= 3600:
        raise UserError(f"executor.poll_s={s.poll_s!r} must be a number of seconds in (0, 3600]")
    if s.time is not None:
        minutes(s.time)
    if s.mem is not None:
        mem_gb(s.mem)
    for key in s.slurm:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", str(key)):
            raise UserError(f"--slurm '{key}' is not an sbatch option name (e.g. account=ml)")
    _check_applies(s)


# Settings that only one kind of executor reads: given to another, they would be ignored.
_ONLY = {
    "workers": ("local",),
    "time": ("local", "slurm"),
    "signal_delay_s": ("local", "slurm"),
    "partition": ("slurm",),
    "cpus_per_task": ("slurm",),
    "gpus_per_task": ("slurm",),
    "mem": ("slurm",),
    "array_parallelism": ("slurm",),
    "cells_per_job": ("slurm",),
}
_FLAG = {
    "workers": "--workers",
    "time": "--slurm-time",
    "signal_delay_s": "executor.signal_delay_s",
    "partition": "--slurm-partition",
    "cpus_per_task": "--cpus-per-task",
    "gpus_per_task": "--gpus-per-task",
    "mem": "--mem",
    "array_parallelism": "--slurm-array-parallelism",
    "cells_per_job": "executor.cells_per_job",
}


def _check_applies(s: ExecutorSettings) -> None:
    """A setting the chosen executor would silently ignore is an error that says so."""
    for name, kinds in _ONLY.items():
        if getattr(s, name) is not None and s.kind not in kinds:
            raise UserError(
                f"{_FLAG[name]} does not apply to --executor {s.kind} (only to "
                f"{' or '.join(kinds)}): drop it or choose --executor {kinds[0]}"
            )
    if s.slurm and s.kind != "slurm":
        raise UserError(f"--slurm options do not apply to --executor {s.kind}: drop them")
    if not s.wait and s.kind != "slurm":
        raise UserError(f"--no-wait does not apply to --executor {s.kind} (only to slurm)")


def parse_slurm_options(items: list[str]) -> dict[str, Any]:
    """`--slurm key=value` (repeatable; a bare `--slurm exclusive` is a flag) → dict."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
            raise UserError(f"--slurm '{item}' must look like key=value (e.g. account=ml)")
        options[key] = value if sep else True
    return options


def minutes(text: str) -> int:
    """A SLURM time limit in whole minutes (rounded up): `90`, `30:00` (min:sec),
    `1:30:00`, `2-00`, `2-12:00`, `2-12:00:00`."""
    raw = str(text).strip()
    days, _, rest = raw.rpartition("-") if "-" in raw else ("0", "", raw)
    try:
        parts = [int(p) for p in rest.split(":")]
        day = int(days)
    except ValueError:
        parts, day = [], -1
    if day < 0 or not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
        raise UserError(f"--slurm-time '{text}' is not a time limit: use minutes or D-HH:MM:SS")
    if "-" in raw:  # days-hours[:minutes[:seconds]]
        parts += [0] * (3 - len(parts))
        h, m, s = parts
    elif len(parts) == 3:
        h, m, s = parts
    else:  # minutes[:seconds]
        h, m, s = 0, parts[0], parts[1] if len(parts) == 2 else 0
    total = day * 1440 + h * 60 + m + (1 if s else 0)
    if total < 1:
        raise UserError(f"--slurm-time '{text}' must be at least one minute")
    return total


def mem_gb(text: str) -> float:
    """Memory per job in GB: `16G`, `16GB`, `500M`, `1T` or a plain number of GB."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", str(text), re.IGNORECASE)
    if match is None or float(match.group(1)) <= 0:
        raise UserError(f"--mem '{text}' is not an amount of memory: use e.g. 16G or 500M")
    scale = {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1.0, "T": 1024.0, "": 1.0}
    return float(match.group(1)) * scale[match.group(2).upper()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The executor flags of `bench run`."""
    p.add_argument("--executor", default=None, help="inline (default) | local | slurm")
    p.add_argument("--workers", type=int, default=None, help="local: parallel worker processes")
    p.add_argument("--slurm-partition", default=None, help="slurm: partition")
    p.add_argument(
        "--slurm-time",
        default=None,
        help="slurm: time limit per cell job (minutes or D-HH:MM:SS; default 60)",
    )
    p.add_argument(
        "--cpus-per-task", type=int, default=None, help="slurm: CPUs per job (default: --threads)"
    )
    p.add_argument("--gpus-per-task", type=int, default=None, help="slurm: GPUs per job")
    p.add_argument("--mem", default=None, help="slurm: memory per job, e.g. 16G")
    p.add_argument(
        "--slurm-array-parallelism",
        type=int,
        default=None,
        help="slurm: array tasks running at once",
    )
    p.add_argument(
        "--slurm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="slurm: any other sbatch option, e.g. account=ml or qos=high (repeatable)",
    )
    p.add_argument("--no-wait", action="store_true", help="slurm: submit and return")


def from_args(args: argparse.Namespace, section: dict[str, Any] | str | None) -> ExecutorSettings:
    """Settings from `bench run`'s flags over the YAML `executor:` section."""
    flags = {
        "kind": args.executor,
        "workers": args.workers,
        "threads": args.threads,
        "partition": args.slurm_partition,
        "time": args.slurm_time,
        "cpus_per_task": args.cpus_per_task,
        "gpus_per_task": args.gpus_per_task,
        "mem": args.mem,
        "array_parallelism": args.slurm_array_parallelism,
        "slurm": parse_slurm_options(args.slurm) or None,
        "wait": False if args.no_wait else None,
    }
    return parse_settings(section, flags)

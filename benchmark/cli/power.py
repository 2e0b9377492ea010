"""`bench power`: where a paired difference's variance comes from, and the MDE."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from benchmark.cli.common import OUT_HELP, USER_OUT, Command
from benchmark.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=USER_OUT, help=OUT_HELP)
    p.add_argument(
        "--replicate",
        type=Path,
        default=None,
        help="output folder of the same cells re-run with --set distill.training_noise=1",
    )
    p.add_argument(
        "--track",
        default="supervised",
        choices=["supervised", "label-free", "labelled"],
        help="whose records to decompose (default supervised)",
    )
    p.add_argument(
        "--seeds-plan",
        action="store_true",
        help="print, per task and track, the seeds that bring the MDE to 2 points (every "
        "track) next to the quick profile's planned seeds, instead of the decomposition",
    )


def cmd_power(args: argparse.Namespace, console: Console) -> int:
    from benchmark.kinds import kind_of_columns
    from benchmark.results.power import decompose, power_table
    from benchmark.results.records import read_records

    folders = [args.out] + ([args.replicate] if args.replicate is not None else [])
    for folder in folders:
        if not (folder / "runs").is_dir():
            raise UserError(f"no records under '{folder / 'runs'}': pass the folder of a bench run")
    if args.seeds_plan:
        return _seeds_plan(args.out)
    # One track at a time: methods are only ever compared within their track.
    skipped: list[tuple[Path, str]] = []
    records = [r for r in read_records(args.out, skipped) if r.track == args.track]
    replicate = (
        [r for r in read_records(args.replicate, skipped) if r.track == args.track]
        if args.replicate is not None
        else None
    )
    if replicate is not None and not replicate:
        raise UserError(
            f"'{args.replicate}' holds no {args.track} records: re-run its cells with "
            f"--tracks {args.track}, or leave --replicate out"
        )
    kinds = {r.task: r.data.get("kind") or kind_of_columns(r.metrics).name for r in records}
    components = decompose(records, kinds, replicate, progress=_progress)
    if not components:
        first = f"; {len(skipped)} file(s) skipped, e.g. {skipped[0][0]}: {skipped[0][1]}"
        raise UserError(
            f"no method records with per-sample outcomes under '{args.out}'"
            + (first if skipped else "")
        )
    for path, problem in skipped:  # malformed records, named as every reader names them
        print(f"skipping record {path}: {problem}", file=sys.stderr)
    print(power_table(components))
    return 0


def _progress(line: str) -> None:
    print(f"bench power: {line}", file=sys.stderr, flush=True)


def _seeds_plan(out: Path) -> int:
    """`bench power --seeds-plan`: the per-task seeds the quick profile stores, derived."""
    from benchmark.config import resolve
    from benchmark.results.aggregate import all_scores
    from benchmark.results.records import read_records
    from benchmark.results.seeds import seed_needs, seeds_table

    scores = all_scores(read_records(out))
    if not scores:
        raise UserError(f"no finished method records under '{out / 'runs'}'")
    cfg = resolve("quick")
    stored = {task: cfg.for_task(task).seeds for _, task in scores}
    print(seeds_table(seed_needs(scores, 0.02), 0.02, stored, floor=cfg.seeds))
    return 0


COMMAND = Command(
    "power",
    "resolution: where a paired difference's variance comes from, and the MDE",
    add_arguments,
    cmd_power,
)

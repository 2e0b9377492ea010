"""Cost of labelled-track cells against supervised-track cells of the same method, task
and seed, run interleaved in one process so both see the same machine load.

    python scripts/labelled_cost.py --tasks sketch-cls --methods kd [--profile quick]
        [--seed 0] [--repeats 2] [--threads 1]

The (task, seed) teacher and its outputs on the pairs are computed (or read from the
cache) first and not counted; then,
`--repeats` times, each method's supervised cell and labelled cell run one after the
other. For every cell the table prints its recorded stage seconds (`distill`: the
distillation or the labelled training; `evaluate`: probe + fine-tune restarts, or probe +
head; `gap`) and their sum, and per (task, method) the ratio labelled / supervised of the
summed seconds (median over repeats). The cache is $XMD_CACHE (or ~/.cache/xmd-bench).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.config import resolve
from benchmark.execution.plan import Cell, plan_cell
from benchmark.execution.runner import CellRunner
from benchmark.protocol.teacher_outputs import cached_teacher_outputs
from benchmark.tracks import LABELLED, SUPERVISED

STAGES = ("distill", "evaluate", "gap")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="sketch-cls")
    parser.add_argument("--methods", default="kd")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    cache = Path(os.environ.get("XMD_CACHE", Path.home() / ".cache" / "xmd-bench"))
    cfg = resolve(args.profile)
    runner = CellRunner(cfg, cache, torch.device("cpu"), threads=args.threads)
    torch.set_num_threads(args.threads)
    rows: list[tuple[str, str, str, int, dict[str, float], float]] = []
    for task in args.tasks.split(","):
        first = plan_cell(Cell(task, "scratch", args.seed), cfg)
        data = runner.data(first)
        teacher = runner.teacher(data, first)  # trained or read before any timing
        assert data.paired.source is not None
        for maps in (False, True):  # and its outputs on the pairs, which both tracks read
            cached_teacher_outputs(teacher, data.paired.source, keep_maps=maps, cache_dir=cache)
        for repeat in range(args.repeats):
            for method in args.methods.split(","):
                for track in (SUPERVISED, LABELLED):
                    clock = time.perf_counter()
                    record = runner.run(Cell(task, method, args.seed, track))
                    wall = time.perf_counter() - clock
                    if not record.ok:
                        print(f"{task}/{method}/{track}: {record.status} {record.reason}")
                        return 1
                    rows.append((task, method, track, repeat, record.seconds, wall))
    print(f"| task | method | track | repeat | {' | '.join(STAGES)} | sum (s) | wall (s) |")
    print("|---|---|---|---:|" + "---:|" * (len(STAGES) + 2))
    for task, method, track, repeat, seconds, wall in rows:
        stages = " | ".join(f"{seconds.get(s, 0.0):.1f}" for s in STAGES)
        total = sum(seconds.get(s, 0.0) for s in STAGES)
        print(f"| {task} | {method} | {track} | {repeat} | {stages} | {total:.1f} | {wall:.1f} |")
    print()
    print("| task | method | labelled / supervised (summed stage seconds, median) |")
    print("|---|---|---:|")
    for task in args.tasks.split(","):
        for method in args.methods.split(","):
            ratios = []
            for repeat in range(args.repeats):
                pick = {
                    r[2]: sum(r[4].get(s, 0.0) for s in STAGES)
                    for r in rows
                    if r[:2] == (task, method) and r[3] == repeat
                }
                ratios.append(pick[LABELLED] / pick[SUPERVISED])
            print(f"| {task} | {method} | {statistics.median(ratios):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

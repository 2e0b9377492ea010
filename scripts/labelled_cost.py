"""Cost of labelled-track cells against supervised-track cells of the same method, task
and seed, run interleaved in one process so both see the same machine load.

    python scripts/labelled_cost.py --tasks sketch-cls --methods kd [--profile quick]
        [--seed 0] [--repeats 2] [--threads 1]

The (task, seed) teacher and its outputs on the pairs are computed (or read from the
cache) first and not counted; then,
`--repeats` times, each method's supervised cell and labelled cell run one after the
other. For every cell the table prints its recorded stage seconds (`distill`: the
distillation or the labelled training; `evaluate`: probe + fine-tune restarts, or probe +
head; `gap`), their sum, the wall and CPU seconds of the whole cell, and per (task,
method) the ratios labelled / supervised of the summed seconds and of the CPU seconds
(medians over repeats; on a shared machine the CPU time is the steadier of the two).
The cache is $XMD_CACHE (or ~/.cache/xmd-bench).
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
                    clock, cpu = time.perf_counter(), time.process_time()
                    record = runner.run(plan_cell(Cell(task, method, args.seed, track), cfg))
                    wall = time.perf_counter() - clock
                    record.seconds["cpu"] = time.process_time() - cpu
                    if not record.ok:
                        print(f"{task}/{method}/{track}: {record.status} {record.reason}")
                        return 1
                    rows.append((task, method, track, repeat, record.seconds, wall))
    head = (
        f"| task | method | track | repeat | {' | '.join(STAGES)} | sum (s) | wall (s) | cpu (s) |"
    )
    print(head)
    print("|---|---|---|---:|" + "---:|" * (len(STAGES) + 3))
    for task, method, track, repeat, seconds, wall in rows:
        stages = " | ".join(f"{seconds.get(s, 0.0):.1f}" for s in STAGES)
        total = sum(seconds.get(s, 0.0) for s in STAGES)
        print(
            f"| {task} | {method} | {track} | {repeat} | {stages} | {total:.1f} | {wall:.1f} | "
            f"{seconds['cpu']:.1f} |"
        )
    print()
    print("| task | method | labelled / supervised: stage seconds | CPU seconds (medians) |")
    print("|---|---|---:|---:|")
    for task in args.tasks.split(","):
        for method in args.methods.split(","):
            by_sum, by_cpu = [], []
            for repeat in range(args.repeats):
                mine = {r[2]: r[4] for r in rows if r[:2] == (task, method) and r[3] == repeat}
                lab, sup = mine[LABELLED], mine[SUPERVISED]
                by_sum.append(
                    sum(lab.get(s, 0.0) for s in STAGES) / sum(sup.get(s, 0.0) for s in STAGES)
                )
                by_cpu.append(lab["cpu"] / sup["cpu"])
            print(
                f"| {task} | {method} | {statistics.median(by_sum):.2f} | "
                f"{statistics.median(by_cpu):.2f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

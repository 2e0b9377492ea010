"""`--executor local` before and after a change, side by side: the same small plan run by two
source trees in fresh child processes with empty caches, alternating (before, after, after,
before, ...), and what each cell cost the workers.

    for side in before:REV after:HEAD; do d=/tmp/${side%%:*}; mkdir -p $d
      git archive ${side##*:} | tar -x -C $d; mv $d/datasets $d/methods $d/benchmark/
      echo 'import sys; sys.meta_path[:] = [f for f in sys.meta_path
        if "editable" not in getattr(f, "__module__", "")]' > $d/sitecustomize.py; done
    python scripts/worker_overhead.py --before /tmp/before --after /tmp/after

Each tree must be importable on its own: the checkout's editable install maps
`benchmark.datasets` and `benchmark.methods` to the checkout's folders whatever
PYTHONPATH says, hence the package layout and the sitecustomize that drops its finder.

The plan is `bench perf`'s worker row: `--methods l2,kd --tasks sketch-cls --seeds 2
--executor local --workers 2 --threads 1` (two reference cells, four method cells). Per
side: wall seconds, the cells' own seconds (their records' stages), workers × wall over
those (what the plan held the cores for, idle included) and, where the tree writes a
workers report, busy worker-seconds (plus a fork server's shared import, counted once) over
them. Metrics are compared cell by cell.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from benchmark.execution.perf_child import run_child
from benchmark.execution.perf_row import PERF_TASK

PLAN = ["--methods", "l2,kd", "--tasks", PERF_TASK, "--seeds", "2"]
LOCAL = ["--executor", "local", "--workers", "2"]


def one(root: Path, profile: str) -> dict:
    os.environ["PYTHONPATH"] = str(root)
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    os.chdir(tempfile.gettempdir())  # `python -c` puts the cwd first on sys.path
    reports: dict[str, dict] = {}
    wall, _, records = run_child([*PLAN, "--profile", profile, *LOCAL], 1, reports)
    cells = sum(sum(r["seconds"].values()) for r in records)
    workers = reports.get("workers", {}).get("workers", [])
    shared = (reports.get("workers", {}).get("start") or {}).get("shared_import_cpu_s") or 0.0
    busy = sum(w["busy_s"] for w in workers) + shared if workers else None
    metrics = {(r["task"], r["method"], r["seed"]): r["metrics"] for r in records}
    return {"wall": wall, "cells": cells, "busy": busy, "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args()
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    got: dict[str, list[dict]] = {"before": [], "after": []}
    for r in range(args.repeats):
        for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
            got[side].append(one(sides[side], args.profile))
    same = all(g["metrics"] == got["before"][0]["metrics"] for s in got for g in got[s])
    print("| side | wall s | cell-seconds | workers × wall ÷ cell-seconds | busy ÷ cell-seconds |")
    print("|---|---:|---:|---:|---:|")
    for side, runs in got.items():
        wall = statistics.median(g["wall"] for g in runs)
        cells = statistics.median(g["cells"] for g in runs)
        held = statistics.median(2 * g["wall"] / g["cells"] for g in runs)
        busy = [g["busy"] / g["cells"] for g in runs if g["busy"] is not None]
        shown = f"{statistics.median(busy):.2f}×" if busy else "—"
        print(f"| {side} | {wall:.0f} | {cells:.0f} | {held:.2f}× | {shown} |")
    walls = [statistics.median(g["wall"] for g in got[s]) for s in ("before", "after")]
    print(f"wall speed-up before/after: {walls[0] / walls[1]:.2f}× · identical metrics: {same}")


if __name__ == "__main__":
    main()

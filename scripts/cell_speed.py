"""Whole-cell speed, before and after a change, side by side: one cell (teacher cached) run
by two source trees in fresh child processes, interleaved A, B, B, A, ... so both sides
see the same machine load, with each side's metrics and per-sample outcomes compared.

    for side in before:REV after:HEAD; do d=/tmp/${side%%:*}; mkdir -p $d
      git archive ${side##*:} | tar -x -C $d; mv $d/datasets $d/methods $d/benchmark/
      echo 'import sys; sys.meta_path[:] = [f for f in sys.meta_path
        if "editable" not in getattr(f, "__module__", "")]' > $d/sitecustomize.py; done
    python scripts/cell_speed.py --before /tmp/before --after /tmp/after \\
        --tasks sketch-cls,depth-seg --method kd --repeats 2

Each tree must be importable on its own: the checkout's editable install maps
`benchmark.datasets` and `benchmark.methods` to the checkout's folders whatever
PYTHONPATH says, hence the package layout and the sitecustomize that drops its finder.

Each child runs `CellRunner(...).run(cell)` at the quick profile (or `--profile`) on one
thread, with an output folder (so checkpoints are written as `bench run` writes them) and
the shared cache given by $XMD_CACHE (a warm-up run of the after side fills it first:
teacher, teacher outputs and data). The table shows per side the median seconds of the
whole `run` call (imports excluded; wall and the child's CPU time, which a loaded host
disturbs less) and of each stage, the before/after speed-up of medians (with the per-pair
range) and whether metrics and outcomes were identical.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import hashlib, json, sys, tempfile, time
import torch
torch.set_num_threads(1)
from benchmark.config import resolve
from benchmark.execution.plan import Cell
from benchmark.execution.runner import CellRunner
from pathlib import Path
profile, task, method, seed, cache = sys.argv[1:6]
with tempfile.TemporaryDirectory() as out:
    cpu = torch.device("cpu")
    runner = CellRunner(resolve(profile), Path(cache), cpu, out=Path(out), threads=1)
    start, cpu = time.perf_counter(), time.process_time()
    cell = Cell(task, method, int(seed))
    try:
        from benchmark.execution.plan import plan_cell
        cell = plan_cell(cell, resolve(profile))
    except ImportError:
        pass
    record = runner.run(cell)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
assert record.status == "ok", record.reason
digest = hashlib.sha256(json.dumps(record.outcomes, sort_keys=True).encode()).hexdigest()
got = {"wall": wall, "cpu": cpu, "seconds": record.seconds, "metrics": record.metrics}
print("CELL " + json.dumps({**got, "outcomes": digest}))
"""


def run(root: Path, args: argparse.Namespace, task: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    command = [sys.executable, "-c", CHILD, args.profile, task, args.method, str(args.seed),
               os.environ["XMD_CACHE"]]  # fmt: skip
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir()
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("CELL ")), None)
    if line is None:
        raise SystemExit(f"{root} failed:\n{done.stderr[-3000:]}")
    return json.loads(line[5:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--tasks", default="sketch-cls")
    parser.add_argument("--method", default="kd")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args()
    if "XMD_CACHE" not in os.environ:
        raise SystemExit("set XMD_CACHE to the cache both sides share")
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    print(
        "| task | side | cell wall s | cell CPU s | distill | evaluate | gap "
        "| speed-up, wall [range] | speed-up, CPU [range] | identical metrics · outcomes |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|---|---|")
    for task in args.tasks.split(","):
        run(sides["after"], args, task)  # warm-up: teacher, teacher outputs, data cached
        got: dict[str, list[dict]] = {"before": [], "after": []}
        for r in range(args.repeats):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for side in order:
                got[side].append(run(sides[side], args, task))
        ratios = {}
        for clock in ("wall", "cpu"):
            took = {side: [g[clock] for g in got[side]] for side in got}
            per = [b / a for a, b in zip(took["after"], took["before"], strict=True)]
            ratio = statistics.median(took["before"]) / statistics.median(took["after"])
            ratios[clock] = f"{ratio:.2f}× [{min(per):.2f}–{max(per):.2f}]"
        same_m = all(g["metrics"] == got["before"][0]["metrics"] for s in got for g in got[s])
        same_o = all(g["outcomes"] == got["before"][0]["outcomes"] for s in got for g in got[s])
        for side in ("before", "after"):
            stages = [statistics.median(g["seconds"].get(k, 0.0) for g in got[side])
                      for k in ("distill", "evaluate", "gap")]  # fmt: skip
            clocks = [statistics.median(g[c] for g in got[side]) for c in ("wall", "cpu")]
            tail = (f"{ratios['wall']} | {ratios['cpu']} | {same_m} · {same_o}"
                    if side == "after" else " | | ")  # fmt: skip
            print(f"| {task} | {side} | " + " | ".join(f"{s:.1f}" for s in [*clocks, *stages])
                  + f" | {tail} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

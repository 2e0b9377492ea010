"""`bench perf`'s measurements of whole commands, each in a fresh child process.

In-process timings (`benchmark.execution.perf`) see one step of the harness; these see
what a user waits for: process start, imports, an empty cache, the executor. Rows:

- *cell*: one (sketch-cls, l2) cell and its reference cell run by `bench run` in a child
  process with an empty cache: seconds per stage, wall time and the child's peak memory.
- *workers*: `bench run --executor local --workers 2 --threads 1` of two methods × two
  seeds on sketch-cls (with their reference cells) in a child process with an empty cache:
  the workers' busy seconds (alive minus waiting for a cell: process start, imports and
  everything between cells included) plus the CPU seconds of the fork server's import
  that the workers share, over the cells' own seconds (their records' stages), and the
  workers' wall-clock seconds (workers × wall) over the same.
- *full* (`--full`): `bench run --methods all --tasks all` with one seed, same way.
- *cli*: `bench --help`, `bench list methods -v`, `bench list tasks` and `bench validate`
  in fresh interpreters (`benchmark.execution.cli_timing`), and the first listing call on
  an empty cache, which builds the registries' catalog.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmark.execution.perf_row import PERF_TASK, Row

_BENCH = "import sys; from benchmark.cli.main import main; sys.exit(main())"
_CHILD = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "wall = time.perf_counter() - t\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(f'PERF {code} {wall} {peak}')\n"
)


def run_child(
    args: list[str], threads: int, reports: dict[str, dict] | None = None
) -> tuple[float, float, list[dict]]:
    """`bench run ARGS` in a fresh process with an empty cache, in a temporary folder that
    is removed afterwards: (wall s, peak MB, records). A wrapper process reports the bench
    process's own peak RSS. `reports` receives the local workers' report, if any
    (`benchmark.execution.workers`), as "workers"."""
    with tempfile.TemporaryDirectory(prefix="xmd-perf-") as name:
        tmp = Path(name)
        env = {**os.environ, "XMD_CACHE": str(tmp / "cache")}
        env.pop("XMD_DATA", None)  # embedded tasks only: real ones are skipped under `all`
        bench = [
            sys.executable,
            "-c",
            "import sys; from benchmark.cli.main import main; sys.exit(main())",
        ]
        command = [*bench, "run", *args, "--out", str(tmp / "out"), "--threads", str(threads)]
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, *command], env=env, capture_output=True, text=True
        )
        line = next((x for x in done.stdout.splitlines() if x.startswith("PERF ")), "")
        if not line or line.split()[1] != "0":
            tail = (done.stdout + done.stderr)[-3000:]
            raise RuntimeError(f"bench run {' '.join(args)} failed:\n{tail}")
        _, _, wall, peak_kb = line.split()
        runs = sorted((tmp / "out" / "runs").glob("*/*/seed*.json"))
        records = [json.loads(p.read_text()) for p in runs]
        workers = tmp / "out" / "jobs" / "workers.json"
        if reports is not None and workers.is_file():
            reports["workers"] = json.loads(workers.read_text())
    return float(wall), float(peak_kb) / 1024, records


def run_rows(group: str, args: list[str], threads: int) -> list[Row]:
    wall, peak, records = run_child(args, threads)
    stages: dict[str, float] = {}
    for record in records:
        for stage, seconds in record["seconds"].items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    failed = [r for r in records if r["status"] != "ok"]
    rows = [
        Row.of(group, f"{stage} (summed over {len(records)} cells)", [s], "s")
        for stage, s in sorted(stages.items(), key=lambda kv: -kv[1])
    ]
    note = f"{len(records)} cells" + (f", {len(failed)} FAILED" if failed else "")
    rows.append(Row.of(group, f"wall · bench run {' '.join(args)}", [wall], "s", note=note))
    rows.append(Row.of(group, "peak memory of the bench process", [peak], "MB"))
    return rows


def worker_rows(profile: str) -> list[Row]:
    """The local executor's overhead: worker-seconds over the cells' own seconds."""
    args = ["--methods", "l2,kd", "--tasks", PERF_TASK, "--profile", profile, "--seeds", "2"]
    args += ["--executor", "local", "--workers", "2"]
    reports: dict[str, dict] = {}
    wall, _, records = run_child(args, 1, reports)
    workers = reports.get("workers", {}).get("workers", [])
    if not workers:
        raise RuntimeError("bench run --executor local left no workers report")
    cells = sum(sum(r["seconds"].values()) for r in records)
    # a fork server's import, shared by the workers, is theirs too (counted once)
    shared = (reports["workers"].get("start") or {}).get("shared_import_cpu_s") or 0.0
    busy = sum(w["busy_s"] for w in workers) + shared
    held = len(workers) * wall
    what = f"{len(records)} cells on {len(workers)} workers, {profile}"
    return [
        Row.of("workers", f"cell-seconds (records' stages) · {what}", [cells], "s"),
        Row.of(
            "workers",
            "(busy worker-seconds + shared import) ÷ cell-seconds",
            [busy / cells],
            "×",
            note="target ≤ 1.05×",
        ),
        Row.of("workers", "workers × wall ÷ cell-seconds (idle included)", [held / cells], "×"),
    ]


def listing_rows(repeats: int) -> list[Row]:
    """The commands that only read declarations, as a user waits for them
    (`benchmark.execution.cli_timing`)."""
    from benchmark.execution.cli_timing import cli_timings

    return [Row.of("cli", what, seconds, "s") for what, seconds in cli_timings(repeats)]

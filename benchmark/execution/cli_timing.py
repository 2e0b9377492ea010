"""How long the commands that only read declarations take (`bench perf`'s *cli* rows):
`bench --help`, `bench list methods -v`, `bench list tasks`, `bench validate`, each the
wall time of a fresh interpreter running it, as a user waits for it.

They answer from the registries' catalog (`benchmark.cli.catalog`) once it is cached for
the source; the first call after any source change builds it, importing torch and every
method, and that cost is its own row, timed with an empty cache. The commands are run
interleaved, repeat by repeat, so a busy moment of the machine spreads over all of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = "import sys; from benchmark.cli.main import main; sys.exit(main())"
CONFIG = "profile: smoke\nmethods:\n  kd:\n    temperature: 2.0\n"

Timing = tuple[str, list[float]]  # (what, seconds per repeat)


def _wall(args: list[str], cache: Path) -> float:
    env = {**os.environ, "XMD_CACHE": str(cache)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", BENCH, *args], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"bench {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return wall


def cli_timings(repeats: int) -> list[Timing]:
    """One first call of `bench list methods -v` on an empty cache (it builds the
    catalog there), then `repeats` interleaved rounds of every command on that cache."""
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="xmd-cli-") as name:
        tmp = Path(name)
        cache = tmp / "cache"
        config = tmp / "config.yaml"
        config.write_text(CONFIG)
        methods = ["list", "methods", "-v"]
        first = _wall(methods, cache)
        timings.append(("bench list methods -v · first call, empty cache", [first]))
        commands = {
            "bench --help": ["--help"],
            "bench list methods -v": methods,
            "bench list tasks": ["list", "tasks"],
            "bench validate (a smoke config)": ["validate", str(config)],
        }
        seconds: dict[str, list[float]] = {what: [] for what in commands}
        for repeat in range(repeats):
            order = list(commands) if repeat % 2 == 0 else list(reversed(commands))
            for what in order:
                seconds[what].append(_wall(commands[what], cache))
        timings += list(seconds.items())
    return timings

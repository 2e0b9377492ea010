"""What a local worker imports before its first cell, imported once for all workers.

`benchmark.execution.workers` starts its workers from a fork server that imports this
module first (`multiprocessing`'s "forkserver" start method with this module preloaded),
so the stack's import (torch, timm, every method and task) is paid once per `bench run`,
not once per worker, and it overlaps the parent's planning (`warm_up`). The fork server
itself never runs a tensor operation, so no thread pool exists when it forks: each worker
sets its own thread count as a spawned one would.

`PRELOAD_CPU_S` is the CPU time of the importing process when this import ended. A
worker forked from the server inherits the server's value, which is what the server
spent on the shared import; `bench perf` adds it, once, to the workers' busy seconds.
"""

from __future__ import annotations

import time

import timm  # noqa: F401  (the backbones' library)
import torch  # noqa: F401

import benchmark.execution.jobs  # noqa: F401  (the cell's path: runner, protocol, records)
from benchmark.datasets.tasks import TASKS
from benchmark.method import load_methods

load_methods()  # every method file, registered
TASKS.names()  # every task, real-data plugins included
PRELOAD_CPU_S = time.process_time()

"""Where the harness's distillation step differs from a bare loop, one piece at a time.

    python scripts/step_overhead.py l2 10

Runs, interleaved and repeated, one epoch each of: the bare loop of `bench perf`
(pre-made batches); the bare loop plus per-step index gathering of the batch and teacher
rows; plus the per-term `.item()` finiteness checks; plus the LR schedule; all three; and
the harness's `distill`. Prints each one's samples/s and its ratio to the bare loop.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import time
from collections.abc import Callable

import torch

from benchmark.config import resolve
from benchmark.datasets.tasks import get_task
from benchmark.execution import perf
from benchmark.execution.perf_row import PERF_TASK
from benchmark.method import Batch, create_method
from benchmark.protocol.distill import distill, take
from benchmark.protocol.loop import batches, sgd_cosine
from benchmark.protocol.teacher_outputs import teacher_outputs
from benchmark.protocol.training import seeded


def main(method_name: str, repeats: int) -> None:
    torch.set_num_threads(2)
    cfg = resolve("quick").for_task(PERF_TASK)
    data = get_task(PERF_TASK).load(cfg.data, cfg.world, 0, None)
    backbone = cfg.student.backbone
    teacher = perf._teacher(data, backbone)
    paired = data.paired
    assert paired.source is not None and paired.target is not None
    keep = create_method(method_name).uses_feature_maps
    outputs = teacher_outputs(teacher, paired.source, keep_maps=keep)
    dcfg = dataclasses.replace(cfg.distill, epochs=1)
    index = list(batches(len(paired), dcfg.batch_size, seeded(0, "distill")))
    xs = [paired.target[i] for i in index]
    sliced = [take(outputs, i, torch.device("cpu")) for i in index]
    samples = len(index) * dcfg.batch_size
    cpu = torch.device("cpu")

    def loop(gather: bool, item: bool, schedule: bool) -> float:
        s, m = perf._fresh(method_name, data, teacher, backbone)
        params = [p for p in [*s.parameters(), *m.parameters()] if p.requires_grad]
        opt, sched = sgd_cosine(params, dcfg.lr, dcfg.weight_decay, len(index))
        s.train()
        m.train()
        start = time.perf_counter()
        for step, idx in enumerate(index):
            if gather:
                xb, tb = paired.target[idx], take(outputs, idx, cpu)
            else:
                xb, tb = xs[step], sliced[step]
            terms = m.losses(s(xb), tb, Batch(idx))
            total = torch.stack(list(terms.values())).sum()
            if item and not all(math.isfinite(v.item()) for v in terms.values()):
                raise FloatingPointError("non-finite loss")
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if schedule:
                sched.step()
        return time.perf_counter() - start

    def harness() -> float:
        s, m = perf._fresh(method_name, data, teacher, backbone)
        start = time.perf_counter()
        distill(s, m, outputs, paired.target, dcfg, 0)
        return time.perf_counter() - start

    variants: dict[str, Callable[[], float]] = {
        "bare": lambda: loop(False, False, False),
        "+gather": lambda: loop(True, False, False),
        "+item": lambda: loop(False, True, False),
        "+sched": lambda: loop(False, False, True),
        "all3": lambda: loop(True, True, True),
        "harness": harness,
    }
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(repeats + 1):  # the first round warms up and is not kept
        for name, run in variants.items():
            seconds = run()
            if r:
                rates[name].append(samples / seconds)
    bare = rates["bare"]
    for name, values in rates.items():
        per = [x / y for x, y in zip(values, bare, strict=True)]
        ratio = statistics.median(values) / statistics.median(bare)
        print(
            f"{name:8s} median {statistics.median(values):7.0f} samples/s  ratio {ratio:.3f}  "
            f"per-repeat [{min(per):.3f}-{max(per):.3f}]"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

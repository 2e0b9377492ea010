"""Where one harness distillation epoch of a method spends its time (torch.profiler, CPU).

    python scripts/profile_distill.py crd

One warm-up epoch, then one profiled epoch of `benchmark.protocol.distill.distill` at the quick
profile on sketch-cls; prints the operators by self CPU time.
"""

import dataclasses
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from benchmark.config import resolve
from benchmark.datasets.tasks import get_task
from benchmark.execution import perf
from benchmark.execution.perf_row import PERF_TASK
from benchmark.protocol.distill import distill
from benchmark.protocol.teacher_outputs import teacher_outputs

torch.set_num_threads(2)
cfg = resolve("quick")
data = get_task(PERF_TASK).load(cfg.data, cfg.world, 0, None)
sb = cfg.student.backbone
teacher = perf._teacher(data, sb)
outputs = teacher_outputs(teacher, data.paired.source, keep_maps=False)
one = dataclasses.replace(cfg.distill, epochs=1)
s, m = perf._fresh(sys.argv[1], data, teacher, sb)
distill(s, m, outputs, data.paired.target, one, 0)  # warm-up
s, m = perf._fresh(sys.argv[1], data, teacher, sb)
with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
    distill(s, m, outputs, data.paired.target, one, 0)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))

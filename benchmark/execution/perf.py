"""What `bench perf` measures: where the time goes, measured side by side in one process run.

Every comparison runs both sides in the same process, interleaved repeat by repeat (A, B,
B, A, A, B, ...: each side goes first equally often), on the same tensors, and reports
the median over repeats with min–max, so a ratio is not skewed by what else the machine
was doing at one moment. Nothing here asserts a speed: the targets are read off the
printed table.

Rows:
- *distill step*: a bare PyTorch loop (student forward, the method's losses, backward,
  optimiser step on pre-made batches, nothing else) against the harness's `distill` for
  the same student, batch, method and steps. The harness adds its seeded batch order, the
  LR schedule, per-term finiteness checks and the loss bookkeeping.
- *CRD*: a RepDistiller-style loop, which runs the frozen teacher forward on every step
  (RepDistiller's `train_distill`), against the harness's CRD, which reads teacher outputs
  computed once. The harness side is charged the one forward pass that fills the cache
  (as if no other method shared it). Shown with the profile's teacher and with a larger
  teacher (resnet18), since caching saves what the teacher costs and RepDistiller's pairs
  (e.g. resnet32x4 → resnet8x4) have teachers several times the student's size.
- *world*: samples/s of the embedded world, per modality, at the profile's image size.

Whole commands run in a child process — the *cell*, *workers*, *full* and *cli* rows — are
`benchmark.execution.perf_child`; `measure` gathers both kinds into one table.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from benchmark.backbones import Backbone, TaskModel
from benchmark.config import DistillConfig, RunConfig
from benchmark.datasets.tasks import TaskData, get_task, world_config
from benchmark.datasets.world.config import chunk_size
from benchmark.execution.cell_setup import initial_student, method_context
from benchmark.execution.perf_child import listing_rows, run_rows, worker_rows
from benchmark.execution.perf_row import PERF_TASK, Row
from benchmark.method import Batch, Method, Outputs, create_method
from benchmark.protocol.distill import distill, take
from benchmark.protocol.loop import batches
from benchmark.protocol.teacher_outputs import teacher_outputs
from benchmark.protocol.training import seeded

LARGE_TEACHER = "resnet18"


def _ratio(a: list[float], b: list[float]) -> str:
    """Median of `a` over median of `b`, with the range of per-repeat ratios."""
    per = [x / y for x, y in zip(a, b, strict=True)]
    return f"{statistics.median(a) / statistics.median(b):.2f}× [{min(per):.2f}–{max(per):.2f}]"


# --- distillation step --------------------------------------------------------------------


def _fresh(
    method_name: str, data: TaskData, teacher: TaskModel, student_backbone: str
) -> tuple[Backbone, Method]:
    """A student and method built exactly as the runner builds them for a cell."""
    student = initial_student(student_backbone, data, 0)
    method = create_method(method_name)
    method.setup(method_context(student, teacher, data))
    return student, method


def _optimiser(student: Backbone, method: Method, cfg: DistillConfig) -> torch.optim.Optimizer:
    params = [p for p in [*student.parameters(), *method.parameters()] if p.requires_grad]
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
    )


def _side_by_side(
    first: Callable[[], float], second: Callable[[], float], samples: int, repeats: int
) -> tuple[list[float], list[float]]:
    """Samples/s of two runs, each returning the seconds of its own timed part, run
    A, B, B, A, A, B, ...: whichever runs second in a pair runs on a warmer allocator and
    cache, so each side takes that place in every other pair. A first pair, not kept, warms
    up allocator and kernels."""
    rates: tuple[list[float], list[float]] = ([], [])
    sides = ((first, rates[0]), (second, rates[1]))
    for r in range(repeats + 1):
        for run, out in sides if r % 2 == 0 else sides[::-1]:
            seconds = run()
            if r:
                out.append(samples / seconds)
    return rates


def _bare_loop(
    student: Backbone,
    method: Method,
    xs: list[torch.Tensor],
    teacher_side: Callable[[int], Outputs],
    index: list[torch.Tensor],
    cfg: DistillConfig,
) -> float:
    """Seconds for the loop every distillation script has at its core, nothing more."""
    opt = _optimiser(student, method, cfg)
    student.train()
    method.train()
    start = time.perf_counter()
    for step, xb in enumerate(xs):
        terms = method.losses(student(xb), teacher_side(step), Batch(index[step]))
        loss = torch.stack(list(terms.values())).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def _teacher(data: TaskData, backbone: str) -> TaskModel:
    """An untrained teacher: speed does not depend on the weights' values."""
    torch.manual_seed(0)
    model = TaskModel(Backbone(backbone, 3), data.num_classes, data.kind)
    model.eval().requires_grad_(False)
    return model


def step_rows(
    data: TaskData, method_name: str, cfg: DistillConfig, repeats: int, student_backbone: str
) -> list[Row]:
    """Bare loop vs `distill`, one epoch over the paired set each, interleaved."""
    teacher = _teacher(data, student_backbone)
    paired = data.paired
    assert paired.source is not None and paired.target is not None
    keep = create_method(method_name).uses_feature_maps
    outputs = teacher_outputs(teacher, paired.source, keep_maps=keep)
    one_epoch = dataclasses.replace(cfg, epochs=1)
    # The same batches the harness draws, made up front for the bare loop.
    index = list(batches(len(paired), cfg.batch_size, seeded(0, "distill")))
    xs = [paired.target[i] for i in index]
    sliced = [take(outputs, i, torch.device("cpu")) for i in index]
    samples = len(index) * min(cfg.batch_size, len(paired))

    def bare_run() -> float:
        s, m = _fresh(method_name, data, teacher, student_backbone)
        return _bare_loop(s, m, xs, lambda step: sliced[step], index, cfg)

    def harness_run() -> float:
        s, m = _fresh(method_name, data, teacher, student_backbone)
        start = time.perf_counter()
        distill(s, m, outputs, paired.target, one_epoch, 0)
        return time.perf_counter() - start

    bare, harness = _side_by_side(bare_run, harness_run, samples, repeats)
    what = f"{method_name}, batch {cfg.batch_size}"
    return [
        Row.of("distill step", f"bare loop · {what}", bare, "samples/s"),
        Row.of(
            "distill step",
            f"harness · {what}",
            harness,
            "samples/s",
            ratio=_ratio(harness, bare),
            note="target ≥ 0.95×",
        ),
    ]


def crd_rows(
    data: TaskData, cfg: DistillConfig, repeats: int, teacher_backbone: str, student_backbone: str
) -> list[Row]:
    """RepDistiller-style CRD (teacher forward every step) vs the harness's CRD, over the
    profile's distillation epochs; the harness is charged its one cache-filling pass."""
    teacher = _teacher(data, teacher_backbone)
    paired = data.paired
    assert paired.source is not None and paired.target is not None
    index = []
    gen = seeded(0, "distill")
    for _ in range(cfg.epochs):
        index.extend(batches(len(paired), cfg.batch_size, gen))
    xs = [paired.target[i] for i in index]
    sources = [paired.source[i] for i in index]
    samples = len(index) * min(cfg.batch_size, len(paired))

    @torch.no_grad()
    def live(step: int) -> Outputs:
        return teacher(sources[step])

    def live_run() -> float:
        s, m = _fresh("crd", data, teacher, student_backbone)
        return _bare_loop(s, m, xs, live, index, cfg)

    def harness_run() -> float:
        s, m = _fresh("crd", data, teacher, student_backbone)
        start = time.perf_counter()
        outputs = teacher_outputs(teacher, paired.source, keep_maps=False)
        distill(s, m, outputs, paired.target, cfg, 0)
        return time.perf_counter() - start

    repdistiller, harness = _side_by_side(live_run, harness_run, samples, repeats)
    what = f"teacher {teacher_backbone}, {cfg.epochs} epochs"
    return [
        Row.of("CRD", f"RepDistiller-style · {what}", repdistiller, "samples/s"),
        Row.of(
            "CRD",
            f"harness (cached teacher) · {what}",
            harness,
            "samples/s",
            ratio=_ratio(harness, repdistiller),
            note="target ≥ 1.5×",
        ),
    ]


# --- world generation -------------------------------------------------------------------


def world_rows(cfg: RunConfig, n: int, repeats: int) -> list[Row]:
    """Each modality alone (single-object scenes), then each embedded task's own modalities
    generated together, as its loader asks for them: the figure the target is about."""
    from benchmark.datasets.tasks import SEGMENTATION, list_tasks
    from benchmark.datasets.world import generate, measure_throughput

    single = world_config(get_task(PERF_TASK), cfg.data, cfg.world)
    runs = [measure_throughput(single, n=n) for _ in range(repeats)]
    rows = [
        Row.of("world", f"{name} · single-object scenes", [r[name] for r in runs], "samples/s")
        for name in runs[0]
    ]
    for name in list_tasks():
        spec = get_task(name)
        if spec.needs_data_root:
            continue
        config = world_config(spec, cfg.data, cfg.world)
        mods = sorted(
            {spec.source, spec.target} | ({"seg"} if spec.kind == SEGMENTATION else set())
        )
        generate(config, 1, 1, mods)  # warm-up: filterbanks, allocator
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            generate(config, n, 0, mods)
            rates.append(n / (time.perf_counter() - start))
        rows.append(
            Row.of(
                "world",
                f"{name} data ({' + '.join(mods)}), {config.image_size}px",
                rates,
                "samples/s",
                note="target ≥ 2,000",
            )
        )
    return rows


# --- the command -----------------------------------------------------------------------------


def measure(cfg: RunConfig, *, repeats: int, full: bool, cache_dir: Path | None) -> list[Row]:
    threads = torch.get_num_threads()
    cfg = cfg.for_task(PERF_TASK)
    data = get_task(PERF_TASK).load(cfg.data, cfg.world, 0, cache_dir)
    rows: list[Row] = []
    student = cfg.student.backbone
    for method in ("l2", "crd"):
        rows += step_rows(data, method, cfg.distill, repeats, student)
    rows += crd_rows(data, cfg.distill, repeats, cfg.teacher.backbone, student)
    if cfg.teacher.backbone != LARGE_TEACHER:
        rows += crd_rows(data, cfg.distill, repeats, LARGE_TEACHER, student)
    # Whole chunks: the world renders a chunk in full however few samples are asked for.
    rows += world_rows(cfg, n=chunk_size(cfg.data.image_size), repeats=repeats)
    profile = ["--profile", cfg.profile, "--seeds", "1"]
    rows += run_rows("cell", ["--methods", "l2", "--tasks", PERF_TASK, *profile], threads)
    rows += worker_rows(cfg.profile)
    if full:
        rows += run_rows("full", ["--methods", "all", "--tasks", "all", *profile], threads)
    rows += listing_rows(repeats)
    return rows


def render(rows: list[Row], console: Console, title: str) -> None:
    table = Table(title=title)
    for column in ("group", "what", "median", "min–max", "unit", "ratio", "note"):
        table.add_column(column, justify="right" if column in ("median", "min–max") else "left")
    for row in rows:
        spread = "" if row.low == row.high else f"{_fmt(row.low)}–{_fmt(row.high)}"
        table.add_row(row.group, row.what, _fmt(row.median), spread, row.unit, row.ratio, row.note)
    # A table is read whole or not at all: never wrap it to a narrow (or piped) terminal.
    Console(width=max(console.width, 150)).print(table)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"

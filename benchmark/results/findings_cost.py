"""The results page's cost section (`benchmark.results.findings`): what the committed cells
cost, by stage, from the records' `seconds`, and what three runs would cost at the quick
profile's per-task seeds (`benchmark.config.profiles`): the default `bench run`, the full
reference re-run of every track present (reference cells on the seeds that report
headroom only, as the plan makes them), and a one-method comparison against the committed
board (`--with-reference`: its method cells and teachers, no reference cell).

A record's `seconds` holds the cell's own stages. A method cell: data, teacher,
distillation, evaluation, gap estimates, its `teacher` stage being whatever getting the
teacher took there (loading it, computing its cached outputs, or training it when the
cell came first). A reference cell: data, the all-labels ceiling, the teacher it trained,
the input gap. A stage served from the cache reads 0, so a projection charges each stage
what it costs when it is computed: a method cell its mean over the records of its (task, track,
method); a reference cell its data and gap means, plus the ceiling's mean over the cells
that trained one; a teacher, the mean `teacher.seconds` (its training time, stored with
every record) once per seed for each group of tasks that share it. Every figure is
cell-seconds, each cell on the threads its record names: wall time with w workers is
at least that divided by w.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from benchmark.config import resolve
from benchmark.results.findings_text import names, table
from benchmark.results.records import REFERENCE, Record
from benchmark.tracks import SUPERVISED, TRACKS

METHOD_STAGES = ("data", "teacher", "distill", "evaluate", "gap")
STAGE_NAMES = {
    "data": "data",
    "teacher": "teacher, in method cells",
    "distill": "distillation",
    "evaluate": "evaluation",
    "gap": "gap estimates",
    "reference": "all-labels ceilings",
    "teachers": "teachers trained",
}


@dataclass
class Measured:
    """Per (track, task): mean seconds per stage of each method's cells, of the reference
    cell's data and gap, of a computed ceiling; and the task's teacher keys per seed."""

    methods: dict[str, dict[str, float]] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)
    teacher: float = math.nan  # mean training seconds of the teachers this task used
    keys: dict[int, str] = field(default_factory=dict)


def measure(records: list[Record]) -> dict[tuple[str, str], Measured]:
    stages: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    teachers: dict[tuple[str, str], list[float]] = defaultdict(list)
    out: dict[tuple[str, str], Measured] = defaultdict(Measured)
    for r in records:
        if not r.ok:
            continue
        key = (r.track, r.task)
        if r.method == REFERENCE:
            ref = stages[(r.track, r.task, REFERENCE)]
            for stage in ("data", "gap"):
                ref[stage].append(float(r.seconds.get(stage, 0.0)))
            if r.seconds.get("reference", 0.0) > 0:
                ref["reference"].append(float(r.seconds["reference"]))
            if isinstance(r.teacher.get("seconds"), int | float):
                teachers[key].append(float(r.teacher["seconds"]))
            if isinstance(r.teacher.get("key"), str):
                out[key].keys[r.seed] = r.teacher["key"]
        else:
            own = stages[(r.track, r.task, r.method)]
            for stage in sorted({*METHOD_STAGES, *r.seconds}):
                own[stage].append(float(r.seconds.get(stage, 0.0)))
    for (track, task, method), values in stages.items():
        means = {s: float(np.mean(v)) for s, v in values.items() if v}
        if method == REFERENCE:
            out[(track, task)].reference = means
        else:
            out[(track, task)].methods[method] = means
    for key, values in teachers.items():
        out[key].teacher = float(np.mean(values))
    return dict(out)


def _groups(measured: dict[tuple[str, str], Measured], track: str) -> list[list[str]]:
    """The track's tasks grouped by shared teacher (equal keys at some seed)."""
    tasks = sorted(t for tr, t in measured if tr == track)
    groups: list[list[str]] = []
    for task in tasks:
        keys = set(measured[(track, task)].keys.items())
        for group in groups:
            if any(keys & set(measured[(track, other)].keys.items()) for other in group):
                group.append(task)
                break
        else:
            groups.append([task])
    return groups


def project(
    measured: dict[tuple[str, str], Measured],
    seeds: dict[str, int],
    tracks: list[str],
    methods: list[str] | None = None,
    headroom: int | None = None,
) -> tuple[int, dict[str, float]]:
    """(cells, cell-seconds by stage) of a run of `tracks` at `seeds` per task: every
    measured method of each (track, task), or, with `methods`, the mean cell of the
    measured ones counted len(methods) times (a method not yet measured); a reference
    cell on the first `headroom` seeds of each (None: every seed), as the plan makes
    them (`benchmark.execution.plan.expand`)."""
    total: dict[str, float] = defaultdict(float)
    cells = 0
    for track in tracks:
        for task in sorted(t for tr, t in measured if tr == track):
            m = measured[(track, task)]
            n = seeds.get(task, 0)
            if not m.methods:
                continue
            if methods is None:
                chosen = list(m.methods.values())
            else:
                known = sorted({s for v in m.methods.values() for s in v})
                mean = {
                    s: float(np.mean([v.get(s, 0.0) for v in m.methods.values()])) for s in known
                }
                chosen = [mean] * len(methods)
            for cost in chosen:
                for stage, value in cost.items():
                    total[stage] += n * value
            refs = n if headroom is None else min(n, headroom)
            cells += n * len(chosen) + refs
            for stage in ("data", "gap", "reference"):
                total[stage] += refs * m.reference.get(stage, 0.0)
        for group in _groups(measured, track):
            need = max(seeds.get(t, 0) for t in group)
            per = [measured[(track, t)].teacher for t in group]
            finite = [p for p in per if not math.isnan(p)]
            if finite:
                total["teachers"] += need * float(np.mean(finite))
    return cells, dict(total)


def cost_section(records: list[Record]) -> list[str]:
    measured = measure(records)
    if not measured:
        return []
    cfg = resolve("quick")
    tasks = sorted({t for _, t in measured})
    plan = {t: cfg.for_task(t).seeds for t in tasks}
    tracks = [t for t in TRACKS if any(tr == t for tr, _ in measured)]
    recorded = _recorded(records)
    projected = project(measured, plan, tracks, headroom=cfg.seeds)
    found = {s for _, cost in (recorded, projected) for s in cost}
    stages = [s for s in STAGE_NAMES if s in found] + sorted(found - set(STAGE_NAMES))
    rows = []
    # (label, tracks, methods (None: every measured one), seeds with a reference cell)
    scenarios: list[tuple[str, list[str], list[str] | None, int]] = []
    if SUPERVISED in tracks:
        scenarios.append(
            ("default `bench run` (supervised, every method)", [SUPERVISED], None, cfg.seeds)
        )
    scenarios.append((f"reference re-run ({', '.join(tracks)})", tracks, None, cfg.seeds))
    scenarios.append(  # --with-reference plans no reference cell: the board has them
        (
            "one method against the board: `bench run --methods M --with-reference "
            "results` (supervised; its teachers, no reference cells)",
            [SUPERVISED] if SUPERVISED in tracks else tracks[:1],
            ["M"],
            0,
        )
    )
    runs = [("the committed records, as run", None, None, None), *scenarios]
    for label, chosen, methods, headroom in runs:
        if chosen is None:
            cells, cost = recorded
        else:
            cells, cost = project(measured, plan, chosen, methods, headroom)
        total = sum(cost.values())
        share = [f"{100 * cost.get(s, 0.0) / total:.0f}%" if total else "—" for s in stages]
        rows.append([label, f"{cells:,}", f"{total:,.0f}", f"{total / 3600:.1f}", *share])
    header = [
        "run",
        "cells",
        "cell-seconds",
        "cell-hours",
        *(STAGE_NAMES.get(s, s) for s in stages),
    ]
    hosts = sorted({r.host or "unknown" for r in records if r.ok})
    threads = sorted(
        {
            str(r.versions["torch_threads"])
            for r in records
            if r.ok and "torch_threads" in r.versions
        }
    ) or ["not recorded"]
    return [
        "## Cost",
        "",
        "From the records' `seconds` (cell-seconds; the share of each stage). The projected "
        "runs use the quick profile's per-task seeds "
        f"({', '.join(f'{t} {n}' for t, n in plan.items())}) and charge each stage what it "
        "costs when computed (a cached teacher or ceiling reads 0 in a record; see "
        "`benchmark.results.findings_cost`). The one-method row charges the mean cell of "
        "the measured methods and the teachers, which a fresh cache trains. Hosts named "
        f"by the records: {names(hosts)}; torch threads per cell: {', '.join(threads)}. "
        "With w workers on an idle machine, wall time is at least the cell-seconds divided by w.",
        "",
        *table(header, rows, ["l"] + ["r"] * (len(header) - 1)),
    ]


def _recorded(records: list[Record]) -> tuple[int, dict[str, float]]:
    total: dict[str, float] = defaultdict(float)
    cells = 0
    for r in records:
        if not r.ok:
            continue
        cells += 1
        for stage, value in r.seconds.items():
            total["teachers" if stage == "teacher" and r.method == REFERENCE else stage] += value
    return cells, dict(total)

"""The results page's sweep sections (`benchmark.results.findings`): what each committed
`bench sweep` shows, from its records (`benchmark.results.sweeps.sweep_frame`) through
`benchmark.results.sweep_trends`.

A sweep's tables hold many intervals; each table is one family here: a ▲/▼ marks an
estimate whose one-sample t test against 0 is rejected by Holm over every test of its
table (two-sided p, family-wise error ≤ 5%), so a mark is a finding, not a pointer.
Levels (a value's mean ± its interval) are not tests and carry no mark.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.results.findings_board import FOCAL
from benchmark.results.findings_text import cell, names, seed_list, table
from benchmark.results.stats import holm
from benchmark.results.sweep_trends import Estimate, Trends, trends
from benchmark.results.sweeps import find_sweeps, sweep_frame

ALPHA = 0.05
# What each world knob changes (the config's comments say how): prose only, no figures.
KNOBS = {
    "world.sketch_abstraction": (
        "removes detail from the sketches: it widens the gap to RGB and removes class "
        "evidence from the target at once, so this sweep cannot attribute a change in error "
        "to the gap alone"
    ),
    "world.sketch_ruling": (
        "draws class-independent ruled lines under each sketch (a vertical grating whose "
        "phase is drawn per sample): the drawing and its class information stay, the RGB "
        "side and the teacher are identical at every value"
    ),
    "world.colour_class_correlation": (
        "gives the source a modality-specific class cue (colour, RGB only) on top of shape: "
        "the target data are identical at every value, the teacher's evidence moves from "
        "shape to colour (the Modality Focusing Hypothesis's distinction, Xue et al., ICLR "
        "2023)"
    ),
}


class _Family:
    """Collects a table's estimates so their marks can be read after Holm over all."""

    def __init__(self) -> None:
        self.items: list[Estimate] = []

    def add(self, e: Estimate) -> int:
        self.items.append(e)
        return len(self.items) - 1

    def resolved(self) -> list[bool]:
        adjusted = holm([e.p for e in self.items])
        return [p <= ALPHA for p in adjusted]


def _fmt(e: Estimate, mark: bool, digits: int = 1, signed: bool = True) -> str:
    if e.n == 0:
        return "—"
    sign = "+" if signed else ""
    text = f"{e.mean:{sign}.{digits}f} ± {e.half:.{digits}f}"
    if mark:
        text += " ▲" if e.mean > 0 else " ▼"
    return text


def sweep_sections(results: Path) -> list[str]:
    lines: list[str] = []
    for folder in find_sweeps(results):
        frame = sweep_frame(folder)
        frame = frame[frame.status == "ok"] if len(frame) else frame
        if not len(frame) or "finetune_acc" not in frame:
            continue
        lines += _sweep(trends(frame), folder.relative_to(results).as_posix())
    if lines:
        lines = [
            "## What the sweeps show",
            "",
            "Each sweep runs one task at several values of a world knob, every method, the "
            "same seeds at every value. Within a table, ▲/▼ marks an estimate resolved "
            "above/below zero after Holm over every test in that table (its family); the ± "
            "is the unadjusted 95% t interval over seeds. `bench plot --sweep` draws the "
            "figures.",
            "",
            *lines,
        ]
    return lines


def _sweep(t: Trends, where: str) -> list[str]:
    heads = [f"{v:g}" for v in t.values]
    span_name = f"{heads[-1]} − {heads[0]}"
    lines = [
        f"### `{cell(t.knob)}` on {cell(t.task)}",
        "",
        f"Records under `{cell(where)}/`; seeds {seed_list(t.seeds)} at each value. The knob "
        + KNOBS.get(t.knob, "is a world setting")
        + ".",
        "",
    ]
    ref_family = _Family()
    idx = {c: ref_family.add(e) for c, e in t.changes.items()}
    marks = ref_family.resolved()
    rows = []
    for column, levels in t.levels.items():
        digits = 1 if column.endswith("_acc") else 3
        rows.append(
            [f"`{column}`"]
            + [_fmt(e, False, digits, signed=False) for e in levels]
            + [_fmt(t.changes[column], marks[idx[column]], digits)]
        )
    lines += table(["per value", *heads, span_name], rows)

    family = _Family()
    cells: list[tuple[str, list[object]]] = []
    for m in t.methods:
        tests = [m.delta, m.slope, m.own.get("gap_pair"), m.own.get("gap_cka"), *m.gains]
        cells.append((m.method, [family.add(e) if e is not None else None for e in tests]))
    marks = family.resolved()
    rows = []
    for m, (_, ids) in zip(t.methods, cells, strict=True):
        shown = []
        for k, i in enumerate(ids):
            if i is None:
                shown.append("—")
            else:
                shown.append(_fmt(family.items[i], marks[i], 3 if k in (2, 3) else 1))
        shown += ["—"] * (7 - len(shown))
        rows.append(
            [f"`{cell(m.method)}`", *(_fmt(e, False, signed=False) for e in m.error), *shown]
        )
    lines += [
        "Per method: error (%) per value; its change; the per-seed slope of error against "
        "`input_gap_pair` (points per +0.1); the change of the student's own `gap_pair` "
        "and `gap_cka`; the gain over `scratch` (points) at the first and last value and its "
        f"change. Family: the {len(family.items)} tests of this table.",
        "",
        *table(
            [
                "method",
                *(f"error at {h}" for h in heads),
                "Δ error",
                "slope",
                "Δ gap_pair",
                "Δ gap_cka",
                f"gain at {heads[0]}",
                f"gain at {heads[-1]}",
                "Δ gain",
            ],
            rows,
        ),
    ]
    lines += _reading(t, family, marks, cells)
    lines += _versus(t, heads)
    return lines


def _reading(t: Trends, family: _Family, marks: list[bool], cells: list) -> list[str]:
    """Which methods' error and gain moved, from the table's Holm verdicts."""
    rises, falls, still = [], [], []
    shrinks, grows = [], []
    for m, (_, ids) in zip(t.methods, cells, strict=True):
        e = family.items[ids[0]]
        (rises if marks[ids[0]] and e.mean > 0 else falls if marks[ids[0]] else still).append(
            m.method
        )
        if len(ids) == 7 and ids[6] is not None:
            g = family.items[ids[6]]
            if marks[ids[6]]:
                (grows if g.mean > 0 else shrinks).append(m.method)
    lines = [
        f"- Error resolved higher at the last value than at the first: {names(rises)}; "
        f"lower: {names(falls)}; not resolved: {names(still)}.",
        f"- Gain over `scratch` resolved smaller at the last value: {names(shrinks)}; "
        f"larger: {names(grows)}; the others' change is not resolved.",
    ]
    ceiling = t.changes.get("all_labels_acc")
    gap = t.changes.get("input_gap_pair")
    if ceiling is not None and gap is not None:
        lines.append(
            f"- Over the knob's range the all-labels ceiling moves by {ceiling.mean:+.1f} "
            f"points and the task's `input_gap_pair` by {gap.mean:+.3f}: a change in error "
            "can be read as the gap's only as far as the ceiling (the class evidence) stays."
        )
    return [*lines, ""]


def _versus(t: Trends, heads: list[str]) -> list[str]:
    if FOCAL not in t.versus:
        return []
    family = _Family()
    ids = {b: [family.add(e) for e in per] for b, per in t.versus[FOCAL].items()}
    marks = family.resolved()
    rows = [[f"`{cell(b)}`", *(_fmt(family.items[i], marks[i]) for i in ids[b])] for b in ids]
    return [
        f"`{FOCAL}` minus each other method, accuracy points, per value (family: the "
        f"{len(family.items)} tests of this table).",
        "",
        *table([f"{FOCAL} minus", *heads], rows),
    ]

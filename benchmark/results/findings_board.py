"""The results page's verdict sections (`benchmark.results.findings`): per track, what
each task's headroom is, which methods the seeds resolve above `scratch`, which can be
first, how the method under test compares with every other, how many pairs are resolved,
and what the gap estimates do across methods; then how the tracks differ.

Every verdict is read off `benchmark.results.aggregate.families`, i.e. one family per
(task, track): Holm over its n(n − 1) one-sided pairwise hypotheses for a direction, TOST
at ±margin with Holm over its pairs for equivalence (`benchmark.results.ranks`). Sentences
are built from those verdicts, so a pair is called resolved only when its family resolved
it; numbers in sentences are formatted from the computed values.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from benchmark.results.aggregate import (
    BASELINE,
    families,
    headroom,
    method_frame,
    primary_metrics,
    summarize,
)
from benchmark.results.findings_summary import across_tasks, leaders
from benchmark.results.findings_text import (
    LEGEND,
    cell,
    names,
    num,
    pair_cell,
    pts,
    seed_list,
    span,
    table,
)
from benchmark.results.leaderboard import headroom_lines
from benchmark.results.ranks import MARGIN, Family
from benchmark.results.records import NOT_APPLICABLE, REFERENCE, Record, records_frame
from benchmark.results.stats import spearman
from benchmark.tracks import LABEL_FREE, LABELLED, SUPERVISED, TRACKS

# The method whose paper's claim the page tests (CMCD, Lin et al., arXiv 2405.03355).
FOCAL = "cmcd-cmc"
TITLES = {
    SUPERVISED: "The supervised track",
    LABEL_FREE: "The label-free track (CMCD's own protocol)",
    LABELLED: "The labelled track (the literature's protocol)",
}
BASELINES = {LABELLED: "scratch (CE on the labelled pairs)"}


def track_sections(records: list[Record], margin: float = MARGIN) -> list[str]:
    """Every track's sections, in the order of `benchmark.tracks.TRACKS`, for the tracks
    that have method records; then the comparison of the tracks."""
    verdicts = families(records, margin=margin)
    table = summarize(records, margin=margin)
    frame = records_frame(records)
    refs = frame[(frame.method == REFERENCE) & (frame.status == "ok")] if len(frame) else frame
    lines: list[str] = []
    for track in TRACKS:
        own = {task: f for (t, task), f in sorted(verdicts.items()) if t == track}
        if not own:
            continue
        rows = table[table.track == track]
        track_refs = refs[refs.track == track] if len(refs) else refs
        lines += _track(track, own, rows, track_refs, records, margin)
    lines += _tracks_compared(verdicts)
    return lines


def basis(own: dict[str, Family], scores: Callable[[str], dict[str, pd.Series]]) -> str:
    """What a track's tables rest on: per task, its methods and seeds."""
    parts = []
    for task, family in own.items():
        seeds = {int(s) for v in scores(task).values() for s in v.dropna().index}
        parts.append(f"{task}: {len(family.methods)} methods, seeds {seed_list(seeds)}")
    return "; ".join(parts)


def _track(
    track: str,
    own: dict[str, Family],
    rows: pd.DataFrame,
    refs: pd.DataFrame,
    records: list[Record],
    margin: float,
) -> list[str]:
    frame = method_frame([r for r in records if r.track == track])

    def scores(task: str) -> dict[str, pd.Series]:
        group = frame[frame.task == task]
        metric, _ = primary_metrics(group)
        return {m: g.set_index("seed")[metric] for m, g in group.groupby("method")}

    inapplicable = sorted(
        {r.method for r in records if r.track == track and r.status == NOT_APPLICABLE}
    )
    lines = [
        f"## {TITLES[track]}",
        "",
        f"Rests on the {track} track's records — {basis(own, scores)}. Scores: "
        f"{', '.join(f'`{m}`' for m in sorted(set(rows['metric'])))} (points). Each task's "
        f"verdicts are one family: Holm over the n(n − 1) one-sided pairwise hypotheses of "
        f"its n methods for a direction, TOST at ±{100 * margin:g} points (Holm over its "
        f"pairs) for equivalence.",
        "",
    ]
    if inapplicable:
        lines += [f"Not applicable in this track (recorded as such): {names(inapplicable)}.", ""]
    lines += headroom_lines(
        rows, refs, title="### Headroom", baseline=BASELINES.get(track, "scratch (few labels)")
    )
    room = {t: c - f for t, (f, c) in headroom(rows, refs).items() if not math.isnan(c - f)}
    if room:
        least = min(room, key=lambda t: room[t])
        lines += [
            f"The least headroom between `{BASELINE}` and the all-labels ceiling is "
            f"{pts(room[least])} points ({least}): a task with little headroom cannot "
            "separate methods by much.",
            "",
        ]
    lines += _gains(own)
    lines += _first(own)
    lines += leaders(own)
    if any(FOCAL in f.methods for f in own.values()):
        lines += _focal(own)
    lines += _resolved_counts(own)
    lines += _gaps(rows, refs)
    lines += across_tasks(records, rows, refs)
    return lines


def _gains(own: dict[str, Family]) -> list[str]:
    tasks = [t for t, f in own.items() if BASELINE in f.methods]
    if not tasks:
        return []
    methods = sorted({m for t in tasks for m in own[t].methods} - {BASELINE})
    rows = []
    for m in methods:
        row = [f"`{cell(m)}`"]
        for t in tasks:
            row.append(pair_cell(own[t].pair(m, BASELINE)) if m in own[t].methods else "—")
        rows.append(row)
    lines = [
        f"### Gains over `{BASELINE}`",
        "",
        f"Each method minus `{BASELINE}`, points of the task's primary metric, paired per "
        f"seed. {LEGEND}",
        "",
        *table(["method", *tasks], rows),
    ]
    for t in tasks:
        f = own[t]
        words = [f.pair(m, BASELINE).word for m in f.methods if m != BASELINE]
        above = [m for m in f.methods if m != BASELINE and f.pair(m, BASELINE).word == "better"]
        gains = [f.pair(m, BASELINE).diff.mean for m in above]
        text = (
            f"- **{t}**: {len(above)} of {len(words)} methods resolved above `{BASELINE}`"
            + (f" (by {span(gains)} points)" if above else "")
            + f", {words.count('worse')} resolved below, {words.count('equivalent')} "
            f"equivalent within the margin, {words.count('undetermined')} undetermined."
        )
        lines.append(text)
    never = [
        m
        for m in methods
        if all(own[t].pair(m, BASELINE).word != "better" for t in tasks if m in own[t].methods)
    ]
    lines += [
        "",
        f"Resolved above `{BASELINE}` on no task: {names(never)}.",
        "",
    ]
    return lines


def _first(own: dict[str, Family]) -> list[str]:
    tops = {t: [m for m in f.methods if f.ranks[m][0] == 1] for t, f in own.items()}
    everywhere = sorted(set.intersection(*(set(v) for v in tops.values())))
    rows = [
        [
            t,
            str(len(f.methods)),
            names(tops[t]),
            f"`{cell(f.methods[0])}` ({pts(f.means[f.methods[0]])})",
        ]
        for t, f in own.items()
    ]
    return [
        "### Which methods can be first",
        "",
        "A method can be first when its confidence set of ranks (every rank the "
        "error-controlled comparisons allow; Mogstad, Romano, Shaikh & Wilhelm) contains 1: "
        "no method is resolved ahead of it.",
        "",
        *table(
            ["task", "methods", "rank set contains 1", "highest mean"], rows, ["l", "r", "l", "l"]
        ),
        f"Rank set contains 1 on every task: {names(everywhere)}.",
        "",
    ]


def _focal(own: dict[str, Family]) -> list[str]:
    tasks = [t for t, f in own.items() if FOCAL in f.methods]
    others = sorted({m for t in tasks for m in own[t].methods} - {FOCAL})
    rows = []
    for m in others:
        rows.append(
            [f"`{cell(m)}`"]
            + [pair_cell(own[t].pair(FOCAL, m)) if m in own[t].methods else "—" for t in tasks]
        )
    lines = [
        f"### `{FOCAL}` against every other method",
        "",
        f"CMCD (Lin et al., arXiv 2405.03355) claims a 2–3 point margin over existing "
        f"methods. `{FOCAL}` minus each other method, points, paired per seed. {LEGEND}",
        "",
        *table(["minus", *tasks], rows),
    ]
    verdict: dict[str, list[str]] = {}
    for m in others:
        words = {own[t].pair(FOCAL, m).word for t in tasks if m in own[t].methods}
        if words == {"better"}:
            verdict.setdefault("ahead", []).append(m)
        elif words == {"worse"}:
            verdict.setdefault("behind", []).append(m)
        elif "better" in words:
            verdict.setdefault("ahead somewhere", []).append(m)
        elif "worse" in words:
            verdict.setdefault("behind somewhere", []).append(m)
        else:
            verdict.setdefault("never", []).append(m)
    lines += [
        f"- Resolved ahead on every task it shares with them: {names(verdict.get('ahead', []))}.",
        f"- Resolved behind on every task: {names(verdict.get('behind', []))}.",
        f"- Resolved ahead on some tasks and not resolved on the others: "
        f"{names(verdict.get('ahead somewhere', []))}.",
        f"- Resolved behind on some tasks and not resolved on the others: "
        f"{names(verdict.get('behind somewhere', []))}.",
        f"- Resolved in neither direction on any task (equivalent or undetermined): "
        f"{names(verdict.get('never', []))}.",
        "",
    ]
    return lines


def _resolved_counts(own: dict[str, Family]) -> list[str]:
    rows = []
    for t, f in own.items():
        words = [f.pair(a, b).word for i, a in enumerate(f.methods) for b in f.methods[i + 1 :]]
        resolved = len(words) - words.count("equivalent") - words.count("undetermined")
        rows.append(
            [
                t,
                str(f.hypotheses),
                str(len(words)),
                str(resolved),
                str(words.count("equivalent")),
                str(words.count("undetermined")),
            ]
        )
    return [
        "### How much the seeds resolve",
        "",
        "Per task, the family's size and what became of its pairs (a resolved pair that is "
        "also within the margin counts as resolved).",
        "",
        *table(
            ["task", "hypotheses (family)", "pairs", "resolved", "equivalent", "undetermined"],
            rows,
        ),
    ]


def _gaps(rows: pd.DataFrame, refs: pd.DataFrame) -> list[str]:
    if "gap_tv" not in rows or rows["gap_tv"].isna().all():
        return []
    out = []
    closer = 0
    for task, group in rows.groupby("task", sort=True):
        distilled = group[group.method != BASELINE]
        scratch = group[group.method == BASELINE]
        task_refs = refs[refs.task == task] if len(refs) else refs
        gap_in = task_refs["input_gap_tv"].mean() if "input_gap_tv" in task_refs else math.nan
        by_method = distilled.set_index("method")
        rho_tv = spearman(by_method["mean"], by_method["gap_tv"])
        rho_cka = spearman(by_method["mean"], by_method["gap_cka"])
        if not math.isnan(rho_tv) and not math.isnan(rho_cka) and abs(rho_cka) > abs(rho_tv):
            closer += 1
        out.append(
            [
                task,
                num(float(gap_in)),
                span(distilled["gap_tv"] / 100, digits=2),
                num(float(scratch["gap_tv"].iloc[0])) if len(scratch) else "—",
                span(distilled["mean"]),
                f"{rho_tv:+.2f}" if not math.isnan(rho_tv) else "—",
                f"{rho_cka:+.2f}" if not math.isnan(rho_cka) else "—",
            ]
        )
    return [
        "### The gap estimates across methods",
        "",
        'Means over seeds of the common-space estimates ("The modality gap" in the docs); '
        "ρ is Spearman's rank correlation across the distilled methods (not `scratch`) of "
        "the mean score with the mean gap estimate. A correlation across methods is not a "
        "cause.",
        "",
        *table(
            [
                "task",
                "input gap_tv",
                "distilled students' gap_tv",
                "scratch's gap_tv",
                "distilled scores (points)",
                "ρ(score, gap_tv)",
                "ρ(score, gap_cka)",
            ],
            out,
        ),
        f"`gap_cka` follows the score more closely than `gap_tv` (larger |ρ|) on {closer} "
        f"of {len(out)} tasks.",
        "",
    ]


def _tracks_compared(verdicts: dict[tuple[str, str], Family]) -> list[str]:
    tracks = [t for t in TRACKS if any(k[0] == t for k in verdicts)]
    if len(tracks) < 2:
        return []
    tasks = sorted({task for _, task in verdicts})
    rows = []
    for task in tasks:
        row = [task]
        for track in tracks:
            f = verdicts.get((track, task))
            if f is None or BASELINE not in f.methods:
                row += ["—", "—"]
                continue
            others = [m for m in f.methods if m != BASELINE]
            row.append(span([f.pair(m, BASELINE).diff.mean for m in others], signed=True))
            row.append(pts(f.means[FOCAL]) if FOCAL in f.methods else "—")
        rows.append(row)
    header = ["task"]
    for track in tracks:
        header += [f"{track}: gains over `{BASELINE}`", f"{track}: `{FOCAL}`"]
    return [
        "## The tracks side by side",
        "",
        "The same tasks, students and test sets under each track's teacher and labels; "
        "methods are never compared across tracks, so this table sets ranges side by side "
        "and makes no pairwise claim. Gains: the range of the methods' mean paired gains "
        f"over `{BASELINE}` (points); `{FOCAL}`: its mean score; each on its track's seeds "
        "as its section lists them.",
        "",
        *table(header, rows, ["l"] + ["r"] * (len(header) - 1)),
    ]

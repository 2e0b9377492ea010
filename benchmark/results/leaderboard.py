"""Aggregate records into `results.csv` and render `LEADERBOARD.md`.

Statistics (`benchmark.results.stats`): per (task, method) the mean over seeds with a two-sided
95% Student-t interval; each method is compared with `scratch` and with the best other
method of its task by a paired t test on per-seed differences (same seed = same data,
teacher and student initialisation), marked where the 95% interval excludes zero. The
gap columns are the means of the records' modality-gap estimates (`benchmark.protocol.gaps`).
Everything is derived from records; nothing here is edited by hand.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.kinds import KINDS, get_kind, kind_of_columns
from benchmark.results.power import mde, pooled_sd, seeds_for
from benchmark.results.records import NOT_APPLICABLE, REFERENCE, Record, records_frame
from benchmark.results.stats import Paired, mean_ci, paired_test, t975
from benchmark.storage import write_text
from benchmark.tracks import LABEL_FREE, LABELLED, SUPERVISED, TRACKS

__all__ = ["mean_ci", "render", "summarize", "t975", "write_outputs"]

BASELINE = "scratch"
GAPS = ("gap_tv", "gap_cka")  # per-method gap columns (means over seeds)


# The metric each task kind is ranked by, and the other protocol shown beside it: the
# few-label fine-tune (the mean of its restarts) of the kind's primary metric.
PRIMARY = {name: get_kind(name).ranking() for name in KINDS.names()}


def primary_metrics(frame: pd.DataFrame) -> tuple[str, str]:
    """(ranking metric, the other protocol's metric) for a task's rows: from the kind
    its records name, or (records from before they named it) from its metric columns.
    The labelled track ranks by the student's own head (`head_<metric>`)."""
    kinds = set(frame["kind"].dropna()) if "kind" in frame.columns else set()
    if len(kinds) == 1:
        kind = get_kind(str(kinds.pop()))
    else:
        kind = kind_of_columns([c for c in frame.columns if frame[c].notna().any()])
    if "track" in frame.columns and len(frame) and set(frame["track"]) == {LABELLED}:
        return kind.column("head"), kind.column("probe")
    return kind.ranking()


def metric_suffix(metric: str) -> str:
    """`finetune_acc` → `acc`: the name the reference records use for the same metric."""
    return metric.split("_", 1)[1]


def summarize(records: list[Record]) -> pd.DataFrame:
    """One row per (track, task, method) over ok records: mean, CI, paired comparisons
    with `scratch` and with the best other method of the same track, mean gap estimates,
    rank. Tracks never meet: a method is compared only with methods of its own track."""
    frame = records_frame([r for r in records if r.ok and r.method != REFERENCE])
    groups = frame.groupby(["track", "task"], sort=True) if len(frame) else []
    rows = []
    for (track, task), group in groups:
        metric, probe = primary_metrics(group)
        scores = {m: g.set_index("seed")[metric] for m, g in group.groupby("method")}
        means = {m: float(v.mean()) for m, v in scores.items()}
        for method, rows_m in group.groupby("method"):
            mean, ci = mean_ci(rows_m[metric])
            pmean, pci = mean_ci(rows_m[probe]) if probe in rows_m else (math.nan, math.nan)
            vs_base = (
                paired_test(scores[method], scores[BASELINE])
                if BASELINE in scores and method != BASELINE
                else None
            )
            others = {m: v for m, v in means.items() if m != method and not math.isnan(v)}
            best = max(others, key=lambda m: (others[m], m)) if others else ""
            vs_best = paired_test(scores[method], scores[best]) if best else None
            row = {
                "track": track,
                "task": task,
                "method": method,
                "metric": metric,
                "mean": mean,
                "ci": ci,
                "probe_metric": probe,
                "probe_mean": pmean,
                "probe_ci": pci,
                **_paired_columns("gain", vs_base),
                "best_other": best,
                **_paired_columns("vs_best", vs_best),
                "seeds": len(rows_m),
            }
            for gap in GAPS:
                row[gap] = float(rows_m[gap].mean()) if gap in rows_m else math.nan
            rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table["rank"] = [
            tie_rank(method, _task_scores(frame, task, track))
            for track, task, method in zip(table.track, table.task, table.method, strict=True)
        ]
    return table


def _task_scores(frame: pd.DataFrame, task: str, track: str = SUPERVISED) -> dict[str, pd.Series]:
    group = frame[(frame.task == task) & (frame.track == track)]
    metric, _ = primary_metrics(group)
    return {m: g.set_index("seed")[metric] for m, g in group.groupby("method")}


def tie_rank(method: str, scores: dict[str, pd.Series]) -> int:
    """1 + the number of methods that beat `method` with a paired 95% interval excluding
    zero: methods no test tells apart share a rank, so an ordering the intervals do not
    support is never printed as one."""
    better = 0
    for other, values in scores.items():
        if other == method:
            continue
        test = paired_test(values, scores[method])
        better += int(test.excludes_zero and test.mean > 0)
    return 1 + better


@dataclass(frozen=True)
class Resolution:
    """How small a paired difference a task's records can resolve (`benchmark.results.power`)."""

    sd: float  # per-seed SD of a paired difference, pooled over method pairs
    pairs: int
    seeds: int
    mde: float
    seeds_for_2: int
    seeds_for_1: int


def resolution(records: list[Record], task: str, track: str = SUPERVISED) -> Resolution:
    frame = records_frame([r for r in records if r.ok and r.method != REFERENCE])
    scores = _task_scores(frame, task, track) if len(frame) else {}
    sd, pairs = pooled_sd(scores)
    seeds = max((len(v.dropna()) for v in scores.values()), default=0)
    return Resolution(sd, pairs, seeds, mde(sd, seeds), seeds_for(sd, 0.02), seeds_for(sd, 0.01))


def resolution_line(res: Resolution) -> list[str]:
    if math.isnan(res.sd):
        return []
    return [
        f"Resolution: a paired difference between two methods has a per-seed SD of "
        f"{100 * res.sd:.2f} points (pooled over {res.pairs} method pairs); over "
        f"{res.seeds} seeds the minimum detectable difference (95% two-sided, 80% power) "
        f"is **{100 * res.mde:.2f} points**. 2 points take {res.seeds_for_2} seeds, "
        f"1 point {res.seeds_for_1}.",
        "",
    ]


def _paired_columns(name: str, test: Paired | None) -> dict[str, float | bool]:
    if test is None:
        return {name: math.nan, f"{name}_ci": math.nan, f"{name}_p": math.nan, f"{name}_sig": False}
    return {
        name: test.mean,
        f"{name}_ci": test.half,
        f"{name}_p": test.p,
        f"{name}_sig": test.excludes_zero,
    }


def short_commit(git: str) -> str:
    """12 hex digits, keeping the '+dirty' mark of runs from an uncommitted checkout."""
    return git[:12] + ("+dirty" if git.endswith("+dirty") else "")


def headroom_lines(
    table: pd.DataFrame,
    refs: pd.DataFrame,
    title: str = "## Headroom",
    baseline: str = "scratch (few labels)",
) -> list[str]:
    """Per task: teacher, scratch (few labels) and the all-labels ceiling. A task where
    scratch comes within a few points of the ceiling cannot separate methods."""
    lines = [
        title,
        "",
        f"| task | teacher (source) | {baseline} | all target labels | headroom |",
        "|---|---:|---:|---:|---:|",
    ]
    for task, group in table.groupby("task", sort=True):
        suffix = metric_suffix(group["metric"].iloc[0])
        task_refs = refs[refs.task == task] if len(refs) else refs
        teacher = mean_ci(task_refs.get(f"teacher_{suffix}", pd.Series(dtype=float)))
        ceiling = mean_ci(task_refs.get(f"all_labels_{suffix}", pd.Series(dtype=float)))
        scratch = group[group.method == BASELINE]["mean"]
        base = float(scratch.iloc[0]) if len(scratch) else math.nan
        lines.append(
            f"| {_cell(task)} ({suffix}) | {_pct(*teacher)} | {_pct(base)} | "
            f"{_pct(*ceiling)} | {_pct(ceiling[0] - base, signed=True)} |"
        )
    return [*lines, ""]


def _pct(mean: float, ci: float = math.nan, signed: bool = False) -> str:
    if math.isnan(mean):
        return "—"
    text = f"{100 * mean:+.1f}" if signed else f"{100 * mean:.1f}"
    return text if math.isnan(ci) else f"{text} ± {100 * ci:.1f}"


def render(records: list[Record], source: str) -> str:
    """The whole LEADERBOARD.md text: the supervised track, then (when its records exist)
    the label-free track, each with its own headroom, ranks and task tables."""
    table = summarize(records)
    frame = records_frame(records)
    refs = frame[(frame.method == REFERENCE) & (frame.status == "ok")] if len(frame) else frame
    failed = [r for r in records if not r.done]
    profiles = sorted({r.profile for r in records}) or ["—"]
    commits = sorted({short_commit(r.git) for r in records}) or ["—"]
    lines = [
        "# XMD-Bench leaderboard",
        "",
        f"Generated by `bench leaderboard` from {len(records)} records in `{_cell(source)}` on "
        f"{dt.date.today().isoformat()}. Do not edit by hand: re-run `bench leaderboard`.",
        "",
        f"Profile: {_cell(', '.join(profiles))} · commit: {_cell(', '.join(commits))}",
        "",
    ]
    if not len(table):
        return "\n".join([*lines, "No finished cells yet.", ""])

    for track in TRACKS:
        own = table[table.track == track]
        if len(own):
            track_refs = refs[refs.track == track] if len(refs) else refs
            inapplicable = [r for r in records if r.track == track and r.status == NOT_APPLICABLE]
            lines += _track_lines(track, own, track_refs, records, inapplicable)

    if failed:
        lines += ["## Failed cells", "", "| task | method | seed | reason |", "|---|---|---:|---|"]
        lines += [
            f"| {_cell(r.task)}{_track_tag(r.track)} | {_cell(r.method)} | {r.seed} | "
            f"{_cell(r.reason[:120])} |"
            for r in failed
        ]
        lines.append("")
    lines += ["---", *FOOTNOTE, ""]
    return "\n".join(lines)


TRACK_INTRO = {
    LABEL_FREE: [
        "# Label-free track",
        "",
        "CMCD's own protocol: the source teacher is pre-trained with SimCLR on the source "
        "images alone and has no head, so no label is seen before the few-label target "
        "step. Methods that need the teacher's logits cannot run here and are listed as "
        "not applicable. Methods are compared only within a track.",
        "",
    ],
}


TRACK_INTRO[LABELLED] = [
    "# Labelled track",
    "",
    "The literature's setting (RepDistiller, mdistiller, C2KD, MST-Distill): the supervised "
    "teacher, every pair labelled, the student and a fresh head trained with cross-entropy "
    "plus each method's loss at its reference weights; `scratch` is cross-entropy alone. "
    "Ranked by the student's own head on the test set (no few-label fine-tune); the probe "
    "is shown beside it. Methods are compared only within a track.",
    "",
]


def _track_tag(track: str) -> str:
    """What a section title or a row adds for a track (nothing for the supervised one,
    so a board without other tracks reads as it did before tracks existed)."""
    return "" if track == SUPERVISED else f" · {track}"


def _track_lines(
    track: str,
    table: pd.DataFrame,
    refs: pd.DataFrame,
    records: list[Record],
    inapplicable: list[Record],
) -> list[str]:
    """One track's headroom, average ranks and per-task tables."""
    tag = _track_tag(track)
    lines = list(TRACK_INTRO.get(track, []))
    baseline = "scratch (labelled pairs)" if track == LABELLED else "scratch (few labels)"
    lines += headroom_lines(table, refs, title=f"## Headroom{tag}", baseline=baseline)
    lines += [
        f"## Average rank across tasks{tag}",
        "",
        "| method | average rank | tasks |",
        "|---|---:|---:|",
    ]
    avg = table.groupby("method")["rank"].agg(["mean", "count"]).sort_values("mean")
    lines += [
        f"| {_cell(m)} | {row['mean']:.2f} | {int(row['count'])} |" for m, row in avg.iterrows()
    ]
    lines.append("")

    for task, group in table.groupby("task", sort=True):
        metric, probe = group["metric"].iloc[0], group["probe_metric"].iloc[0]
        lines += [f"## {_cell(task)}{tag}", ""]
        task_refs = refs[refs.task == task] if len(refs) else refs
        suffix = metric_suffix(metric)
        if len(task_refs):
            teacher = mean_ci(task_refs.get(f"teacher_{suffix}", pd.Series(dtype=float)))
            ceiling = mean_ci(task_refs.get(f"all_labels_{suffix}", pd.Series(dtype=float)))
            source = _pct(*teacher) if not math.isnan(teacher[0]) else "— (no head)"
            lines += [
                f"Teacher on the source modality: {source} · student trained on "
                f"all target labels: {_pct(*ceiling)} ({suffix}, %).",
                "",
            ]
            lines += input_gap_line(task_refs)
        lines += resolution_line(resolution(records, task, track))
        lines += [
            f"| rank | method | {metric} (%) | Δ vs {BASELINE} | Δ vs best other | "
            f"{probe} (%) | gap_tv | gap_cka | seeds |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for _, row in group.sort_values(["rank", "method"]).iterrows():
            vs_best = _delta(row, "vs_best")
            if row["best_other"]:
                vs_best += f" ({_cell(row['best_other'])})"
            lines.append(
                f"| {int(row['rank'])} | {_cell(row['method'])} | {_pct(row['mean'], row['ci'])} | "
                f"{_delta(row, 'gain')} | {vs_best} | "
                f"{_pct(row['probe_mean'], row['probe_ci'])} | {_num(row['gap_tv'])} | "
                f"{_num(row['gap_cka'])} | {row['seeds']} |"
            )
        lines.append("")
        lines += _inapplicable_lines([r for r in inapplicable if r.task == task])
    return lines


def _inapplicable_lines(records: list[Record]) -> list[str]:
    """The methods a task's track cannot run, grouped by their reason (a reason that
    starts with the method's own name is read without it)."""
    methods: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: (r.method, r.seed)):
        why = r.reason.removeprefix(f"{r.method} ")
        if r.method not in methods.setdefault(why, []):
            methods[why].append(r.method)
    if not methods:
        return []
    items = "; ".join(
        f"{', '.join(_cell(m) for m in names)} ({_cell(why)})" for why, names in methods.items()
    )
    return [f"Not applicable in this track: {items}.", ""]


FOOTNOTE = [
    "Ranked by each task's primary metric on the target test set (named in its table's "
    "header). ± is the half-width of a 95% Student-t interval over seeds. The fine-tune "
    "score of a cell is the mean of its fine-tune restarts; the probe is a linear probe "
    "on the frozen distilled features.",
    "",
    f"Δ vs {BASELINE} and Δ vs best other (the other method with the highest mean on the "
    "task, named in brackets) are mean per-seed differences with a **paired t test**. "
    "The pairing is two-level: within a seed both methods are scored on the same test "
    "samples (so the difference carries only the test-sampling variance of their "
    "disagreements), and a seed fixes the data, the teacher and the student's initial "
    "weights (so the difference removes the variance the two methods share). Each seed "
    "draws its own test set, so the spread of the per-seed differences holds every "
    "source of variance, test sampling included, and the t interval over seeds is the "
    "exact interval of this balanced nested design; a bootstrap over so few seeds would "
    "under-cover. **\\*** marks an interval that excludes zero (p < 0.05, two-sided); no "
    "correction is made for the number of comparisons.",
    "",
    "Rank is 1 + the number of methods that beat the row with a paired interval "
    "excluding zero, so methods no test separates share a rank. Resolution: the "
    "minimum detectable difference (MDE) of a paired t test over the task's seeds at "
    "95% confidence and 80% power, from the per-seed SD of paired differences pooled "
    "over the task's method pairs (`bench power` splits that SD into test sampling, "
    "training noise and seed).",
    "",
    "gap_tv is a lower bound on the total variation between the teacher's and the "
    "student's held-out features, gap_cka their debiased CKA, both in one space every "
    "method shares (the teacher's top principal directions, the student's embedding "
    "mapped in by a ridge fit on disjoint pairs, a fixed number of pairs); means over "
    "seeds. The input gap is the same estimate for the source-trained teacher on the "
    "source vs the target view. See README, 'The modality gap'.",
]


def input_gap_line(refs: pd.DataFrame) -> list[str]:
    """The task's method-independent input gap, from its reference records."""
    if "input_gap_tv" not in refs or refs["input_gap_tv"].isna().all():
        return []
    tv, lo, hi = (
        float(refs[c].mean()) for c in ("input_gap_tv", "input_gap_tv_lo", "input_gap_tv_hi")
    )
    cka, pair = float(refs["input_gap_cka"].mean()), float(refs["input_gap_pair"].mean())
    return [
        f"Input gap (teacher's features, source vs target view): TV ≥ {tv:.2f} "
        f"[{lo:.2f}, {hi:.2f}] · CKA {cka:.2f} · cosine distance {pair:.2f} "
        f"(means over {len(refs)} seeds).",
        "",
    ]


def _delta(row: pd.Series, name: str) -> str:
    text = _pct(row[name], row[f"{name}_ci"], signed=True)
    return text + "\\*" if row[f"{name}_sig"] else text


def _num(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "\\`"))


def _cell(value: object) -> str:
    """A name or reason from a record as inert markdown on one line: a `|` cannot end
    its table cell, a newline cannot start a heading, and `<script>` stays text in the
    HTML a markdown viewer makes of it. Ordinary names come out unchanged."""
    text = str(value)
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return " ".join(text.splitlines())


def write_outputs(records: list[Record], out: Path, leaderboard: Path | None = None) -> Path:
    """Write `<out>/results.csv` and the leaderboard (default `<out>/LEADERBOARD.md`),
    both rendered before either is written, so a failure leaves the old pair intact.
    Where `bench tune` has left records under `<out>/tune`, the tuned board is written
    beside the leaderboard (`LEADERBOARD-tuned.md`) and linked from it."""
    from benchmark.results.tune_board import link_line, render_tuned, tuned_board_path

    target = leaderboard or out / "LEADERBOARD.md"
    table = records_frame(records).to_csv(index=False)
    board = render(records, str(out / "runs"))
    tuned = render_tuned(out, records, render, _cell)
    if tuned is not None:
        board = link_line(board, tuned_board_path(target).name)
    write_text(out / "results.csv", table)
    write_text(target, board)
    if tuned is not None:
        write_text(tuned_board_path(target), tuned)
    return target

"""Aggregate records into `results.csv` and render `LEADERBOARD.md`.

Statistics (`benchmark.stats`): per (task, method) the mean over seeds with a two-sided
95% Student-t interval; each method is compared with `scratch` and with the best other
method of its task by a paired t test on per-seed differences (same seed = same data,
teacher and student initialisation), marked where the 95% interval excludes zero. The
gap columns are the means of the records' modality-gap estimates (`benchmark.gaps`).
Everything is derived from records; nothing here is edited by hand.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd

from benchmark.records import REFERENCE, Record, records_frame
from benchmark.stats import Paired, mean_ci, paired_test, t975
from benchmark.storage import write_text

__all__ = ["mean_ci", "render", "summarize", "t975", "write_outputs"]

BASELINE = "scratch"
GAPS = ("gap_tv", "gap_cka")  # per-method gap columns (means over seeds)


def primary_metrics(frame: pd.DataFrame) -> tuple[str, str]:
    """(ranking metric, probe metric) for a task's rows: mIoU for segmentation."""
    if "finetune_miou" in frame.columns and frame["finetune_miou"].notna().any():
        return "finetune_miou", "probe_miou"
    return "finetune_acc", "probe_acc"


def summarize(records: list[Record]) -> pd.DataFrame:
    """One row per (task, method) over ok records: mean, CI, paired comparisons with
    `scratch` and with the best other method, mean gap estimates, rank."""
    frame = records_frame([r for r in records if r.ok and r.method != REFERENCE])
    rows = []
    for task, group in frame.groupby("task", sort=True) if len(frame) else []:
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
        table["rank"] = table.groupby("task")["mean"].rank(ascending=False, method="min")
    return table


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


def headroom_lines(table: pd.DataFrame, refs: pd.DataFrame) -> list[str]:
    """Per task: teacher, scratch (few labels) and the all-labels ceiling. A task where
    scratch comes within a few points of the ceiling cannot separate methods."""
    lines = [
        "## Headroom",
        "",
        "| task | teacher (source) | scratch (few labels) | all target labels | headroom |",
        "|---|---:|---:|---:|---:|",
    ]
    for task, group in table.groupby("task", sort=True):
        suffix = group["metric"].iloc[0].removeprefix("finetune_")
        task_refs = refs[refs.task == task] if len(refs) else refs
        teacher = mean_ci(task_refs.get(f"teacher_{suffix}", pd.Series(dtype=float)))
        ceiling = mean_ci(task_refs.get(f"all_labels_{suffix}", pd.Series(dtype=float)))
        scratch = group[group.method == BASELINE]["mean"]
        base = float(scratch.iloc[0]) if len(scratch) else math.nan
        lines.append(
            f"| {task} ({suffix}) | {_pct(*teacher)} | {_pct(base)} | "
            f"{_pct(*ceiling)} | {_pct(ceiling[0] - base, signed=True)} |"
        )
    return [*lines, ""]


def _pct(mean: float, ci: float = math.nan, signed: bool = False) -> str:
    if math.isnan(mean):
        return "—"
    text = f"{100 * mean:+.1f}" if signed else f"{100 * mean:.1f}"
    return text if math.isnan(ci) else f"{text} ± {100 * ci:.1f}"


def render(records: list[Record], source: str) -> str:
    """The whole LEADERBOARD.md text."""
    table = summarize(records)
    frame = records_frame(records)
    refs = frame[(frame.method == REFERENCE) & (frame.status == "ok")] if len(frame) else frame
    failed = [r for r in records if not r.ok]
    profiles = sorted({r.profile for r in records}) or ["—"]
    commits = sorted({short_commit(r.git) for r in records}) or ["—"]
    lines = [
        "# XMD-Bench leaderboard",
        "",
        f"Generated by `bench leaderboard` from {len(records)} records in `{source}` on "
        f"{dt.date.today().isoformat()}. Do not edit by hand: re-run `bench leaderboard`.",
        "",
        f"Profile: {', '.join(profiles)} · commit: {', '.join(commits)}",
        "",
    ]
    if not len(table):
        return "\n".join([*lines, "No finished cells yet.", ""])

    lines += headroom_lines(table, refs)
    lines += [
        "## Average rank across tasks",
        "",
        "| method | average rank | tasks |",
        "|---|---:|---:|",
    ]
    avg = table.groupby("method")["rank"].agg(["mean", "count"]).sort_values("mean")
    lines += [f"| {m} | {row['mean']:.2f} | {int(row['count'])} |" for m, row in avg.iterrows()]
    lines.append("")

    for task, group in table.groupby("task", sort=True):
        metric, probe = group["metric"].iloc[0], group["probe_metric"].iloc[0]
        lines += [f"## {task}", ""]
        task_refs = refs[refs.task == task] if len(refs) else refs
        suffix = metric.removeprefix("finetune_")
        if len(task_refs):
            teacher = mean_ci(task_refs.get(f"teacher_{suffix}", pd.Series(dtype=float)))
            ceiling = mean_ci(task_refs.get(f"all_labels_{suffix}", pd.Series(dtype=float)))
            lines += [
                f"Teacher on the source modality: {_pct(*teacher)} · student trained on "
                f"all target labels: {_pct(*ceiling)} ({suffix}, %).",
                "",
            ]
            lines += input_gap_line(task_refs)
        lines += [
            f"| rank | method | {metric} (%) | Δ vs {BASELINE} | Δ vs best other | "
            f"{probe} (%) | gap_tv | gap_cka | seeds |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for _, row in group.sort_values(["rank", "method"]).iterrows():
            vs_best = _delta(row, "vs_best")
            if row["best_other"]:
                vs_best += f" ({row['best_other']})"
            lines.append(
                f"| {int(row['rank'])} | {row['method']} | {_pct(row['mean'], row['ci'])} | "
                f"{_delta(row, 'gain')} | {vs_best} | "
                f"{_pct(row['probe_mean'], row['probe_ci'])} | {_num(row['gap_tv'])} | "
                f"{_num(row['gap_cka'])} | {row['seeds']} |"
            )
        lines.append("")

    if failed:
        lines += ["## Failed cells", "", "| task | method | seed | reason |", "|---|---|---:|---|"]
        lines += [f"| {r.task} | {r.method} | {r.seed} | {r.reason[:120]} |" for r in failed]
        lines.append("")
    lines += ["---", *FOOTNOTE, ""]
    return "\n".join(lines)


FOOTNOTE = [
    "Ranked by the few-label fine-tune score on the target test set (mIoU for "
    "segmentation). ± is the half-width of a 95% Student-t interval over seeds. "
    "The probe column is a linear probe on the frozen distilled features.",
    "",
    f"Δ vs {BASELINE} and Δ vs best other (the other method with the highest mean on the "
    "task, named in brackets) are mean per-seed differences with a **paired t test**: "
    "a seed fixes the data, the teacher and the student's initial weights, so the "
    "difference within a seed removes the variance the two methods share, and with "
    "few seeds the t distribution (not the normal) gives honest 95% intervals. "
    "**\\*** marks an interval that excludes zero (p < 0.05, two-sided); with 3 seeds "
    "(t = 4.30) that means the seeds agree, and no correction is made for the number "
    "of comparisons.",
    "",
    "gap_tv is a lower bound on the total variation between the teacher's and the "
    "student's held-out features in the method's alignment space (a two-sample "
    "classifier, TV ≥ 2·accuracy − 1), gap_cka their linear CKA (1 = same up to "
    "rotation and scale); means over seeds. The input gap is the same estimate for "
    "the source-trained teacher on the source vs the target view. See README, "
    "'The modality gap'.",
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


def write_outputs(records: list[Record], out: Path, leaderboard: Path | None = None) -> Path:
    """Write `<out>/results.csv` and the leaderboard (default `<out>/LEADERBOARD.md`)."""
    write_text(out / "results.csv", records_frame(records).to_csv(index=False))
    target = leaderboard or out / "LEADERBOARD.md"
    write_text(target, render(records, str(out / "runs")))
    return target

"""Aggregate records into `results.csv` and render `LEADERBOARD.md`.

Statistics: per (task, method) the mean over seeds with a two-sided 95% Student-t
interval; the gain over `scratch` is the mean of per-seed differences (same seed = same
data, teacher and student initialisation), with a paired t interval. Everything is
derived from records; nothing here is edited by hand.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd

from benchmark.records import REFERENCE, Record, records_frame
from benchmark.storage import write_text

# Two-sided 95% Student-t quantiles t_{0.975, df}, df = 1..30 (standard tables).
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)
BASELINE = "scratch"


def t975(df: int) -> float:
    """t quantile for a 95% interval; beyond the table, 1.96 + 2.4/df is within 0.002."""
    if df < 1:
        return math.nan
    return _T975[df - 1] if df <= len(_T975) else 1.96 + 2.4 / df


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95% t interval (nan for a single value)."""
    values = values.dropna()
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan
    return mean, t975(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)


def primary_metrics(frame: pd.DataFrame) -> tuple[str, str]:
    """(ranking metric, probe metric) for a task's rows: mIoU for segmentation."""
    if "finetune_miou" in frame.columns and frame["finetune_miou"].notna().any():
        return "finetune_miou", "probe_miou"
    return "finetune_acc", "probe_acc"


def summarize(records: list[Record]) -> pd.DataFrame:
    """One row per (task, method) over ok records: mean, CI, gain over scratch, rank."""
    frame = records_frame([r for r in records if r.ok and r.method != REFERENCE])
    rows = []
    for task, group in frame.groupby("task", sort=True) if len(frame) else []:
        metric, probe = primary_metrics(group)
        base = group[group.method == BASELINE].set_index("seed")[metric]
        for method, rows_m in group.groupby("method"):
            mean, ci = mean_ci(rows_m[metric])
            pmean, pci = mean_ci(rows_m[probe]) if probe in rows_m else (math.nan, math.nan)
            paired = rows_m.set_index("seed")[metric] - base
            gain, gain_ci = mean_ci(paired) if method != BASELINE else (math.nan, math.nan)
            rows.append(
                {
                    "task": task,
                    "method": method,
                    "metric": metric,
                    "mean": mean,
                    "ci": ci,
                    "probe_metric": probe,
                    "probe_mean": pmean,
                    "probe_ci": pci,
                    "gain": gain,
                    "gain_ci": gain_ci,
                    "seeds": len(rows_m),
                }
            )
    table = pd.DataFrame(rows)
    if len(table):
        table["rank"] = table.groupby("task")["mean"].rank(ascending=False, method="min")
    return table


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
        lines += [
            f"| rank | method | {metric} (%) | Δ vs {BASELINE} | {probe} (%) | seeds |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        for _, row in group.sort_values(["rank", "method"]).iterrows():
            lines.append(
                f"| {int(row['rank'])} | {row['method']} | {_pct(row['mean'], row['ci'])} | "
                f"{_pct(row['gain'], row['gain_ci'], signed=True)} | "
                f"{_pct(row['probe_mean'], row['probe_ci'])} | {row['seeds']} |"
            )
        lines.append("")

    if failed:
        lines += ["## Failed cells", "", "| task | method | seed | reason |", "|---|---|---:|---|"]
        lines += [f"| {r.task} | {r.method} | {r.seed} | {r.reason[:120]} |" for r in failed]
        lines.append("")
    lines += [
        "---",
        "Ranked by the few-label fine-tune score on the target test set (mIoU for "
        "segmentation). ± is the half-width of a 95% Student-t interval over seeds. "
        f"Δ vs {BASELINE} is the mean per-seed difference (each seed shares data, teacher and "
        "student initialisation) with a paired 95% t interval. The probe column is a "
        "linear probe on the frozen distilled features.",
        "",
    ]
    return "\n".join(lines)


def write_outputs(records: list[Record], out: Path, leaderboard: Path | None = None) -> Path:
    """Write `<out>/results.csv` and the leaderboard (default `<out>/LEADERBOARD.md`)."""
    write_text(out / "results.csv", records_frame(records).to_csv(index=False))
    target = leaderboard or out / "LEADERBOARD.md"
    write_text(target, render(records, str(out / "runs")))
    return target

"""`bench plot`: figures from records, as PNG and SVG, with the plotted numbers as CSV.

Two kinds of figure:
- per task of an output folder (`task-<task>`): each method's few-label fine-tune score,
  mean over seeds with its 95% t interval, the teacher and the all-labels ceiling as
  reference lines;
- per task of a sweep (`sweep-<knob>-<task>`): target error (1 − the fine-tune score)
  against the knob value, against the task's measured input gap `input_gap_tv`, against
  `gap_tv` and the debiased `gap_cka`, both in the one space every method shares (the
  teacher's top principal directions, the student mapped in:
  `benchmark.protocol.gap_estimators`), one line per method, each legend entry carrying
  Spearman's ρ between error and the x axis over that method's cells (every value and seed).

Every figure is written next to a CSV of exactly what it draws, so a figure can be
checked against its records without reading pixels. matplotlib is an optional extra
(`pip install 'xmd-bench[plot]'`); it is imported only here, with the Agg backend, so
plotting works on machines without a display.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.errors import UserError
from benchmark.results.leaderboard import metric_suffix, primary_metrics
from benchmark.results.records import REFERENCE, Record, read_records, records_frame
from benchmark.results.stats import mean_ci, spearman
from benchmark.results.sweeps import find_sweeps, sweep_frame
from benchmark.storage import atomic_write, check_target, check_writable, write_text
from benchmark.tracks import SUPERVISED

FORMATS = ("png", "svg")
log = logging.getLogger(__name__)


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or a one-line error naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise UserError("bench plot needs matplotlib: pip install 'xmd-bench[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def task_scores(records: list[Record]) -> pd.DataFrame:
    """What a task figure draws: per (task, method) mean score and CI half-width, plus
    the teacher and ceiling (method `teacher` / `all labels`), in percent. The supervised
    track only: the label-free track's teacher has no source score to draw."""
    frame = records_frame([r for r in records if r.ok and r.track == SUPERVISED])
    rows = []
    for task, group in frame.groupby("task", sort=True) if len(frame) else []:
        runs = group[group.method != REFERENCE]
        if not len(runs):
            continue
        metric, _ = primary_metrics(runs)
        for method, g in runs.groupby("method"):
            mean, ci = mean_ci(g[metric])
            rows.append(
                dict(
                    task=task,
                    method=method,
                    metric=metric,
                    mean=100 * mean,
                    ci=100 * ci,
                    seeds=len(g),
                )
            )
        refs = group[group.method == REFERENCE]
        suffix = metric_suffix(metric)
        for label, column in (
            ("teacher", f"teacher_{suffix}"),
            ("all labels", f"all_labels_{suffix}"),
        ):
            if column in refs and refs[column].notna().any():
                mean, ci = mean_ci(refs[column])
                rows.append(
                    dict(
                        task=task,
                        method=label,
                        metric=column,
                        mean=100 * mean,
                        ci=100 * ci,
                        seeds=int(refs[column].notna().sum()),
                    )
                )
    return pd.DataFrame(rows, columns=["task", "method", "metric", "mean", "ci", "seeds"])


def sweep_points(frame: pd.DataFrame) -> pd.DataFrame:
    """What a sweep figure draws: one row per ok method cell with its error and gaps."""
    runs = frame[(frame.get("status") == "ok") & (frame.get("method") != REFERENCE)]
    rows = []
    for _task, group in runs.groupby("task", sort=True) if len(runs) else []:
        metric, _ = primary_metrics(group)
        part = group[["knob", "value", "task", "method", "seed"]].copy()
        part["metric"] = metric
        part["error"] = 1.0 - group[metric]
        for gap in ("gap_tv", "gap_cka", "input_gap_tv"):
            part[gap] = group.get(gap, math.nan)
        rows.append(part)
    columns = [
        "knob",
        "value",
        "task",
        "method",
        "seed",
        "metric",
        "error",
        "gap_tv",
        "gap_cka",
        "input_gap_tv",
    ]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)


def _save(fig: Any, stem: Path, data: pd.DataFrame) -> list[Path]:
    """The figure in every format and its data as CSV, each written atomically."""
    paths = []
    for fmt in FORMATS:
        path = stem.with_suffix(f".{fmt}")
        dpi = 150 if fmt == "png" else None
        atomic_write(
            path,
            lambda handle, fmt=fmt, dpi=dpi: fig.savefig(
                handle, format=fmt, dpi=dpi, bbox_inches="tight"
            ),
        )
        paths.append(path)
    write_text(stem.with_suffix(".csv"), data.to_csv(index=False))
    return [*paths, stem.with_suffix(".csv")]


def check_figures(figures: Path) -> None:
    """Every file a plot may replace in `figures` (`task-*`, `sweep-*` in each format and
    as CSV) is a regular file, checked before the first figure is written."""
    if not figures.is_dir():
        return
    suffixes = {f".{fmt}" for fmt in FORMATS} | {".csv"}
    for path in figures.iterdir():
        if path.suffix in suffixes and path.name.startswith(("task-", "sweep-")):
            check_target(path, "figure")


def plot_tasks(records: list[Record], figures: Path) -> list[Path]:
    """One bar chart per task: methods' mean scores with 95% t intervals."""
    plt = _pyplot()
    table = task_scores(records)
    written: list[Path] = []
    for task, group in table.groupby("task", sort=True):
        methods = group[~group.method.isin(["teacher", "all labels"])].sort_values("mean")
        refs = group[group.method.isin(["teacher", "all labels"])]
        fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(methods) + 1.6))
        ax.barh(
            methods.method,
            methods["mean"],
            xerr=methods["ci"].fillna(0.0),
            color="#4c72b0",
            capsize=3,
        )
        for (_, ref), style in zip(refs.iterrows(), ("--", ":"), strict=False):
            ax.axvline(
                ref["mean"],
                color="black",
                linestyle=style,
                label=f"{ref['method']} {ref['mean']:.1f}",
            )
        metric = methods["metric"].iloc[0]
        ax.set_xlabel(f"{metric} (%), mean over seeds ± 95% t interval")
        ax.set_xlim(left=0)
        ax.set_title(task)
        if len(refs):
            ax.legend(loc="lower right", fontsize=8)
        written += _save(fig, figures / f"task-{_slug(task)}", group)
        plt.close(fig)
    return written


def _lines(ax: Any, points: pd.DataFrame, x: str, label_x: str) -> None:
    """Per method: mean error per knob value against the mean x (against the knob, with
    95% t intervals over seeds, methods nudged apart so the bars stay readable), every
    cell as a faint dot, ρ over all cells."""
    methods = sorted(points["method"].unique())
    span = float(points["value"].max() - points["value"].min()) or 1.0
    for i, (method, g) in enumerate(points.groupby("method", sort=True)):
        rho = spearman(g[x], g["error"])
        by_value = g.assign(_x=g[x]).groupby("value")
        means = by_value[["_x", "error"]].mean()
        half = by_value["error"].apply(lambda e: mean_ci(e)[1]).fillna(0.0)
        nudge = (i - (len(methods) - 1) / 2) * 0.008 * span if x == "value" else 0.0
        line = ax.errorbar(
            means["_x"] + nudge,
            100 * means["error"],
            yerr=100 * half if x == "value" else None,
            marker="o",
            markersize=3,
            capsize=2,
            label=f"{method} (ρ = {rho:+.2f})" if not math.isnan(rho) else f"{method} (ρ n/a)",
        )
        colour = line.lines[0].get_color()
        ax.scatter(g[x], 100 * g["error"], s=6, alpha=0.3, color=colour, linewidths=0)
    ax.set_xlabel(label_x)
    ax.set_ylabel("target error (%)")
    ax.legend(fontsize=7)


def plot_sweep(folder: Path, figures: Path) -> list[Path]:
    """Per task of a sweep: error against the knob, `input_gap_tv`, `gap_tv` and
    `gap_cka`."""
    plt = _pyplot()
    points = sweep_points(sweep_frame(folder))
    knob = folder.name
    written: list[Path] = []
    for task, group in points.groupby("task", sort=True):
        fig, grid = plt.subplots(2, 2, figsize=(13, 9.5), sharey=True)
        axes = grid.flatten()
        _lines(axes[0], group, "value", f"{knob} (the knob; bars: 95% t interval)")
        _lines(axes[1], group, "input_gap_tv", "input_gap_tv (the task's gap, no method)")
        _lines(axes[2], group, "gap_tv", "gap_tv (TV lower bound, common space)")
        _lines(axes[3], group, "gap_cka", "gap_cka (debiased CKA, common space)")
        seeds = group["seed"].nunique()
        fig.suptitle(
            f"{task}: target error vs {knob} and the measured gap "
            f"(means over {seeds} seeds per point; ρ = Spearman over all cells)"
        )
        short = knob.split(".", 1)[-1]
        written += _save(fig, figures / f"sweep-{_slug(short)}-{_slug(task)}", group)
        plt.close(fig)
    return written


def plot_command(out: Path, sweeps: list[Path], figures: Path | None) -> list[Path]:
    """`bench plot`: task figures for OUT's records (if any) and sweep figures for the
    given sweep folders (default: every sweep under OUT), into FIGURES (OUT/figures)."""
    _pyplot()  # fail early, with the install hint, before reading anything
    figures = figures or out / "figures"
    folders = sweeps or find_sweeps(out)
    for folder in folders:  # every input checked before the first figure is written
        if not folder.is_dir():
            raise UserError(f"sweep folder '{folder}' does not exist (see 'bench sweep')")
    skipped: list[tuple[Path, str]] = []
    records = read_records(out, skipped)
    drawable = len(task_scores(records)) > 0
    sweep_data = [f for f in folders if len(sweep_points(sweep_frame(f)))]
    for folder in sweeps:
        if folder not in sweep_data:
            raise UserError(
                f"sweep folder '{folder}' holds no finished cell to plot "
                "(pass OUT/sweeps/KNOB of a 'bench sweep')"
            )
    if not drawable and not sweep_data:
        bad = f" ({len(skipped)} malformed, e.g. {skipped[0][0]})" if skipped else ""
        raise UserError(
            f"nothing to plot: no valid records under '{out / 'runs'}'{bad} and no sweep "
            f"under '{out / 'sweeps'}' (run 'bench run' or 'bench sweep', or pass "
            "--out/--sweep)"
        )
    for path, problem in skipped:
        log.warning("skipping record %s: %s", path, problem)
    check_writable(figures, "--figures")
    check_figures(figures)
    written: list[Path] = []
    if drawable:
        written += plot_tasks(records, figures)
    for folder in sweep_data:
        written += plot_sweep(folder, figures)
    return written

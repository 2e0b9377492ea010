"""The leaderboard's numbers, from records: one row per (track, task, method) and one
cross-task row per (track, method). Renderers (`benchmark.results.leaderboard` for
Markdown, the report page, exports) consume these tables and compute nothing themselves.

Per (track, task), over ok records of the methods none of whose cells failed there (see
`failed_methods`): each method's mean over seeds with its 95% Student-t
interval; the verdicts of its task's family (`benchmark.results.ranks`: Holm over every
one-sided pairwise hypothesis, TOST equivalence at ±margin) read off for the pair with
`scratch` and with the best other method; its confidence set of ranks; the means of its
modality-gap estimates (`benchmark.protocol.gaps`). Tracks never meet: a method is compared
only with methods of its own track. Per (track, method), the cross-task summary
(`benchmark.results.crosstask`). Nothing here is edited by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.kinds import KINDS, get_kind, kind_of_columns
from benchmark.results import crosstask
from benchmark.results.power import mde, pooled_sd, seeds_for
from benchmark.results.ranks import ALPHA, MARGIN, Family, analyse, rank_text
from benchmark.results.records import FAILED, REFERENCE, Record, records_frame
from benchmark.results.stats import mean_ci
from benchmark.tracks import LABELLED, SUPERVISED

BASELINE = "scratch"
GAPS = ("gap_tv", "gap_cka")  # per-method gap columns (means over seeds)

# The metric each task kind is ranked by, and the other protocol shown beside it: the
# few-label fine-tune (the mean of its restarts) of the kind's primary metric.
PRIMARY = {name: get_kind(name).ranking() for name in KINDS.names()}


def primary_metrics(frame: pd.DataFrame) -> tuple[str, str]:
    """(ranking metric, the other protocol's metric) for a task's rows: from the kind
    its records name, or (records that do not name it) from its metric columns.
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


def short_commit(git: str) -> str:
    """12 hex digits, keeping the '+dirty' mark of runs from an uncommitted checkout."""
    return git[:12] + ("+dirty" if git.endswith("+dirty") else "")


def failed_methods(records: list[Record]) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(track, task, method) → (seeds whose cell failed, seeds recorded), for every
    method with a failed cell there.

    Such a method is not ranked on that task and track (`method_frame` leaves it out):
    a failed cell (training diverged, the cell raised) is an outcome of the method, not a
    missing value, and a mean or a paired difference over the seeds that survived would
    describe the seeds on which its training happened to stay stable. `bench run` runs a
    failed cell again; once none is left, the method is ranked."""
    seeds: dict[tuple[str, str, str], set[int]] = {}
    failed: dict[tuple[str, str, str], set[int]] = {}
    for r in records:
        if r.method == REFERENCE:
            continue
        key = (r.track, r.task, r.method)
        seeds.setdefault(key, set()).add(r.seed)
        if r.status == FAILED:
            failed.setdefault(key, set()).add(r.seed)
    return {key: (len(bad), len(seeds[key])) for key, bad in sorted(failed.items())}


def method_frame(records: list[Record]) -> pd.DataFrame:
    """The ok method records (not the reference cells) as a frame, without the
    (track, task, method)s that have a failed cell (`failed_methods`)."""
    unranked = failed_methods(records)
    return records_frame(
        [
            r
            for r in records
            if r.ok and r.method != REFERENCE and (r.track, r.task, r.method) not in unranked
        ]
    )


def task_scores(frame: pd.DataFrame, task: str, track: str = SUPERVISED) -> dict[str, pd.Series]:
    """Each method's per-seed primary metric on (task, track), indexed by seed."""
    group = frame[(frame.task == task) & (frame.track == track)]
    if not len(group):
        return {}
    metric, _ = primary_metrics(group)
    return {m: g.set_index("seed")[metric] for m, g in group.groupby("method")}


def all_scores(records: list[Record]) -> dict[tuple[str, str], dict[str, pd.Series]]:
    """`task_scores` of every (track, task) of `records`."""
    frame = method_frame(records)
    if not len(frame):
        return {}
    keys = sorted(set(zip(frame.track, frame.task, strict=True)))
    return {(track, task): task_scores(frame, task, track) for track, task in keys}


def families(
    records: list[Record], alpha: float = ALPHA, margin: float = MARGIN
) -> dict[tuple[str, str], Family]:
    """The verdicts of every (track, task) of `records`."""
    return {key: analyse(own, alpha, margin) for key, own in all_scores(records).items()}


def summarize(records: list[Record], alpha: float = ALPHA, margin: float = MARGIN) -> pd.DataFrame:
    """One row per (track, task, method), sorted by mean within its (track, task): mean,
    CI, the probe, Δ vs scratch and vs the best other method (raw paired interval, Holm-
    adjusted p, resolved after Holm, the ±margin verdict), the rank set, gap means."""
    frame = method_frame(records)
    verdicts = families(records, alpha, margin)
    rows = []
    for (track, task), family in verdicts.items():
        group = frame[(frame.task == task) & (frame.track == track)]
        metric, probe = primary_metrics(group)
        for method in family.methods:
            own = group[group.method == method]
            mean, ci = mean_ci(own[metric])
            pmean, pci = mean_ci(own[probe]) if probe in own else (math.nan, math.nan)
            others = [m for m in family.methods if m != method and not math.isnan(family.means[m])]
            best = others[0] if others else ""
            lo, hi = family.ranks[method]
            row = {
                "track": track,
                "task": task,
                "method": method,
                "metric": metric,
                "mean": mean,
                "ci": ci,
                "rank_lo": lo,
                "rank_hi": hi,
                "rank": rank_text((lo, hi)),
                "probe_metric": probe,
                "probe_mean": pmean,
                "probe_ci": pci,
                **_pair_columns("gain", family, method, BASELINE),
                "best_other": best,
                **_pair_columns("vs_best", family, method, best),
                "seeds": len(own),
                "methods": len(family.methods),
                "hypotheses": family.hypotheses,
            }
            for gap in GAPS:
                row[gap] = float(own[gap].mean()) if gap in own else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _pair_columns(name: str, family: Family, method: str, other: str) -> dict[str, object]:
    if method == other or other not in family.means:
        return {
            name: math.nan,
            f"{name}_ci": math.nan,
            f"{name}_p": math.nan,
            f"{name}_sig": False,
            f"{name}_verdict": "",
        }
    pair = family.pair(method, other)
    return {
        name: pair.diff.mean,
        f"{name}_ci": pair.diff.half,
        f"{name}_p": pair.p_holm,
        f"{name}_sig": bool(pair.resolved),
        f"{name}_verdict": pair.word,
    }


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
    frame = method_frame(records)
    scores = task_scores(frame, task, track) if len(frame) else {}
    sd, pairs = pooled_sd(scores)
    seeds = max((len(v.dropna()) for v in scores.values()), default=0)
    return Resolution(sd, pairs, seeds, mde(sd, seeds), seeds_for(sd, 0.02), seeds_for(sd, 0.01))


# ---- the cross-task summary ------------------------------------------------------------


def headroom(table: pd.DataFrame, refs: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per task of one track's `summarize` rows: (scratch mean, all-labels ceiling mean)."""
    found = {}
    for task, group in table.groupby("task", sort=True):
        suffix = metric_suffix(group["metric"].iloc[0])
        own = refs[refs.task == task] if len(refs) else refs
        ceiling = mean_ci(own.get(f"all_labels_{suffix}", pd.Series(dtype=float)))[0]
        scratch = group[group.method == BASELINE]["mean"]
        found[task] = (float(scratch.iloc[0]) if len(scratch) else math.nan, ceiling)
    return found


def cross_task(records: list[Record], table: pd.DataFrame, refs: pd.DataFrame) -> pd.DataFrame:
    """One track's cross-task rows (`table`: its `summarize` rows), IQM first: per method
    the tasks it has, the IQM and the mean of its headroom-normalised scores with their
    stratified-bootstrap intervals, and P(method > scratch), P(method > the IQM leader).
    Tasks without a positive headroom (no ceiling, or scratch at or above it) are left out
    and named in the `left_out` attribute."""
    frame = method_frame(records)
    bounds = headroom(table, refs)
    usable = {t: b for t, b in bounds.items() if all(map(math.isfinite, b)) and b[1] > b[0]}
    out = pd.DataFrame()
    out.attrs["left_out"] = sorted(set(bounds) - set(usable))
    if not usable or not len(frame):
        return out
    track = str(table["track"].iloc[0])
    runs: dict[str, dict[str, np.ndarray]] = {}
    for task, (floor, ceiling) in usable.items():
        for method, values in task_scores(frame, task, track).items():
            values = values.dropna().to_numpy(dtype=float)
            if len(values):
                runs.setdefault(method, {})[task] = crosstask.normalise(values, floor, ceiling)
    rows = []
    for method, per_task in runs.items():
        iqm, mean = crosstask.bootstrap_iqm_mean(list(per_task.values()))
        rows.append({"method": method, "tasks": len(per_task), "iqm": iqm, "mean": mean})
    rows.sort(key=lambda r: (-r["iqm"].estimate, r["method"]))
    leader = rows[0]["method"]
    for row in rows:
        for name, other in (("p_vs_scratch", BASELINE), ("p_vs_leader", leader)):
            row[name] = _improvement(runs, row["method"], other)
    out = pd.DataFrame(rows)
    out.attrs["left_out"] = sorted(set(bounds) - set(usable))
    out.attrs["leader"] = leader
    out.attrs["tasks"] = sorted(usable)
    return out


def _improvement(
    runs: dict[str, dict[str, np.ndarray]], x: str, y: str
) -> crosstask.Interval | None:
    if x == y or y not in runs:
        return None
    shared = sorted(runs[x].keys() & runs[y].keys())
    if not shared:
        return None
    xs, ys = [runs[x][t] for t in shared], [runs[y][t] for t in shared]
    return crosstask.bootstrap_improvement(xs, ys)

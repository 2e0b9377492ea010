"""`bench compare --out runs --against results`: do a user's records reproduce the
committed reference?

Per (task, track, method), over the seeds both folders have (a seed in only one of them
is left out and counted):

- **bit-identical**: every shared seed has the same config hash, the same metrics and the
  same per-sample outcomes in both folders;
- **within seed noise**: the paired per-seed difference of the task's primary metric
  (`benchmark.kinds`; the all-labels ceiling for the reference cell) is not resolved
  (`benchmark.results.stats.paired_test`, two-sided, with Holm's correction over the
  family of every tested row of the same task and track);
- **differs**: it is resolved after that correction;
- **too few seeds**: one shared seed, which gives no interval.

When not bit-identical, the reasons come from the records' provenance: another commit
(`git`), another torch thread count (`versions.torch_threads`), another device, other
package versions, other settings (the config hash differs: the top-level config sections
that differ are named).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import benchmark
from benchmark.errors import UserError
from benchmark.kinds import get_kind, kind_of_columns
from benchmark.results.aggregate import metric_suffix, short_commit
from benchmark.results.records import REFERENCE, Record, read_records
from benchmark.results.stats import Paired, holm, paired_test
from benchmark.tracks import LABELLED

REFERENCE_FOLDER = "results"  # the committed reference records
BIT_IDENTICAL, WITHIN_NOISE, DIFFERS, TOO_FEW = (
    "bit-identical",
    "within seed noise",
    "differs",
    "too few seeds",
)
VERDICTS = (BIT_IDENTICAL, WITHIN_NOISE, DIFFERS, TOO_FEW)
# Config keys written next to a cell's settings that are not settings (not in the hash).
NOT_SETTINGS = frozenset({"run", "traceback"})

Key = tuple[str, str, str]  # (task, track, method)


@dataclass
class Row:
    task: str
    track: str
    method: str
    metric: str
    seeds: list[int]
    verdict: str
    diff: Paired | None = None  # yours − reference, per seed (None when bit-identical)
    p_holm: float = math.nan  # Holm-adjusted p within the rows of its (task, track)
    reasons: list[str] = field(default_factory=list)


def track_of(record: Record) -> str:
    """The record's track (a record without one is the supervised track's:
    `benchmark.hashing`, record-without-track)."""
    return str(getattr(record, "track", "supervised"))


def reference_folder(out: Path) -> Path | None:
    """The committed reference next to the working directory (`./results`) or next to the
    package (a checkout's `results/`), if it holds records and is not `out` itself."""
    package_root = Path(benchmark.__file__).resolve().parent.parent
    for folder in (Path(REFERENCE_FOLDER), package_root / REFERENCE_FOLDER):
        if (folder / "runs").is_dir() and folder.resolve() != out.resolve():
            return folder
    return None


def task_metric(records: list[Record]) -> str:
    """The primary metric of a task's records, from the kind they name (`benchmark.kinds`)."""
    named = {r.data["kind"] for r in records if "kind" in r.data}
    if len(named) == 1:
        return get_kind(named.pop()).ranking()[0]
    return kind_of_columns(k for r in records for k in r.metrics).ranking()[0]


def row_metric(method: str, primary: str) -> str:
    """What a row compares: the primary metric, or the all-labels ceiling for the
    reference cell (the leaderboard's headroom column of the same suffix)."""
    return f"all_labels_{metric_suffix(primary)}" if method == REFERENCE else primary


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal values, NaN equal to NaN (a metric that is undefined in both)."""
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        both_nan = isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)
        if x != y and not both_nan:
            return False
    return True


def identical(mine: Record, ref: Record) -> bool:
    return (
        mine.config_hash == ref.config_hash
        and _same(mine.metrics, ref.metrics)
        and mine.outcomes == ref.outcomes
    )


def _settings(record: Record) -> dict[str, Any]:
    return {k: v for k, v in record.config.items() if k not in NOT_SETTINGS}


def _values(records: Iterable[Record], get: Any) -> str:
    return ", ".join(sorted({str(get(r)) for r in records}))


def reasons(pairs: list[tuple[Record, Record]]) -> list[str]:
    """Why two sets of records can differ, from their provenance."""
    mine = [m for m, _ in pairs]
    refs = [r for _, r in pairs]
    found = []

    def differ(label: str, get: Any) -> None:
        yours, theirs = _values(mine, get), _values(refs, get)
        if yours != theirs:
            found.append(f"{label} ({yours} vs {theirs})")

    differ("other commit", lambda r: short_commit(r.git))
    differ("other thread count", lambda r: r.versions.get("torch_threads", "?"))
    differ("other device", lambda r: r.device or "?")
    names = sorted({k for r in mine + refs for k in r.versions} - {"torch_threads"})
    packages = [
        f"{k} {yours} vs {theirs}"
        for k in names
        if (yours := _values(mine, lambda r, k=k: r.versions.get(k, "?")))
        != (theirs := _values(refs, lambda r, k=k: r.versions.get(k, "?")))
    ]
    if packages:
        found.append("other package versions (" + "; ".join(packages) + ")")
    hashes = [(m, r) for m, r in pairs if m.config_hash != r.config_hash]
    if hashes:
        sections = sorted(
            {
                key
                for m, r in hashes
                for key in _settings(m).keys() | _settings(r).keys()
                if _settings(m).get(key) != _settings(r).get(key)
            }
        )
        profiles = (
            _values([m for m, _ in hashes], lambda r: r.profile),
            _values([r for _, r in hashes], lambda r: r.profile),
        )
        where = [f"profile {profiles[0]} vs {profiles[1]}"] if profiles[0] != profiles[1] else []
        found.append("other settings (" + (", ".join([*where, *sections]) or "config hash") + ")")
    return found or ["no provenance difference recorded"]


def compare(mine: list[Record], reference: list[Record]) -> tuple[list[Row], int, int]:
    """Rows for every (task, track, method) with a seed in both folders, and the counts of
    ok cells found in only yours and only the reference."""

    def index(records: list[Record]) -> dict[tuple[str, str, str, int], Record]:
        return {(r.task, track_of(r), r.method, r.seed): r for r in records if r.ok}

    yours, theirs = index(mine), index(reference)
    shared = sorted(yours.keys() & theirs.keys())
    groups: dict[Key, list[int]] = {}
    for task, track, method, seed in shared:
        groups.setdefault((task, track, method), []).append(seed)
    by_task: dict[str, list[Record]] = {}
    for r in [*yours.values(), *theirs.values()]:
        by_task.setdefault(r.task, []).append(r)
    rows = []
    for (task, track, method), seeds in groups.items():
        pairs = [(yours[(task, track, method, s)], theirs[(task, track, method, s)]) for s in seeds]
        primary = task_metric(by_task[task])
        if track == LABELLED:  # ranked by the student's own head (benchmark.tracks)
            primary = f"head_{metric_suffix(primary)}"
        metric = row_metric(method, primary)
        row = Row(task, track, method, metric, seeds, BIT_IDENTICAL)
        if not all(identical(m, r) for m, r in pairs):
            row.diff = paired_test(_scores(pairs, 0, metric), _scores(pairs, 1, metric))
            row.verdict = TOO_FEW if row.diff.n < 2 else WITHIN_NOISE
            row.reasons = reasons(pairs)
        rows.append(row)
    control(rows)
    only_yours = len(yours.keys() - theirs.keys())
    only_theirs = len(theirs.keys() - yours.keys())
    return rows, only_yours, only_theirs


def control(rows: list[Row], alpha: float = 0.05) -> None:
    """Holm over the tested rows of each (task, track): a row differs when its two-sided
    paired test stays significant after the correction."""
    families: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.diff is not None and row.diff.n >= 2:
            families.setdefault((row.task, row.track), []).append(row)
    for family in families.values():
        for row, p in zip(family, holm([r.diff.p for r in family if r.diff]), strict=True):
            row.p_holm = p
            row.verdict = DIFFERS if p <= alpha else WITHIN_NOISE


def _scores(pairs: list[tuple[Record, Record]], side: int, metric: str) -> pd.Series:
    """One side's per-seed values of `metric` (NaN where a record lacks it)."""
    values = {p[side].seed: p[side].metrics.get(metric) for p in pairs}
    return pd.Series(values, dtype=object).astype(float)


def counts(rows: list[Row]) -> dict[str, int]:
    return {v: sum(r.verdict == v for r in rows) for v in VERDICTS}


def summary_line(rows: list[Row], out: Path, against: Path) -> str:
    return " — ".join(summary_parts(rows, out, against))


def summary_parts(rows: list[Row], out: Path, against: Path) -> tuple[str, str]:
    """The verdicts' counts and the command that shows them row by row."""
    c = counts(rows)
    few = f", {c[TOO_FEW]} with too few seeds" if c[TOO_FEW] else ""
    kinds = dict.fromkeys(reason.split(" (")[0] for row in rows for reason in row.reasons)
    why = f" ({', '.join(kinds)})" if kinds else ""
    return (
        f"compared with the committed reference: {c[BIT_IDENTICAL]} bit-identical, "
        f"{c[WITHIN_NOISE]} within seed noise, {c[DIFFERS]} differ{few}{why}",
        f"bench compare --out {out} --against {against}",
    )


def _seed_text(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _load(folder: Path, what: str) -> list[Record]:
    if not (folder / "runs").is_dir():
        raise UserError(
            f"no records under '{folder / 'runs'}': pass {what} the folder of a bench run"
        )
    skipped: list[tuple[Path, str]] = []
    records = read_records(folder, skipped)
    if not any(r.ok for r in records):
        first = f"; {len(skipped)} file(s) skipped, e.g. {skipped[0][0]}" if skipped else ""
        raise UserError(f"no finished record under '{folder / 'runs'}' ({what}){first}")
    return records


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    """Your records against the reference: one row per (task, track, method)."""
    against = args.against if args.against is not None else reference_folder(args.out)
    if against is None:
        raise UserError(
            f"no reference folder found ('{REFERENCE_FOLDER}/' here or in the checkout): "
            "pass --against"
        )
    if against.resolve() == args.out.resolve():
        raise UserError(f"--out and --against are the same folder '{args.out}'")
    mine, reference = _load(args.out, "--out"), _load(against, "--against")
    rows, only_yours, only_theirs = compare(mine, reference)
    if not rows:
        raise UserError(
            f"no (task, method, seed) has a finished record in both '{args.out}' and "
            f"'{against}': nothing to compare"
        )
    print_rows(console, rows, f"{args.out} (yours) against {against} (reference)")
    console.print(
        f"Only seeds present in both folders are compared ({sum(len(r.seeds) for r in rows)} "
        f"cells); left out: {only_yours} cell(s) only in {args.out}, {only_theirs} only in "
        f"{against}. Δ is the mean per-seed difference yours − reference of the primary "
        "metric, in points, ± its 95% t interval (unadjusted); 'differs' means resolved "
        "after Holm's correction over the tested rows of the same task and track "
        "(family-wise error 5%).",
        highlight=False,
        markup=False,
    )
    console.print(summary_line(rows, args.out, against), highlight=False, markup=False)
    return 0


COLOUR = {BIT_IDENTICAL: "green", WITHIN_NOISE: "cyan", DIFFERS: "red", TOO_FEW: "yellow"}
REFERENCE_ROW = "reference*"  # the reference cell's row; the note under the table says so


def print_rows(console: Console, rows: list[Row], title: str) -> None:
    """The rows as a table that fits 80 columns: one line a row where the names allow,
    task and track written once per group, and the reasons as numbers whose legend
    follows the table (rows share most reasons: a commit, a thread count, a profile)."""
    tracks = {r.track for r in rows}
    legend: dict[str, int] = {}
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    columns = ["task", *(["track"] if len(tracks) > 1 else []), "method", "seeds", "verdict"]
    for col in columns:
        table.add_column(col, overflow="fold")
    table.add_column("Δ (points)", justify="right", overflow="fold")
    table.add_column("why", overflow="fold")
    previous: tuple[str, str] | None = None
    for row in rows:
        group = (row.task, row.track)
        names = [row.task, *([row.track] if len(tracks) > 1 else [])]
        if group == previous:  # the group's first row names it
            names = ["" for _ in names]
        elif previous is not None and previous[0] == row.task:
            names[0] = ""
        previous = group
        who = REFERENCE_ROW if row.method == REFERENCE else row.method
        codes = [legend.setdefault(reason, len(legend) + 1) for reason in row.reasons]
        table.add_row(
            *(escape(c) for c in [*names, who, _seed_text(row.seeds)]),
            f"[{COLOUR[row.verdict]}]{row.verdict}[/]",
            "" if row.diff is None else _delta(row.diff),
            " ".join(map(str, codes)),
        )
    console.print(table)
    if any(r.method == REFERENCE for r in rows):
        console.print(
            f"{REFERENCE_ROW} the task's reference cell, compared on its all-labels ceiling",
            highlight=False,
            markup=False,
        )
    if legend:
        console.print("why not bit-identical:", highlight=False, markup=False)
        for reason, code in legend.items():
            console.print(f"{code:>3}  {reason}", highlight=False, markup=False)


def _delta(diff: Paired) -> str:
    if math.isnan(diff.half):
        return f"{100 * diff.mean:+.2f}"
    return f"{100 * diff.mean:+.2f} ± {100 * diff.half:.2f}"


def run_summary(out: Path) -> tuple[str, str] | None:
    """What `bench run` ends with when a reference folder exists (None otherwise, or
    when the two share no finished cell): `summary_parts`."""
    against = reference_folder(out)
    if against is None:
        return None
    mine, reference = read_records(out, []), read_records(against, [])
    rows, _, _ = compare(mine, reference)
    return summary_parts(rows, out, against) if rows else None

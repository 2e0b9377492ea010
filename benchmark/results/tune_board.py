"""The tuned leaderboard (`LEADERBOARD-tuned.md`, next to `LEADERBOARD.md`), from records.

`bench tune` leaves, under `OUT/tune/<sampler>-seed<s>/selected-<rule>/runs`, one record
per (task, method, seed): the selected trial re-run on that seed, its `config["tune"]`
saying which trial was selected, by what rule, with what parameters, from what budget,
and every trial's validation and test score on the tuning seed. This module renders:

1. per task, each method's **gain from tuning**: tuned − defaults, paired per seed (the
   defaults are the `bench run` records in `OUT/runs` on the same seeds, so a seed fixes
   data, teacher and student initialisation on both sides), with its 95% t interval,
   marked resolved after Holm over the task's family of gains (both directions of every
   method's gain: 2m one-sided hypotheses for the m methods that did not keep their
   defaults);
2. beside it the **oracle**: the best *test* score over the trials on the tuning seed,
   i.e. selection on the test set, an upper bound on what any selection rule could reach
   with the budget and labelled as such, never ranked (DomainBed's test-domain oracle);
3. the tuned records' own leaderboard, rendered by `benchmark.results.leaderboard.render`
   with the defaults run's reference records, so its ranks, intervals and resolution
   figures are computed exactly as the main board's.

With `--selection oracle` the re-runs are of the test-selected trials; that board says
in its title and in every section that it is an upper bound, not a result.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.kinds import get_kind
from benchmark.results.aggregate import failed_methods
from benchmark.results.records import REFERENCE, Record, read_records
from benchmark.results.stats import holm, mean_ci, one_sided_p, paired_test
from benchmark.results.teachers import teacher_key

Render = Callable[[list[Record], str], str]  # records, source → a leaderboard's text
Escape = Callable[[object], str]  # a record's string → inert markdown
TUNE_DIR = "tune"
SELECTED = "selected-"  # + the selection rule: selected-val, selected-oracle
ORACLE_LABEL = "oracle (test-set selection): an upper bound, not a result"
DEFAULTS_KEPT = "0 (defaults kept)"  # the gain shown for a method that kept trial 0


def tuned_board_path(board: Path) -> Path:
    """`LEADERBOARD-tuned.md` beside `LEADERBOARD.md` (any board name: `<stem>-tuned`)."""
    return board.with_name(f"{board.stem}-tuned{board.suffix}")


def link_line(board: str, name: str) -> str:
    """The main board with a line pointing to the tuned one, after its profile line."""
    line = (
        f"Tuned: [{name}]({name}) — every method with the same hyperparameter budget, "
        "selected on a labelled validation split, with its gain over these defaults."
    )
    lines = board.split("\n")
    at = next((i for i, text in enumerate(lines) if text.startswith("Profile:")), 1)
    return "\n".join([*lines[: at + 1], "", line, *lines[at + 1 :]])


def selected_folders(out: Path) -> list[Path]:
    """Every `OUT/tune/<search>/selected-<rule>` folder that holds records."""
    root = out / TUNE_DIR
    if not root.is_dir():
        return []
    found = sorted(root.glob(f"*/{SELECTED}*/runs"))
    return [p.parent for p in found if any(p.glob("*/*/seed*.json"))]


@dataclass(frozen=True)
class Gain:
    """One (task, method)'s tuning outcome."""

    task: str
    method: str
    note: dict[str, Any]  # the tuned records' config["tune"]
    defaults: pd.Series  # per-seed primary metric of the defaults records it pairs with
    tuned: pd.Series  # per-seed primary metric of the tuned records
    unpaired: int = 0  # tuned seeds whose defaults record has another teacher
    failed: int = 0  # tuned seeds whose re-run failed: then no gain is computed


def _scores(records: list[Record]) -> dict[tuple[str, str, str], pd.Series]:
    table: dict[tuple[str, str, str], dict[int, float]] = {}
    for r in records:
        if not r.ok or r.method == REFERENCE or "kind" not in r.data:
            continue
        metric = get_kind(r.data["kind"]).ranking()[0]
        if metric in r.metrics:
            table.setdefault((r.track, r.task, r.method), {})[r.seed] = r.metrics[metric]
    return {key: pd.Series(values, dtype=float).sort_index() for key, values in table.items()}


def _teachers(records: list[Record]) -> dict[tuple[str, str, str, int], str | None]:
    return {(r.track, r.task, r.method, r.seed): teacher_key(r) for r in records}


def gains(tuned: list[Record], defaults: list[Record]) -> list[Gain]:
    """Each tuned (track, task, method) with the defaults records it pairs with: the same
    seed and the same teacher (its cache key). A defaults record re-made since the tune
    with another teacher (the data or teacher changed under the same settings) is not
    that seed's counterpart; it is left out and counted in `unpaired`. A method whose
    re-run failed on some seed gets no gain (both columns empty, the count in `failed`):
    a gain over the seeds that survived would flatter the tuned setting, as on the main
    board (`benchmark.results.aggregate.failed_methods`)."""
    notes: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in tuned:
        note = r.config.get("tune")
        if isinstance(note, dict) and r.ok:
            notes.setdefault((r.track, r.task, r.method), note)
    base, own = _scores(defaults), _scores(tuned)
    failed = failed_methods(tuned)
    for key in failed:  # a failed re-run carries no tune note (`run_selected`)
        notes.setdefault(key, {})
        own.setdefault(key, pd.Series(dtype=float))
    theirs, mine = _teachers(defaults), _teachers(tuned)
    found = []
    for key in sorted(own):
        if key not in notes:
            continue
        _, task, method = key
        if key in failed:
            empty = pd.Series(dtype=float)
            found.append(Gain(task, method, notes[key], empty, empty, failed=failed[key][0]))
            continue
        # The defaults on the tuned records' seeds only, so both columns cover one set.
        defaults_here = base.get(key, pd.Series(dtype=float)).reindex(own[key].index).dropna()
        same = [s for s in defaults_here.index if theirs[(*key, s)] == mine[(*key, s)]]
        unpaired = len(defaults_here) - len(same)
        found.append(Gain(task, method, notes[key], defaults_here.loc[same], own[key], unpaired))
    return found


def _pct(value: float | None, ci: float = math.nan, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "—"
    text = f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    return text if math.isnan(ci) else f"{text} ± {100 * ci:.1f}"


def _params(params: dict[str, Any]) -> str:
    def show(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={show(v)}" for k, v in params.items()) or "(none searched)"


def gain_lines(items: list[Gain], oracle_rule: bool, escape: Escape) -> list[str]:
    """Per task, one row per method: the selection, its scores on the tuning seed, the
    oracle, and the paired gain over the defaults on the re-run seeds."""
    lines: list[str] = []
    for task in sorted({g.task for g in items}):
        rows = [g for g in items if g.task == task]
        metric = rows[0].note.get("metric", "score")
        lines += [
            f"#### {escape(task)}",
            "",
            f"| method | trials run (ok) | selected trial | its parameters | "
            f"validation {metric} (%, seed {rows[0].note.get('trial_seed', '?')}) | "
            f"test {metric} of the selected trial (%) | oracle: best test over trials (%)† | "
            f"defaults (%) | tuned (%) | gain, tuned − defaults | seeds |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        resolved = resolved_gains(rows)
        for g in sorted(rows, key=lambda g: g.method):
            note, budget = g.note, g.note.get("budget", {})
            test = paired_test(g.tuned, g.defaults)
            gain = _pct(test.mean, test.half, signed=True)
            if resolved[g.method]:
                gain += "\\*"
            elif kept_defaults(g) and test.n:
                gain = DEFAULTS_KEPT
            oracle = note.get("oracle", {})
            lines.append(
                f"| {escape(g.method)} | {budget.get('run', '—')} ({budget.get('ok', '—')}) | "
                f"{note.get('trial', '—')} | {escape(_params(note.get('params', {})))} | "
                f"{_pct(note.get('val'))} | {_pct(note.get('test'))} | "
                f"{_pct(oracle.get('test'))} (trial {oracle.get('trial', '—')}) | "
                f"{_pct(*mean_ci(g.defaults))} | {_pct(*mean_ci(g.tuned))} | {gain} | "
                f"{test.n} |"
            )
        lines.append("")
        lines += unpaired_lines(sorted(rows, key=lambda g: g.method), escape)
    lines += [
        "† The oracle selects the trial with the best **test** score on the tuning seed: "
        "an upper bound on what any selection rule could reach with this budget, shown "
        "only as such and never ranked"
        + (
            " (this board's re-runs are of those trials: all of it is that bound)."
            if oracle_rule
            else "."
        ),
        "",
        "Gain: the mean per-seed difference between the tuned re-run and the defaults "
        "record of the same seed (unadjusted 95% paired t interval); \\* marks a gain "
        "resolved after error control: Holm over the task's family of 2m one-sided "
        "hypotheses (each of its m methods' gain above or below zero), family-wise error "
        "≤ 5%. A method whose selected trial is 0, its defaults, re-runs the defaults' own "
        "cells: its gain is zero by construction and not one of the m.",
        "",
    ]
    return lines


def unpaired_lines(items: list[Gain], escape: Escape) -> list[str]:
    """The methods of one task with tuned seeds left unpaired, and those whose re-run
    failed on some seed (`gains`), a line each."""
    stale = [g for g in items if g.unpaired]
    broken = [g for g in items if g.failed]
    lines = []
    if broken:
        lines += [
            "No gain computed, a re-run failed: "
            + ", ".join(f"{escape(g.method)} ({g.failed} seed(s))" for g in broken)
            + ". A gain over the seeds that did not fail would flatter the tuned setting; "
            "`bench tune` runs failed cells again.",
            "",
        ]
    if not stale:
        return lines
    return [
        *lines,
        "Not paired: "
        + ", ".join(f"{escape(g.method)} ({g.unpaired} of {len(g.tuned)} seeds)" for g in stale)
        + ": the tuned and the defaults record of a seed were made with different "
        "teachers (the task's data or teacher changed under the same settings "
        "between the two runs), so the seed has no counterpart; `bench tune "
        "--force` re-makes the tuned side on the current teacher.",
        "",
    ]


def kept_defaults(gain: Gain) -> bool:
    """The selection kept trial 0, the method's defaults: its re-runs are the very cells
    `bench run` made (copied, or recomputed to the same bits), so its gain is zero by
    construction, not an estimate."""
    return gain.note.get("trial") == 0


def gain_family(items: list[Gain]) -> list[Gain]:
    """The methods of one task whose gain is a hypothesis in the task's family: not those
    whose re-run failed (no gain) nor those that kept their defaults (a gain of zero by
    construction, which would only widen the family). Which ones kept their defaults is
    decided on the validation split, before any test score is read."""
    return [g for g in items if not g.failed and not kept_defaults(g)]


def resolved_gains(items: list[Gain], alpha: float = 0.05) -> dict[str, bool]:
    """Per method of one task: is its gain resolved (either direction) after Holm over
    the task's 2m one-sided hypotheses, m = len(gain_family(items))? (A method left out of the
    family is not resolved.)"""
    family = gain_family(items)
    diffs = [(g.tuned - g.defaults).dropna() for g in family]
    raw = [one_sided_p(d) for d in diffs] + [one_sided_p(-d) for d in diffs]
    adjusted = holm(raw)
    m = len(family)
    verdicts = {g.method: min(adjusted[i], adjusted[m + i]) <= alpha for i, g in enumerate(family)}
    return {g.method: verdicts.get(g.method, False) for g in items}


def render_tuned(out: Path, defaults: list[Record], render: Render, escape: Escape) -> str | None:
    """The tuned board's text, or None when `out` holds no tune. `render` and `escape` are
    the main board's renderer and escaping (`benchmark.results.leaderboard`, which calls
    this: passing them keeps the import graph one-way)."""
    folders = selected_folders(out)
    if not folders:
        return None
    refs = [r for r in defaults if r.method == REFERENCE]
    lines = [
        "# XMD-Bench tuned leaderboard",
        "",
        f"Generated from the records of `bench tune` under `{escape(out / TUNE_DIR)}` on "
        f"{dt.date.today().isoformat()}. Do not edit by hand: re-run `bench leaderboard`.",
        "",
    ]
    for folder in folders:
        tuned = read_records(folder)
        items = gains(tuned, defaults)
        if not items:
            continue
        note = items[0].note
        oracle_rule = note.get("selection") == "oracle"
        budget = note.get("budget", {})
        rule = (
            f"**{ORACLE_LABEL.capitalize()}.** Trials were selected on the test set"
            if oracle_rule
            else "**Selection: labelled validation split.** Each trial was scored on a "
            "validation split of the target modality with as many labels per class as the "
            "few-label set, disjoint from the test split and from the few-label set, and "
            "the trial with the best validation score was kept"
        )
        lines += [
            f"## `{escape(folder.relative_to(out))}`",
            "",
            f"{rule}. Every method had the same budget: {budget.get('trials', '?')} trials "
            f"(trial 0 its defaults), {budget.get('sampler', '?')} search with sampler seed "
            f"{budget.get('sampler_seed', '?')} (trial k draws the shared schedule's knobs "
            f"identically for every method), on data seed {note.get('trial_seed', '?')}, "
            f"which no run takes; the selected trial was re-run on every seed below, so "
            f"selection and the scores that judge it never share a training run. A method "
            f"with nothing to search runs trial 0 only.",
            "",
            "### Gain from tuning",
            "",
        ]
        lines += gain_lines(items, oracle_rule, escape)
        board = render(tuned + refs, str(folder / "runs"))
        body = board.split("\n")
        start = next((i for i, line in enumerate(body) if line.startswith("Profile:")), 0)
        title = "### Tuned leaderboard" + (f" ({ORACLE_LABEL})" if oracle_rule else "")
        lines += [title, "", *[_demote(line) for line in body[start:]]]
    return "\n".join(lines).rstrip() + "\n"


def _demote(line: str) -> str:
    """The main board's headings two levels down, under this board's own."""
    return "##" + line if line.startswith("#") else line

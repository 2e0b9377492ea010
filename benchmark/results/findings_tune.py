"""The results page's tuning section (`benchmark.results.findings`): what `bench tune`'s
committed records show — each method's gain from tuning over its defaults (Holm over the
task's 2m one-sided gain hypotheses, `benchmark.results.tune_board`), the method under test
against every other once all are tuned (the task's tuned family, `benchmark.results.ranks`),
and, for every gain resolved below zero, whether validation selection or the single
tuning seed misled (the selected trial against the test-set oracle on the tuning seed).
"""

from __future__ import annotations

from pathlib import Path

from benchmark.results.aggregate import families
from benchmark.results.findings_board import FOCAL
from benchmark.results.findings_text import LEGEND, cell, names, pair_cell, pts, pts_ci, table
from benchmark.results.records import Record, read_records
from benchmark.results.stats import paired_test
from benchmark.results.tune_board import (
    DEFAULTS_KEPT,
    TUNE_DIR,
    Gain,
    gain_family,
    gains,
    kept_defaults,
    resolved_gains,
    selected_folders,
    unpaired_lines,
)


def tune_section(results: Path, defaults: list[Record]) -> list[str]:
    lines: list[str] = []
    for folder in selected_folders(results):
        tuned = read_records(folder, skipped=[])
        items = gains(tuned, defaults)
        if not items:
            continue
        note = items[0].note
        budget = note.get("budget", {})
        where = folder.relative_to(results).as_posix()
        lines += [
            f"## Tuning: `{cell(where)}`",
            "",
            f"Every method with the same budget ({budget.get('trials', '?')} trials, "
            f"{cell(budget.get('sampler', '?'))} search, trial 0 its defaults) on tuning "
            f"seed {note.get('trial_seed', '?')}, selected by "
            f"`{cell(note.get('selection', '?'))}`, "
            "the selected trial re-run on the seeds below and paired with the defaults "
            "records of the same seeds.",
            "",
            *_gain_table(items),
            *_tuned_focal(tuned),
            *_seed_noise(items),
        ]
    if not lines and (results / TUNE_DIR).is_dir():
        lines = ["## Tuning", "", "No tuned records with defaults to pair them with.", ""]
    return lines


def _gain_table(items: list[Gain]) -> list[str]:
    lines = []
    for task in sorted({g.task for g in items}):
        rows_here = sorted((g for g in items if g.task == task), key=lambda g: g.method)
        resolved = resolved_gains(rows_here)
        tests = {g.method: paired_test(g.tuned, g.defaults) for g in rows_here}
        rows = []
        for g in rows_here:
            test = tests[g.method]
            mark = ("▲" if test.mean > 0 else "▼") if resolved[g.method] else "?"
            gain = f"{pts_ci(test.mean, test.half, signed=True)} {mark}" if test.n else "—"
            if kept_defaults(g) and test.n:
                gain = DEFAULTS_KEPT
            rows.append([f"`{cell(g.method)}`", str(g.note.get("trial", "—")), gain, str(test.n)])
        lines += [
            f"### Gain from tuning on {task}",
            "",
            "Tuned minus defaults, points, paired per seed; ▲/▼ resolved after Holm over "
            f"the task's {2 * len(gain_family(rows_here))} one-sided gain hypotheses "
            "(2 per method that did not keep its defaults; one that did has a gain of zero "
            "by construction), ? not resolved.",
            "",
            *table(["method", "selected trial", "gain", "seeds"], rows, ["l", "r", "r", "r"]),
        ]
        lines += unpaired_lines(rows_here, lambda m: f"`{cell(m)}`")
        paired = [g for g in rows_here if tests[g.method].n]
        if not paired:
            continue
        best = max(paired, key=lambda g: tests[g.method].mean)
        lines += [
            f"Largest mean gain: `{cell(best.method)}` "
            f"({pts(tests[best.method].mean, signed=True)} points"
            f"{', resolved' if resolved[best.method] else ', not resolved'}).",
            "",
        ]
    return lines


def _tuned_focal(tuned: list[Record]) -> list[str]:
    verdicts = families(tuned)
    own = {task: f for (_, task), f in sorted(verdicts.items()) if FOCAL in f.methods}
    if not own:
        return []
    tasks = list(own)
    others = sorted({m for f in own.values() for m in f.methods} - {FOCAL})
    rows = [
        [f"`{cell(m)}`"]
        + [pair_cell(own[t].pair(FOCAL, m)) if m in own[t].methods else "—" for t in tasks]
        for m in others
    ]
    family = ", ".join(f"{t}: {own[t].hypotheses}" for t in tasks)
    return [
        f"### `{FOCAL}` against every other method, all tuned",
        "",
        f"Tuned `{FOCAL}` minus each tuned method, points. Each task's family is its tuned "
        f"methods' one-sided pairwise hypotheses ({family}). {LEGEND}",
        "",
        *table(["minus", *tasks], rows),
    ]


def _seed_noise(items: list[Gain]) -> list[str]:
    """Every gain resolved below zero, read against the tuning seed's own scores."""
    lines = []
    for task in sorted({g.task for g in items}):
        here = sorted((g for g in items if g.task == task), key=lambda g: g.method)
        resolved = resolved_gains(here)
        for g in here:
            test = paired_test(g.tuned, g.defaults)
            if not resolved[g.method] or test.mean >= 0:
                continue
            trials = {t.get("trial"): t for t in g.note.get("trials", [])}
            chosen, base = trials.get(g.note.get("trial")), trials.get(0)
            oracle = g.note.get("oracle", {}).get("trial")
            if chosen is None or base is None:
                continue
            on_seed = chosen["test"] - base["test"]
            same = oracle == g.note.get("trial")
            lines.append(
                f"- `{cell(g.method)}` on {task}: tuning made it worse over the re-run seeds "
                f"({pts_ci(test.mean, test.half, signed=True)}, resolved). On the tuning seed "
                f"the selected trial {g.note.get('trial')} scored "
                f"{pts(on_seed, signed=True)} points against the defaults (trial 0) on the "
                f"test set, and the test-set oracle picked "
                + (
                    "the same trial: validation selection did not mislead on that seed; "
                    "the single tuning seed did, since the trial that won on it loses over "
                    "the re-run seeds."
                    if same and on_seed > 0
                    else f"trial {oracle}."
                )
            )
    if not lines:
        return []
    return [
        "### Where tuning on one seed misleads",
        "",
        *lines,
        "",
        "The oracle bounds what a better selection rule could reach on the tuning seed, not "
        "across seeds; a tuned row can therefore sit below its defaults. Tuned on "
        f"{names(sorted({g.method for g in items}))}.",
        "",
    ]

"""The results page's resolving-power section (`benchmark.results.findings`): per task and
track the pooled SD of a paired difference, the MDE at the records' seeds and the seeds
that bring it to 2 points (`bench power --seeds-plan`), and, where a replicate exists,
where the variance comes from (`bench power --replicate`), every column of the
decomposition estimated on the methods and seeds the replicate shares with the records
(`benchmark.results.power.decompose`).
"""

from __future__ import annotations

import math

from benchmark.config import resolve
from benchmark.kinds import kind_of_columns
from benchmark.results.aggregate import all_scores
from benchmark.results.findings_text import names, seed_list
from benchmark.results.power import (
    ALPHA,
    POWER,
    Components,
    decompose,
    power_table,
)
from benchmark.results.records import REFERENCE, Record
from benchmark.results.seeds import seed_needs, seeds_table
from benchmark.tracks import TRACKS

TARGET = 0.02  # the MDE the quick profile's seeds are planned for (2 points)


def power_section(records: list[Record], replicate: list[Record]) -> list[str]:
    scores = all_scores(records)
    if not scores:
        return []
    cfg = resolve("quick")
    stored = {task: cfg.for_task(task).seeds for _, task in scores}
    needs = seed_needs(scores, TARGET)
    meets = [n for n in needs if not math.isnan(n.sd) and n.seeds >= n.need]
    short = [n for n in needs if not math.isnan(n.sd) and n.seeds < n.need]
    lines = [
        "## Resolving power",
        "",
        "A comparison is worth what it can resolve. Per task and track: the per-seed SD of a "
        "paired difference pooled over every method pair, the minimum detectable difference "
        f"(MDE: {1 - ALPHA:.0%} two-sided, {POWER:.0%} power, paired t over the seeds) at the "
        f"seeds the records have, and the seeds that bring it to {100 * TARGET:g} points; the "
        "task's plan is the maximum over "
        f"its tracks and never below the quick profile's default of {cfg.seeds}, and the "
        "last column is what the quick profile stores (`bench power --out results "
        "--seeds-plan` prints the same table).",
        "",
        seeds_table(needs, TARGET, stored, floor=cfg.seeds),
        "",
        f"MDE at most {100 * TARGET:g} points with the seeds recorded: "
        f"{names(f'{n.task} ({n.track})' for n in meets)}. Short of it: "
        f"{names(f'{n.task} ({n.track})' for n in short)}; those need the planned seeds "
        f"before a {100 * TARGET:g}-point difference can be told from noise there.",
        "",
    ]
    lines += _decomposition(records, replicate)
    return lines


def _decomposition(records: list[Record], replicate: list[Record]) -> list[str]:
    lines = ["### Where the variance of a paired difference comes from", ""]
    shown = False
    for track in TRACKS:
        again = [r for r in replicate if r.track == track]
        if not again:
            continue
        own = [r for r in records if r.track == track]
        kinds = {
            r.task: r.data.get("kind") or kind_of_columns(r.metrics).name
            for r in own
            if r.ok and r.method != REFERENCE
        }
        components = decompose(own, kinds, again)
        if not components:
            continue
        shown = True
        seeds = sorted({r.seed for r in again})
        methods = sorted({r.method for r in again if r.method != REFERENCE})
        lines += [
            f"The {track} track, on the methods and seeds the replicate shares with the "
            f"records ({len(methods)} methods: {names(methods)}; seeds {seed_list(seeds)}): "
            "every column of a task describes the same paired differences. SDs in points. "
            "Test sampling comes from the per-sample outcomes; fine-tune restarts from the "
            "restarts inside each cell; training from the replicate (the same seeds re-run "
            "with `--set distill.training_noise=1`); the seed is what is left, shown as 0 "
            "when the estimate comes out negative. Its MDE column is at the replicate's "
            "seeds, not the board's (see the table above for those).",
            "",
            power_table(components),
            "",
            *_reading(components),
        ]
    if not shown:
        lines += [
            "No replicate records (`results/power-replicate`) for any track: the "
            "decomposition into training noise and seed is not shown.",
            "",
        ]
    return lines


def _reading(components: list[Components]) -> list[str]:
    """What the decomposition says, from its values: the dominant part per task and
    protocol, and where test sampling is the smallest part."""
    lines = []
    ranked = [c for c in components if c.protocol != "probe"]
    for c in ranked:
        lines.append(f"- **{c.task}** ({c.metric}): the largest part is {c.dominant()}.")
    smallest = [
        f"{c.task} ({c.metric})"
        for c in components
        if all(
            c.test <= v
            for v in (c.finetune_noise, c.training, max(c.seed_part, 0.0))
            if not math.isnan(v)
        )
    ]
    lines += [
        f"- Test sampling is the smallest part for {len(smallest)} of {len(components)} "
        f"task-protocol rows: {names(smallest)}.",
        "",
        "More seeds average every part of the variance that is not shared within a seed; "
        "averaging several distillation runs per seed would cut only the training part.",
        "",
    ]
    return lines

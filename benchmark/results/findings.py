"""The results page (`docs/results.md`): the project's findings, rendered from the
committed records so that none of its numbers is typed by hand.

    bench docs          (writes it with the other generated pages; --check compares)

`render_findings(results)` reads `results/runs` (every track present), the replicate of
`bench power` (`results/power-replicate`), the tuned reference (`results/tune`) and the
sweeps (`results/sweeps`), and returns deterministic Markdown — no dates, no absolute
paths — so the committed page can be compared with a fresh rendering. Any subset of
tracks, tasks, seeds and folders renders: a section whose records are absent is left out
and the page says which it left out. Each table says which tracks and seeds it rests on.

The statistics are the project's own (`benchmark.results.aggregate` for the families,
Holm-controlled verdicts, rank sets and TOST equivalence; `benchmark.results.power` for
the MDE, the seed plan and the variance decomposition; `benchmark.results.tune_board` for
the gains from tuning; `benchmark.results.sweep_trends` for the sweeps); the sections live
in `findings_board`, `findings_power`, `findings_cost`, `findings_tune` and
`findings_sweeps`.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.results.findings_board import track_sections
from benchmark.results.findings_cost import cost_section
from benchmark.results.findings_power import power_section
from benchmark.results.findings_sweeps import sweep_sections
from benchmark.results.findings_text import cell
from benchmark.results.findings_tune import tune_section
from benchmark.results.leaderboard import short_commit
from benchmark.results.records import Record, read_records
from benchmark.results.teachers import mixed_teachers

REPLICATE = "power-replicate"
COMMAND = "bench docs"


def render_findings(results: Path) -> str:
    """The whole page, from the records under `results`."""
    records = read_records(results, skipped=[])
    replicate_dir = results / REPLICATE
    replicate = read_records(replicate_dir, skipped=[]) if replicate_dir.is_dir() else []
    lines = [
        "# Results",
        "",
        f"<!-- Generated from the records under `{cell(results.name)}/` by `{COMMAND}`. "
        "Do not edit by hand: re-run it. -->",
        "",
        "Every number on this page is computed from the committed records by "
        "`benchmark.results.findings`; the prose around the tables interprets them, and "
        "any number inside a sentence is formatted from the same computation. Re-running "
        "the command after the records change regenerates the page.",
        "",
        *_provenance(records, replicate),
    ]
    if not records:
        return "\n".join([*lines, "No records yet.", ""])
    lines += track_sections(records)
    lines += power_section(records, replicate)
    lines += tune_section(results, records)
    lines += sweep_sections(results)
    lines += cost_section(records)
    return "\n".join(lines).rstrip() + "\n"


def _provenance(records: list[Record], replicate: list[Record]) -> list[str]:
    """Which records the page rests on: per track, how many, their statuses and commits."""
    lines = ["## What the page rests on", ""]
    if not records:
        return lines
    rows = []
    for track in sorted({r.track for r in records}):
        own = [r for r in records if r.track == track]
        statuses = {s: sum(r.status == s for r in own) for s in ("ok", "not_applicable", "failed")}
        rows.append(
            f"| {track} | {len({r.task for r in own})} | {len(own)} | {statuses['ok']} | "
            f"{statuses['not_applicable']} | {statuses['failed']} | "
            f"{', '.join(sorted({r.profile for r in own}))} | "
            f"{', '.join(sorted({short_commit(r.git) for r in own}))} |"
        )
    lines += [
        "| track | tasks | records | ok | not applicable | failed | profile | commits |",
        "|---|---:|---:|---:|---:|---:|---|---|",
        *rows,
        "",
    ]
    mixed = [
        (task, track, m)
        for task, track in sorted({(r.task, r.track) for r in records})
        if (m := mixed_teachers(records, task, track)) is not None
    ]
    if mixed:
        where = "; ".join(
            f"{cell(task)} ({track}): {', '.join(f'`{cell(x)}`' for x in m.odd)} at "
            f"{len(m.seeds)} of {m.of} seeds"
            for task, track, m in mixed
        )
        lines += [
            "**Teachers differ** within a seed, so these methods' paired differences there "
            f"compare teachers as well as methods: {where}. Their records predate a change "
            "that moved the data or the teacher without changing a hash; the reference "
            "re-run re-makes them.",
            "",
        ]
    if replicate:
        lines += [
            f"The variance decomposition also reads `{REPLICATE}/`: {len(replicate)} records "
            "of the same cells re-run with `--set distill.training_noise=1`.",
            "",
        ]
    return lines

"""Two of the results page's per-track sections (`benchmark.results.findings_board` calls
them): the pairs among the methods that can be first on a task — the comparisons a
"which is best" claim rests on — and the cross-task summary.

The pairs are verdicts of the task's family (`benchmark.results.ranks`: Holm over its
n(n − 1) one-sided hypotheses, TOST at ±margin), so a pair reads resolved only when the
family resolved it. The cross-task table is the leaderboard's (`aggregate.cross_task`,
rendered by `leaderboard.cross_task_lines`): stratified-bootstrap intervals per row, not
a family of tests, so the page reads it as a summary and draws no verdict from it.
"""

from __future__ import annotations

import pandas as pd

from benchmark.results.aggregate import cross_task
from benchmark.results.findings_text import LEGEND, cell, names, pair_cell, table
from benchmark.results.leaderboard import cross_task_lines
from benchmark.results.ranks import Family
from benchmark.results.records import Record

LISTED = 5  # a leading group this large or smaller has its pairs listed; else counted


def leaders(own: dict[str, Family]) -> list[str]:
    """Per task, every pair among the methods whose rank set contains 1 (listed for a
    group of at most `LISTED` methods, counted for a larger one)."""
    rows, large = [], []
    counts: dict[str, int] = {}
    for task, f in own.items():
        top = [m for m in f.methods if f.ranks[m][0] == 1]
        here: dict[str, int] = {}
        for i, a in enumerate(top):
            for b in top[i + 1 :]:
                pair = f.pair(a, b)
                counts[pair.word] = counts.get(pair.word, 0) + 1
                here[pair.word] = here.get(pair.word, 0) + 1
                if len(top) <= LISTED:
                    rows.append([task, f"`{cell(a)}` − `{cell(b)}`", pair_cell(pair)])
        if len(top) > LISTED:
            large.append(
                f"- {task}: {len(top)} methods can be first; of their "
                f"{sum(here.values())} pairs {here.get('better', 0) + here.get('worse', 0)} "
                f"resolved, {here.get('equivalent', 0)} equivalent, "
                f"{here.get('undetermined', 0)} undetermined."
            )
    total = sum(counts.values())
    if not total:
        return []
    return [
        "### Among the methods that can be first",
        "",
        "Each pair of the methods whose rank set contains 1 on a task (the higher mean "
        f"first), points, paired per seed. {LEGEND}",
        "",
        *(table(["task", "pair", "difference"], rows, ["l", "l", "r"]) if rows else []),
        *([*large, ""] if large else []),
        f"Of these {total} pairs, {counts.get('better', 0) + counts.get('worse', 0)} "
        f"resolved, {counts.get('equivalent', 0)} equivalent within the margin and "
        f"{counts.get('undetermined', 0)} undetermined (a method resolved behind another is "
        "not first, so a resolved pair is rare here). The table tells leaders that differ by "
        "less than the margin from leaders the seeds cannot yet separate.",
        "",
    ]


def across_tasks(records: list[Record], rows: pd.DataFrame, refs: pd.DataFrame) -> list[str]:
    """The track's cross-task summary (`rows`: its `summarize` rows)."""
    summary = cross_task(records, rows, refs)
    lines = cross_task_lines(summary, "### Across tasks")
    if len(summary):
        first = summary.iloc[0]
        lines += [
            f"Highest IQM: `{cell(first['method'])}`. The intervals are per row, not "
            "controlled over the rows, and each task's headroom sets its weight in these "
            "units: read the table as a summary, and the per-task families above for "
            f"verdicts. Tasks in it: {names(summary.attrs.get('tasks', []))}.",
            "",
        ]
    return lines

"""How many seeds each task needs: from the spread its records show to a per-task plan.

The resolving power of a set of records (`benchmark.results.power`: the MDE of a paired
t test over n seeds, the per-seed SD pooled over method pairs) turned around: per (task,
track), the fewest seeds whose MDE reaches a target (`seed_needs`), per task the most any
of its tracks needs, never fewer than the profile's floor (`seed_plan`), and that
derivation as the table `bench power --seeds-plan` and the findings page print
(`seeds_table`). Kept apart from the variance decomposition, which it does not use: a
plan reads only the records' primary metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from benchmark.results.power import mde, pooled_sd, sd_points, seeds_for, two_places


@dataclass(frozen=True)
class SeedNeed:
    """What one (task, track)'s records say about the seeds a target MDE takes."""

    task: str
    track: str
    sd: float  # per-seed SD of a paired difference, pooled over every method pair
    pairs: int
    seeds: int  # seeds the records have
    need: int  # fewest seeds with MDE ≤ target (`seeds_for`)


def seed_needs(
    scores: dict[tuple[str, str], dict[str, pd.Series]], target: float
) -> list[SeedNeed]:
    """Per (track, task) (`scores`: each method's per-seed primary metric), the seeds
    that bring the MDE of a paired difference to `target` given the pooled SD."""
    found = []
    for (track, task), own in sorted(scores.items()):
        sd, pairs = pooled_sd(own)
        seeds = max((len(v.dropna()) for v in own.values()), default=0)
        found.append(SeedNeed(task, track, sd, pairs, seeds, seeds_for(sd, target)))
    return found


def seed_plan(needs: list[SeedNeed], floor: int = 0) -> dict[str, int]:
    """Per task, the seeds that meet the target in every track measured (the maximum),
    and never fewer than `floor` (the profile's default: with fewer seeds the SD estimate
    the plan rests on, and the t quantile, get worse quickly)."""
    plan: dict[str, int] = {}
    for n in needs:
        plan[n.task] = max(plan.get(n.task, floor), n.need)
    return plan


def seeds_table(
    needs: list[SeedNeed], target: float, stored: dict[str, int], floor: int = 0
) -> str:
    """The derivation as a markdown table: per (task, track) the pooled SD, the MDE at the
    records' seeds, the seeds for `target`; per task the plan (at least `floor`) and the
    count the profile stores."""
    plan = seed_plan(needs, floor)
    lines = [
        f"| task | track | pairs | seeds now | SD of D | MDE now | seeds for {100 * target:g} "
        f"pts | task's plan (max over tracks, ≥ {floor}) | profile |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(needs, key=lambda n: (n.task, n.track)):
        have = stored.get(n.task)
        lines.append(
            f"| {n.task} | {n.track} | {n.pairs} | {n.seeds} | {sd_points(n.sd**2)} | "
            f"{two_places(100 * mde(n.sd, n.seeds))} | {n.need} | {plan[n.task]} | "
            f"{'—' if have is None else have} |"
        )
    return "\n".join(lines)

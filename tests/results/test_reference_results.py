"""The committed reference results answer the current protocol, and the committed tables
are rendered from them.

README's claims are read off these records; when a change alters what a quick-profile
cell computes (a new `PROTOCOL_VERSION`, a changed default), these tests fail until the
reference run is redone:

    bench run --methods all --tasks all --tracks all --out results --executor local
    bench leaderboard --out results --output LEADERBOARD.md
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.config import resolve
from benchmark.datasets.tasks import list_tasks
from benchmark.execution.plan import REFERENCE, Cell, plan_cell
from benchmark.method import create_method, list_methods
from benchmark.results.leaderboard import _cell, render
from benchmark.results.records import NOT_APPLICABLE, read_records
from benchmark.results.teachers import mixed_teachers
from benchmark.results.tune_board import gains, link_line, render_tuned, selected_folders
from benchmark.tracks import LABEL_FREE, SUPERVISED
from tests.paths import ROOT

RESULTS = ROOT / "results"
# The quick profile plans seeds per task (`tasks.<task>.seeds`, derived by `bench power
# --seeds-plan`); the committed reference may cover a prefix of that plan.
DEFAULT_SEEDS = resolve("quick").seeds


def planned_seeds(task: str) -> int:
    return resolve("quick").for_task(task).seeds


def _embedded_tasks() -> list[str]:
    from benchmark.datasets.real import real_tasks

    return [t for t in list_tasks() if t not in real_tasks()]


def test_committed_records_are_complete_current_and_ok() -> None:
    """Every method the committed records cover has a current record for every embedded
    task and seed, in each track the records cover (a method added since has none yet:
    its author posts its rows in the pull request, and the maintainers add its records).
    Supervised records are all ok; in the label-free track a method is ok or recorded
    as not applicable, as its settings say."""
    cfg = resolve("quick")
    found = {(r.task, r.method, r.seed, r.track): r for r in read_records(RESULTS)}
    covered = {key[1] for key in found} - {REFERENCE}
    assert covered <= set(list_methods()), f"records of unregistered methods: {covered}"
    assert len(covered) >= 7  # the methods the README's claims are about
    # Likewise an embedded task added since (text-cls) has no records until the
    # maintainers' reference run adds them; the four the README's claims are about do.
    tasks = {key[0] for key in found}
    assert tasks <= set(_embedded_tasks()), f"records of unregistered tasks: {tasks}"
    assert {"sketch-cls", "depth-cls", "depth-seg", "audio-cls"} <= tasks
    tracks = sorted({key[3] for key in found})
    assert SUPERVISED in tracks
    # Each (track, task) holds seeds 0…k − 1 for every method, k at most the task's
    # planned seeds: a prefix of the plan (README, "Resolving power", says how far the
    # reference covers it). The supervised track has at least the profile's default.
    # A track may cover only some tasks while the reference is re-run in batches (one
    # task's tracks at a time); the supervised track covers every task.
    seeds: dict[tuple[str, str], int] = {}
    for track, task in sorted({(k[3], k[0]) for k in found}):
        seeds[(track, task)] = 1 + max(k[2] for k in found if k[3] == track and k[0] == task)
    assert {task for track, task in seeds if track == SUPERVISED} == tasks
    for (track, task), k in seeds.items():
        assert k <= planned_seeds(task), f"{track}/{task}: {k} seeds, the plan has fewer"
        if track == SUPERVISED:
            assert k >= DEFAULT_SEEDS, f"{task}: {k} supervised seeds"
    # The reference cells (ceiling, input gap) at least on the seeds that report headroom,
    # the profile's default count (`plan.expand`); records made before that rule cover more.
    expected = [
        Cell(task, method, seed, track)
        for track, task in sorted(seeds)
        for method in [REFERENCE, *sorted(covered)]
        for seed in range(seeds[(track, task)])
        if method != REFERENCE or seed < cfg.seeds
    ]

    def key(c: Cell) -> tuple[str, str, int, str]:
        return (c.task, c.method, c.seed, c.track)

    missing = [c.label for c in expected if key(c) not in found]
    assert not missing, f"no committed record for {missing[:5]}"
    stale = [c.label for c in expected if found[key(c)].config_hash != plan_cell(c, cfg).hash]
    assert not stale, f"records made under another protocol, config or method version: {stale[:5]}"
    for c in expected:
        record = found[key(c)]
        inapplicable = (
            c.method != REFERENCE
            and c.track == LABEL_FREE
            and create_method(c.method).needs_teacher_logits()
        )
        assert record.status == (NOT_APPLICABLE if inapplicable else "ok"), c.label


def test_committed_records_of_a_seed_share_one_teacher() -> None:
    """Paired differences compare methods, not teachers (`benchmark.results.teachers`)."""
    records = read_records(RESULTS)
    mixed = {
        (task, track)
        for task, track in {(r.task, r.track) for r in records}
        if mixed_teachers(records, task, track) is not None
    }
    assert not mixed, sorted(mixed)


def test_committed_tuned_records_pair_with_the_defaults_on_every_seed() -> None:
    """The committed tune's re-runs were made with the teachers of the defaults records
    the tuned board compares them with, so every tuned seed has its counterpart
    (`tune_board.gains` leaves a seed with another teacher unpaired)."""
    defaults = read_records(RESULTS)
    folders = selected_folders(RESULTS)
    assert folders, "no committed tune under results/tune"
    for folder in folders:
        found = gains(read_records(folder), defaults)
        assert found, folder
        short = [
            f"{g.task}/{g.method}: {len(g.defaults)} of {len(g.tuned)} seeds paired"
            for g in found
            if g.unpaired or len(g.defaults) != len(g.tuned)
        ]
        assert not short, short


def test_the_per_task_seed_plan_meets_the_target_on_the_committed_records() -> None:
    """Every recorded task's planned seeds reach an MDE ≤ 2 points in every track, given
    the pooled SD of the committed records (`bench power --seeds-plan` prints the table),
    and never fall below the profile's default."""
    from benchmark.results.aggregate import all_scores
    from benchmark.results.seeds import seed_needs, seed_plan

    needs = seed_needs(all_scores(read_records(RESULTS)), 0.02)
    plan = seed_plan(needs, DEFAULT_SEEDS)
    for task in sorted(plan):  # the tasks with records
        assert planned_seeds(task) >= plan[task], (
            f"{task}: the quick profile plans {planned_seeds(task)} seeds, the records ask "
            f"for {plan[task]}: re-derive with bench power --out results --seeds-plan"
        )


def test_no_committed_rank_set_contradicts_its_comparisons() -> None:
    """On every (track, task) of the committed records: two methods whose difference is
    unresolved after Holm never have disjoint rank sets, and no pair's sets order it
    against its means."""
    from benchmark.results.aggregate import families

    for (track, task), family in families(read_records(RESULTS)).items():
        for i, a in enumerate(family.methods):
            for b in family.methods[i + 1 :]:  # mean of a ≥ mean of b
                (lo_a, hi_a), (lo_b, hi_b) = family.ranks[a], family.ranks[b]
                where = f"{track}/{task}: {a} {family.ranks[a]} vs {b} {family.ranks[b]}"
                assert lo_a <= hi_b, f"ranked against the means, {where}"
                if not family.pair(a, b).resolved:
                    assert lo_b <= hi_a, f"unresolved but disjoint, {where}"


def test_leaderboard_and_table_are_rendered_from_the_records() -> None:
    records = read_records(RESULTS)
    committed = (ROOT / "LEADERBOARD.md").read_text().splitlines()
    board = render(records, "results/runs")
    # A committed `bench tune` (results/tune) adds its board, linked from the main one.
    tuned = render_tuned(Path("results"), records, render, _cell)
    if tuned is not None:
        board = link_line(board, "LEADERBOARD-tuned.md")
        ours = (ROOT / "LEADERBOARD-tuned.md").read_text().splitlines()
        theirs = tuned.splitlines()
        assert ours[:2] + ours[3:] == theirs[:2] + theirs[3:]  # line 3: the date
    rendered = board.splitlines()
    # Line 3 holds the date the board was rendered on.
    assert committed[:2] + committed[3:] == rendered[:2] + rendered[3:]
    table = pd.read_csv(RESULTS / "results.csv")
    rows = zip(table.task, table.method, table.seed, table.track, strict=True)
    assert sorted(rows) == sorted((r.task, r.method, r.seed, r.track) for r in records)
    assert set(table.config_hash) == {r.config_hash for r in records}

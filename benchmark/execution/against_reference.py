"""The plan and the ending of a run ranked against a committed reference
(`bench run --with-reference FOLDER`, `benchmark.results.with_reference`).

The plan holds only the new methods' cells, at the reference's seeds of each (task,
track); no teacher/ceiling cell: a method cell trains (or reads from the cache) the
teacher it needs itself, and the board takes the teacher and ceiling rows from the
reference. The plan is refused before anything runs when the reference is of another
experiment (`check_compatible`).
"""

from __future__ import annotations

from pathlib import Path

from benchmark.config import RunConfig
from benchmark.execution.plan import PlannedCell, make_plan
from benchmark.results.records import REFERENCE
from benchmark.results.with_reference import (
    BOARD_NAME,
    Reference,
    check_compatible,
    own_records,
    recreated,
    recreated_lines,
    render_board,
)
from benchmark.storage import write_text

Seeds = dict[tuple[str, str], list[int]]  # (task, track) → seeds


def plan_against(
    ref: Reference,
    tasks: list[str],
    methods: list[str],
    cfg: RunConfig,
    tracks: tuple[str, ...],
    limit: int | None = None,
) -> tuple[list[PlannedCell], Seeds]:
    """The method cells of `methods` on `tasks` × `tracks` at the reference's seeds (the
    first `limit` of each, when given), checked against the reference's settings."""
    seeds: Seeds = {(t, k): ref.seeds(t, k, limit) for k in tracks for t in tasks}
    cells: list[PlannedCell] = []
    for track in tracks:
        for task in tasks:
            planned = make_plan([task], methods, seeds[(task, track)], cfg, (track,))
            cells.extend(c for c in planned if c.method != REFERENCE)
    check_compatible(ref, cells, cfg.profile)
    return cells, seeds


def finish_against(
    ref: Reference, out: Path, cells: list[PlannedCell], seeds: Seeds
) -> tuple[Path | None, list[str]]:
    """Write the board of this run's records with the reference's (None when no planned
    cell has a record yet) and say whether this machine re-creates the reference's
    teacher and data."""
    mine = own_records(out, cells)
    if not mine:
        return None, []
    path = out / BOARD_NAME
    write_text(path, render_board(ref, mine, seeds, out))
    return path, recreated_lines(recreated(ref, mine), ref)

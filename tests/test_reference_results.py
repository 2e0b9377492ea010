"""The committed reference results answer the current protocol, and the committed tables
are rendered from them.

README's claims are read off these records; when a change alters what a quick-profile
cell computes (a new `PROTOCOL_VERSION`, a changed default), these tests fail until the
reference run is redone:

    bench run --methods all --tasks all --out results --executor local
    bench leaderboard --out results --output LEADERBOARD.md
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.config import config_hash, resolve
from benchmark.datasets.tasks import list_tasks
from benchmark.leaderboard import render
from benchmark.method import list_methods
from benchmark.plan import REFERENCE, Cell, cell_config
from benchmark.records import read_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
SEEDS = resolve("quick").seeds  # the reference run takes the profile's default seeds


def _embedded_tasks() -> list[str]:
    from benchmark.datasets.real import real_tasks

    return [t for t in list_tasks() if t not in real_tasks()]


def test_committed_records_are_complete_current_and_ok() -> None:
    """Every method the committed records cover has an ok, current record for every
    embedded task and seed (a method added since has none yet: its author posts its
    rows in the pull request, and the maintainers add its records)."""
    cfg = resolve("quick")
    found = {(r.task, r.method, r.seed): r for r in read_records(RESULTS)}
    covered = {method for _, method, _ in found} - {REFERENCE}
    assert covered <= set(list_methods()), f"records of unregistered methods: {covered}"
    assert len(covered) >= 7  # the methods the README's claims are about
    expected = [
        Cell(task, method, seed)
        for task in _embedded_tasks()
        for method in [REFERENCE, *sorted(covered)]
        for seed in range(SEEDS)
    ]
    missing = [c.label for c in expected if (c.task, c.method, c.seed) not in found]
    assert not missing, f"no committed record for {missing[:5]}"
    stale = [
        c.label
        for c in expected
        if found[(c.task, c.method, c.seed)].config_hash != config_hash(cell_config(c, cfg))
    ]
    assert not stale, f"records made under another protocol, config or method version: {stale[:5]}"
    failed = [c.label for c in expected if not found[(c.task, c.method, c.seed)].ok]
    assert not failed


def test_leaderboard_and_table_are_rendered_from_the_records() -> None:
    records = read_records(RESULTS)
    committed = (ROOT / "LEADERBOARD.md").read_text().splitlines()
    rendered = render(records, "results/runs").splitlines()
    # Line 3 holds the date the board was rendered on.
    assert committed[:2] + committed[3:] == rendered[:2] + rendered[3:]
    table = pd.read_csv(RESULTS / "results.csv")
    assert sorted(zip(table.task, table.method, table.seed, strict=True)) == sorted(
        (r.task, r.method, r.seed) for r in records
    )
    assert set(table.config_hash) == {r.config_hash for r in records}

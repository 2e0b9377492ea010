"""A new method ranked against a committed reference without re-running its baselines.

`bench run --methods mine --with-reference results` runs only `mine`'s cells, at the
reference's profile, protocol, settings and seeds, and ranks them on one board with the
reference's records of every other method. The pairing the board's statistics rest on
is by seed: seed s fixes the data, the teacher and the student's initialisation, so
`mine`'s seed-s record is paired with each reference method's seed-s record, exactly as
if all had run together. That holds only when this checkout re-creates the reference's
cells, which is why:

- a reference made at another protocol, profile or other settings is refused
  (`check_compatible`): its records would be paired with cells of another experiment;
- the teacher and data this machine re-creates are compared with the reference's, per
  (task, seed), in `bench compare`'s terms (`recreated`): bit-identical, within seed
  noise, or differs. Another machine's arithmetic (threads, instruction set) can move a
  teacher's score within seed noise; a difference beyond it means the pairing is off.

The board is the ordinary leaderboard (`benchmark.results.leaderboard.render`) of the
combined records, with a paragraph naming which methods are the reference's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from benchmark.errors import UserError
from benchmark.results.compare import (
    BIT_IDENTICAL,
    DIFFERS,
    TOO_FEW,
    WITHIN_NOISE,
    reasons,
    track_of,
)
from benchmark.results.leaderboard import render, short_commit
from benchmark.results.records import REFERENCE, Record, read_records
from benchmark.results.stats import Paired, paired_test

# The hashed settings sections a method cell shares with every other method's cell of
# its (task, seed): equal in both, the cells are of one experiment.
SHARED = ("protocol", "data", "world", "teacher", "student", "distill", "eval")
BOARD_NAME = "LEADERBOARD-with-reference.md"


class Planned(Protocol):
    """What the check needs of a planned cell (`benchmark.execution.plan.PlannedCell`)."""

    @property
    def task(self) -> str: ...
    @property
    def track(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True)
class Reference:
    """A reference folder's records, read once."""

    folder: Path
    records: list[Record]

    def methods_of(self, task: str, track: str) -> list[Record]:
        """The ok method records (not the teacher/ceiling cells) of a (task, track)."""
        return [
            r
            for r in self.records
            if r.ok and r.method != REFERENCE and r.task == task and track_of(r) == track
        ]

    def profile(self) -> str:
        """The one profile of the reference's records."""
        profiles = sorted({r.profile for r in self.records if r.ok})
        if len(profiles) != 1:
            raise UserError(
                f"--with-reference {self.folder}: its records mix profiles "
                f"({', '.join(profiles)}); name a folder made at one profile"
            )
        return profiles[0]

    def seeds(self, task: str, track: str, limit: int | None = None) -> list[int]:
        """The seeds the reference's methods ran on for a (task, track); the first
        `limit` of them when given."""
        seeds = sorted({r.seed for r in self.methods_of(task, track)})
        if not seeds:
            have = sorted({f"{r.task} ({track_of(r)})" for r in self.records if r.ok})
            raise UserError(
                f"--with-reference {self.folder} has no records of {task} in the {track} "
                f"track; it has {', '.join(have) or 'none'}"
            )
        return seeds if limit is None else seeds[:limit]


def load_reference(folder: Path) -> Reference:
    if not (folder / "runs").is_dir():
        raise UserError(
            f"--with-reference {folder}: no records under '{folder / 'runs'}'; "
            "name the folder of the committed reference (results)"
        )
    records = read_records(folder, [])
    if not any(r.ok for r in records):
        raise UserError(f"--with-reference {folder}: no finished record under '{folder}/runs'")
    return Reference(folder, records)


def _differing(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [k for k in SHARED if a.get(k) != b.get(k)]


def check_compatible(ref: Reference, cells: Iterable[Planned], profile: str) -> None:
    """Refuse, in one line, a reference whose records are not of this run's experiment:
    another protocol version, another profile, or other shared settings (the sections
    every method cell of a (task, seed) has in common, `SHARED`)."""
    own = ref.profile()
    if own != profile:
        raise UserError(
            f"--with-reference {ref.folder}: its records are at profile {own}, this run "
            f"at {profile}; drop --profile (the reference's is the default) or pass "
            "another reference"
        )
    seen: set[tuple[str, str]] = set()
    for cell in cells:
        if cell.method == REFERENCE or (cell.task, cell.track) in seen:
            continue
        seen.add((cell.task, cell.track))
        theirs = ref.methods_of(cell.task, cell.track)
        protocols = sorted({str(r.config.get("protocol", "?")) for r in theirs})
        mine = str(cell.payload["protocol"])
        if protocols != [mine]:
            raise UserError(
                f"--with-reference {ref.folder}: its {cell.task} records are at protocol "
                f"{', '.join(protocols)}, this checkout runs protocol {mine}; re-run the "
                "baselines here, or check out the commit that made the reference"
            )
        for record in theirs:
            sections = _differing(cell.payload, record.config)
            if sections:
                raise UserError(
                    f"--with-reference {ref.folder}: {cell.task}'s settings differ from "
                    f"its records' ({', '.join(sections)}, e.g. {record.method} seed "
                    f"{record.seed}); drop the --set/--config values that change them"
                )


def own_records(out: Path, cells: Iterable[Planned]) -> list[Record]:
    """The records in `out` that settle the planned cells (same cell, same hash)."""
    want = {(c.task, c.track, c.method, c.seed): c.hash for c in cells}
    return [
        r
        for r in read_records(out, [])
        if r.done and want.get((r.task, track_of(r), r.method, r.seed)) == r.config_hash
    ]


def combine(
    ref: Reference, mine: list[Record], seeds: dict[tuple[str, str], list[int]]
) -> list[Record]:
    """The board's records: `mine`, and the reference's records of the same (task, track)s
    at the planned seeds, less those of any method `mine` holds (a method re-run here
    replaces its committed records), with the reference's teacher/ceiling cells."""
    ran = {(r.task, track_of(r), r.method) for r in mine}
    kept = [
        r
        for r in ref.records
        if r.seed in seeds.get((r.task, track_of(r)), ())
        and (r.task, track_of(r), r.method) not in ran
    ]
    return [*kept, *mine]


def render_board(
    ref: Reference, mine: list[Record], seeds: dict[tuple[str, str], list[int]], out: Path
) -> str:
    """The leaderboard of `mine` with the reference's other methods, by the ordinary
    renderer, with a paragraph under the title saying whose records are whose."""
    records = combine(ref, mine, seeds)
    text = render(records, f"{ref.folder / 'runs'} and {out / 'runs'}")
    new = sorted({r.method for r in mine if r.method != REFERENCE})
    theirs = sorted({r.method for r in records if r.method not in new and r.method != REFERENCE})
    commits = sorted({short_commit(r.git) for r in records if r.method in theirs})
    note = (
        f"**Ranked against the reference `{ref.folder}`.** Run here: {', '.join(new)} "
        f"(records in `{out / 'runs'}`). The reference's records (`{ref.folder / 'runs'}`, "
        f"commit {', '.join(commits)}): {', '.join(theirs)}, and the teacher and "
        "all-labels rows. Each new record is paired with the reference's records of its "
        "seed; see `bench run`'s check that this machine re-creates the reference's "
        "teacher and data. The same `bench run ... --with-reference` renders this board "
        "again (finished cells are kept)."
    )
    title, _, rest = text.partition("\n\n")
    return f"{title}\n\n{note}\n\n{rest}"


# ---- the teacher and data this machine re-creates ------------------------------------


@dataclass
class Recreated:
    """Per (task, track): this machine's teacher and data against the reference's."""

    task: str
    track: str
    seeds: list[int]
    verdict: str
    what: str  # the metric the paired test is on
    diff: Paired | None = None
    reasons: list[str] = field(default_factory=list)


def _teacher_facts(record: Record) -> tuple[Any, ...]:
    """What a record says of its (task, seed)'s teacher and data, method aside."""
    gaps = {k: v for k, v in record.metrics.items() if k.startswith("input_gap_")}
    return (record.teacher.get("key"), record.teacher.get("metrics"), gaps, record.data)


def _score(record: Record) -> tuple[str, float]:
    """The teacher's score on the source (its first metric), or, for a teacher without
    a head, the input gap's CKA: the number the paired test is on."""
    metrics = record.teacher.get("metrics") or {}
    if metrics:
        name = sorted(metrics)[0]
        return f"teacher {name}", float(metrics[name])
    return "input_gap_cka", float(record.metrics.get("input_gap_cka", math.nan))


def recreated(ref: Reference, mine: list[Record]) -> list[Recreated]:
    """Per (task, track) of `mine`, pairs by seed one of its records with the
    reference's teacher/ceiling record of that seed (else any of its method records)."""
    theirs: dict[tuple[str, str, int], Record] = {}
    for r in sorted(ref.records, key=lambda r: r.method != REFERENCE):
        if r.ok and r.teacher:
            theirs.setdefault((r.task, track_of(r), r.seed), r)
    ours: dict[tuple[str, str, int], Record] = {}
    for r in mine:
        if r.ok and r.teacher:
            ours.setdefault((r.task, track_of(r), r.seed), r)
    groups: dict[tuple[str, str], list[tuple[Record, Record]]] = {}
    for key in sorted(ours.keys() & theirs.keys()):
        groups.setdefault(key[:2], []).append((ours[key], theirs[key]))
    rows = []
    for (task, track), pairs in groups.items():
        what = _score(pairs[0][0])[0]
        row = Recreated(task, track, [m.seed for m, _ in pairs], BIT_IDENTICAL, what)
        if any(_teacher_facts(m) != _teacher_facts(r) for m, r in pairs):
            row.diff = paired_test(
                pd.Series({m.seed: _score(m)[1] for m, _ in pairs}),
                pd.Series({r.seed: _score(r)[1] for _, r in pairs}),
            )
            if row.diff.n < 2:
                row.verdict = TOO_FEW
            elif row.diff.excludes_zero:
                row.verdict = DIFFERS
            else:
                row.verdict = WITHIN_NOISE
            row.reasons = _what_differs(pairs) + [
                why for why in reasons(pairs) if not why.startswith("other settings")
            ]
        rows.append(row)
    return rows


def _what_differs(pairs: list[tuple[Record, Record]]) -> list[str]:
    """Which of the teacher's facts differ: its cache key (its recipe or its data's
    digest), its scores, the input gap, the data facts (named by key)."""
    found = []
    if any(m.teacher.get("key") != r.teacher.get("key") for m, r in pairs):
        found.append("other teacher key")
    if any(_teacher_facts(m)[1:3] != _teacher_facts(r)[1:3] for m, r in pairs):
        found.append("other teacher scores or input gap")
    keys = sorted(
        {
            k
            for m, r in pairs
            for k in m.data.keys() | r.data.keys()
            if m.data.get(k) != r.data.get(k)
        }
    )
    if keys:
        found.append(f"other data facts ({', '.join(keys)})")
    return found


def recreated_lines(rows: list[Recreated], ref: Reference) -> list[str]:
    """One line per (task, track) and a closing one."""
    lines = []
    for row in rows:
        delta = ""
        if row.diff is not None and not math.isnan(row.diff.mean):
            half = "" if math.isnan(row.diff.half) else f" ± {100 * row.diff.half:.2f}"
            delta = f", {row.what} Δ {100 * row.diff.mean:+.2f}{half} points"
        why = f" ({'; '.join(row.reasons)})" if row.reasons else ""
        track = "" if row.track == "supervised" else f" ({row.track})"
        lines.append(
            f"{row.task}{track}: teacher and data re-created here vs {ref.folder}: "
            f"{row.verdict} over {len(row.seeds)} seed(s){delta}{why}"
        )
    if any(r.verdict == DIFFERS for r in rows):
        lines.append(
            "the pairing with the reference is off where the teacher differs: re-run the "
            "baselines here (bench run without --with-reference) for those tasks"
        )
    return lines

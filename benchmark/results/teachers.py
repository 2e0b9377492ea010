"""Whether a (task, track)'s records pair like with like: one teacher per seed.

Seed s fixes the data, the teacher and the student's initialisation, so the records of
seed s pair as if all methods had run together. That holds only while every method's
record of seed s names the same teacher (its cache key, `Record.teacher["key"]`). When the
data or the teacher changed under the same settings between the runs that made the
records (a fix that did not change a hash, another thread count, another machine), a
paired difference compares two teachers as much as two methods. The board says so
instead of ranking silently.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from benchmark.results.records import REFERENCE, Record


@dataclass(frozen=True)
class MixedTeachers:
    """The seeds of a (task, track) whose method records name more than one teacher."""

    seeds: list[int]  # the mixed seeds
    of: int  # seeds with a teacher key at all
    odd: list[str]  # methods whose teacher differs from the seed's most common one


def teacher_key(record: Record) -> str | None:
    """The teacher a finished record was made with (its cache key), None if it has none."""
    key = record.teacher.get("key") if record.ok else None
    return str(key) if key else None


def mixed_teachers(records: list[Record], task: str, track: str) -> MixedTeachers | None:
    """None when every seed's method records name one teacher."""
    keys: dict[int, dict[str, str]] = defaultdict(dict)  # seed → method → teacher key
    for r in records:
        key = teacher_key(r)
        if r.task == task and r.track == track and r.method != REFERENCE and key:
            keys[r.seed][r.method] = key
    seeds, odd = [], set()
    for seed, teachers in sorted(keys.items()):
        counts = Counter(teachers.values())
        if len(counts) < 2:
            continue
        seeds.append(seed)
        common = max(counts, key=lambda k: (counts[k], k))  # ties: a fixed choice
        odd |= {m for m, k in teachers.items() if k != common}
    return MixedTeachers(seeds, len(keys), sorted(odd)) if seeds else None


def mixed_teachers_line(mixed: MixedTeachers | None) -> list[str]:
    if mixed is None:
        return []
    return [
        f"**Teachers differ** at {len(mixed.seeds)} of {mixed.of} seeds: the records of "
        f"{', '.join(f'`{m}`' for m in mixed.odd)} name another teacher than the other "
        "methods' at the same seed (the data or the teacher changed under the same "
        "settings between the runs that made them), so their paired differences there "
        "compare teachers as well as methods. Re-make the older records (`bench run "
        "--force` on those methods and tasks).",
        "",
    ]

"""What a board must say at its top when its records cannot be the benchmark's results.

A board renders any records the same way, so one made from the `smoke` profile (tiny
data, one epoch: a check that the code runs) or from fewer seeds than its profile's floor
has the look of a result, rank sets and all, without being one. `caveat` names why, in
one sentence the leaderboard and the report page put first (`bench run`'s table says the
profile's part). Records of one of the profiles the benchmark reports (`quick`, `paper`)
at its seed floor get none.
"""

from __future__ import annotations

from collections.abc import Iterable

from benchmark.config.profiles import PROFILES
from benchmark.config.schema import RunConfig
from benchmark.results.records import Record

SMOKE = "smoke"
SMOKE_CAVEAT = "smoke profile: a plumbing check, not results"
NOT_RESULTS = "Not the benchmark's results"  # the words a caveat follows on a board or export
MIN_SEEDS = 3  # below it a task's paired t intervals have at most one degree of freedom


def seed_floor(profile: str) -> int:
    """The fewest seeds a task of `profile` is run with unless `--seeds` says otherwise
    (the profile's `seeds`, else the configuration's default)."""
    return int(PROFILES.get(profile, {}).get("seeds", RunConfig.seeds))


def profile_caveat(profiles: Iterable[str]) -> str | None:
    """The caveat the profiles alone call for: smoke, or several profiles mixed."""
    names = sorted(set(profiles))
    if SMOKE in names:
        return (
            f"{SMOKE_CAVEAT} (its tiny data and single epoch check that the code runs; its "
            "means, ranks and headroom say nothing about the methods)"
        )
    if len(names) > 1:
        return (
            f"records of several profiles ({', '.join(names)}): their cells ran at "
            "different sizes, so their numbers are not one benchmark's"
        )
    return None


def caveat(records: list[Record]) -> str | None:
    """Why these records are not the benchmark's results, or None when they can be: the
    profile (`profile_caveat`); no task and track at the profile's seed floor (a run with a
    small `--seeds`); or a task and track under `MIN_SEEDS` seeds, whose intervals resolve
    almost nothing. A board whose tracks differ in seeds, each at `MIN_SEEDS` or more and
    one at the floor, is the committed reference's shape and gets none."""
    found = profile_caveat(r.profile for r in records)
    if found is not None or not records:
        return found
    profile = records[0].profile
    floor = seed_floor(profile)
    seeds: dict[tuple[str, str], set[int]] = {}
    for r in records:
        if r.ok:
            seeds.setdefault((r.task, r.track), set()).add(r.seed)
    if not seeds:
        return None
    most = max(len(have) for have in seeds.values())
    if most < floor:
        return (
            f"at most {most} seed(s) a task, fewer than the {profile} profile's {floor}: "
            "a first look, not results"
        )
    thin = sorted(
        f"{task} ({track}, {len(have)})"
        for (task, track), have in seeds.items()
        if len(have) < MIN_SEEDS
    )
    if thin:
        return (
            f"fewer than {MIN_SEEDS} seeds on {', '.join(thin)}: intervals over so few "
            "seeds resolve almost nothing"
        )
    return None

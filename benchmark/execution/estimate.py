"""How long a plan will take, from its first second: each pending cell's expected seconds
from the committed reference records (`results/`, per-stage `seconds`), scaled by what
this machine has measured so far.

A cell's prior is the median, over the reference's records of the same task, method,
track and profile, of the stages a fresh run pays: a method cell's data, distillation,
evaluation and gap seconds (its teacher is the reference cell's work), a reference cell's
data and gap seconds plus the teacher's training seconds (which every reference record
keeps, cached or not) and the all-labels training's (from the records that trained it).
A method the reference does not hold gets the median of its task's method cells; a task
or profile it does not hold, no prior, until this run has finished a cell (then the mean
of this run's cells stands in). Once cells finish, every prior is multiplied by the ratio
of their measured seconds to their priors, so a slower or faster machine corrects the
estimate within a cell or two. The figure is a forecast for the progress bar, never a
result: nothing here enters a record.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmark.execution.plan import Cell, PlannedCell
from benchmark.results.records import REFERENCE, Record
from benchmark.tracks import file_suffix

METHOD_STAGES = ("data", "distill", "evaluate", "gap")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def cost_of(record: dict[str, Any]) -> float | None:
    """What a record says its cell costs when run afresh (its teacher cached, for a method
    cell); None for a record without usable seconds."""
    seconds = record.get("seconds")
    if record.get("status") != "ok" or not isinstance(seconds, dict):
        return None
    if record.get("method") != REFERENCE:
        return float(sum(float(seconds.get(s, 0.0)) for s in METHOD_STAGES))
    teacher = record.get("teacher") or {}
    return float(seconds.get("data", 0.0) + seconds.get("gap", 0.0) + teacher.get("seconds", 0.0))


def priors(reference: Path | None, cells: list[PlannedCell]) -> dict[PlannedCell, float]:
    """Each cell's expected seconds from the reference's records (cells without one left out)."""
    if reference is None:
        return {}
    found: dict[tuple[str, str, str, str], list[float]] = {}
    ceilings: dict[tuple[str, str, str], list[float]] = {}
    for task, method, track, profile in {(c.task, c.method, c.track, c.cfg.profile) for c in cells}:
        costs: list[float] = []
        suffix = file_suffix(track)
        for path in sorted((reference / "runs" / task / method).glob(f"seed*{suffix}.json")):
            if not suffix and path.name.count(".") > 1:
                continue  # another track's file next to the supervised one's
            record = _read(path)
            if record is None or record.get("profile") != profile:
                continue
            cost = cost_of(record)
            if cost is not None:
                costs.append(cost)
            trained = float((record.get("seconds") or {}).get("reference", 0.0))
            if method == REFERENCE and trained > 0:
                ceilings.setdefault((task, track, profile), []).append(trained)
        if costs:
            found[(task, method, track, profile)] = costs
    out: dict[PlannedCell, float] = {}
    for cell in cells:
        key = (cell.task, cell.method, cell.track, cell.cfg.profile)
        costs = found.get(key)
        if costs is None and cell.method != REFERENCE:  # a method the reference lacks
            task_track = (cell.task, cell.track, cell.cfg.profile)
            costs = [
                cost
                for (task, method, track, profile), some in found.items()
                if (task, track, profile) == task_track and method != REFERENCE
                for cost in some
            ]
        if not costs:
            continue
        out[cell] = statistics.median(costs)
        if cell.method == REFERENCE:
            ceiling = ceilings.get((cell.task, cell.track, cell.cfg.profile), [0.0])
            out[cell] += statistics.median(ceiling)
    return out


class PlanClock:
    """The plan's remaining wall time: pending cells' priors × the measured scale, over the
    cells running at once; counted down between cell ends."""

    def __init__(self, cells: list[PlannedCell], prior: dict[PlannedCell, float], parallel: int):
        self.pending = {c.label: c for c in cells}
        self.prior = prior
        self.parallel = max(1, parallel)
        self.measured = 0.0  # seconds of finished cells that had a prior
        self.expected = 0.0  # their priors
        self.seconds: list[float] = []  # every finished cell's seconds
        self.stamp = time.monotonic()
        self.remaining = self._remaining()

    def scale(self) -> float:
        return self.measured / self.expected if self.expected > 0 else 1.0

    def _remaining(self) -> float | None:
        fallback = statistics.fmean(self.seconds) if self.seconds else None
        total = 0.0
        for cell in self.pending.values():
            if cell in self.prior:
                total += self.prior[cell] * self.scale()
            elif fallback is not None:
                total += fallback
            else:
                return None
        return total / min(self.parallel, max(1, len(self.pending)))

    def record_done(self, record: Record) -> None:
        """`record`'s cell ended: its stages' seconds count."""
        cell = Cell(record.task, record.method, record.seed, record.track)
        self.done(cell.label, sum(record.seconds.values()))

    def done(self, label: str, seconds: float) -> None:
        """A cell ended after `seconds` of its own stages."""
        cell = self.pending.pop(label, None)
        if cell is None:
            return
        self.seconds.append(seconds)
        if cell in self.prior and seconds > 0:
            self.measured += seconds
            self.expected += self.prior[cell]
        self.stamp = time.monotonic()
        self.remaining = self._remaining()

    def eta(self) -> float | None:
        """Seconds left (None: nothing to go by yet)."""
        if self.remaining is None:
            return None
        return max(0.0, self.remaining - (time.monotonic() - self.stamp))

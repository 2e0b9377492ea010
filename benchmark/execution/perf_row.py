"""One measured value of `bench perf`'s table, and the task the measurements run on.

The vocabulary shared by the in-process measurements (`benchmark.execution.perf`) and the
child-process ones (`benchmark.execution.perf_child`), kept below both so neither imports
the other.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

PERF_TASK = "sketch-cls"


@dataclass
class Row:
    """One line of the table: a measured value (median, min, max) and what it means."""

    group: str
    what: str
    median: float
    low: float
    high: float
    unit: str
    ratio: str = ""
    note: str = ""

    @classmethod
    def of(cls, group: str, what: str, values: list[float], unit: str, **kw: str) -> Row:
        return cls(group, what, statistics.median(values), min(values), max(values), unit, **kw)

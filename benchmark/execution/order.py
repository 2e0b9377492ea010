"""In what order a plan's cells run, so the first method result comes early and no worker
idles at the end.

Every (task, seed, track) group has one *gate*: the cell the group's other cells wait for,
because it trains the teacher they share. It is the group's first method cell (in plan
order), not its reference cell: a method cell needs the teacher only, while the reference
cell also trains the all-labels ceiling, so gating on a method cell puts a method result
on screen one ceiling-training sooner (the reference cell then finds the teacher cached). A
group without a method cell is gated by its reference cell, a group without a reference
cell (a seed past those that report headroom, `benchmark.execution.plan.expand`) by its
first method cell all the same, and a group of `bench tune`'s trials by none: its teacher
was trained before. Which cell trains the teacher
changes no metric: the teacher's cache entry is the same whoever trains it (its file lock
makes it train once), and a record's metrics never depend on the cells before it.

Inline, each group runs gate first, then its other cells in plan order (`inline_order`).
Local workers take, among the ready cells (the gates, and every cell whose gate has
ended), the most urgent (`Order.priority`): gates first, then longest work first
(reference cells, which train the ceiling, before method cells; segmentation, the
costliest cells of every profile, before classification), then plan order. On SLURM the
reference cells form the first array and the method cells the second (`executors`).
"""

from __future__ import annotations

from benchmark.datasets.tasks import get_task
from benchmark.execution.plan import PlannedCell
from benchmark.kinds import get_kind
from benchmark.results.records import REFERENCE

Group = tuple[str, int, str]


def group(cell: PlannedCell) -> Group:
    return (cell.task, cell.seed, cell.track)


class Order:
    """The gates and urgency of one plan's cells."""

    def __init__(self, cells: list[PlannedCell]) -> None:
        self.index = {cell: i for i, cell in enumerate(cells)}
        self.groups: dict[Group, list[PlannedCell]] = {}
        for cell in cells:
            self.groups.setdefault(group(cell), []).append(cell)
        self.gates: dict[Group, PlannedCell] = {}
        for key, members in self.groups.items():
            if all(c.evaluation is not None for c in members):
                continue  # `bench tune`'s trials: their teacher was trained before
            methods = [c for c in members if c.method != REFERENCE]
            self.gates[key] = (methods or members)[0]

    def gate(self, cell: PlannedCell) -> PlannedCell | None:
        """The cell `cell` waits for (None: none; a gate waits for none either)."""
        gate = self.gates.get(group(cell))
        return None if gate == cell else gate

    def priority(self, cell: PlannedCell) -> tuple[int, int, int, int]:
        dense = get_kind(get_task(cell.task).kind).dense
        gate = self.gates.get(group(cell)) == cell
        return (not gate, cell.method != REFERENCE, not dense, self.index[cell])


def inline_order(cells: list[PlannedCell]) -> list[PlannedCell]:
    """Plan order, except that each group's gate runs first within its group."""
    order = Order(cells)
    out: list[PlannedCell] = []
    for key, members in order.groups.items():
        gate = order.gates.get(key)
        out.extend([gate, *(c for c in members if c != gate)] if gate else members)
    return out

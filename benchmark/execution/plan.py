"""A plan: tasks × methods × seeds (× tracks) expanded into cells, each planned once with
its resolved settings, payload and hash (`PlannedCell`); a cell is done when a done
record with the same hash exists (`counts`).

Each (task, seed) also gets a reference cell (the teacher's source score and the
all-labels target score), which runs first and trains the teacher the method cells share.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from benchmark.config import RunConfig
from benchmark.datasets.data_config import hashed
from benchmark.datasets.tasks import hashed_world
from benchmark.errors import UserError, did_you_mean
from benchmark.hashing import cell_payload, config_hash
from benchmark.method import load_methods
from benchmark.params import validate
from benchmark.results.records import REFERENCE, Record, load_record, record_path
from benchmark.tracks import LABELLED, SUPERVISED, file_suffix, is_labelled, with_track
from benchmark.weights import key_settings

if TYPE_CHECKING:
    from benchmark.backbones import Backbone
    from benchmark.datasets.tasks import TaskData
    from benchmark.execution.progress import Advance
    from benchmark.protocol.checkpoint import EpochCheckpoint
    from benchmark.protocol.evaluate import Evaluation
    from benchmark.results.records import Record


@dataclass(frozen=True)
class Cell:
    task: str
    method: str  # a method name or REFERENCE
    seed: int
    track: str = SUPERVISED  # benchmark.tracks

    @property
    def label(self) -> str:
        who = "reference" if self.method == REFERENCE else self.method
        return f"{self.task}/{who}/seed{self.seed}{file_suffix(self.track)}"

    def record_path(self, out: Path) -> Path:
        return record_path(out, self.task, self.method, self.seed, self.track)


def cell_run_config(cell: Cell, cfg: RunConfig) -> RunConfig:
    """The settings `cell` runs with: its task's, in its track."""
    return task_track_config(cfg, cell.task, cell.track)


def task_track_config(cfg: RunConfig, task: str, track: str) -> RunConfig:
    """A task's settings in a track. A token-sequence target cannot take an image student,
    so there `student.backbone` becomes the default sequence backbone unless it names a
    sequence one: the record's settings name the model that is trained."""
    from benchmark.datasets.tasks import get_task
    from benchmark.sequence import DEFAULT_SEQUENCE_BACKBONE, SEQUENCE_BACKBONES

    task_cfg = with_track(cfg.for_task(task), track)
    if get_task(task).sequence_target and task_cfg.student.backbone not in SEQUENCE_BACKBONES:
        task_cfg = dataclasses.replace(
            task_cfg,
            student=dataclasses.replace(task_cfg.student, backbone=DEFAULT_SEQUENCE_BACKBONE),
        )
    return task_cfg


def method_params(cfg: RunConfig, method: str, track: str = SUPERVISED) -> dict[str, Any]:
    """The method's declared defaults overlaid with the user's values, validated; in the
    labelled track the reference's labelled weights come between the two
    (`benchmark.protocol.labelled.labelled_params`)."""
    from benchmark.protocol.labelled import declared, labelled_params

    cls = load_methods().get(method)
    if is_labelled(track):
        return labelled_params(cls, cfg.methods.get(method, {}))
    # A `ce_weight` the method does not declare is the labelled track's γ: not its own.
    return validate(cls.params, declared(cls, cfg.methods.get(method, {})), method)


def check_method_settings(cfg: RunConfig) -> None:
    """Every `methods.<name>` section, run-wide or in `tasks.<task>`, names a registered
    method with valid values."""
    registry = load_methods()
    for where, task_cfg in [("", cfg), *((f"tasks.{t}.", cfg.for_task(t)) for t in cfg.tasks)]:
        for name in task_cfg.methods:
            if name not in registry:
                raise UserError(
                    f"config names unknown method '{where}methods.{name}': "
                    f"{did_you_mean(name, registry.names())}"
                )
            method_params(task_cfg, registry.canonical(name))


def with_values(task_cfg: RunConfig, method: str, values: dict[str, Any]) -> RunConfig:
    """A task's settings with searched values overlaid (a `bench tune` trial's):
    `distill.<field>` values into the shared schedule, the others into `method`'s
    parameters."""
    schedule = {
        k.removeprefix("distill."): v for k, v in values.items() if k.startswith("distill.")
    }
    params = {k: v for k, v in values.items() if not k.startswith("distill.")}
    methods = {**task_cfg.methods, method: {**task_cfg.methods.get(method, {}), **params}}
    return dataclasses.replace(
        task_cfg, distill=dataclasses.replace(task_cfg.distill, **schedule), methods=methods
    )


def _payload(cell: Cell, cfg: RunConfig, params: dict[str, Any] | None) -> dict[str, Any]:
    """The hashed settings of `cell`: exactly those that can change its result, from its
    resolved settings (its task's, so another task's `tasks.<name>` values never enter)
    and method parameters (`benchmark.hashing.cell_payload`: the schema and its legacy
    rules; the track enters through the teacher's settings, track-via-teacher). A
    labelled-track cell adds `track` (its teacher is the supervised one, so nothing else
    would tell it apart) and, for a method, its cross-entropy weight γ; its `eval` holds
    the probe's settings only, as it has no fine-tune. The other tracks' payloads are as
    they were."""
    sections = {
        "data": hashed(cfg.data, is_labelled(cell.track)),  # LEGACY_RULES: data-split, ...
        "world": hashed_world(cell.task, cfg.world),  # LEGACY_RULES: modality-knobs
        "student": dataclasses.asdict(cfg.student),
        "distill": dataclasses.asdict(cfg.distill),
        "eval": dataclasses.asdict(cfg.eval),
    }
    method = None
    if params is not None:
        method = (cell.method, params, load_methods().get(cell.method).version)
    track_sections = None
    if is_labelled(cell.track):
        track_sections = {"track": LABELLED}
        if params is not None:
            from benchmark.protocol.labelled import ce_weight

            gamma = ce_weight(load_methods().get(cell.method), params, cfg.methods.get(cell.method))
            track_sections["labelled"] = {"ce_weight": gamma}
            sections["eval"] = {k: v for k, v in sections["eval"].items() if k.startswith("probe")}
    # key_settings: LEGACY_RULES scratch-weights
    teacher = key_settings(cfg.teacher)
    return cell_payload(cell.task, cell.seed, sections, teacher, method, track_sections)


class EvaluationHook(Protocol):
    """A method cell's evaluation when it is not the standard one (the test split's probe
    and fine-tunes, then the gap estimates): `bench tune`'s trials also score the
    validation split (`benchmark.execution.tune_trials.TrialEvaluation`). The planner
    adds `payload` to the cell's payload, so the hook enters the cell's hash; the runner
    calls `evaluate` in place of the standard evaluation, and measures the gaps only if
    `gaps`. Picklable (a cell travels to workers and jobs)."""

    @property
    def payload(self) -> dict[str, Any]: ...

    @property
    def gaps(self) -> bool: ...

    def evaluate(
        self,
        cell: PlannedCell,
        student: Backbone,
        data: TaskData,
        record: Record,
        progress: Advance,
        checkpoints: Callable[[int], EpochCheckpoint | None],
        cache_dir: Path | None,
        data_root: Path | None,
    ) -> Evaluation: ...


@dataclass(frozen=True)
class PlannedCell:
    """A cell with everything the run's settings decide about it, derived once when the
    plan is made: its settings (its task's, in its track), its validated method
    parameters, the payload a record keeps as its config, and that payload's hash. The
    runner, the jobs, the manifest and `bench status` read these; none re-derives them.
    Equality and hashing go by the cell alone."""

    cell: Cell
    cfg: RunConfig = field(compare=False, repr=False)
    params: dict[str, Any] | None = field(compare=False, repr=False)  # None: reference
    payload: dict[str, Any] = field(compare=False, repr=False)
    hash: str = field(compare=False)
    evaluation: EvaluationHook | None = field(default=None, compare=False, repr=False)

    @property
    def task(self) -> str:
        return self.cell.task

    @property
    def method(self) -> str:
        return self.cell.method

    @property
    def seed(self) -> int:
        return self.cell.seed

    @property
    def track(self) -> str:
        return self.cell.track

    @property
    def label(self) -> str:
        return self.cell.label

    def record_path(self, out: Path) -> Path:
        return self.cell.record_path(out)


def plan_cell(
    cell: Cell,
    cfg: RunConfig,
    task_cfg: RunConfig | None = None,
    *,
    values: dict[str, Any] | None = None,
    evaluation: EvaluationHook | None = None,
) -> PlannedCell:
    """`cell` planned under the run's settings `cfg`: the one place a cell's settings,
    parameters, payload and hash are derived (`task_cfg`: its task's settings in its
    track, when the caller already has them). A `bench tune` trial or re-run is planned
    here too: `values` overlays its searched settings (`with_values`), `evaluation`
    replaces the standard evaluation and adds its payload entry (`EvaluationHook`)."""
    task_cfg = task_cfg if task_cfg is not None else cell_run_config(cell, cfg)
    if values is not None:
        task_cfg = with_values(task_cfg, cell.method, values)
    params = None if cell.method == REFERENCE else method_params(task_cfg, cell.method, cell.track)
    payload = _payload(cell, task_cfg, params)
    if evaluation is not None:
        payload = {**payload, **evaluation.payload}
    return PlannedCell(cell, task_cfg, params, payload, config_hash(payload), evaluation)


def make_plan(
    tasks: list[str],
    methods: list[str],
    seeds: list[int] | dict[str, list[int]],
    cfg: RunConfig,
    tracks: tuple[str, ...] = (SUPERVISED,),
) -> list[PlannedCell]:
    """Every cell of a run, planned: each (task, track)'s settings resolved once, each
    cell's parameters validated and its payload hashed once."""
    task_cfgs = {(t, k): task_track_config(cfg, t, k) for t in tasks for k in tracks}
    from benchmark.datasets.tasks import get_task

    for (task, _), task_cfg in task_cfgs.items():  # a split the task has no loader for: first
        get_task(task).check_split(task_cfg.data)
    cells = expand(tasks, methods, seeds, tracks, headroom=cfg.seeds)
    return [plan_cell(c, cfg, task_cfgs[(c.task, c.track)]) for c in cells]


def expand(
    tasks: list[str],
    methods: list[str],
    seeds: list[int] | dict[str, list[int]],
    tracks: tuple[str, ...] = (SUPERVISED,),
    headroom: int | None = None,
) -> list[Cell]:
    """Cells grouped by (track, task, seed) so consecutive cells share data and teacher.
    `seeds`: one list for every task, or each task's own (task → seeds).

    A (task, track)'s reference cell (its teacher's score, the all-labels ceiling and the
    input gap) is planned for the seeds below `headroom` only (None: every seed); `make_plan`
    passes the profile's default seed count, the floor of every task's plan. Those seeds
    report the headroom; a task's further seeds, which it takes to resolve the paired
    method differences, add method cells only, since no difference between two methods
    involves the ceiling or the input gap."""
    cells: list[Cell] = []
    for track in tracks:
        for task in tasks:
            for seed in seeds[task] if isinstance(seeds, dict) else seeds:
                if headroom is None or seed < headroom:
                    cells.append(Cell(task, REFERENCE, seed, track))
                cells.extend(Cell(task, method, seed, track) for method in methods)
    return cells


def counts(record: Record | None, config_hash: str) -> bool:
    """Whether `record` settles the cell whose payload hashes to `config_hash`: done (a
    result, or not applicable in its track) with that very hash. The one definition of
    "this cell is done" that the plan, the jobs and `bench status` all use."""
    return record is not None and record.done and record.config_hash == config_hash


def is_done(out: Path, cell: PlannedCell) -> bool:
    path = cell.record_path(out)
    return path.is_file() and counts(load_record(path), cell.hash)


def check_records(out: Path, cells: list[PlannedCell], force: bool) -> None:
    """Before a run writes anything: each cell's record can be written there (no special
    file, `storage.check_target`), and no finished record made with other settings (another
    config hash: another profile, `--set`, protocol version) would be replaced, unless
    `force`. Records of other settings are never replaced silently: the run is refused in
    one line naming the first conflict, so a folder's records answer one question."""
    from benchmark.protocol.checkpoint import checkpoint_path
    from benchmark.storage import check_folder, check_target

    conflicts: list[tuple[Path, Record, PlannedCell]] = []
    folders: set[Path] = set()
    for cell in cells:
        path = cell.record_path(out)
        check_target(path, "record")
        ckpt = checkpoint_path(out, cell.task, cell.method, cell.seed, track=cell.track)
        locks = out / "locks" / cell.task / cell.method  # `jobs.cell_lock_path`'s folder
        for folder in (path.parent, ckpt.parent, locks):
            if folder not in folders:  # each once: a task's folders serve many cells
                folders.add(folder)
                check_folder(folder, "a folder of the run")
        if force or not path.is_file():
            continue
        record = load_record(path, [])  # a malformed file is no finished record: re-run
        if record is not None and record.done and record.config_hash != cell.hash:
            conflicts.append((path, record, cell))
    if not conflicts:
        return
    path, record, cell = conflicts[0]
    more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
    raise UserError(
        f"'{path}'{more} holds a finished record made with other settings (profile "
        f"{record.profile[:40]}, hash {record.config_hash[:12]}) than this run's (profile "
        f"{cell.cfg.profile}, hash {cell.hash[:12]}): pass another --out to keep both, or "
        "--force to replace them"
    )

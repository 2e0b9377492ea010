"""`bench tune`'s orchestration: the studies planned from the settings, their trials run
in rounds on any executor, and the selected trial of each re-run on every seed.

For each (task, method), N trials are drawn from the method's declared search spaces and
the shared schedule's knobs (`benchmark.execution.tune_study`), trial 0 being the
defaults. Each trial is a cell on its own data seed (no run's) also scored on the task's
validation split (`benchmark.execution.tune_trials`); a selection rule
(`benchmark.execution.selection`) keeps one trial per study, which is re-run on every
seed. The command (`benchmark.cli.tune`) parses, checks and reports; what runs is here.

Layout under the output folder:

    OUT/tune/journal.log                       the Optuna journal (every study)
    OUT/tune/<sampler>-seed<s>/trial<k>/       trial k of every (task, method): records,
                                               plan manifest, checkpoints, locks
    OUT/tune/<sampler>-seed<s>/selected-<rule>/   the selected trials, re-run per seed

Every executor runs the trial cells (one folder per trial number, so trial k of every
method runs side by side), a killed tune resumes from its records (finished trials are
skipped by their hash, unfinished ones resume from their epoch checkpoints), and a
re-run whose settings equal a defaults record's (the defaults won) is copied from it
instead of recomputed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from benchmark.errors import UserError
from benchmark.execution.selection import TestOracle, TrialResult, get_rule

if TYPE_CHECKING:
    import torch

    from benchmark.config import RunConfig
    from benchmark.execution.executor_settings import ExecutorSettings
    from benchmark.execution.plan import PlannedCell
    from benchmark.execution.progress import Advance, Reporter
    from benchmark.execution.tune_study import Studies, StudySpec
    from benchmark.results.records import Record


@dataclass
class Study:
    """One (task, method)'s study: its spec, its settings (its task's, in its track), and
    what its trials gave."""

    task: str
    method: str
    track: str
    task_cfg: RunConfig
    spec: StudySpec
    kind: str  # the task's kind (`benchmark.kinds`): which metric ranks
    results: dict[int, TrialResult] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.task}/{self.method}"


def plan_studies(
    tasks: list[str], methods: list[str], cfg: RunConfig, track: str, sampler: str, seed: int
) -> list[Study]:
    """Every (task, method)'s study, from the settings alone (nothing is written): its
    knobs, and a name that holds a digest of everything its trials run under."""
    from benchmark.config import config_hash
    from benchmark.datasets.tasks import get_task
    from benchmark.execution.plan import Cell, plan_cell
    from benchmark.execution.tune_study import StudySpec, search_space
    from benchmark.execution.tune_trials import TRIAL_SEED, VALIDATION

    studies = []
    for task in tasks:
        for method in methods:
            base = plan_cell(Cell(task, method, TRIAL_SEED, track), cfg)  # the planner's
            task_cfg = base.cfg  # the task's settings in the track: every trial starts here
            assert base.params is not None  # a method cell
            knobs = tuple(search_space(method, base.params, task_cfg.distill))
            space = [(k.name, k.space.describe(), repr(k.default)) for k in knobs]
            digest = config_hash({"cell": base.payload, "space": space, "val": VALIDATION})
            name = f"{track}/{task}/{method}/{sampler}-seed{seed}/{digest[:12]}"
            spec = StudySpec(name, knobs, sampler, seed)
            studies.append(Study(task, method, track, task_cfg, spec, get_task(task).kind))
    return studies


def check_validation(tasks: list[str], cfg: RunConfig, data_root: Path | None) -> None:
    """Every real task can give a validation split besides its few-label set (k more of
    each class), checked before anything is written."""
    from benchmark.datasets.real.common import RealCheck, few_shortfall
    from benchmark.datasets.tasks import get_task

    for task in tasks:
        check = get_task(task).check
        if not isinstance(check, RealCheck):
            continue
        _, _, survey = check.survey(data_root)
        if survey is None or survey.few is None:
            continue
        k = cfg.for_task(task).data.labels_per_class
        short = few_shortfall(survey.few, 2 * k)
        if short is not None:
            raise UserError(
                f"{task}: bench tune's validation split takes {k} more of each class "
                f"than the few-label set: {short}"
            )


def trial_result(
    record: Record | None, number: int, params: dict[str, Any], kind: str
) -> TrialResult:
    """A trial's record read for selection: its status and the ranking metric on the
    validation split and the test set (none for a record that is missing or not ok)."""
    from benchmark.execution.tune_trials import selection_metric, test_metric

    if record is None:
        return TrialResult(number, params, "missing", None, None)
    val = record.metrics.get(selection_metric(kind)) if record.ok else None
    test = record.metrics.get(test_metric(kind)) if record.ok else None
    return TrialResult(number, params, record.status, val, test)


class CellReporter(Protocol):
    """What the executors report to (their stage bars), and each finished cell."""

    def stage(self, label: str, total: int) -> contextlib.AbstractContextManager[Advance]: ...

    def cell_done(self) -> None: ...


class TrialReporter(CellReporter, Protocol):
    """A `CellReporter` also told of each study as its trials' results come in."""

    def update(self, study: Study) -> None: ...


@dataclass
class TuneRun:
    """What every stage of one `bench tune` shares: the run's settings and where it
    writes (the defaults' run is `bench run`'s own, outside this)."""

    cfg: RunConfig
    seeds: int
    trials: int
    sampler: str
    sampler_seed: int
    selection: str
    force: bool
    out: Path
    settings: ExecutorSettings
    cache_dir: Path
    data_root: Path | None
    device: torch.device
    threads: int
    studies_db: Studies

    @property
    def root(self) -> Path:
        """OUT/tune/<sampler>-seed<s>: the trial and re-run folders."""
        return self.out / "tune" / f"{self.sampler}-seed{self.sampler_seed}"


def run_folders(
    run: TuneRun,
    folders: list[tuple[Path, list[PlannedCell], Callable[[Record], None]]],
    reporter: Reporter,
) -> None:
    """Run the pending cells of several output folders on the chosen executor, taking the
    steps `bench run` takes for each (manifest, stale temp files, submit, run). Every
    folder is submitted before any is followed, so on SLURM the trial folders' arrays
    queue side by side; inline and local executors run them one folder after another."""
    from benchmark.execution.executors import create_executor
    from benchmark.execution.jobs import PlanRun
    from benchmark.execution.status import add_run, plan_cells, run_entry
    from benchmark.storage import remove_stale_temps

    submitted = []
    for out, cells, on_record in folders:
        plan = PlanRun(run.cfg, out, run.cache_dir, run.data_root, run.threads, run.force)
        add_run(out, run_entry(plan, run.settings, len(cells)), plan_cells(cells))
        remove_stale_temps(out)
        executor = create_executor(plan, run.settings, run.device)
        executor.submit(cells)
        submitted.append((executor, cells, on_record))
    for executor, cells, on_record in submitted:
        executor.run(cells, on_record, reporter)


def run_trials(run: TuneRun, studies: list[Study], reporter: TrialReporter) -> None:
    """Every study's trials, in rounds: all N at once under random search (the draws do
    not depend on results), one trial number at a time under TPE (each draw reads the
    scores before it). Each trial number is one folder whose cells run side by side.
    Each trial's result lands in its study's `results` and is told to the journal."""
    from benchmark.execution.plan import Cell, is_done
    from benchmark.execution.tune_trials import TRIAL_SEED, trial_cell
    from benchmark.results.records import load_record

    trials = run.trials
    rounds = [list(range(trials))] if run.sampler == "random" else [[k] for k in range(trials)]
    by_label = {s.label: s for s in studies}
    params_of: dict[tuple[str, int], dict[str, Any]] = {}

    def settle(record: Record, number: int) -> None:
        """A trial's record: its scores kept, told to the study, reported."""
        study = by_label[f"{record.task}/{record.method}"]
        result = trial_result(record, number, params_of[(study.label, number)], study.kind)
        study.results[number] = result
        run.studies_db.tell(study.spec, number, result.val)
        reporter.update(study)
        reporter.cell_done()

    for numbers in rounds:
        folders: dict[int, list[PlannedCell]] = {}
        for study in studies:
            count = min(numbers[-1] + 1, study.spec.budget(trials))
            if count <= numbers[0]:
                continue
            drawn = run.studies_db.ensure(study.spec, count)
            for k in (k for k in numbers if k < count):
                cell = Cell(study.task, study.method, TRIAL_SEED, study.track)
                folders.setdefault(k, []).append(
                    trial_cell(cell, run.cfg, study.task_cfg, drawn[k], k)
                )
                params_of[(study.label, k)] = drawn[k]
        pending: dict[int, list[PlannedCell]] = {}
        for k, cells in sorted(folders.items()):
            out = run.root / f"trial{k}"
            for cell in cells:
                record = None
                if not run.force and is_done(out, cell):
                    record = load_record(cell.record_path(out))
                if record is not None:
                    settle(record, k)  # finished before: never re-run
                else:
                    pending.setdefault(k, []).append(cell)
        run_folders(
            run,
            [
                (run.root / f"trial{k}", cells, lambda r, k=k: settle(r, k))
                for k, cells in pending.items()
            ],
            reporter,
        )


def tune_note(study: Study, best: TrialResult, run: TuneRun) -> dict[str, Any]:
    """What each tuned record says about how it was chosen (`config["tune"]`)."""
    from benchmark.execution.tune_trials import TRIAL_SEED, selection_metric

    results = [study.results[k] for k in sorted(study.results)]
    oracle = TestOracle().select(results)
    return {
        "selection": run.selection,
        "trial": best.number,
        "params": best.params,
        "metric": selection_metric(study.kind).removeprefix("val_"),
        "val": best.val,
        "test": best.test,
        "trial_seed": TRIAL_SEED,
        "oracle": {} if oracle is None else {"trial": oracle.number, "test": oracle.test},
        "budget": {
            "trials": run.trials,
            "run": study.spec.budget(run.trials),
            "ok": sum(r.val is not None for r in results),
            "sampler": run.sampler,
            "sampler_seed": run.sampler_seed,
            "study": study.spec.name,
            "space": {k.name: k.space.describe() for k in study.spec.knobs},
        },
        "trials": [
            {
                "trial": r.number,
                "status": r.status,
                "val": r.val,
                "test": r.test,
                "params": r.params,
            }
            for r in results
        ],
    }


def run_selected(
    run: TuneRun,
    studies: list[Study],
    reporter_for: Callable[[int], contextlib.AbstractContextManager[CellReporter]],
    say: Callable[[str], None],
) -> Path:
    """The selected trial of every study re-run on every seed, into
    `selected-<rule>`: copied from the defaults record when its hash is the same (the
    defaults won), else run (on a reporter `reporter_for(pending cells)` gives); then
    each record is annotated with how it was chosen. A study with nothing to re-run is
    told to `say`."""
    from benchmark.execution.plan import Cell, counts, is_done
    from benchmark.execution.tune_trials import selected_cell
    from benchmark.results.records import load_record, write_record

    rule = get_rule(run.selection)
    out = run.root / f"selected-{rule.name}"
    cells: list[tuple[Study, PlannedCell, dict[str, Any]]] = []
    for study in studies:
        best = rule.select(list(study.results.values()))
        if best is None:
            statuses = {r.status for r in study.results.values()}
            why = (
                "not applicable in this track"
                if statuses == {"not_applicable"}
                else ("no trial succeeded")
            )
            say(f"{study.label}: {why}, nothing to re-run")
            continue
        note = tune_note(study, best, run)
        for seed in range(run.seeds):
            cell = selected_cell(
                Cell(study.task, study.method, seed, study.track),
                run.cfg,
                study.task_cfg,
                best.params,
            )
            cells.append((study, cell, note))
    pending = []
    for _, cell, note in cells:
        if not run.force and is_done(out, cell):
            continue
        source = cell.record_path(run.out)
        record = load_record(source) if source.is_file() else None
        if not run.force and counts(record, cell.hash):
            assert record is not None
            record.config["tune"] = {**note, "copied_from": str(source)}
            write_record(out, record)
            continue
        pending.append(cell)
    if pending:
        with reporter_for(len(pending)) as reporter:
            run_folders(run, [(out, pending, lambda r: reporter.cell_done())], reporter)
    for _, cell, note in cells:
        path = cell.record_path(out)
        record = load_record(path) if path.is_file() else None
        if counts(record, cell.hash):
            assert record is not None
            kept = record.config.get("tune", {}).get("copied_from")
            record.config["tune"] = {**note, **({"copied_from": kept} if kept else {})}
            write_record(out, record)
    return out

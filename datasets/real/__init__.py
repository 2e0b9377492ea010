"""Real-dataset tasks: Sketchy, NYU-Depth V2, AV-MNIST (MultiBench's arrays), MNIST+FSDD,
CrisisMMD v2.0, VoxCeleb1 and `pairs:<path>` folders.

Each adapter reads its dataset's published on-disk format under the data root
(`--data-root`, else $XMD_DATA) and registers its tasks with a `check` that
`bench data check` reports and `bench run` consults before it starts, so a missing,
malformed or undecodable file (and, given the run's config, a dataset too small for its
sizes) stops a run with one line (exit 2) instead of failing every cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Protocol

from benchmark.datasets.data_config import DataConfig
from benchmark.datasets.tasks import TASKS
from benchmark.errors import UserError

from . import avmnist, crisismmd, mnist_fsdd, nyuv2, pairs, sketchy, voxceleb
from .common import FOUND, MALFORMED, MISSING, UNUSABLE, RealCheck, few_shortfall
from .deep import BadFile, Verdicts
from .deep import check as deep_check


class TaskSizes(Protocol):
    """What the sizes check reads of a run's configuration (`benchmark.config.RunConfig`
    is one): its profile's name, and the data sizes it gives each task. Typed
    structurally so that the data layer never imports the configuration layer."""

    profile: str

    @property
    def data(self) -> DataConfig: ...

    def for_task(self, task: str) -> TaskSizes: ...


__all__ = [
    "FOUND",
    "MALFORMED",
    "MISSING",
    "UNUSABLE",
    "BadFile",
    "Row",
    "Verdicts",
    "avmnist",
    "check_all",
    "crisismmd",
    "inspect",
    "mnist_fsdd",
    "nyuv2",
    "pairs",
    "real_tasks",
    "resolve_tasks",
    "save_verdicts",
    "sketchy",
    "voxceleb",
]


class Row(NamedTuple):
    """One real task's verdict: found | missing | malformed | unusable, why, bad files."""

    task: str
    status: str
    reason: str
    bad: tuple[BadFile, ...] = ()


def real_tasks() -> list[str]:
    """Registered tasks that read files under the data root."""
    return [name for name in TASKS.names() if TASKS.get(name).needs_data_root]


def check_all(
    data_root: Path | None,
    cfg: TaskSizes | None = None,
    *,
    deep: bool = False,
    cache_dir: Path | None = None,
    tasks: list[str] | None = None,
) -> list[Row]:
    """The verdict of every real task (or of `tasks`); see `inspect`."""
    names = real_tasks() if tasks is None else tasks
    return [inspect(name, data_root, cfg, deep=deep, cache_dir=cache_dir) for name in names]


def inspect(
    name: str,
    data_root: Path | None,
    cfg: TaskSizes | None = None,
    *,
    deep: bool = False,
    cache_dir: Path | None = None,
    pending: list[Verdicts] | None = None,
) -> Row:
    """A real task's data: the scan (found / missing / malformed); with `cfg`, whether its
    splits can be drawn at the sizes `cfg` gives this task (else unusable); with `deep`,
    every file its loader reads decoded (verdicts cached under `cache_dir`, or left in
    `pending` for the caller to save: `deep.check`)."""
    check = TASKS.get(name).check
    assert check is not None, f"{name} is not a real-data task"
    if not isinstance(check, RealCheck):
        return Row(name, *check(data_root))
    status, reason, survey = check.survey(data_root)
    if survey is None:
        return Row(name, status, reason)
    bad: list[BadFile] = []
    problems = []
    if deep:
        total, bad = deep_check(survey, cache_dir, name, pending)
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            problems.append(f"{len(bad)} of {total:,} files fail to decode: {bad[0]}{more}")
        else:
            reason += f"; all {total:,} files decode" if total != 1 else "; its file decodes"
    if cfg is not None and survey.few is not None:
        k = cfg.for_task(name).data.labels_per_class
        short = few_shortfall(survey.few, k)
        if short is not None:
            problems.append(f"at profile {cfg.profile}, {short}")
    if not problems:
        return Row(name, FOUND, reason)
    return Row(name, MALFORMED if bad else UNUSABLE, "; ".join(problems), tuple(bad))


def resolve_tasks(
    spec: str,
    data_root: Path | None,
    cfg: TaskSizes | None = None,
    *,
    cache_dir: Path | None = None,
    pending: list[Verdicts] | None = None,
) -> tuple[list[str], list[str]]:
    """`--tasks` → (tasks to run, real tasks that `all` left out for want of data).

    `all` means every embedded task and every real task whose data is found; a real task
    named explicitly, or a malformed one under `all`, is checked here and stops the run
    with its one-line reason before any cell starts. Every file a real task's loader reads
    is decoded first (once, given `cache_dir`: verdicts are cached there by size and
    mtime); with `cfg`, the task's splits must also be drawable
    at the sizes `cfg` gives it.

    Nothing is written on a refusal: the decoding verdicts are cached only once every
    task is accepted, or, given `pending`, left there for the caller to save
    (`save_verdicts`) once the rest of its inputs are accepted too.
    """
    own: list[Verdicts] = [] if pending is None else pending
    names = TASKS.resolve(spec)
    explicit = spec.strip() != "all"
    run, skipped = [], []
    for name in names:
        task = TASKS.get(name)
        if not task.needs_data_root:
            run.append(name)
            continue
        row = inspect(name, data_root, cfg, deep=True, cache_dir=cache_dir, pending=own)
        if row.status == FOUND:
            run.append(name)
        elif row.status == MISSING and not explicit:
            skipped.append(name)
        elif row.bad:
            first, more = row.bad[0], len(row.bad) - 1
            listed = "" if not more else f" ({more} more: 'bench data check --deep' lists them)"
            raise UserError(f"{name}: malformed {first.path}: {first.problem}{listed}")
        else:
            raise UserError(f"{name}: {row.reason}")
    if pending is None:
        save_verdicts(own)
    return run, skipped


def save_verdicts(pending: list[Verdicts]) -> None:
    """Write the verdict caches a check left pending (`resolve_tasks`)."""
    for verdicts in pending:
        verdicts.save()
    pending.clear()

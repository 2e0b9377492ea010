"""What every real-dataset adapter shares: one-line data errors, registration with a data
check, and seeded subsampling (reading and resizing the files: `datasets/real/decode.py`).

Every adapter must fail the same way (a `UserError` naming the file it looked for, where,
and where the dataset is published), draw its splits the same seeded way and answer
`bench data check`; keeping that here leaves each adapter with nothing but its file format.

Split policy, common to all real tasks: the dataset's own train/test partition is kept (a
published list where there is one), the test split is the *whole* test partition at every
profile (`data.test` sizes the embedded world's test split only: a subsample of a real
test set would add test-sampling noise for no saving worth having), and the source pool,
the paired set and the few-label set are each a seeded subsample of the train partition,
drawn from independent streams. They may share samples when the train partition is small
(NYU has 795 images): as in the papers, the teacher and the student see the same training
scenes; only the test split is held out. A split asks
for `DataConfig` sizes and gets all there is when the partition is smaller; `info["sizes"]`
records what was used. Where several samples of a split share one input file (Sketchy's
photos, MNIST+FSDD's recordings) the adapter fills `Split.source_ids` with that file's index.
Real data is read from its files on every load, never cached, so there is no stored split
that would lack the field.

Checks, cheapest first (`bench data check`; `bench run` runs them before its first cell
through `resolve_tasks`, the sizes check when it is given the run's config): the *scan*
walks the layout and reads headers and index files (found / missing / malformed); the
*sizes* check asks, at a profile's `data.*` sizes, whether every split can be drawn
(unusable: e.g. a class with fewer training samples than `data.labels_per_class`); the
*deep* check (`datasets/real/deep.py`) decodes every file the loader reads, caching each
verdict by file size and mtime.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmark.datasets.data_config import DataConfig
from benchmark.datasets.tasks import TaskData, TaskSpec, register_task
from benchmark.errors import UserError
from benchmark.streams import seeded

FOUND, MISSING, MALFORMED, UNUSABLE = "found", "missing", "malformed", "unusable"


class DataError(UserError):
    """A real dataset's files are absent or not in their published format."""


class DataMissing(DataError):
    """A file or folder an adapter needs is not where the layout puts it."""


class DataMalformed(DataError):
    """A file is there but is not what the published dataset holds."""


def malformed(path: Path, problem: str) -> DataMalformed:
    return DataMalformed(f"malformed {path}: {problem}")


@dataclass(frozen=True)
class Dataset:
    """A published dataset: its name, project page and folder under the data root."""

    title: str
    homepage: str
    folder: str

    def root(self, data_root: Path | None) -> Path:
        if data_root is None:
            raise DataMissing(
                f"no data root: pass --data-root DIR (or set XMD_DATA) to the folder that "
                f"holds {self.folder}/ — download {self.title} from {self.homepage}"
            )
        return Path(data_root) / self.folder

    def missing(self, what: str, path: Path) -> DataMissing:
        return DataMissing(
            f"missing {what} {path} — download {self.title} from {self.homepage} "
            "and pass --data-root"
        )

    def need_file(self, path: Path) -> Path:
        if not path.is_file():
            raise self.missing("file", path)
        return path

    def need_dir(self, path: Path) -> Path:
        if not path.is_dir():
            raise self.missing("folder", path)
        return path


@dataclass(frozen=True)
class FewPool:
    """What the few-label set is drawn from: the class of each candidate sample (training
    samples of the target modality) and what to call them in an error."""

    labels: Tensor
    classes: Sequence[str]
    noun: str = "training samples"


@dataclass(frozen=True)
class FileGroup:
    """Files the loader decodes one way (`decode`: a path → its signature, or raises).
    With `uniform`, the loader stacks them, so their signatures (image sizes, channel
    counts, sample rates) must agree."""

    name: str
    paths: Sequence[Path]
    decode: Callable[[Path], str]
    uniform: bool = False


@dataclass(frozen=True)
class Survey:
    """What a scan found: a one-line summary, what the few-label set draws from (None when
    any size can be drawn), the files the loader decodes and the folder they live in."""

    summary: str
    root: Path
    files: Sequence[FileGroup] = ()
    few: FewPool | None = None


# (spec, data sizes, world knob overrides, seed, data root) → splits
RealLoader = Callable[[TaskSpec, DataConfig, dict[str, Any], int, Path | None], TaskData]
# data root → what was found; raises DataError otherwise
Scanner = Callable[[Path | None], Survey]


class RealCheck:
    """A real task's `TaskSpec.check`: called with a data root it answers (found | missing |
    malformed, summary or reason); `survey` gives the scan itself, for the sizes and deep
    checks (datasets/real/__init__.py)."""

    def __init__(self, name: str, scan: Scanner) -> None:
        self.name = name
        self.scan = scan

    def survey(self, data_root: Path | None) -> tuple[str, str, Survey | None]:
        try:
            found = self.scan(data_root)
        except DataMissing as err:
            return MISSING, str(err), None
        except DataMalformed as err:
            return MALFORMED, str(err), None
        return FOUND, found.summary, found

    def __call__(self, data_root: Path | None) -> tuple[str, str]:
        status, reason, _ = self.survey(data_root)
        return status, reason


def register_real(
    name: str,
    source: str,
    target: str,
    kind: str,
    description: str,
    dataset: Dataset,
    load: RealLoader,
    scan: Scanner,
    splits: tuple[str, ...] = ("standard",),
) -> TaskSpec:
    """Register a real task whose errors name the task, with its `bench data check` hook
    (`splits`: the `data.split` partitions its loader implements)."""
    spec = real_spec(name, source, target, kind, description, dataset, load, scan)
    return register_task(dataclasses.replace(spec, splits=splits))


def real_spec(
    name: str,
    source: str,
    target: str,
    kind: str,
    description: str,
    dataset: Dataset,
    load: RealLoader,
    scan: Scanner,
) -> TaskSpec:
    def loader(
        spec: TaskSpec,
        data: DataConfig,
        world: dict[str, Any],
        seed: int,
        cache_dir: Path | None,  # real data is read from disk each time: nothing to cache
        data_root: Path | None = None,
    ) -> TaskData:
        try:
            return load(spec, data, world, seed, data_root)
        except DataError as err:
            raise type(err)(f"{spec.name}: {err}") from None

    return TaskSpec(
        name,
        source,
        target,
        kind,
        description,
        loader,
        homepage=dataset.homepage,
        check=RealCheck(name, scan),
    )


# --- seeded subsampling -------------------------------------------------------------------


# `bench tune`'s validation split (benchmark.datasets.validation): while set, the
# few-label draw gives the samples that follow the few-label set in its own seeded order.
_VALIDATION: contextvars.ContextVar[bool] = contextvars.ContextVar("validation", default=False)


@contextlib.contextmanager
def validation_draw() -> Iterator[None]:
    """Within this block a loader's few-label draw returns the validation split instead:
    the next k of every class after the few-label set's k in the same seeded order (the
    next k·C images where the few-label set is drawn without classes), so the two are
    disjoint by construction. Every other split comes from its own stream and is drawn
    as always."""
    token = _VALIDATION.set(True)
    try:
        yield
    finally:
        _VALIDATION.reset(token)


def _order(n: int, seed: int, stream: str) -> Tensor:
    return torch.randperm(n, generator=seeded(seed, f"real/{stream}"))


def draw(n: int, size: int, seed: int, stream: str) -> Tensor:
    """min(size, n) distinct indices of range(n), in a seeded random order (one stream per
    split, so growing one split never changes another)."""
    if stream == "few" and _VALIDATION.get():
        if n < 2 * size:
            raise UserError(
                f"bench tune's validation split needs {size} training samples besides the "
                f"few-label set's {size}, but there are {n} in all"
            )
        return _order(n, seed, stream)[size : 2 * size]
    return _order(n, seed, stream)[:size]


def few_per_class(
    labels: Tensor, k: int, class_names: Sequence[str], seed: int, noun: str = "training samples"
) -> Tensor:
    """Indices of k samples of every class, the first k of each in a seeded order (under
    `validation_draw`, the next k of each)."""
    skip = k if _VALIDATION.get() else 0
    problem = few_shortfall(FewPool(labels, class_names, noun), k + skip)
    if problem is not None:
        if skip:
            problem = f"bench tune's validation split takes {k} more of each class: {problem}"
        raise UserError(problem)
    order = _order(len(labels), seed, "few")
    ordered = labels[order]
    return torch.cat([order[ordered == c][skip : skip + k] for c in range(len(class_names))])


def few_shortfall(pool: FewPool, k: int) -> str | None:
    """Why a few-label set of k samples a class cannot be drawn from `pool` (any seed), or
    None: names the classes short of k, fewest first, and the largest k that would do."""
    counts = torch.bincount(pool.labels.long(), minlength=len(pool.classes))[: len(pool.classes)]
    short = [c for c in torch.argsort(counts, stable=True).tolist() if counts[c] < k]
    if not short:
        return None
    shown = ", ".join(f"'{pool.classes[c]}' has {int(counts[c])}" for c in short[:5])
    more = f" and {len(short) - 5} more classes" if len(short) > 5 else ""
    fewest = int(counts[short[0]])
    fix = (
        f"lower data.labels_per_class to {fewest} or less"
        if fewest > 0
        else "no data.labels_per_class can draw a class without samples"
    )
    return (
        f"the few-label set needs data.labels_per_class={k} {pool.noun} of every class, "
        f"but class {shown}{more}; {fix}"
    )


def sizes_info(**splits: int) -> dict[str, int]:
    return {name: int(n) for name, n in splits.items()}

"""`bench tune`'s search: each (track, task, method) is one Optuna study whose trials are
drawn from the method's declared spaces and the shared schedule's knobs.

Why these choices:
- **Same budget, same draws.** Every method gets the same number of trials, and trial k
  of every study is drawn by a sampler seeded with the same trial seed (`trial_seed`),
  with the shared schedule's knobs drawn first: under random search, trial k gives every
  method the same learning rate, weight decay and epochs, and only the method's own knobs
  differ. Trial 0 is the defaults (enqueued), so tuning can only add to the defaults run.
- **Deterministic whoever asks.** The sampler is re-seeded for each trial number, so
  trial k's parameters depend on (seed, k, space) — and under TPE on the trials before
  it — never on which process asked or how often a run was resumed. Asking happens under
  a file lock, so two processes that both extend a study to N trials make N, not 2N.
- **Random search by default** (DomainBed's protocol: Gulrajani & Lopez-Paz, ICLR 2021),
  TPE as an option (Optuna's default sampler; its first `n_startup_trials` are random).
- **One journal file** (`JournalStorage` with a `JournalFileBackend`, whose default lock
  is a symlink lock that works on NFS) holds every study of an output folder, so
  processes on several nodes of a cluster can share the studies on a shared file system.

The journal is the sampler's memory; the trial records on disk are the results. A trial
whose record exists but was never told (a kill between the two) is told on the next run.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.config import DistillConfig
from benchmark.errors import UserError
from benchmark.execution.selection import RULES
from benchmark.locks import file_lock
from benchmark.params import Space, int_uniform, log_uniform

if TYPE_CHECKING:
    import optuna

JOURNAL = "journal.log"
SAMPLERS = ("random", "tpe")
SELECTIONS = tuple(RULES)  # `--selection`: benchmark.execution.selection
MAX_TRIALS = 10_000  # a bound, so a typo cannot ask for a billion cells


@dataclass(frozen=True)
class Knob:
    """One searched setting: `distill.<field>` of the shared schedule or the name of one
    of the method's parameters, its space and its default (trial 0's value)."""

    name: str
    space: Space
    default: Any

    @property
    def shared(self) -> bool:
        return self.name.startswith("distill.")


def shared_knobs(distill: DistillConfig) -> list[Knob]:
    """The shared schedule's knobs that are fair to search, one space for every method,
    relative to the profile's own schedule so every profile gets a matching range:
    - the distillation LR log-uniform over [lr/5, 4·lr] (at the quick profile's 0.05:
      0.01-0.2, around RepDistiller's SGD rate of 0.05, 0.01 for its smallest students);
    - the weight decay log-uniform over [wd/50, 10·wd] (5e-4: 1e-5 to 5e-3; DomainBed
      searches 10^U(-6, -2));
    - the epochs uniform over [⌈E/2⌉, E]: within the profile's budget, never beyond it,
      so tuning buys no training the defaults did not get.
    A knob whose range is a single value (no weight decay; one epoch) is not searched."""
    knobs = []
    if distill.lr > 0:
        knobs.append(Knob("distill.lr", log_uniform(distill.lr / 5, distill.lr * 4), distill.lr))
    wd = distill.weight_decay
    if wd > 0:
        knobs.append(Knob("distill.weight_decay", log_uniform(wd / 50, wd * 10), wd))
    epochs = distill.epochs
    if math.ceil(epochs / 2) < epochs:
        knobs.append(Knob("distill.epochs", int_uniform(math.ceil(epochs / 2), epochs), epochs))
    return knobs


def method_knobs(method: str, defaults: dict[str, Any]) -> list[Knob]:
    """The method's declared spaces, in declaration order, each with the run's value of
    the parameter as its default (a `--set` value is trial 0's). A method that does not
    distill gets no shared knobs: the schedule does not reach it."""
    from benchmark.method import load_methods  # torch: only when a tune plans

    cls = load_methods().get(method)
    knobs = []
    for name, spec in cls.params.items():
        if spec.space is None:
            continue
        problem = spec.space_problem()
        if problem:
            raise UserError(f"{method}.{name}: its search space cannot be used: {problem}")
        value = defaults[name]
        if not spec.space.contains(value):
            raise UserError(
                f"{method}.{name}={value!r} is outside its search space "
                f"{spec.space.describe()}: trial 0 runs the settings as given"
            )
        knobs.append(Knob(name, spec.space, value))
    return knobs


def search_space(method: str, params: dict[str, Any], distill: DistillConfig) -> list[Knob]:
    """Shared knobs first (so trial k draws them identically for every method), then the
    method's own."""
    from benchmark.method import load_methods

    cls = load_methods().get(method)
    shared = shared_knobs(distill) if cls.distills else []
    return shared + method_knobs(method, params)


def distribution(space: Space) -> optuna.distributions.BaseDistribution:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if space.distribution == "choice":
        return CategoricalDistribution(list(space.choices or ()))
    assert space.low is not None and space.high is not None
    if space.distribution in ("int", "log-int"):
        return IntDistribution(int(space.low), int(space.high), log=space.distribution == "log-int")
    return FloatDistribution(space.low, space.high, log=space.distribution == "log-uniform")


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial `number`: the same for every method and task."""
    digest = hashlib.blake2b(f"xmd-tune/{seed}/{number}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") >> 1


def make_sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    factories: dict[str, Callable[[], optuna.samplers.BaseSampler]] = {
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
    }
    return factories[kind]()


def storage(folder: Path) -> optuna.storages.JournalStorage:
    """The journal of every study under `folder` (created on first use)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    folder.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(folder / JOURNAL)))


@dataclass(frozen=True)
class StudySpec:
    """What defines one study: its name (which includes a digest of the settings the
    trials run under, so other settings never reuse its trials) and its knobs."""

    name: str
    knobs: tuple[Knob, ...]
    sampler: str
    seed: int

    @property
    def searchable(self) -> bool:
        return bool(self.knobs)

    def budget(self, trials: int) -> int:
        """Trials actually run: all of them, or only trial 0 when there is nothing to
        search (every other trial would be the same cell)."""
        return trials if self.searchable else 1


class Studies:
    """The studies of one output folder's journal, extended and told under a lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.storage = storage(folder)
        self.lock = folder / "journal.flock"

    def _study(self, spec: StudySpec) -> optuna.Study:
        import optuna

        return optuna.create_study(
            study_name=spec.name,
            storage=self.storage,
            direction="maximize",
            load_if_exists=True,
        )

    def ensure(self, spec: StudySpec, count: int) -> list[dict[str, Any]]:
        """The parameters of trials 0..count-1, asking for those not yet in the journal."""
        with file_lock(self.lock):
            study = self._study(spec)
            have = len(study.get_trials(deepcopy=False))
            distributions = {k.name: distribution(k.space) for k in spec.knobs}
            for number in range(have, count):
                study.sampler = make_sampler(spec.sampler, trial_seed(spec.seed, number))
                if number == 0:
                    study.enqueue_trial({k.name: k.default for k in spec.knobs})
                trial = study.ask(distributions)
                if trial.number != number:  # the lock makes this impossible; say so if not
                    raise RuntimeError(
                        f"study {spec.name}: asked trial {number}, got {trial.number}"
                    )
            trials = study.get_trials(deepcopy=False)[:count]
            return [dict(t.params) for t in trials]

    def tell(self, spec: StudySpec, number: int, value: float | None) -> None:
        """Trial `number`'s validation score (None: it failed); a trial already finished
        (told by another process) is left as it is."""
        from optuna.trial import TrialState

        with file_lock(self.lock):
            study = self._study(spec)
            trials = study.get_trials(deepcopy=False)
            if number >= len(trials) or trials[number].state.is_finished():
                return
            if value is None or not math.isfinite(value):
                study.tell(number, state=TrialState.FAIL)
            else:
                study.tell(number, value)

    def states(self, spec: StudySpec) -> dict[int, tuple[str, float | None]]:
        """Each trial's state and value, as the journal has them."""
        study = self._study(spec)
        return {t.number: (t.state.name, t.value) for t in study.get_trials(deepcopy=False)}


MAX_JOURNAL_BYTES = 1 << 30  # ~300 bytes an operation: millions of trials


def check_journal(folder: Path, specs: list[StudySpec]) -> None:
    """`folder`'s study journal, if any, replayed read-only before `bench tune` writes
    anything: every line a JSON operation Optuna can apply, and each of `specs`' studies
    in it maximising, with trials drawn from the spaces this tune draws from. A journal
    that fails says so in one line naming the file (move it aside to start the studies
    afresh; the trial records are kept and are not re-run)."""
    import json

    import optuna
    from optuna.distributions import check_distribution_compatibility
    from optuna.storages.journal import BaseJournalBackend

    from benchmark.storage import read_input

    path = folder / JOURNAL
    if not path.exists() and not path.is_symlink():
        return
    data = read_input(path, "the study journal", MAX_JOURNAL_BYTES)
    fix = "move it aside to start the studies afresh"
    lines = data.splitlines(keepends=True)
    logs = []
    for number, line in enumerate(lines, start=1):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("an unfinished last line")
            log = json.loads(line)
            if not isinstance(log, dict) or not isinstance(log.get("op_code"), int):
                raise ValueError("not an operation")
        except (ValueError, RecursionError) as err:
            why = str(err)[:80] or type(err).__name__
            raise UserError(
                f"the study journal '{path}' is corrupt at line {number} ({why}): {fix}"
            ) from None
        logs.append(log)

    class Replay(BaseJournalBackend):
        def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
            return logs[log_number_from:]

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            raise RuntimeError("a read-only replay")

    try:
        storage = optuna.storages.JournalStorage(Replay())
        studies = {s.study_name: s for s in storage.get_all_studies()}
        # Optuna's replay skips an operation on a study or trial it does not know (a race
        # it resolves that way); no process of ours writes one, so here it means damage.
        live = {storage.get_study_id_from_name(name) for name in studies}
        for number, log in enumerate(logs, start=1):
            study_id, trial_id = log.get("study_id"), log.get("trial_id")
            if log["op_code"] != 0 and study_id is not None and study_id not in live:
                raise ValueError(f"line {number} names study {study_id!r}, which none creates")
            if trial_id is not None:
                try:
                    storage.get_trial(trial_id)
                except (KeyError, TypeError):
                    raise ValueError(
                        f"line {number} names trial {trial_id!r}, which none creates"
                    ) from None
        for spec in specs:
            study = studies.get(spec.name)
            if study is None:
                continue
            if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
                raise ValueError(f"study {spec.name} does not maximise")
            wanted = {k.name: distribution(k.space) for k in spec.knobs}
            for trial in storage.get_all_trials(
                storage.get_study_id_from_name(spec.name), deepcopy=False
            ):
                for name, dist in trial.distributions.items():
                    if name not in wanted:
                        raise ValueError(f"study {spec.name} draws '{name}', not a knob here")
                    check_distribution_compatibility(dist, wanted[name])
    except Exception as err:  # whatever Optuna's replay raises: the journal is not ours
        text = " ".join(str(err).split())[:120]
        why = text if isinstance(err, ValueError) else f"{type(err).__name__}: {text}"
        raise UserError(f"the study journal '{path}' cannot be replayed ({why}): {fix}") from None

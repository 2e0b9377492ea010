"""`bench tune`: the same budget for every method, selection on a labelled validation
split that is disjoint from the test and few-label splits, resume, a shared journal, the
tuned board, bad input. Smoke profile, one task, a few trials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.cli.main import main
from benchmark.config import RunConfig, resolve
from benchmark.datasets.data_config import DataConfig
from benchmark.datasets.tasks import TASKS, get_task
from benchmark.datasets.validation import (
    load_validation,
    validation_start,
    world_validation,
)
from benchmark.execution.plan import Cell, make_plan
from benchmark.execution.tune_study import Studies, search_space
from benchmark.execution.tune_trials import TRIAL_SEED, TUNE, trial_cell
from benchmark.method import list_methods, load_methods
from benchmark.results.records import Record, load_record, read_records

SAMPLER = "random-seed0"


def _tune(out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "tune",
        "--tasks",
        "sketch-cls",
        "--profile",
        "smoke",
        "--threads",
        "1",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        *extra,
    ]


def _trial_records(out: Path, method: str) -> dict[int, Record]:
    found = {}
    for folder in sorted((out / "tune" / SAMPLER).glob("trial*")):
        path = folder / "runs" / "sketch-cls" / method / f"seed{TRIAL_SEED}.json"
        record = load_record(path) if path.is_file() else None
        if record is not None:
            found[int(folder.name.removeprefix("trial"))] = record
    return found


# --- the search space and the studies (no training) ------------------------------------------


def test_every_declared_space_holds_its_default_and_stays_in_bounds() -> None:
    for name in list_methods():
        for pname, spec in load_methods().get(name).params.items():
            assert spec.space_problem() == "", f"{name}.{pname}: {spec.space_problem()}"


def test_the_selection_rules_keep_the_best_score_and_the_defaults_on_a_tie() -> None:
    from benchmark.execution.selection import RULES, TestOracle, TrialResult, ValidationSelection

    def result(number: int, val: float | None, test: float | None) -> TrialResult:
        return TrialResult(number, {}, "ok" if val is not None else "failed", val, test)

    trials = [result(0, 0.5, 0.4), result(1, 0.5, 0.9), result(2, None, None), result(3, 0.2, 0.6)]
    assert ValidationSelection().select(trials) == trials[0]  # a tie: the lower trial number
    assert TestOracle().select(trials) == trials[1]  # the test set: the upper bound only
    assert ValidationSelection().select([trials[2]]) is None  # nothing scored: nothing kept
    assert sorted(RULES) == ["oracle", "val"]


def test_list_methods_shows_the_search_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "methods", "-v"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "temperature: float = 4.0 in [0.05, 100.0] softmax temperature T [searched: " in out
    assert "log-uniform [1.0, 20.0]]" in out  # kd's T


def test_same_seed_same_trials_and_trial_zero_is_the_defaults(
    tmp_path: Path, smoke: RunConfig
) -> None:
    from benchmark.execution.tuning import plan_studies

    quick = resolve("quick")  # more knobs: quick's 8 epochs are searched over 4..8
    drawn = {}
    for folder in ("a", "b"):
        studies = plan_studies(
            ["sketch-cls"], ["l2", "crd", "scratch"], quick, "supervised", "random", 0
        )
        db = Studies(tmp_path / folder)
        drawn[folder] = {s.method: db.ensure(s.spec, s.spec.budget(5)) for s in studies}
    assert drawn["a"] == drawn["b"]  # a fresh journal draws the very same trials
    l2, crd = drawn["a"]["l2"], drawn["a"]["crd"]
    shared = ("distill.lr", "distill.weight_decay", "distill.epochs")
    for k in range(5):  # every method gets the same schedule draws in trial k
        assert {n: l2[k][n] for n in shared} == {n: crd[k][n] for n in shared}
    assert len({l2[k]["weight"] for k in range(5)}) == 5
    assert drawn["a"]["scratch"] == [{}]  # nothing to search: one trial
    # Trial 0 is the defaults, and its cell is the defaults cell plus the tune entry.
    assert l2[0] == {"distill.lr": 0.05, "distill.weight_decay": 5e-4, "distill.epochs": 8} | {
        "weight": 1.0,
        "stage": -1,
    }
    (study,) = plan_studies(["sketch-cls"], ["l2"], quick, "supervised", "random", 0)
    cell = trial_cell(Cell("sketch-cls", "l2", TRIAL_SEED), quick, study.task_cfg, l2[0], 0)
    (default,) = make_plan(["sketch-cls"], ["l2"], [TRIAL_SEED], quick)  # no reference cell
    assert {k: v for k, v in cell.payload.items() if k != TUNE} == default.payload
    assert cell.hash != default.hash  # it also scores the validation split
    assert search_space("scratch", {}, quick.distill) == []


def _journal_worker(folder: Path, worker: int) -> None:
    """Extend the studies one trial at a time and tell every other trial's score."""
    from benchmark.execution.tuning import plan_studies

    studies = plan_studies(
        ["sketch-cls"], ["l2", "kd"], resolve("quick"), "supervised", "random", 0
    )
    db = Studies(folder)
    for count in range(1, 7):
        for s in studies:
            db.ensure(s.spec, count)
            if (count - 1) % 2 == worker:
                db.tell(s.spec, count - 1, 0.1 * count + (0.01 if s.method == "kd" else 0.0))


def test_a_journal_shared_by_two_concurrent_workers_loses_no_trial(tmp_path: Path) -> None:
    """Two processes extend the same studies to 6 trials and tell results at once: the
    journal ends with 6 trials per study, each told once, and the very trials one process
    alone draws."""
    import multiprocessing

    from benchmark.execution.tuning import plan_studies

    fork = multiprocessing.get_context("fork")  # the parent's imports: no second start-up
    workers = [fork.Process(target=_journal_worker, args=(tmp_path / "shared", w)) for w in (0, 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0]
    studies = plan_studies(
        ["sketch-cls"], ["l2", "kd"], resolve("quick"), "supervised", "random", 0
    )
    shared, alone = Studies(tmp_path / "shared"), Studies(tmp_path / "alone")
    for s in studies:
        states = shared.states(s.spec)
        offset = 0.01 if s.method == "kd" else 0.0
        assert sorted(states) == list(range(6))
        assert {state for state, _ in states.values()} == {"COMPLETE"}
        values = [round(states[k][1], 6) for k in range(6)]
        assert values == [round(0.1 * (k + 1) + offset, 6) for k in range(6)]
        assert shared.ensure(s.spec, 6) == alone.ensure(s.spec, 6)


# --- the validation split ----------------------------------------------------------------------


@pytest.mark.parametrize("task", ["sketch-cls", "depth-seg"])
def test_world_validation_is_disjoint_from_test_and_few_labels(
    task: str, smoke: RunConfig, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import benchmark.datasets.tasks as tasks_module

    spec, data = get_task(task), smoke.data
    generated: list[int] = []
    real = tasks_module.load_or_generate

    def counting(config, n, seed, modalities, cache_dir):  # type: ignore[no-untyped-def]
        generated.append(n)
        return real(config, n, seed, modalities, cache_dir)

    monkeypatch.setattr(tasks_module, "load_or_generate", counting)
    loaded = spec.load(data, {}, 0, cache_dir)
    val, positions = world_validation(spec, data, {}, 0)
    # By position: the four splits are the first `generated` samples of the stream; the
    # validation block starts at a chunk boundary past them.
    assert positions.min() >= validation_start(spec, data, {}) >= generated[0]
    assert len(set(positions.tolist())) == len(positions)
    # As many labels per class as the few-label set.
    if task.endswith("-cls"):
        assert torch.equal(
            val.labels.bincount(minlength=10), loaded.few.labels.bincount(minlength=10)
        )
    else:
        assert len(val) == len(loaded.few)
    # By content: no validation image is a test or few-label image.
    for other in (loaded.test, loaded.few):
        flat = other.target.flatten(1)
        for row in val.target.flatten(1):
            assert not (flat == row).all(dim=1).any()


def test_real_validation_is_the_next_k_per_class_of_the_few_label_order(
    tmp_path: Path, smoke: RunConfig
) -> None:
    from PIL import Image

    folder = tmp_path / "uniq"
    for c, name in enumerate(("a", "b", "c")):
        for i in range(15):
            split = "test" if i % 3 == 0 else "train"
            (folder / "source" / split / name).mkdir(parents=True, exist_ok=True)
            (folder / "target" / split / name).mkdir(parents=True, exist_ok=True)
            pixels = np.full((8, 8, 3), 20 * c + i, np.uint8)
            Image.fromarray(pixels).save(folder / "source" / split / name / f"s{i:03d}.png")
            value = np.full((1, 8, 8), 100.0 * c + i, np.float32)  # every file its own value
            np.save(folder / "target" / split / name / f"s{i:03d}.npy", value)
    (task,) = TASKS.resolve(f"pairs:{folder}")
    spec = get_task(task)
    data = DataConfig(image_size=8, source_pool=10, paired=10, labels_per_class=3, test=10)
    loaded = spec.load(data, {}, 0, None, None)
    val = load_validation(spec, data, {}, 0, None, None)
    ids = {
        split: {float(x[0, 0, 0]) for x in s.target}
        for split, s in (("few", loaded.few), ("val", val), ("test", loaded.test))
    }
    assert len(ids["val"]) == len(val) == 9 and val.labels.bincount().tolist() == [3, 3, 3]
    assert not ids["val"] & ids["few"] and not ids["val"] & ids["test"]
    again = spec.load(data, {}, 0, None, None)
    assert torch.equal(again.few.target, loaded.few.target)  # the few-label set unchanged


# --- bench tune end to end --------------------------------------------------------------------


class _Interrupt(KeyboardInterrupt):
    pass


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[Path]:
    """`bench tune --methods l2,scratch --trials 3 --seeds 2`, interrupted after two trial
    cells and re-run: the output folder, with the first run's trial records' times."""
    import benchmark.execution.executors as executors

    out = tmp_path_factory.mktemp("tune")
    argv = _tune(out, cache_dir, "--methods", "l2,scratch", "--trials", "3", "--seeds", "2")
    real = executors.record_cell
    trials_run: list[str] = []

    def interrupting(runner, folder, cell, job, redo_before=None):  # type: ignore[no-untyped-def]
        if TUNE in cell.payload and len(trials_run) == 2:
            raise _Interrupt
        record = real(runner, folder, cell, job, redo_before)
        if TUNE in cell.payload:
            trials_run.append(cell.label)
        return record

    patch = pytest.MonkeyPatch()
    patch.setattr(executors, "record_cell", interrupting)
    assert main(argv) == 130  # the interrupt, as a user's Ctrl-C
    patch.undo()
    first = {k: r.created for k, r in _trial_records(out, "l2").items()}
    assert len(first) + len(_trial_records(out, "scratch")) == 2
    (out / "first.json").write_text(json.dumps({str(k): v for k, v in first.items()}))
    assert main(argv) == 0
    yield out


def test_a_killed_tune_resumes_without_rerunning_finished_trials(tuned: Path) -> None:
    first = {int(k): v for k, v in json.loads((tuned / "first.json").read_text()).items()}
    l2 = _trial_records(tuned, "l2")
    assert sorted(l2) == [0, 1, 2] and sorted(_trial_records(tuned, "scratch")) == [0]
    assert first and all(l2[k].created == created for k, created in first.items())
    assert all(r.ok and "val_finetune_acc" in r.metrics for r in l2.values())
    states = Studies(tuned / "tune")
    from benchmark.execution.tuning import plan_studies

    (study,) = plan_studies(["sketch-cls"], ["l2"], resolve("smoke"), "supervised", "random", 0)
    journal = states.states(study.spec)
    assert sorted(journal) == [0, 1, 2] and {s for s, _ in journal.values()} == {"COMPLETE"}
    assert [journal[k][1] for k in range(3)] == [
        l2[k].metrics["val_finetune_acc"] for k in range(3)
    ]


def test_trial_zero_runs_the_defaults(tuned: Path) -> None:
    trial0 = _trial_records(tuned, "l2")[0]
    default = load_record(tuned / "runs" / "sketch-cls" / "l2" / "seed0.json")
    assert default is not None
    assert trial0.config["method"] == default.config["method"]
    assert trial0.config["distill"] == default.config["distill"]
    assert trial0.config[TUNE]["trial"] == 0


def test_tuned_records_say_how_they_were_chosen_and_the_board_renders(tuned: Path) -> None:
    selected = read_records(tuned / "tune" / SAMPLER / "selected-val")
    assert sorted((r.method, r.seed) for r in selected) == [
        ("l2", 0),
        ("l2", 1),
        ("scratch", 0),
        ("scratch", 1),
    ]
    l2 = _trial_records(tuned, "l2")
    best = max(l2, key=lambda k: (l2[k].metrics["val_finetune_acc"], -k))
    for r in selected:
        note = r.config["tune"]
        assert note["selection"] == "val" and note["budget"]["trials"] == 3
        if r.method == "l2":
            assert note["trial"] == best and note["budget"]["run"] == 3
            trial = l2[best].config
            assert note["params"]["weight"] == trial["method"]["params"]["weight"]
            assert r.config["method"] == trial["method"] and r.config["distill"] == trial["distill"]
        else:
            assert note["trial"] == 0 and note["budget"]["run"] == 1
            assert "copied_from" in note  # scratch's defaults are its only trial
    board = (tuned / "LEADERBOARD-tuned.md").read_text()
    assert "Gain from tuning" in board and "oracle" in board and "upper bound" in board
    assert "| l2 |" in board and "| scratch |" in board and "Resolution" in board
    assert "LEADERBOARD-tuned.md" in (tuned / "LEADERBOARD.md").read_text()
    # bench leaderboard renders the same board from the records alone.
    (tuned / "LEADERBOARD-tuned.md").unlink()
    assert main(["leaderboard", "--out", str(tuned)]) == 0
    assert (tuned / "LEADERBOARD-tuned.md").read_text() == board


def test_selection_never_reads_test_labels(
    tuned: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same trials with every test label shuffled: the test scores change, the
    validation scores and the selection do not."""
    import benchmark.execution.runner as runner_module

    real = runner_module.CellRunner.data

    def corrupted(self, cell):  # type: ignore[no-untyped-def]
        data = real(self, cell)
        labels = data.test.labels
        if labels is not None and not getattr(data, "_corrupted", False):
            perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))
            data.test.labels = (labels[perm] + 1) % data.num_classes
            data._corrupted = True  # type: ignore[attr-defined]
        return data

    monkeypatch.setattr(runner_module.CellRunner, "data", corrupted)
    out = tmp_path / "corrupt"
    argv = _tune(out, tmp_path / "cache", "--methods", "l2", "--trials", "3", "--seeds", "1")
    assert main(argv) == 0
    clean, bad = _trial_records(tuned, "l2"), _trial_records(out, "l2")
    assert [bad[k].metrics["val_finetune_acc"] for k in range(3)] == [
        clean[k].metrics["val_finetune_acc"] for k in range(3)
    ]
    assert [bad[k].metrics["finetune_acc"] for k in range(3)] != [
        clean[k].metrics["finetune_acc"] for k in range(3)
    ]
    chosen = {
        r.config["tune"]["trial"]
        for folder in (tuned, out)
        for r in read_records(folder / "tune" / SAMPLER / "selected-val")
        if r.method == "l2"
    }
    assert len(chosen) == 1


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "l3", "--trials", "2"], "did you mean 'l2'"),
        (["--methods", "l2", "--trials", "0"], "--trials 0"),
        (["--methods", "l2", "--trials", "2", "--sampler", "grid"], "invalid choice: 'grid'"),
        (["--methods", "l2"], "--trials"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(_tune(out, tmp_path / "cache", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()

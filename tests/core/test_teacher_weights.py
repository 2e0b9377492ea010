"""`teacher.weights` / `teacher.adapt` (benchmark/weights.py): a checkpoint file really is
the teacher's starting point and is cached by its content, `timm:` fails fast offline with
one line, bad specs exit 2 before anything runs, and `scratch` keeps today's keys."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest
import timm
import torch

from benchmark import timm_weights, weights
from benchmark.cli.main import main
from benchmark.config import RunConfig, TrainConfig, resolve
from benchmark.datasets.tasks import CLASSIFICATION, Split, TaskData
from benchmark.errors import UserError
from benchmark.execution.plan import Cell, plan_cell
from benchmark.protocol.teacher import _key, get_teacher, recipe_key, reference_recipe
from benchmark.results.records import REFERENCE

CPU = torch.device("cpu")
TINY_TIMM = "test_resnet.r160_in1k"  # timm's smallest model with pretrained weights


def tiny_data() -> TaskData:
    """A 4-class RGB task small enough that a teacher trains in a fraction of a second."""
    gen = torch.Generator().manual_seed(0)
    x, xt = torch.rand(64, 3, 32, 32, generator=gen), torch.rand(32, 3, 32, 32, generator=gen)
    return TaskData(
        name="tiny",
        kind=CLASSIFICATION,
        num_classes=4,
        source_channels=3,
        target_channels=1,
        source_pool=Split(source=x, labels=torch.arange(64) % 4),
        paired=Split(source=x[:32], target=x[:32, :1], labels=torch.arange(32) % 4),
        few=Split(target=x[:8, :1], labels=torch.arange(8) % 4),
        test=Split(source=xt, target=xt[:, :1], labels=torch.arange(32) % 4),
    )


def config(**teacher: object) -> RunConfig:
    return resolve("smoke", None, {"teacher": {"epochs": 1, "batch_size": 16, **teacher}})


def save_timm_state(path: Path, seed: int) -> dict[str, torch.Tensor]:
    """A whole test_resnet's state dict (classifier included), as timm users save one."""
    torch.manual_seed(seed)
    state = timm.create_model("test_resnet").state_dict()
    torch.save(state, path)
    return state


def body_equals(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    body = model.backbone.body.state_dict()
    return all(torch.equal(value, state[name]) for name, value in body.items())


# --- scratch keeps today's keys ------------------------------------------------------------


def _without_new_fields(recipe: TrainConfig) -> dict[str, object]:
    """The teacher recipe as keys saw it before `weights`/`adapt` existed."""
    values = dataclasses.asdict(recipe)
    del values["weights"], values["adapt"]
    return values


def test_scratch_keeps_the_teacher_key_and_record_hash_of_today(tmp_path: Path) -> None:
    cfg, data = config(), tiny_data()
    old = _without_new_fields(cfg.teacher)
    del old["simclr_temperature"], old["head_epochs"]  # as recipe_key drops them
    assert recipe_key(cfg.teacher) == old
    trained = get_teacher(data, cfg, 0, tmp_path, CPU)
    pool, test = data.source_pool, data.test
    tensors = (pool.source, pool.labels, test.source, test.labels)
    assert trained.key == _key("teacher", data, old, 0, True, tensors)
    for cell in (Cell("sketch-cls", REFERENCE, 0), Cell("sketch-cls", "l2", 0)):
        payload = plan_cell(cell, cfg).payload
        assert payload["teacher"] == _without_new_fields(cfg.teacher)


def test_the_all_labels_reference_is_always_scratch(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    save_timm_state(path, seed=1)
    cfg = config(weights=str(path), adapt="probe")
    recipe = reference_recipe(tiny_data(), cfg)
    assert (recipe.weights, recipe.adapt, recipe.backbone) == ("scratch", "finetune", "test_resnet")
    assert "weights" not in recipe_key(recipe)


# --- a local checkpoint ----------------------------------------------------------------------


def test_a_checkpoint_file_is_the_start_and_is_cached(tmp_path: Path) -> None:
    path = tmp_path / "teacher-start.pt"
    state = save_timm_state(path, seed=1)
    cfg, data, cache = config(weights=str(path), adapt="probe"), tiny_data(), tmp_path / "c"
    first = get_teacher(data, cfg, 0, cache, CPU)
    assert first.trained_now and body_equals(first.model, state)  # frozen: bit for bit
    again = get_teacher(data, cfg, 0, cache, CPU)
    assert not again.trained_now and again.key == first.key
    assert body_equals(again.model, state)
    assert torch.equal(again.model.head.weight, first.model.head.weight)

    tuned = get_teacher(data, config(weights=str(path)), 0, cache, CPU)  # adapt=finetune
    assert tuned.trained_now and tuned.key != first.key and not body_equals(tuned.model, state)
    scratch = get_teacher(data, config(), 0, cache, CPU)
    assert scratch.key not in (first.key, tuned.key)


def test_our_own_cached_teacher_file_is_accepted(tmp_path: Path) -> None:
    """A TaskModel state dict (a cached teacher) starts a teacher: its backbone, not head."""
    data, cache = tiny_data(), tmp_path / "c"
    scratch = get_teacher(data, config(), 0, cache, CPU)
    (cached,) = (cache / "teachers").glob("teacher-*.pt")
    probed = get_teacher(data, config(weights=str(cached), adapt="probe"), 0, cache, CPU)
    body = {k.removeprefix("backbone.body."): v for k, v in scratch.model.state_dict().items()}
    assert probed.trained_now and body_equals(probed.model, body)


def test_a_changed_file_changes_the_key_and_a_moved_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    save_timm_state(path, seed=1)
    cfg = config(weights=str(path))
    before = recipe_key(cfg.teacher)
    cell = Cell("sketch-cls", "l2", 0)
    hash_before = plan_cell(cell, cfg).hash
    assert before["weights"].startswith("file:sha256:") and before["adapt"] == "finetune"
    moved = tmp_path / "elsewhere.pt"
    shutil.copy(path, moved)
    assert recipe_key(config(weights=str(moved)).teacher) == before
    save_timm_state(path, seed=2)
    assert recipe_key(cfg.teacher) != before
    assert plan_cell(cell, cfg).hash != hash_before
    assert recipe_key(config(weights=str(path), adapt="probe").teacher) != recipe_key(cfg.teacher)


# --- timm: offline ---------------------------------------------------------------------------


def test_timm_weights_offline_fail_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error huggingface_hub raises offline becomes one line naming the model."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(*args: object, **kwargs: object) -> None:
        raise LocalEntryNotFoundError(
            "An error happened while trying to locate the file on the Hub and we cannot find "
            "the requested files in the local cache. Please check your connection and try "
            "again or make sure your Internet connection is on."
        )

    monkeypatch.setattr(timm_weights, "reachable", lambda url, timeout=5.0: True)
    monkeypatch.setattr("timm.models._builder.load_state_dict_from_hf", offline)
    cfg = config(weights=f"timm:{TINY_TIMM}")
    assert cfg.teacher.backbone == TINY_TIMM
    start = time.perf_counter()
    with pytest.raises(UserError) as err:
        weights.teacher_backbone(cfg.teacher, 3)
    message = str(err.value)
    assert time.perf_counter() - start < 5
    assert "\n" not in message and f"timm:{TINY_TIMM}" in message
    assert "could not be downloaded" in message and "teacher.weights=FILE" in message
    assert "HF_HUB_OFFLINE=1" in message

    monkeypatch.setattr(timm_weights, "reachable", lambda url, timeout=5.0: False)
    with pytest.raises(UserError, match=r"huggingface\.co unreachable within 5 s"):
        weights.teacher_backbone(cfg.teacher, 3)


def test_a_real_timm_download_offline_stops_bench_run_quickly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No mock: the real probe and, if it passed, the real download; bounded, never a hang."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # a real network attempt
    if timm_weights.reachable(constants.ENDPOINT, timeout=3.0):
        pytest.skip("this machine reaches the Hugging Face hub: nothing offline to test")
    out = tmp_path / "out"
    argv = ["run", "--profile", "smoke", "--tasks", "sketch-cls", "--methods", "l2"]
    argv += ["--seeds", "1", "--out", str(out), "--set", f"teacher.weights=timm:{TINY_TIMM}"]
    start = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - start < timm_weights.PROBE_TIMEOUT + 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"timm:{TINY_TIMM}: the pretrained weights could not be downloaded" in err
    assert not out.exists()


# --- bad specs through the CLI ---------------------------------------------------------------


def _junk(tmp: Path) -> str:
    (tmp / "junk.pt").write_text("not a torch file")
    return str(tmp / "junk.pt")


def _other_arch(tmp: Path) -> str:
    torch.save(timm.create_model("resnet10t").state_dict(), tmp / "resnet10t.pt")
    return str(tmp / "resnet10t.pt")


def _a_list(tmp: Path) -> str:
    torch.save([torch.zeros(1)], tmp / "list.pt")
    return str(tmp / "list.pt")


BAD = [
    (lambda t: {"weights": str(t / "missing.pt")}, "no file '{tmp}/missing.pt'"),
    (lambda t: {"weights": _junk(t)}, "cannot read '{tmp}/junk.pt' with torch.load"),
    (lambda t: {"weights": _a_list(t)}, "holds list, not a state dict"),
    (
        lambda t: {"weights": _other_arch(t)},
        "'{tmp}/resnet10t.pt' does not fit teacher.backbone=test_resnet: ",
    ),
    (lambda t: {"weights": "timm:resnt18"}, "unknown timm model; did you mean 'resnet18'"),
    (lambda t: {"weights": "timm:resnet18.bogus"}, "its weights are resnet18.a1_in1k"),
    (lambda t: {"adapt": "probe"}, "teacher.adapt=probe needs pretrained teacher.weights"),
    (lambda t: {"adapt": "prob"}, "unknown teacher.adapt 'prob': did you mean 'probe'?"),
    (
        lambda t: {"weights": f"timm:{TINY_TIMM}", "pretrain": "simclr"},
        "teacher.pretrain=simclr trains the backbone from scratch",
    ),
]


@pytest.mark.parametrize(("teacher", "expected"), BAD)
def test_bad_weights_exit_2_in_one_line(
    teacher, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = teacher(tmp_path)
    expected = expected.format(tmp=tmp_path)
    yaml_file = tmp_path / "bad.yaml"
    lines = [f"  {k}: '{v}'" for k, v in settings.items()]
    yaml_file.write_text("profile: smoke\nteacher:\n" + "\n".join(lines) + "\n")
    assert main(["validate", str(yaml_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err, err

    out = tmp_path / "out"
    argv = ["run", "--profile", "smoke", "--tasks", "sketch-cls", "--out", str(out)]
    argv += [x for k, v in settings.items() for x in ("--set", f"teacher.{k}={v}")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not out.exists()


def test_good_specs_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.pt"
    save_timm_state(path, seed=1)
    for teacher in (f"weights: {path}\n  adapt: probe", f"weights: 'timm:{TINY_TIMM}'"):
        (tmp_path / "ok.yaml").write_text(f"profile: smoke\nteacher:\n  {teacher}\n")
        assert main(["validate", str(tmp_path / "ok.yaml")]) == 0, capsys.readouterr().err


def test_an_empty_timm_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Quoted, `timm:` names no model; unquoted, YAML reads a mapping and says to quote."""
    (tmp_path / "bad.yaml").write_text("teacher:\n  weights: 'timm:'\n")
    assert main(["validate", str(tmp_path / "bad.yaml")]) == 2
    assert "teacher.weights=timm: names no model" in capsys.readouterr().err
    argv = ["run", "--tasks", "sketch-cls", "--out", str(tmp_path / "out")]
    assert main([*argv, "--set", "teacher.weights=timm:"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a YAML mapping, not a str: quote it" in err


def test_a_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers started elsewhere (SLURM jobs) must find the file the user named."""
    save_timm_state(tmp_path / "w.pt", seed=1)
    monkeypatch.chdir(tmp_path)
    cfg = config(weights="w.pt")
    assert cfg.teacher.weights == str(tmp_path.resolve() / "w.pt")
    assert recipe_key(cfg.teacher) == recipe_key(config(weights=str(tmp_path / "w.pt")).teacher)

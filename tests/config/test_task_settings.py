"""Per-task settings (`tasks.<task>` in a profile, the YAML file or `--set`): precedence,
validation, what the record hash covers, and that cells really run with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark import config
from benchmark.cli.main import main
from benchmark.config import PROFILES, RunConfig, parse_assignments
from benchmark.datasets.tasks import TASKS
from benchmark.errors import UserError
from benchmark.execution.plan import REFERENCE, Cell, plan_cell
from benchmark.execution.provenance import default_device
from benchmark.execution.runner import CellRunner


def resolve(*sources: dict | str | None) -> RunConfig:
    """`config.resolve` as the command line calls it: task names through the registry."""
    return config.resolve(*sources, canonical_task=TASKS.canonical)  # type: ignore[arg-type]


def test_task_sections_need_the_registry_to_name_their_tasks() -> None:
    """The configuration layer cannot check task names itself: it refuses a file's task
    sections without the registry's mapping rather than keep names it cannot check."""
    with pytest.raises(TypeError, match="canonical_task"):
        config.resolve("smoke", {"tasks": {"sketch-cls": {"data": {"test": 7}}}})
    assert config.resolve("paper").tasks  # the profile's own sections need no mapping


SEG = "nyuv2-depth-seg"  # the paper profile gives it its own teacher batch size


def _batch(file: dict | None = None, sets: dict | None = None, task: str = SEG) -> int:
    return resolve("paper", file, sets).for_task(task).teacher.batch_size


def test_each_source_puts_its_task_values_right_after_its_run_wide_ones() -> None:
    run_wide = PROFILES["paper"]["teacher"]["batch_size"]
    own = PROFILES["paper"]["tasks"][SEG]["teacher"]["batch_size"]
    assert own != run_wide
    assert _batch() == own  # the profile's task value beats the profile's run-wide one
    assert _batch(task="sketch-cls") == run_wide  # and touches no other task
    file_wide = {"teacher": {"batch_size": 64}}
    assert _batch(file_wide) == 64  # the user's run-wide value beats the profile's task value
    file_task = {**file_wide, "tasks": {SEG: {"teacher": {"batch_size": 8}}}}
    assert _batch(file_task) == 8  # the file's task value beats the file's run-wide one
    assert _batch(file_task, task="sketch-cls") == 64
    assert _batch(file_task, {"teacher": {"batch_size": 32}}) == 32  # --set beats the file
    set_task = {"teacher": {"batch_size": 32}, "tasks": {SEG: {"teacher": {"batch_size": 4}}}}
    assert _batch(file_task, set_task) == 4
    # A run-wide value only removes the task values it sets: the image size stays.
    cfg = resolve("paper", file_wide).for_task(SEG)
    assert cfg.data.image_size == PROFILES["paper"]["tasks"][SEG]["data"]["image_size"]


def test_for_task_without_own_values_is_the_run_config() -> None:
    cfg = resolve("quick")
    # depth-seg's smaller test split, and each measured task's seed count (config.PROFILES)
    assert set(cfg.tasks) == {"depth-seg", "sketch-cls", "depth-cls", "audio-cls"}
    assert cfg.for_task("text-cls") is cfg
    assert cfg.for_task("sketch-cls").data == cfg.data
    assert cfg.for_task("depth-seg").data.test == 2000 and cfg.data.test == 5000


def test_the_paper_profile_sizes_each_real_dataset() -> None:
    cfg = resolve("paper")
    sizes = {t: cfg.for_task(t).data.image_size for t in cfg.tasks}
    assert sizes["sketchy-sketch-cls"] == 224 and sizes["mnist-fsdd-audio-cls"] == 28
    assert cfg.for_task("sketchy-sketch-cls").teacher.backbone == "resnet50"
    assert cfg.for_task("depth-seg").data.image_size == 64  # the embedded world: run-wide


def test_set_addresses_task_values_and_method_shorthand() -> None:
    nested = parse_assignments(
        ["tasks.sketch-cls.data.image_size=48", "tasks.sketch-cls.l2.weight=2"], ["l2"]
    )
    assert nested == {
        "tasks": {"sketch-cls": {"data": {"image_size": 48}, "methods": {"l2": {"weight": 2}}}}
    }
    cfg = resolve("smoke", None, nested)
    assert cfg.for_task("sketch-cls").methods == {"l2": {"weight": 2}}
    assert cfg.for_task("depth-cls").methods == {}


def test_task_names_are_canonical(tmp_path: Path) -> None:
    folder = tmp_path / "task-settings-folder"
    cfg = resolve("smoke", {"tasks": {f"pairs:{folder}": {"data": {"test": 7}}}})
    assert list(cfg.tasks) == ["pairs:task-settings-folder"]
    assert cfg.for_task("pairs:task-settings-folder").data.test == 7


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        (
            {"skech-cls": {"data": {"test": 5}}},
            r"tasks.skech-cls in the config file: unknown task 'skech-cls'.*sketch-cls",
        ),
        ({"sketch-cls": {"data": {"tset": 5}}}, r"'data\.tset' in tasks\.sketch-cls"),
        ({"sketch-cls": {"data": {"image_size": 0}}}, r"tasks\.sketch-cls\.data\.image_size=0"),
        ({"sketch-cls": {"teacher": {"pretrain": "moco"}}}, r"tasks\.sketch-cls\.teacher"),
        ({"sketch-cls": {"tasks": {}}}, r"tasks\.sketch-cls cannot hold"),
        ({"sketch-cls": 3}, r"tasks\.sketch-cls .* must be a mapping"),
        ([1], r"'tasks' in the config file must map task names"),
    ],
)
def test_bad_task_values_are_named(tasks: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        resolve("smoke", {"tasks": tasks})


def test_hash_covers_the_settings_a_task_runs_with() -> None:
    cell, other = Cell("sketch-cls", "l2", 0), Cell("depth-cls", "l2", 0)
    base = resolve("smoke")
    per_task = resolve("smoke", {"tasks": {"sketch-cls": {"data": {"image_size": 24}}}})
    run_wide = resolve("smoke", {"data": {"image_size": 24}})
    h = lambda c, cfg: plan_cell(c, cfg).hash  # noqa: E731
    assert h(cell, per_task) != h(cell, base)
    assert h(cell, per_task) == h(cell, run_wide)  # the same settings, however they are set
    assert h(other, per_task) == h(other, base)  # another task's values leave it valid
    assert "tasks" not in plan_cell(cell, per_task).payload


def test_cells_run_with_their_task_values(tmp_path: Path) -> None:
    cfg = resolve("smoke", {"tasks": {"sketch-cls": {"data": {"image_size": 16}}}})
    runner = CellRunner(cfg, tmp_path / "cache", default_device())
    record = runner.run(plan_cell(Cell("sketch-cls", REFERENCE, 0), cfg))
    assert record.ok, record.reason
    assert record.config["data"]["image_size"] == 16
    data = runner.data(plan_cell(Cell("sketch-cls", REFERENCE, 0), cfg))
    assert data.paired.target is not None and data.paired.target.shape[-1] == 16
    other = runner.data(plan_cell(Cell("depth-cls", REFERENCE, 0), cfg))
    assert other.paired.target.shape[-1] == 32  # smoke's default


def test_cli_rejects_an_unknown_task_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "run",
            "--methods",
            "l2",
            "--tasks",
            "sketch-cls",
            "--profile",
            "smoke",
            "--set",
            "tasks.sketchcls.data.test=5",
            "--out",
            "/nonexistent/never",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "unknown task 'sketchcls'" in err
    assert not Path("/nonexistent/never").exists()

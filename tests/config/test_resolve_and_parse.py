from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.config import PROFILES, config_hash, load_yaml, parse_assignments, resolve
from benchmark.errors import UserError


def test_precedence_defaults_profile_file_set() -> None:
    cfg = resolve(
        "smoke", {"teacher": {"epochs": 3}, "data": {"test": 50}}, {"teacher": {"epochs": 4}}
    )
    assert cfg.profile == "smoke"
    assert cfg.teacher.epochs == 4  # --set beats the file
    assert cfg.data.test == 50  # the file beats the profile
    assert cfg.data.paired == PROFILES["smoke"]["data"]["paired"]  # the profile beats defaults
    assert resolve(None, {"profile": "smoke"}).profile == "smoke"
    assert resolve().profile == "quick"


def test_parse_assignments_nests_and_expands_method_shorthand() -> None:
    nested = parse_assignments(
        ["teacher.epochs=5", "l2.weight=0.5", "world.depth_noise=0"], ["l2", "scratch"]
    )
    assert nested == {
        "teacher": {"epochs": 5},
        "methods": {"l2": {"weight": 0.5}},
        "world": {"depth_noise": 0},
    }


@pytest.mark.parametrize("item", ["teacher.epochs", "epochs=3", ".x=1", "a..b=2"])
def test_parse_assignments_rejects_malformed(item: str) -> None:
    with pytest.raises(UserError, match=r"must look like section\.key=value"):
        parse_assignments([item], [])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"teachr": {"epochs": 1}}, "unknown config section 'teachr'.*did you mean 'teacher'"),
        ({"teacher": {"epoch": 1}}, "unknown setting 'teacher.epoch'.*did you mean 'epochs'"),
        ({"teacher": {"epochs": "many"}}, "teacher.epochs='many' is not a valid int"),
        ({"teacher": 3}, "must be a mapping"),
        ({"data": {"paired": 0}}, "data.paired=0 must be at least 1"),
    ],
)
def test_resolve_rejects_bad_settings(overrides: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        resolve("smoke", overrides)


def test_unknown_profile_suggests() -> None:
    with pytest.raises(UserError, match="unknown profile 'quik': did you mean 'quick'"):
        resolve("quik")


def test_load_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("teacher: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_yaml(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    with pytest.raises(UserError, match="mapping at the top level"):
        load_yaml(listy)


def test_config_hash_ignores_key_order_and_sees_values() -> None:
    assert config_hash({"a": 1, "b": {"c": 2}}) == config_hash({"b": {"c": 2}, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_the_profile_sets_the_default_seed_count_and_a_file_may_change_it() -> None:
    from benchmark.config import resolve
    from benchmark.errors import UserError

    assert resolve("quick").seeds == 8 and resolve("smoke").seeds == 3
    assert resolve("quick", {"seeds": 4}).seeds == 4
    for bad in (0, 1001, "many"):
        with pytest.raises(UserError, match="seeds"):
            resolve("quick", {"seeds": bad})


def test_each_task_may_plan_its_own_seeds_and_seeds_overrides_them() -> None:
    import argparse

    from benchmark.cli.run import RunRequest, resolve_config
    from benchmark.config import resolve
    from benchmark.errors import UserError
    from benchmark.execution.plan import REFERENCE, expand

    quick = resolve("quick")
    assert quick.for_task("audio-cls").seeds > quick.seeds  # the profile's per-task plan
    assert quick.for_task("depth-seg").seeds == quick.seeds == 8
    own = resolve("quick", {"tasks": {"sketch-cls": {"seeds": 2}}}, canonical_task=str)
    assert own.for_task("sketch-cls").seeds == 2
    assert own.for_task("depth-cls").seeds == quick.for_task("depth-cls").seeds  # untouched
    with pytest.raises(UserError, match="seeds"):
        resolve("quick", {"tasks": {"sketch-cls": {"seeds": 0}}}, canonical_task=str)

    def request(seeds: int | None) -> RunRequest:
        args = argparse.Namespace(config=None, sets=[], profile="quick", seeds=seeds)
        return resolve_config(args)

    assert request(None).task_seeds("audio-cls") == quick.for_task("audio-cls").seeds
    assert request(3).task_seeds("audio-cls") == 3 == request(3).task_seeds("depth-seg")
    cells = expand(["a", "b"], ["l2"], {"a": [0], "b": [0, 1]})
    assert [(c.task, c.seed) for c in cells if c.method == "l2"] == [("a", 0), ("b", 0), ("b", 1)]
    # the reference cells (ceiling, input gap) only on the seeds that report headroom
    cells = expand(["a", "b"], ["l2"], {"a": [0], "b": [0, 1, 2]}, headroom=2)
    refs = [(c.task, c.seed) for c in cells if c.method == REFERENCE]
    assert refs == [("a", 0), ("b", 0), ("b", 1)]
    assert len([c for c in cells if c.method == "l2"]) == 4

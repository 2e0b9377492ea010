from __future__ import annotations

import pytest

from benchmark.config import parse_assignments
from benchmark.errors import UserError, did_you_mean
from benchmark.params import Param, coerce, collect_params, param, unbounded, validate
from benchmark.registry import Registry


def test_registry_register_get_alias_and_resolve() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("alpha", aliases=("a",))(1)
    reg.register("beta")(2)
    assert reg.get("a") == 1 and reg.canonical("a") == "alpha"
    assert reg.names() == ["alpha", "beta"] and reg.names("b*") == ["beta"]
    assert reg.resolve("all") == ["alpha", "beta"]
    assert reg.resolve("beta, a,beta") == ["beta", "alpha"]


def test_registry_rejects_duplicates_and_suggests() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("alpha")(1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("alpha")(2)
    with pytest.raises(UserError, match="unknown widget 'alpah': did you mean 'alpha'"):
        reg.get("alpah")
    with pytest.raises(UserError, match="did you mean one of: alpha"):
        reg.resolve("zzzzzz")
    with pytest.raises(UserError, match="empty widget name"):
        reg.resolve("alpha,,")


def test_registry_suggests_ignoring_case() -> None:
    reg: Registry[int] = Registry("method")
    reg.register("rkd")(1)
    reg.register("soft-proj")(2)
    with pytest.raises(UserError, match="unknown method 'RKD': did you mean 'rkd'"):
        reg.resolve("RKD")
    with pytest.raises(UserError, match="unknown method 'Soft-Prj': did you mean 'soft-proj'"):
        reg.resolve("Soft-Prj")


def test_did_you_mean_prefers_a_match_but_for_case() -> None:
    assert did_you_mean("WORLD", ["world", "word"]) == "did you mean 'world'?"
    assert did_you_mean("Teachr", ["teacher", "data"]) == "did you mean 'teacher'?"
    assert did_you_mean("zzz", ["b", "a"]) == "did you mean one of: a, b?"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        # with the sections alone 'rdk' came out as 'world' (issue 19)
        ("rdk.distance_weight=1", r"'rdk' is neither a config section nor a method: .*'rkd'"),
        ("RKD.distance_weight=1", r"did you mean 'rkd'"),
        ("tasks.sketch-cls.rdk.distance_weight=1", r"'rdk' is neither .* did you mean 'rkd'"),
        ("teachr.epochs=5", r"did you mean 'teacher'"),
        ("wrold.depth_noise=0.1", r"did you mean 'world'"),
    ],
)
def test_set_suggests_across_sections_and_methods(item: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_assignments([item], ["rkd", "l2", "kd"])


def test_set_still_reads_sections_and_methods() -> None:
    parsed = parse_assignments(
        ["rkd.distance_weight=2", "teacher.epochs=3", "tasks.depth-seg.rkd.angle_weight=1"],
        ["rkd"],
    )
    assert parsed == {
        "methods": {"rkd": {"distance_weight": 2}},
        "teacher": {"epochs": 3},
        "tasks": {"depth-seg": {"methods": {"rkd": {"angle_weight": 1}}}},
    }


class _Declared:
    weight: float = param(1.0, low=0.0, help="scale")
    mode: str = param("a", choices=("a", "b"))
    steps: int = param(3, low=1, high=10)
    flag: bool = param(False)


def test_params_collected_with_types() -> None:
    found = collect_params(_Declared)
    assert list(found) == ["weight", "mode", "steps", "flag"]
    assert found["weight"].value_type is float and found["steps"].value_type is int
    assert found["flag"].value_type is bool and isinstance(found["mode"], Param)
    assert found["steps"].kind is int  # the former name, kept for contributor code
    assert "in [0.0, inf]" in found["weight"].describe()


class _Unbounded:
    weight: float = param(1.0, help="no bounds")
    steps: int = param(2, high=5)
    count: int = param(4)
    flag: bool = param(True)


def test_unbounded_names_each_int_and_float_without_bounds_or_choices() -> None:
    assert unbounded(collect_params(_Declared), "m") == []
    problems = unbounded(collect_params(_Unbounded), "toy")
    assert [p.split(" ")[0] for p in problems] == ["toy.weight", "toy.count"]
    assert "toy.weight (float, default 1.0) declares no bounds" in problems[0]


def test_params_validate_coerces_strings_from_the_command_line() -> None:
    values = validate(
        collect_params(_Declared), {"weight": "2.5", "steps": "4", "flag": "yes"}, "m"
    )
    assert values == {"weight": 2.5, "mode": "a", "steps": 4, "flag": True}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"weight": -1}, r"m.weight=-1.0 is below its minimum 0.0"),
        ({"steps": 11}, r"m.steps=11 is above its maximum 10"),
        ({"mode": "c"}, r"m.mode='c' is not one of \{a, b\}"),
        ({"steps": "x"}, r"m.steps='x' is not a valid int"),
        ({"steps": 2.5}, r"m.steps=2.5 is not a valid int"),
        ({"flag": "maybe"}, r"m.flag='maybe' is not a valid bool"),
        ({"wieght": 1}, r"m has no parameter 'wieght': did you mean 'weight'"),
    ],
)
def test_params_reject_bad_values(values: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        validate(collect_params(_Declared), values, "m")


def test_coerce_keeps_bools_out_of_ints() -> None:
    with pytest.raises(UserError):
        coerce(True, int, "x")
    assert coerce(3, float, "x") == 3.0 and isinstance(coerce(3, float, "x"), float)


def test_a_method_version_changes_only_its_own_records_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmark.config import resolve
    from benchmark.execution.plan import Cell, plan_cell
    from benchmark.method import load_methods

    cfg = resolve("smoke")
    crd, l2 = Cell("sketch-cls", "crd", 0), Cell("sketch-cls", "l2", 0)
    before = {c: plan_cell(c, cfg).hash for c in (crd, l2)}
    cls = load_methods().get("crd")
    monkeypatch.setattr(cls, "version", cls.version + 1)
    assert plan_cell(crd, cfg).hash != before[crd]
    assert plan_cell(l2, cfg).hash == before[l2]
    assert "version" not in plan_cell(l2, cfg).payload["method"]  # version 1: hashes as before

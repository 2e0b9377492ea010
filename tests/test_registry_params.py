from __future__ import annotations

import pytest

from benchmark.errors import UserError
from benchmark.params import Param, coerce, collect_params, param, validate
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


class _Declared:
    weight: float = param(1.0, low=0.0, help="scale")
    mode: str = param("a", choices=("a", "b"))
    steps: int = param(3, low=1, high=10)
    flag: bool = param(False)


def test_params_collected_with_types() -> None:
    found = collect_params(_Declared)
    assert list(found) == ["weight", "mode", "steps", "flag"]
    assert found["weight"].kind is float and found["steps"].kind is int
    assert found["flag"].kind is bool and isinstance(found["mode"], Param)
    assert "in [0.0, inf]" in found["weight"].describe()


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
    from benchmark.config import config_hash, resolve
    from benchmark.execution.plan import Cell, cell_config
    from benchmark.method import load_methods

    cfg = resolve("smoke")
    crd, l2 = Cell("sketch-cls", "crd", 0), Cell("sketch-cls", "l2", 0)
    before = {c: config_hash(cell_config(c, cfg)) for c in (crd, l2)}
    cls = load_methods().get("crd")
    monkeypatch.setattr(cls, "version", cls.version + 1)
    assert config_hash(cell_config(crd, cfg)) != before[crd]
    assert config_hash(cell_config(l2, cfg)) == before[l2]
    assert "version" not in cell_config(l2, cfg)["method"]  # version 1: hashes as before

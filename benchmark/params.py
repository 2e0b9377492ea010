"""Typed, validated hyperparameters declared on a class (benchopt-style).

A method writes `weight: float = param(1.0, low=0.0, help="...")` in its class body. The
declaration is the single source of truth: `bench list methods -v` prints it, YAML and
`--set method.weight=2` are validated against it, and the resolved values go into the
record, so a result always says exactly which hyperparameters produced it.

A declaration may also say how `bench tune` searches the parameter (`space=`): a
log-uniform, uniform, integer or categorical distribution next to the default and the
bounds, so the search space is read where the parameter is defined and one place says
both what is valid and what is worth trying. A parameter without a space keeps its
default in every trial.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import UserError, did_you_mean

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


DISTRIBUTIONS = ("log-uniform", "uniform", "int", "log-int", "choice")


@dataclass(frozen=True)
class Space:
    """The distribution `bench tune` draws a parameter from. Log-uniform for scales
    (loss weights, temperatures, learning rates), where a factor matters and not a
    difference; uniform for quantities on a natural linear scale (margins); choices for
    switches and categorical settings. Kept free of any tuning library, so methods and
    this bottom module import nothing of the tuner."""

    distribution: str  # one of DISTRIBUTIONS
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None

    def describe(self) -> str:
        if self.distribution == "choice":
            return "choice {" + ", ".join(map(str, self.choices or ())) + "}"
        return f"{self.distribution} [{self.low}, {self.high}]"

    def contains(self, value: Any) -> bool:
        if self.distribution == "choice":
            return value in (self.choices or ())
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        assert self.low is not None and self.high is not None
        return self.low <= value <= self.high

    def problem(self) -> str:
        """What is wrong with the space itself ('' when nothing)."""
        if self.distribution not in DISTRIBUTIONS:
            known = ", ".join(DISTRIBUTIONS)
            return f"unknown space distribution '{self.distribution}' (one of {known})"
        if self.distribution == "choice":
            return "" if self.choices else "a choice space needs at least one value"
        if self.low is None or self.high is None or not self.low <= self.high:
            return f"{self.distribution} space needs low <= high, got [{self.low}, {self.high}]"
        if self.distribution.startswith("log") and self.low <= 0:
            return f"{self.distribution} space needs low > 0, got {self.low}"
        if self.distribution.endswith("int") and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            return f"{self.distribution} space needs integer bounds, got [{self.low}, {self.high}]"
        return ""

    @property
    def kind(self) -> str:
        """Alias of `distribution`, for contributor code that reads `kind`."""
        return self.distribution


def log_uniform(low: float, high: float) -> Space:
    """Searched as exp(U(log low, log high)): each factor of the range equally likely."""
    return Space("log-uniform", float(low), float(high))


def uniform(low: float, high: float) -> Space:
    return Space("uniform", float(low), float(high))


def int_uniform(low: int, high: int, log: bool = False) -> Space:
    return Space("log-int" if log else "int", low, high)


def choice(*values: Any) -> Space:
    return Space("choice", choices=tuple(values))


@dataclass(frozen=True)
class Param:
    """One declared hyperparameter: default, bounds or choices, and a help line."""

    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    value_type: type = object  # filled in from the annotation by `collect_params`
    space: Space | None = None  # how `bench tune` searches it; None: the default, always

    def describe(self) -> str:
        bounds = ""
        if self.choices is not None:
            bounds = " in {" + ", ".join(map(str, self.choices)) + "}"
        elif self.low is not None or self.high is not None:
            lo = "-inf" if self.low is None else self.low
            hi = "inf" if self.high is None else self.high
            bounds = f" in [{lo}, {hi}]"
        searched = f"  [searched: {self.space.describe()}]" if self.space is not None else ""
        return (
            f"{self.value_type.__name__} = {self.default!r}{bounds}  {self.help}{searched}".rstrip()
        )

    def space_problem(self) -> str:
        """Why the declared space cannot be searched ('' when it can, or none is declared):
        the space must be well formed, hold the default (trial 0 of a tune runs the
        defaults) and stay inside the parameter's own bounds and choices."""
        if self.space is None:
            return ""
        space = self.space
        problem = space.problem()
        if problem:
            return problem
        if not space.contains(self.default):
            return f"the default {self.default!r} is outside its space {space.describe()}"
        values = (
            list(space.choices or ()) if space.distribution == "choice" else [space.low, space.high]
        )
        for value in values:
            if self.choices is not None and value not in self.choices:
                return f"space value {value!r} is not one of the parameter's choices"
            if self.low is not None and value is not None and value < self.low:
                return f"space reaches {value!r}, below the parameter's minimum {self.low}"
            if self.high is not None and value is not None and value > self.high:
                return f"space reaches {value!r}, above the parameter's maximum {self.high}"
        return ""

    @property
    def kind(self) -> type:
        """Alias of `value_type`, for contributor code that reads `kind`."""
        return self.value_type


def param(
    default: Any,
    *,
    help: str = "",
    low: float | None = None,
    high: float | None = None,
    choices: tuple[Any, ...] | None = None,
    space: Space | None = None,
) -> Any:
    """Declare a hyperparameter on a class body (typed as Any so `x: float = param(...)` checks).
    `space` is the distribution `bench tune` searches it over (`log_uniform`, `uniform`,
    `int_uniform`, `choice`); without one it keeps its default when tuned."""
    return Param(default=default, help=help, low=low, high=high, choices=choices, space=space)


def unbounded(params: dict[str, Param], owner: str) -> list[str]:
    """One line per int or float parameter that declares neither `low`, `high` nor
    `choices`, naming `owner.name`: such a value is accepted at any size and sign (a
    negative loss weight would train, and the run would exit 0). Empty when all are bounded.
    (bool is an int in Python but has its own two values, so it needs no bounds.)

    The conformance suite fails every registered method this names. `param()` itself
    cannot refuse (the type comes from the annotation, read only once the class exists),
    and refusing when the class is created would make one bad file in `methods/` break
    every command and every test at import, instead of failing its own check by name."""
    problems: list[str] = []
    for name, spec in params.items():
        numeric = spec.value_type in (int, float) or (
            spec.value_type is object and type(spec.default) in (int, float)
        )
        if numeric and spec.choices is None and spec.low is None and spec.high is None:
            what = f"{spec.value_type.__name__}, default {spec.default!r}"
            problems.append(
                f"{owner}.{name} ({what}) declares no "
                "bounds: give param(...) low= and/or high= (e.g. low=0.0 for a weight), "
                "or choices="
            )
    return problems


def collect_params(cls: type) -> dict[str, Param]:
    """All `Param` declarations of `cls` and its bases, typed from their annotations."""
    hints = typing.get_type_hints(cls)
    found: dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Param):
                hint = hints.get(name, type(value.default))
                found[name] = Param(
                    default=value.default,
                    help=value.help,
                    low=value.low,
                    high=value.high,
                    choices=value.choices,
                    value_type=hint if isinstance(hint, type) else type(value.default),
                    space=value.space,
                )
    return found


_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


def annotation_type(annotation: object) -> type:
    """The plain type behind a dataclass field annotation (a string under postponed
    evaluation); `object` (accept anything) for annotations that are not plain scalars."""
    if isinstance(annotation, type):
        return annotation
    return _TYPES.get(str(annotation), object)


annotation_kind = annotation_type  # an alias, for contributor code that uses this name


def coerce(value: Any, value_type: type, where: str) -> Any:
    """Convert a YAML or command-line value to `value_type`, or raise a one-line UserError."""
    is_bool_as_int = value_type is int and isinstance(value, bool)
    if value_type is object or (isinstance(value, value_type) and not is_bool_as_int):
        return value
    try:
        if value_type is bool:
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if value_type is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(str(value).strip()) if isinstance(value, str) else int(value)
        if value_type is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if value_type is str:
            if isinstance(value, dict | list):  # YAML read `a: b` or `[a]`; str() hides it
                shape = "mapping" if isinstance(value, dict) else "list"
                raise UserError(f"{where}={value!r} is a YAML {shape}, not a str: quote it")
            return str(value)
        return value_type(value)
    except (TypeError, ValueError, OverflowError):  # a 400-digit int overflows a float
        raise UserError(f"{where}={_shown(value)} is not a valid {value_type.__name__}") from None


def _shown(value: Any) -> str:
    """`repr`, or a stand-in where Python refuses one (an int of over 4,300 digits)."""
    try:
        return repr(value)
    except ValueError:
        return f"<a {type(value).__name__} too long to show>"


def validate(params: dict[str, Param], values: dict[str, Any], owner: str) -> dict[str, Any]:
    """Defaults overlaid with `values`, coerced and range-checked; unknown keys rejected."""
    for key in values:
        if key not in params:
            hint = did_you_mean(key, params) if params else "it takes no parameters"
            raise UserError(f"{owner} has no parameter '{key}': {hint}")
    resolved: dict[str, Any] = {}
    for name, spec in params.items():
        where = f"{owner}.{name}"
        value = coerce(values.get(name, spec.default), spec.value_type, where)
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{where}={value!r} must be a finite number")
        if spec.choices is not None and value not in spec.choices:
            options = ", ".join(map(str, spec.choices))
            raise UserError(f"{where}={value!r} is not one of {{{options}}}")
        if spec.low is not None and value < spec.low:
            raise UserError(f"{where}={value!r} is below its minimum {spec.low}")
        if spec.high is not None and value > spec.high:
            raise UserError(f"{where}={value!r} is above its maximum {spec.high}")
        resolved[name] = value
    return resolved


# --- the run configuration's numeric knobs ------------------------------------------------

MAX_COUNT = 10_000_000  # a bound on any sample count, epoch count, step count or batch


@dataclass(frozen=True)
class Bound:
    """A configuration knob's allowed range, declared on its dataclass field (`bounded`)
    and checked by `benchmark.config.validation`. Counts are bounded above so a typo cannot
    ask for a billion of anything; rates and temperatures must be finite, and `closed`
    says whether `low` itself is allowed (a learning rate of 0 is not)."""

    low: float
    high: float
    closed: bool = True


def bounded(default: Any, low: float, high: float, *, closed: bool = True) -> Any:
    """A dataclass field with its default and its allowed range, so a new knob is one line:
    `epochs: int = bounded(12, 1, MAX_COUNT)`."""
    return field(default=default, metadata={"bound": Bound(low, high, closed)})

"""Values that parse but mean nothing: each numeric knob outside the range declared on
its field (`benchmark.params.bounded`), a non-finite world knob, an unknown pretraining,
teacher weights that cannot be found (`benchmark.weights`). One line names the setting
and what it must be."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from benchmark.config.schema import PRETRAIN_CHOICES, RunConfig
from benchmark.datasets.data_config import SPLITS
from benchmark.errors import UserError, did_you_mean
from benchmark.params import Bound, annotation_type


def bounds() -> list[tuple[str, str, bool, Bound]]:
    """Every bounded knob as (section, key, is_int, bound): the integer knobs first, then
    the real-valued ones, each in field order (the order a bad config is reported in)."""
    found = []
    for section in dataclasses.fields(RunConfig):
        schema = section.default_factory  # a section's dataclass; world, methods: dicts
        if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
            continue
        for f in dataclasses.fields(schema):
            if "bound" in f.metadata:
                is_int = annotation_type(f.type) is int
                found.append((section.name, f.name, is_int, f.metadata["bound"]))
    return sorted(found, key=lambda knob: not knob[2])  # stable: field order kept


def check_ranges(config: RunConfig, where: str) -> None:
    for section, key, is_int, bound in bounds():
        name = f"{section}.{key}"
        value = getattr(getattr(config, section), key)
        if is_int:
            if value < bound.low:
                raise UserError(f"{where}{name}={value} must be at least {bound.low}")
            if value > bound.high:
                raise UserError(f"{where}{name}={value} must be at most {bound.high:,}")
            continue
        above = value >= bound.low if bound.closed else value > bound.low
        if not math.isfinite(value) or not above or value > bound.high:
            sign = "≥" if bound.closed else ">"
            raise UserError(
                f"{where}{name}={value!r} must be a finite number {sign} {bound.low:g} "
                f"and at most {bound.high:g} (default {_default(section, key)!r})"
            )


def _default(section: str, key: str) -> Any:
    return getattr(getattr(RunConfig(), section), key)


def check(config: RunConfig, where: str) -> dict[str, str]:
    """Values that parse but mean nothing; `where` prefixes the setting's name. Returns
    the teacher settings to record in place of the written ones (`benchmark.weights`)."""
    check_ranges(config, where)
    for key, value in config.world.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{where}world.{key}={value!r} must be a finite number")
    if config.data.split not in SPLITS:  # which tasks have a split: the plan checks
        raise UserError(
            f"unknown {where}data.split '{config.data.split}': "
            f"{did_you_mean(config.data.split, SPLITS)}"
        )
    if config.teacher.pretrain not in PRETRAIN_CHOICES:
        raise UserError(
            f"unknown {where}teacher.pretrain '{config.teacher.pretrain}': "
            f"{did_you_mean(config.teacher.pretrain, PRETRAIN_CHOICES)}"
        )
    from benchmark.weights import check as check_weights  # timm and torch: on use

    return check_weights(config.teacher)

"""The typed run configuration, by concern:

- `schema`: the sections' dataclasses, each knob's default and range on its field, and
  `merge` (a mapping overlaid onto them);
- `profiles`: the named starting points (`--profile smoke | quick | paper`);
- `loading`: the strict YAML reader, the `--set` parser and `resolve` (the precedence
  of defaults, profile, file and `--set`);
- `validation`: values that parse but mean nothing.

A record's hash (`config_hash`, `PROTOCOL_VERSION`) lives in `benchmark.hashing`; both
are re-exported here, as are the names above, so `from benchmark.config import X` works.
"""

from benchmark.config.loading import load_yaml, parse_assignments, resolve
from benchmark.config.profiles import PROFILES
from benchmark.config.schema import (
    MAX_SEEDS,
    PRETRAIN_CHOICES,
    DistillConfig,
    EvalConfig,
    RunConfig,
    StudentConfig,
    TrainConfig,
)
from benchmark.datasets.data_config import DataConfig
from benchmark.hashing import PROTOCOL_VERSION, config_hash
from benchmark.params import MAX_COUNT

__all__ = [
    "MAX_COUNT",
    "MAX_SEEDS",
    "PRETRAIN_CHOICES",
    "PROFILES",
    "PROTOCOL_VERSION",
    "DataConfig",
    "DistillConfig",
    "EvalConfig",
    "RunConfig",
    "StudentConfig",
    "TrainConfig",
    "config_hash",
    "load_yaml",
    "parse_assignments",
    "resolve",
]

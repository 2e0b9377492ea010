"""On-disk cache of generated datasets.

A file is keyed by a hash of everything that determines its content (generator version, full
config, n, seed, modality set), so a stale or foreign file is never picked up. Files are written
to a temporary name in the same directory and then renamed with ``os.replace``, which is atomic
on POSIX: readers see either no file or a complete one, even with concurrent writers or a
writer killed mid-way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from .config import GENERATOR_VERSION, WorldConfig
from .core import check_modalities, generate

# Knobs added after GENERATOR_VERSION whose default leaves every output as it was: they enter
# the key only when set to something else, so files written before they existed are still
# found (and are still right).
_NEW_AT_DEFAULT: dict[str, float] = {"sketch_ruling": 0.0, "text_abstraction": 0.5}


def cache_key(config: WorldConfig, n: int, seed: int, modalities: Sequence[str]) -> str:
    """Hex digest identifying the dataset ``generate(config, n, seed, modalities)``."""
    cfg = dataclasses.asdict(config)
    # Normalise numbers so that e.g. depth_noise=0 and depth_noise=0.0 share a file.
    for f in dataclasses.fields(config):
        if f.type in ("float", float):
            cfg[f.name] = float(cfg[f.name])
    for name, default in _NEW_AT_DEFAULT.items():
        if cfg[name] == default:
            del cfg[name]
    payload = {
        "version": GENERATOR_VERSION,
        "config": cfg,
        "n": int(n),
        "seed": int(seed),
        "modalities": sorted(set(check_modalities(modalities))),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_path(
    cache_dir: Path, config: WorldConfig, n: int, seed: int, modalities: Sequence[str]
) -> Path:
    """Where ``load_or_generate`` stores this dataset inside ``cache_dir``."""
    return Path(cache_dir) / f"world-{cache_key(config, n, seed, modalities)[:32]}.pt"


def _atomic_save(data: dict[str, Tensor], path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _load(path: Path, keys: tuple[str, ...], n: int) -> dict[str, Tensor] | None:
    """The cached tensors, or None if the file is missing, unreadable or incomplete."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # any unreadable file (truncated, foreign, corrupt) is just regenerated
        return None
    if not isinstance(data, dict) or any(k not in data for k in keys):
        return None
    if any(not isinstance(data[k], Tensor) or data[k].shape[0] != n for k in keys):
        return None
    return {k: data[k] for k in keys}


def load_or_generate(
    config: WorldConfig, n: int, seed: int, modalities: Sequence[str], cache_dir: Path | None
) -> dict[str, Tensor]:
    """``generate(config, n, seed, modalities)``, cached under ``cache_dir`` (None = no cache)."""
    config.validate()
    mods = check_modalities(modalities)
    if cache_dir is None:
        return generate(config, n, seed, mods)
    path = cache_path(Path(cache_dir), config, n, seed, mods)
    keys = (*mods, "label")
    if path.exists():
        cached = _load(path, keys, n)
        if cached is not None:
            return cached
    data = generate(config, n, seed, mods)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(data, path)
    return data

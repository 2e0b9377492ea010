"""Chunked, deterministic generation of paired samples, and throughput measurement.

Determinism contract: sample ``i`` depends only on (config, seed, start + i). Indices are
grouped into chunks of ``chunk_size(config.image_size)`` samples. Each chunk draws its latent
from a generator seeded by (seed, chunk, "latent") and each modality's noise from its own
generator seeded by (seed, chunk, modality). A chunk is always computed in full, even when only
a few of its samples are requested: CPU kernels may round differently for different tensor
sizes (vectorised vs scalar tails, thread partitioning), so computing the same full-size
tensors every time is what makes a prefix, an offset slice or a subset of modalities
bit-identical to the full call.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import operator
import time
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from .audio import render_audio
from .config import MODALITIES, WorldConfig, chunk_size
from .render import primary_slot, render_geometry
from .scene import sample_scene
from .shading import render_depth, render_rgb
from .sketch import render_sketch
from .text import TEXT_LENGTH, render_text

_IMAGE_MODALITIES = ("rgb", "depth", "seg", "sketch")


def stream_seed(seed: int, chunk: int, stream: str) -> int:
    """63-bit seed for one random stream; a hash so nearby seeds give unrelated streams."""
    text = f"xmd-world/{seed}/{chunk}/{stream}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def _generator(seed: int, chunk: int, stream: str) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(stream_seed(seed, chunk, stream))


def check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    """Validate and de-duplicate (keeping order); raise ValueError naming an unknown one."""
    if isinstance(modalities, str):
        modalities = (modalities,)
    out: list[str] = []
    for m in modalities:
        if m not in MODALITIES:
            raise ValueError(
                f"unknown modality {m!r}; valid modalities are {', '.join(MODALITIES)}"
            )
        if m not in out:
            out.append(m)
    return tuple(out)


def _check_index(name: str, value: int) -> int:
    """``value`` as a Python int (numpy integers welcome); ValueError unless an int >= 0."""
    try:
        index = operator.index(value)
    except TypeError:
        index = -1
    if isinstance(value, bool) or index < 0:
        raise ValueError(f"{name}={value!r} is invalid: expected an int >= 0")
    return index


def _chunk(config: WorldConfig, seed: int, chunk: int, mods: tuple[str, ...]) -> dict[str, Tensor]:
    """All requested modalities (and the label) for the full chunk ``chunk``."""
    size = chunk_size(config.image_size)
    scene = sample_scene(config, size, _generator(seed, chunk, "latent"))
    # Multi-object labels need the seg map (largest visible object), whatever is requested.
    need_geometry = config.max_objects > 1 or any(m in _IMAGE_MODALITIES for m in mods)
    geo = render_geometry(scene, config.image_size) if need_geometry else None
    primary = primary_slot(scene, None if geo is None else geo.slot)
    out: dict[str, Tensor] = {}
    for m in mods:
        gen = _generator(seed, chunk, m)
        if m == "audio":
            out[m] = render_audio(scene, primary, config, gen)
            continue
        if m == "text":
            out[m] = render_text(scene, primary, config, gen)
            continue
        assert geo is not None
        if m == "rgb":
            out[m] = render_rgb(scene, geo)
        elif m == "depth":
            out[m] = render_depth(scene, geo, gen, config.depth_noise)
        elif m == "seg":
            out[m] = geo.seg
        else:
            out[m] = render_sketch(geo, gen, config.sketch_abstraction, config.sketch_ruling)
    out["label"] = scene.cls.gather(1, primary[:, None]).squeeze(1)
    return out


def _empty(config: WorldConfig, mods: tuple[str, ...]) -> dict[str, Tensor]:
    s = config.image_size
    shapes = {
        "rgb": ((0, 3, s, s), torch.float32),
        "depth": ((0, 1, s, s), torch.float32),
        "seg": ((0, s, s), torch.int64),
        "sketch": ((0, 1, s, s), torch.float32),
        "audio": ((0, 1, config.n_mels, config.audio_frames), torch.float32),
        "text": ((0, TEXT_LENGTH), torch.int64),
    }
    out = {m: torch.empty(shapes[m][0], dtype=shapes[m][1]) for m in mods}
    out["label"] = torch.empty(0, dtype=torch.int64)
    return out


def generate(
    config: WorldConfig, n: int, seed: int, modalities: Sequence[str] = MODALITIES, start: int = 0
) -> dict[str, Tensor]:
    """Samples ``start .. start + n - 1`` of the world ``(config, seed)``.

    Returns CPU tensors keyed by the requested modalities plus ``label`` (int64 [n], class of
    the largest visible object): rgb float32 [n,3,H,W] in [0,1]; depth float32 [n,1,H,W] (0 =
    missing); seg int64 [n,H,W] (0 = background, k+1 = class k); sketch float32 [n,1,H,W] in
    [0,1]; audio float32 [n,1,n_mels,audio_frames]; text int64 [n, TEXT_LENGTH] token ids
    into ``text.VOCAB`` (0 = padding).
    """
    config.validate()
    mods = check_modalities(modalities)
    n = _check_index("n", n)
    start = _check_index("start", start)
    seed = _check_index("seed", seed)
    if n == 0:
        return _empty(config, mods)
    pieces: dict[str, list[Tensor]] = {m: [] for m in (*mods, "label")}
    with _cpu_float32(), torch.no_grad():
        size = chunk_size(config.image_size)
        for chunk in range(start // size, math.ceil((start + n) / size)):
            lo = max(start - chunk * size, 0)
            hi = min(start + n - chunk * size, size)
            for key, value in _chunk(config, seed, chunk, mods).items():
                pieces[key].append(value[lo:hi])
    return {key: torch.cat(parts) for key, parts in pieces.items()}


@contextlib.contextmanager
def _cpu_float32() -> Iterator[None]:
    """Make factory functions produce CPU float32 tensors even if the caller changed defaults.

    ``torch.device`` as a context manager intercepts every torch call in Python, which slows
    the many small ops of rendering by ~2x, so it is only entered when actually needed.
    """
    prev_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        if torch.get_default_device().type == "cpu":
            yield
        else:
            with torch.device("cpu"):
                yield
    finally:
        torch.set_default_dtype(prev_dtype)


def measure_throughput(config: WorldConfig, n: int = 1024, seed: int = 0) -> dict[str, float]:
    """Samples per second: latent sampling alone, each modality alone, and all in one call.

    Uses torch's current thread setting; a one-chunk warm-up keeps one-off costs (filterbank
    construction, allocator growth) out of the figures.
    """
    config.validate()
    if _check_index("n", n) == 0:
        raise ValueError("n=0 is invalid: expected an int >= 1")
    generate(config, 1, seed + 1)
    rates: dict[str, float] = {}
    begin = time.perf_counter()
    size = chunk_size(config.image_size)
    for chunk in range(math.ceil(n / size)):
        sample_scene(config, size, _generator(seed, chunk, "latent"))
    rates["latent"] = n / (time.perf_counter() - begin)
    for m in (*MODALITIES, None):
        begin = time.perf_counter()
        generate(config, n, seed, MODALITIES if m is None else (m,))
        rates["all" if m is None else m] = n / (time.perf_counter() - begin)
    return rates

"""Random fields shared by the modalities: smooth low-frequency fields and bulk noise."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@functools.lru_cache(maxsize=32)
def upsample_matrix(coarse: int, size: int) -> Tensor:
    """[size, coarse] weights of 1-D bicubic upsampling (the separable factor of 2-D bicubic)."""
    eye = torch.eye(coarse).reshape(coarse, 1, 1, coarse)
    rows = F.interpolate(eye, size=(1, size), mode="bicubic", align_corners=False)
    return rows.reshape(coarse, size).T.contiguous()


def smooth_noise(gen: torch.Generator, n: int, channels: int, coarse: int, size: int) -> Tensor:
    """Low-frequency noise [n, channels, size, size]: a coarse N(0, 1) grid, bicubic upsampled.

    Upsampling is done as two matrix products with the separable bicubic weights, which gives
    the same field as ``F.interpolate(mode="bicubic")`` at a fraction of its CPU cost.
    """
    grid = torch.randn(n * channels, coarse, coarse, generator=gen)
    w = upsample_matrix(coarse, size)
    rows = grid.reshape(-1, coarse) @ w.T  # upsample along x: [n*c*coarse, size]
    field = w @ rows.reshape(n * channels, coarse, size)  # along y: [n*c, size, size]
    return field.reshape(n, channels, size, size)


def bulk_uniform(gen: torch.Generator, *shape: int) -> Tensor:
    """U[0, 1) float32 tensor of ``shape`` for large per-pixel / per-sample noise draws.

    torch's CPU generator (mt19937) costs ~10 ns per number, a sizeable share of the budget
    for pixel and waveform noise; numpy's SFC64 stream is ~2-3x cheaper. It is seeded from one
    draw of ``gen``, so the modality's noise still comes from that modality's own stream.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    rng = np.random.Generator(np.random.SFC64(seed))
    return torch.from_numpy(rng.random(shape, dtype=np.float32))

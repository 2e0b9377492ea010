"""Sketch modality: a hand-drawn-looking line drawing of the geometry.

Lines come from the geometry pass: silhouettes (visible object changes, including object vs
background, and depth jumps such as a torus's inner rim) and creases (normal discontinuities,
e.g. box edges). A "hand" then draws them: stroke width varies, the whole drawing is warped by a
smooth random displacement field, strokes fade or drop out under a low-frequency mask, and
pressure varies along strokes. ``sketch_abstraction`` raises warp and dropout and fades creases,
so at 1 only a wobbly, broken outline is left -- the usual gap between photos and sketches.

``sketch_ruling`` instead draws the sketch on ruled paper (``rule_lines``): a nuisance that
widens the gap to RGB without taking anything from the drawing, so that a sweep can move the
modality gap at fixed class evidence.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .noise import smooth_noise
from .render import Geometry

# A neighbour pair is a crease when its normals differ by more than ~25-45 degrees (soft ramp).
_CREASE_LO: float = 0.1
_CREASE_HI: float = 0.3
# Depth jump (relative to depth) that counts as an occluding contour within one object.
_DEPTH_JUMP: float = 0.06


def edge_map(geo: Geometry, crease_weight: float) -> Tensor:
    """Ink [n, 1, H, W] in [0, 1]: silhouettes at full strength, creases at ``crease_weight``.

    Neighbour pairs along x and y are compared. An outline (different object, or a depth jump
    within one object) is inked on the nearer pixel, so it hugs the occluding shape; a crease
    (same object, normals bent by more than ~25-45 degrees) is inked on the first pixel of the
    pair. Both give lines one pixel wide.
    """
    slot = geo.slot.to(torch.int16)
    # Log depth turns the relative depth-jump test into a difference; background is +inf, so
    # make it a finite "far" first.
    log_z = geo.z.clamp_max(1e3).log_()
    background = slot < 0
    normal = geo.normal
    ink = torch.zeros(slot.shape)
    scale = 1.0 / (_CREASE_HI - _CREASE_LO)
    jump = math.log1p(_DEPTH_JUMP)
    for dim in (1, 2):
        length = slot.shape[dim] - 1
        sa, sb = slot.narrow(dim, 0, length), slot.narrow(dim, 1, length)
        dz = log_z.narrow(dim, 0, length) - log_z.narrow(dim, 1, length)
        na, nb = normal.narrow(dim + 1, 0, length), normal.narrow(dim + 1, 1, length)
        outline = (sa != sb).logical_or_(dz.abs() > jump)
        a_nearer = dz <= 0.0
        dot = torch.addcmul(na[:, 0] * nb[:, 0], na[:, 1], nb[:, 1]).addcmul_(na[:, 2], nb[:, 2])
        crease = dot.mul_(-scale * crease_weight).add_((1.0 - _CREASE_LO) * scale * crease_weight)
        crease.clamp_(0.0, crease_weight)
        crease.masked_fill_(outline.logical_or(background.narrow(dim, 0, length)), 0.0)
        line_a = torch.maximum(crease, outline.logical_and(a_nearer).float())
        line_b = outline.logical_and_(a_nearer.logical_not_()).float()
        ink_a, ink_b = ink.narrow(dim, 0, length), ink.narrow(dim, 1, length)
        ink_a.copy_(torch.maximum(ink_a, line_a))
        ink_b.copy_(torch.maximum(ink_b, line_b))
    return ink[:, None]


def _dilate(x: Tensor) -> Tensor:
    """3x3 max filter by shifted maxima (several times faster than max_pool2d on CPU here)."""
    y = x.clone()
    y[..., 1:, :] = torch.maximum(y[..., 1:, :], x[..., :-1, :])
    y[..., :-1, :] = torch.maximum(y[..., :-1, :], x[..., 1:, :])
    z = y.clone()
    z[..., 1:] = torch.maximum(z[..., 1:], y[..., :-1])
    z[..., :-1] = torch.maximum(z[..., :-1], y[..., 1:])
    return z


def rule_lines(phase: Tensor, size: int) -> Tensor:
    """Ruled-paper lines [n, 1, size, size] in [0, 1]: a vertical cosine grating of period
    ``size / 8`` pixels (4 at 32 px, the same fraction of the sheet at any resolution),
    shifted by ``phase`` [n] in [0, 1) periods.

    One orientation and one spatial frequency for every sample, so that a single linear
    filter with a zero at that frequency removes the lines of every sample whatever their
    phase; the phase is drawn per sample so that they are no fixed pattern to subtract.
    """
    x = torch.arange(size, dtype=torch.float32) * (8.0 / size)
    lines = 0.5 + 0.5 * torch.cos(2.0 * math.pi * (x[None, :] + phase[:, None]))
    return lines[:, None, None, :].expand(-1, 1, size, size)


def render_sketch(
    geo: Geometry, gen: torch.Generator, abstraction: float, ruling: float = 0.0
) -> Tensor:
    """Sketch [n, 1, H, W] in [0, 1] (1 = ink).

    ``ruling`` > 0 superimposes ruled lines linearly, (ink + ruling * lines) / (1 + ruling):
    nothing is occluded or clipped, so the drawing is recoverable exactly from the result and
    the lines' phase, and at 0 the result is the bare drawing.
    """
    n = geo.slot.shape[0]
    size = geo.slot.shape[-1]
    # Draw all random fields first, in a fixed order, independent of the knobs' values (the
    # ruling's phase last, so the draws before it are those of a world without the ruling).
    width_field = smooth_noise(gen, n, 1, 4, size)
    warp_coarse = smooth_noise(gen, n, 2, 4, size)
    warp_fine = smooth_noise(gen, n, 2, 8, size)
    affine_draw = torch.randn(n, 5, generator=gen)
    drop_field = smooth_noise(gen, n, 1, 5, size)
    pressure = smooth_noise(gen, n, 1, 6, size)
    ruling_phase = torch.rand(n, generator=gen)

    ink = edge_map(geo, crease_weight=0.9 * (1.0 - abstraction) ** 1.5)

    # Stroke width: thicken where the smooth width field is high.
    thick = _dilate(ink)
    ink = torch.maximum(ink, thick * (0.6 * (width_field - 0.3)).clamp(0.0, 0.7))

    # Hand jitter: small random affine (misplaced drawing) plus a smooth local displacement.
    a = abstraction
    angle = (0.02 + 0.1 * a) * affine_draw[:, 0]
    zoom = 1.0 + (0.01 + 0.06 * a) * affine_draw[:, 1]
    shift = (0.01 + 0.05 * a) * affine_draw[:, 2:4]
    shear = (0.01 + 0.08 * a) * affine_draw[:, 4]
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    theta = torch.stack(
        [torch.stack([cos, -sin + shear, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)],
        dim=1,
    )
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    # Amplitude in grid units (the image spans 2): 0.15-1.65 pixels at 32 px, the same
    # fraction of the drawing at any resolution.
    amp = (0.15 + 1.5 * a) / 16.0
    warp = amp * warp_coarse + 0.5 * amp * warp_fine
    ink = F.grid_sample(
        ink,
        grid + warp.permute(0, 2, 3, 1),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )

    # Dropped strokes: a low-frequency mask removes whole stretches of line.
    drop_level = -2.5 + 2.0 * a**0.8
    keep = ((drop_field - drop_level) / 0.4).clamp(0.0, 1.0)
    ink = ink * keep * (1.0 - 0.25 * a * pressure.abs().clamp_max(1.0))
    ink = (ink * 1.15).clamp(0.0, 1.0)
    if ruling == 0.0:
        return ink
    return (ink + ruling * rule_lines(ruling_phase, size)) / (1.0 + ruling)

"""Geometry pass: sphere tracing of all objects of all scenes of a chunk at once.

The pass produces the per-pixel facts every image modality is built from (visible object,
class, depth, surface normal, object-space position). Because rgb, depth, seg and sketch are
all derived from this one pass, they agree exactly on which ray hit what.

Vectorisation: rays that enter an object's bounding sphere become "candidates" (sample, slot,
pixel). Objects are sorted by class first, so the candidates of each class are one contiguous
range, traced with that class's SDF; the Python loops run over classes and steps only. Each
object is traced on its own and the nearest hit per pixel wins, which is exact for unions and
occlusion. Rays are traced in object units (unit direction, origin scaled by 1/scale), so the
scale never enters the loop.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from .scene import TAN_HALF_FOV, Scene
from .shapes import PREPARE, SDFS, half_extents

# Sphere-tracing budget. Tracing starts at the bounding-sphere entry, so face-on rays converge
# in a few steps; the rays still running late are mostly grazing rays at silhouettes.
# Finished rays are dropped at the listed steps, so later steps trace only the rays left.
_STEPS: int = 16
_COMPACT_AT: frozenset[int] = frozenset({3, 6, 10})
# Hit tolerance as a fraction of the pixel footprint at the hit distance (cone tracing): a ray
# within a quarter pixel of the surface is a hit. A tolerance relative to the pixel size is what
# keeps the step count small at any image size.
_TOL_PIXELS: float = 0.25
# Padding (object units) of the per-object culling box, so that rays passing within the hit
# tolerance of the surface are still traced.
_BOX_MARGIN: float = 0.05
# Finite-difference step (object units) for normals.
_NORMAL_EPS: float = 2e-3
_FAR: float = 1e30


@dataclass
class Geometry:
    """Per-pixel result of the geometry pass for ``n`` scenes of ``size`` x ``size`` pixels."""

    dirs: Tensor  # [3, H, W] unit camera ray directions (shared by all samples)
    z: Tensor  # [n, H, W] camera-space depth of the visible object, +inf on background
    slot: Tensor  # [n, H, W] int64 visible object slot, -1 on background
    seg: Tensor  # [n, H, W] int64 class + 1 of the visible object, 0 on background
    normal: Tensor  # [n, 3, H, W] world-space unit normal, 0 on background
    # The same facts for just the visible object pixels (not background), which is where shading
    # needs them: flat pixel index into n*H*W, flat object index into n*k (sample * k + slot),
    # world normal [3, V] and object-space position [3, V] (texture coordinates).
    hit_pixel: Tensor
    hit_object: Tensor
    hit_normal: Tensor
    hit_local: Tensor


@functools.lru_cache(maxsize=8)
def camera_rays(size: int) -> Tensor:
    """Unit ray directions [3, size * size] of the pinhole camera, row-major from top left."""
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2.0 - 1.0
    y, x = torch.meshgrid(-centres, centres, indexing="ij")
    d = torch.stack([x * TAN_HALF_FOV, y * TAN_HALF_FOV, torch.ones_like(x)])
    return (d / torch.linalg.vector_norm(d, dim=0, keepdim=True)).reshape(3, -1)


def _trace_group(cls: int, rays: Tensor, tol: float) -> Tensor:
    """Sphere-trace one class's rays; return hit distances in object units (_FAR = miss).

    ``rays`` [11, R] rows: origin xyz, unit direction xyz, shape parameters (3), entry and
    exit distance of the culling box.
    """
    sdf = SDFS[cls]
    result = torch.full((rays.shape[1],), _FAR)
    alive = torch.arange(rays.shape[1])
    q = PREPARE[cls](rays[6:9])
    state = torch.cat([rays[0:6], rays[9:11], q])
    o, d, t, t_max, q = state[0:3], state[3:6], state[6], state[7], state[8:]
    for step in range(1, _STEPS + 1):
        dist = sdf(torch.addcmul(o, d, t), q)
        # A ray that came within the tolerance is done and stays put (a grazing ray would
        # otherwise slide past the surface and its fate would depend on when we look).
        done = dist < tol * t
        t.add_(dist.masked_fill_(done, 0.0))  # t is a view into ``state``
        if step not in _COMPACT_AT and step != _STEPS:
            continue
        inside = t <= t_max
        hit = done & inside
        found = hit.nonzero().squeeze(1)
        result.index_copy_(0, alive.index_select(0, found), t.index_select(0, found))
        if step == _STEPS:
            break
        keep = (~hit & inside).nonzero().squeeze(1)
        if keep.numel() == 0:
            break
        alive = alive.index_select(0, keep)
        state = state.index_select(1, keep)
        o, d, t, t_max, q = state[0:3], state[3:6], state[6], state[7], state[8:]
    return result


_TETRA = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, 1.0, 1.0]])


def _normals(cls: int, p: Tensor, prm: Tensor) -> Tensor:
    """Object-space SDF gradient [3, R] at points p [3, R] by tetrahedral differences.

    The four offset copies of the points are evaluated in one SDF call; the gradient is
    sum_i k_i f(p + e k_i) for the four tetrahedron vertices k_i (not normalised).
    """
    r = p.shape[1]
    offsets = (_TETRA.T * _NORMAL_EPS)[:, :, None]  # [3, 4, 1]
    points = (p[:, None, :] + offsets).reshape(3, 4 * r)
    values = SDFS[cls](points, PREPARE[cls](prm).repeat(1, 4)).reshape(4, r)
    return _TETRA.T @ values


def render_geometry(scene: Scene, size: int) -> Geometry:
    """Trace every object of every scene; see the module docstring for the scheme."""
    n, k = scene.cls.shape
    nk = n * k
    npix = size * size
    dirs = camera_rays(size)  # [3, P]

    # Order objects by class so the candidate rays of each class come out contiguous.
    cls_sorted, order = torch.sort(scene.cls.reshape(nk), stable=True)
    centre = scene.pos.reshape(nk, 3)[order]
    scale = scene.scale.reshape(nk)[order]
    rot_t = scene.rot.reshape(nk, 3, 3)[order].transpose(1, 2)  # world -> object rotation
    active = scene.active.reshape(nk)[order]

    # Bounding spheres |t d - c| = s (|d| = 1), elementwise since tiny matmuls are slow on CPU.
    b = centre[:, 0, None] * dirs[0] + centre[:, 1, None] * dirs[1] + centre[:, 2, None] * dirs[2]
    disc = b * b - ((centre * centre).sum(dim=1) - scale * scale)[:, None]
    inside = (disc > 0.0) & active[:, None]
    row, pix = inside.nonzero().unbind(1)
    flat = row * npix + pix
    root = disc.reshape(-1).index_select(0, flat).sqrt()
    b_c = b.reshape(-1).index_select(0, flat)

    # Per-candidate ray in object units: origin R^T(-c)/s, direction R^T d, t / s.
    origin = -(rot_t * centre[:, None, :]).sum(dim=2) / scale[:, None]
    prm = scene.prm.reshape(nk, 3)[order]
    extent = half_extents(cls_sorted, prm) + _BOX_MARGIN
    table = torch.cat(
        [origin, rot_t.reshape(nk, 9), prm, scale[:, None].reciprocal(), extent], dim=1
    )
    cand = table.T.contiguous().index_select(1, row)  # [19, R]
    d_world = dirs.index_select(1, pix)
    m = cand[3:12]
    d_obj = [
        m[3 * i] * d_world[0] + m[3 * i + 1] * d_world[1] + m[3 * i + 2] * d_world[2]
        for i in range(3)
    ]
    inv_s = cand[15]

    # Tighter cull and start: clip the ray to the object's box (slab test in object space).
    enter = (b_c - root).clamp_min(0.0) * inv_s
    leave = (b_c + root) * inv_s
    for i in range(3):
        inv_d = d_obj[i].reciprocal()
        lo = (-cand[16 + i] - cand[i]) * inv_d
        hi = (cand[16 + i] - cand[i]) * inv_d
        enter = torch.maximum(enter, torch.minimum(lo, hi))
        leave = torch.minimum(leave, torch.maximum(lo, hi))
    keep = (enter < leave).nonzero().squeeze(1)
    row, pix = row.index_select(0, keep), pix.index_select(0, keep)
    rays = torch.stack(
        [cand[0], cand[1], cand[2], *d_obj, cand[12], cand[13], cand[14], enter, leave]
    ).index_select(1, keep)
    m = m.index_select(1, keep)
    inv_s = inv_s.index_select(0, keep)

    # Candidate ranges per class (contiguous thanks to the sort).
    per_class = torch.zeros(len(SDFS), dtype=torch.long)
    per_class.index_add_(0, cls_sorted, inside.sum(dim=1))
    bounds = torch.searchsorted(keep, torch.cumsum(per_class, 0)).tolist()
    bounds = [0, *bounds]
    tol = _TOL_PIXELS * 2.0 * TAN_HALF_FOV / size
    t_obj = torch.full((row.shape[0],), _FAR)
    for c in range(len(SDFS)):
        lo, hi = bounds[c], bounds[c + 1]
        if hi > lo:
            t_obj[lo:hi] = _trace_group(c, rays[:, lo:hi], tol)
    t_hit = torch.where(t_obj < _FAR, t_obj / inv_s, _FAR)

    # Nearest hit per pixel over all slots.
    obj = order.index_select(0, row)
    sample = (torch.arange(nk) // k).index_select(0, obj)
    pixel_c = sample * npix + pix
    t_all = torch.full((nk * npix,), _FAR).index_copy_(0, obj * npix + pix, t_hit)
    t_all = t_all.reshape(n, k, npix)
    t_min = t_all[:, 0]
    slot = torch.zeros(n, npix, dtype=torch.long)
    for j in range(1, k):
        slot.masked_fill_(t_all[:, j] < t_min, j)
        t_min = torch.minimum(t_min, t_all[:, j])
    hit = t_min < _FAR
    slot.masked_fill_(~hit, -1)

    # Visible candidates: they hit and their slot won the pixel. Still sorted by class.
    visible = t_hit < _FAR
    if k > 1:
        visible &= slot.reshape(-1).index_select(0, pixel_c) == obj - sample * k
    winner = visible.nonzero().squeeze(1)
    pixels = pixel_c.index_select(0, winner)
    w_rays = rays.index_select(1, winner)
    w_t = t_obj.index_select(0, winner)
    local = torch.stack([torch.addcmul(w_rays[i], w_rays[3 + i], w_t) for i in range(3)])
    w_bounds = torch.searchsorted(winner, torch.tensor(bounds)).tolist()
    grad = torch.empty_like(local)
    for c in range(len(SDFS)):
        lo, hi = w_bounds[c], w_bounds[c + 1]
        if hi > lo:
            grad[:, lo:hi] = _normals(c, local[:, lo:hi], w_rays[6:9, lo:hi])
    # World normal = R grad, with R = rot_t^T.
    m_w = m.index_select(1, winner)
    n_w = torch.stack(
        [m_w[i] * grad[0] + m_w[3 + i] * grad[1] + m_w[6 + i] * grad[2] for i in range(3)]
    )
    n_w = n_w / torch.sqrt((n_w * n_w).sum(dim=0).clamp_min(1e-20))

    normal = torch.zeros(3, n * npix).index_copy_(1, pixels, n_w)
    if k == 1:
        seg = (scene.cls + 1) * hit
    else:
        seg = (scene.cls.gather(1, slot.clamp_min(0)) + 1).masked_fill_(~hit, 0)

    z = (t_min * dirs[2]).masked_fill_(~hit, float("inf"))
    return Geometry(
        dirs=dirs.reshape(3, size, size),
        z=z.reshape(n, size, size),
        slot=slot.reshape(n, size, size),
        seg=seg.reshape(n, size, size),
        normal=normal.reshape(3, n, size, size).transpose(0, 1).contiguous(),
        hit_pixel=pixels,
        hit_object=obj.index_select(0, winner),
        hit_normal=n_w,
        hit_local=local,
    )


def primary_slot(scene: Scene, slot_map: Tensor | None) -> Tensor:
    """Slot [n] of the primary object: the one with the largest visible (seg) region.

    Classes in a scene are distinct, so a class's seg region is exactly one object. Ties go to
    the lower class index. Single-object scenes skip the lookup (their one object is always in
    view), which lets audio-only requests skip rendering; a scene with nothing visible (not
    produced by the sampler) falls back to slot 0.
    """
    n, k = scene.cls.shape
    if k == 1 or slot_map is None:
        return torch.zeros(n, dtype=torch.long)
    flat = slot_map.reshape(n, -1)
    counts = torch.stack([(flat == j).sum(dim=1) for j in range(k)], dim=1)
    score = counts * 64 + (63 - scene.cls)
    return torch.where(counts.amax(dim=1) > 0, score.argmax(dim=1), 0)

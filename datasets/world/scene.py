"""Latent scene sampling: everything every modality is rendered from.

One latent per sample holds the objects (class, shape parameters, pose, scale, material,
colour), the light and the background. All draws for a chunk are made from one generator in a
fixed order with fixed shapes, and the continuous knobs (clutter, colour_class_correlation) only
decide how the draws are *used*, so sweeping those knobs keeps the scenes themselves identical.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import torch
from torch import Tensor

from .config import WorldConfig
from .shapes import SHAPE_NAMES, shape_params

# Pinhole camera at the origin looking down +z; tangent of half the field of view. At the object
# distances below (z in [3.8, 5.2]) the view is 1.9-2.6 world units wide.
TAN_HALF_FOV: float = 0.25
OBJECT_Z_RANGE: tuple[float, float] = (3.8, 5.2)
# Bounding radius of one object in world units for a single-object scene (log-uniform range).
SCALE_RANGE: tuple[float, float] = (0.55, 1.0)
# Far wall z = wall_z + tilt . (x, y): its nearest visible point (>= 6.8 - 2 * 0.1 * 0.25 * 7.6
# = 6.42) is farther than any object surface (<= 5.2 + 0.95 * 1.16, the largest scale, see
# sample_scene), so depth alone separates object from wall, while the tilt keeps the background
# from being one constant.
WALL_Z_RANGE: tuple[float, float] = (6.8, 7.6)
WALL_MAX_TILT: float = 0.1
# Number of potential background distractors; each is drawn with probability ``clutter``.
NUM_CLUTTER: int = 8
# Materials: index -> name. Material drives specular look and texture in RGB and damping and
# brightness in audio; it is independent of the class.
MATERIALS: tuple[str, ...] = ("plastic", "metal", "wood", "ceramic", "rubber")


def _palette() -> Tensor:
    """One saturated, well separated colour per shape class (hue spaced by 1/12)."""
    rgb = [colorsys.hsv_to_rgb(k / len(SHAPE_NAMES), 0.85, 0.9) for k in range(len(SHAPE_NAMES))]
    return torch.tensor(rgb, dtype=torch.float32)


PALETTE: Tensor = _palette()


@dataclass
class Scene:
    """Latent of ``n`` scenes with ``k`` object slots each (slots >= the object count are inactive).

    Object tensors are [n, k, ...]; ``rot`` maps object to world coordinates (world = rot @ obj).
    """

    cls: Tensor  # [n, k] int64 shape class
    active: Tensor  # [n, k] bool
    prm: Tensor  # [n, k, 3] shape parameters (see shapes.py)
    rot: Tensor  # [n, k, 3, 3]
    scale: Tensor  # [n, k] bounding radius in world units
    pos: Tensor  # [n, k, 3] centre in world units
    colour: Tensor  # [n, k, 3] base albedo in [0, 1]
    material: Tensor  # [n, k] int64 index into MATERIALS
    tex_axis: Tensor  # [n, k, 3] unit vector of the texture's stripe direction (object space)
    tex_freq: Tensor  # [n, k] texture frequency in cycles per object unit
    tex_phase: Tensor  # [n, k] in [0, 1)
    light: Tensor  # [n, 3] unit vector towards the light
    ambient: Tensor  # [n]
    bg_colours: Tensor  # [n, 2, 3] background gradient end colours
    bg_dir: Tensor  # [n, 2] unit gradient direction in image coordinates
    clutter_on: Tensor  # [n, j] bool
    clutter_line: Tensor  # [n, j] bool, True = line segment, False = blob
    clutter_centre: Tensor  # [n, j, 2] in normalised image coordinates [-1, 1]
    clutter_size: Tensor  # [n, j, 2] half length / radii in normalised coordinates
    clutter_angle: Tensor  # [n, j]
    clutter_colour: Tensor  # [n, j, 3]
    clutter_alpha: Tensor  # [n, j]
    wall_z: Tensor  # [n]
    wall_tilt: Tensor  # [n, 2] dz/dx, dz/dy

    @property
    def n(self) -> int:
        return int(self.cls.shape[0])


def axis_angle(axis: Tensor, angle: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] about unit `axis` [..., 3] by `angle` [...] (Rodrigues)."""
    x, y, z = axis.unbind(-1)
    c, s = torch.cos(angle), torch.sin(angle)
    t = 1.0 - c
    rows = [
        t * x * x + c, t * x * y - s * z, t * x * z + s * y,
        t * x * y + s * z, t * y * y + c, t * y * z - s * x,
        t * x * z - s * y, t * y * z + s * x, t * z * z + c,
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*angle.shape, 3, 3)


def posed_rotations(n: int, k: int, gen: torch.Generator, variation: float) -> Tensor:
    """Object poses [n, k, 3, 3]: a free spin about the object's own vertical axis, then a
    tilt about a random horizontal axis by up to `variation` · 180°.

    Objects stand roughly upright at low variation, as photographed objects do, so their
    outlines stay recognisable; at 1 a pose can show any side (a cylinder seen end-on is a
    disc, like a sphere). The three uniform draws are made whatever `variation` is, so the
    knob changes how scenes are posed, not which scenes are drawn.
    """
    u = torch.rand(n, k, 3, generator=gen)
    up = torch.tensor([0.0, 1.0, 0.0]).expand(n, k, 3)
    spin = axis_angle(up, 2.0 * torch.pi * u[..., 0])
    heading = 2.0 * torch.pi * u[..., 1]
    horizontal = torch.stack(
        [torch.cos(heading), torch.zeros_like(heading), torch.sin(heading)], dim=-1
    )
    tilt = axis_angle(horizontal, variation * torch.pi * u[..., 2])
    return tilt @ spin


def _unit(v: Tensor) -> Tensor:
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(1e-8)


def sample_scene(config: WorldConfig, n: int, gen: torch.Generator) -> Scene:
    """Draw ``n`` latent scenes from ``gen`` (draw order and shapes are part of the data format)."""
    k = config.max_objects
    j = NUM_CLUTTER

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=gen)

    # Objects: distinct classes per scene (so "largest seg region" names exactly one object).
    cls = rand(n, config.num_classes).argsort(dim=1)[:, :k]
    span = config.max_objects - config.min_objects + 1
    count = config.min_objects + (rand(n) * span).long().clamp_max(span - 1)
    active = torch.arange(k)[None, :] < count[:, None]
    prm = shape_params(cls, rand(n, k, 3))
    rot = posed_rotations(n, k, gen, config.pose_variation)

    # Crowded scenes use smaller objects so several fit the view and occlude only partially.
    # Slot 0 is drawn larger than the others so that the largest visible object (the label) is
    # usually slot 0, whose class is uniform: otherwise bulky classes (sphere) would dominate
    # the labels of multi-object scenes.
    crowd = 1.0 / (1.0 + 0.25 * (k - 1))
    lo, hi = SCALE_RANGE
    scale = crowd * lo * (hi / lo) ** rand(n, k)
    if k > 1:
        scale = scale * torch.tensor([1.45] + [0.75] * (k - 1))
    z = OBJECT_Z_RANGE[0] + (OBJECT_Z_RANGE[1] - OBJECT_Z_RANGE[0]) * rand(n, k)
    margin = 0.6 if k == 1 else 0.45
    reach = (TAN_HALF_FOV * z - margin * scale).clamp_min(0.0)
    xy = (2.0 * rand(n, k, 2) - 1.0) * reach[..., None]
    pos = torch.cat([xy, z[..., None]], dim=-1)

    # Colour: the class palette colour (jittered) with probability colour_class_correlation.
    palette = PALETTE[cls] + 0.04 * torch.randn(n, k, 3, generator=gen)
    random_colour = 0.05 + 0.9 * rand(n, k, 3)
    use_palette = rand(n, k) < config.colour_class_correlation
    colour = torch.where(use_palette[..., None], palette, random_colour).clamp(0.02, 0.98)
    material = (rand(n, k) * len(MATERIALS)).long().clamp_max(len(MATERIALS) - 1)
    tex_axis = _unit(torch.randn(n, k, 3, generator=gen))
    tex_freq = 2.0 + 3.0 * rand(n, k)
    tex_phase = rand(n, k)

    # Light from the camera's side of the scene, direction random within a cone.
    light = _unit(torch.cat([2.0 * rand(n, 2) - 1.0, -1.2 - 0.6 * rand(n, 1)], dim=1))
    ambient = 0.15 + 0.2 * rand(n)

    bg_colours = 0.1 + 0.8 * rand(n, 2, 3)
    angle = 2.0 * torch.pi * rand(n)
    bg_dir = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)

    clutter_on = rand(n, j) < config.clutter
    clutter_line = rand(n, j) < 0.5
    clutter_centre = 2.0 * rand(n, j, 2) - 1.0
    clutter_size = 0.06 + 0.3 * rand(n, j, 2)
    clutter_angle = torch.pi * rand(n, j)
    clutter_colour = rand(n, j, 3)
    clutter_alpha = 0.5 + 0.5 * rand(n, j)

    wall_z = WALL_Z_RANGE[0] + (WALL_Z_RANGE[1] - WALL_Z_RANGE[0]) * rand(n)
    wall_tilt = WALL_MAX_TILT * (2.0 * rand(n, 2) - 1.0)

    return Scene(
        cls=cls,
        active=active,
        prm=prm,
        rot=rot,
        scale=scale,
        pos=pos,
        colour=colour,
        material=material,
        tex_axis=tex_axis,
        tex_freq=tex_freq,
        tex_phase=tex_phase,
        light=light,
        ambient=ambient,
        bg_colours=bg_colours,
        bg_dir=bg_dir,
        clutter_on=clutter_on,
        clutter_line=clutter_line,
        clutter_centre=clutter_centre,
        clutter_size=clutter_size,
        clutter_angle=clutter_angle,
        clutter_colour=clutter_colour,
        clutter_alpha=clutter_alpha,
        wall_z=wall_z,
        wall_tilt=wall_tilt,
    )

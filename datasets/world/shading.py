"""RGB and depth modalities, both computed from the shared geometry pass.

RGB is the rich source modality: shading, specular highlights, material textures, colour (which
may correlate with the class) and a cluttered background. Depth keeps only geometry and adds
sensor-like corruption (noise growing with distance, missing pixels at silhouettes, at grazing
angles and in random holes), scaled by ``depth_noise``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .noise import bulk_uniform, smooth_noise, upsample_matrix
from .render import Geometry
from .scene import Scene

# Depth is stored as normalised inverse depth Z_NEAR / z: objects (z in [2.6, 6.3]) land in
# ~[0.4, 0.96], the wall (z in [6.42, 8]) in ~[0.31, 0.39]; 0 is reserved for "missing".
Z_NEAR: float = 2.5
# Noise-free depth above which a pixel is an object (the wall is always farther).
OBJECT_DEPTH_MIN: float = Z_NEAR / 6.36

# Per-material properties: (specular strength, shininess, diffuse weight, metallic tint,
# texture kind, texture contrast). Texture kinds: 0 stripes, 1 checker, 2 rings, 3 plain.
_MATERIAL_LOOK: tuple[tuple[float, float, float, float, float, float], ...] = (
    (0.45, 32.0, 1.0, 0.0, 1.0, 0.35),  # plastic: glossy, checker
    (0.90, 64.0, 0.55, 1.0, 0.0, 0.15),  # metal: tinted highlights, fine brushed stripes
    (0.10, 8.0, 1.0, 0.0, 2.0, 0.40),  # wood: matte, growth rings
    (0.60, 96.0, 1.0, 0.0, 3.0, 0.0),  # ceramic: sharp highlight, plain glaze
    (0.05, 4.0, 1.0, 0.0, 0.0, 0.50),  # rubber: dull, bold stripes
)


def pixel_grid(size: int) -> tuple[Tensor, Tensor]:
    """Normalised pixel-centre coordinates (u right, v up), each [size, size] in (-1, 1)."""
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2.0 - 1.0
    v, u = torch.meshgrid(-c, c, indexing="ij")
    return u, v


def _background(scene: Scene, size: int) -> Tensor:
    """Gradient background with clutter composited on top, [n, 3, size * size].

    Drawn at half resolution and upsampled: the background looks slightly out of focus (as
    behind a focused object) and its cost, mostly clutter rasterisation, drops fourfold.
    """
    low = max(8, size // 2)
    image = _draw_background(scene, low).reshape(-1, low, low)
    w = upsample_matrix(low, size)
    image = w @ (image.reshape(-1, low) @ w.T).reshape(-1, low, size)
    return image.reshape(scene.n, 3, size * size)


def _draw_background(scene: Scene, size: int) -> Tensor:
    """Gradient background with clutter composited on top, [n, 3, size * size].

    Each distractor is a capsule in image space: long and thin (a line) or short and fat (a
    blob), with a soft edge about one pixel wide. Distractors are painted in order, each only
    into the samples where it is switched on; per-item buffers stay small, which matters on
    CPU where first touches of large fresh allocations dominate simple arithmetic.
    """
    u, v = pixel_grid(size)
    u, v = u.reshape(-1), v.reshape(-1)
    w = 0.5 + 0.35 * (u * scene.bg_dir[:, 0, None] + v * scene.bg_dir[:, 1, None])  # [n, P]
    c0 = scene.bg_colours[:, 0, :, None]
    c1 = scene.bg_colours[:, 1, :, None]
    image = torch.addcmul(c0, c1 - c0, w[:, None, :])  # [n, 3, P]

    size_a, size_b = scene.clutter_size.unbind(-1)
    line = scene.clutter_line
    length = torch.where(line, 0.2 + size_a, 0.4 * size_a)
    radius = torch.where(line, 0.03 + 0.06 * size_b, 0.05 + 0.6 * size_b)
    cos, sin = torch.cos(scene.clutter_angle), torch.sin(scene.clutter_angle)
    cx, cy = scene.clutter_centre.unbind(-1)
    along0 = -(cx * cos + cy * sin)  # along / across-axis coordinates are affine in (u, v)
    across0 = cx * sin - cy * cos
    # r^2 - d^2 ~ 2 r (r - d): a soft edge without a sqrt.
    sharp = size / 4.0 / radius
    for j in range(scene.clutter_on.shape[1]):
        rows = scene.clutter_on[:, j].nonzero().squeeze(1)
        if rows.numel() == 0:
            continue

        def col(x: Tensor, j: int = j, rows: Tensor = rows) -> Tensor:
            return x[:, j].index_select(0, rows)[:, None]

        c, s = col(cos), col(sin)
        ext = torch.addcmul(col(along0), c, u).addcmul_(s, v).abs_().sub_(col(length))
        ext.clamp_min_(0.0).square_()
        across = torch.addcmul(col(across0), c, v).addcmul_(s, u, value=-1.0)
        d2 = ext.addcmul_(across, across)
        r = col(radius)
        alpha = d2.neg_().add_(r * r).mul_(col(sharp)).add_(0.5).clamp_(0.0, 1.0)
        alpha.mul_(col(scene.clutter_alpha))
        colour = scene.clutter_colour[:, j].index_select(0, rows)[:, :, None]
        layer = torch.lerp(image.index_select(0, rows), colour, alpha[:, None])
        image.index_copy_(0, rows, layer)
    return image


def _per_object(scene: Scene, columns: list[Tensor]) -> Tensor:
    """Stack per-object attributes ([n, k] or [n, k, c] each) into a table [A, n * k]."""
    nk = scene.cls.numel()
    return torch.cat([c.reshape(nk, -1) for c in columns], dim=1).T.contiguous()


def render_rgb(scene: Scene, geo: Geometry) -> Tensor:
    """Shaded colour image [n, 3, H, W] in [0, 1].

    Shading runs on the visible object pixels only; everything else is background. RGB has no
    random noise of its own: all its variation is in the latent.
    """
    n, k = scene.cls.shape
    size = geo.slot.shape[-1]
    per_sample = [x[:, None].expand(n, k, *x.shape[1:]) for x in (scene.light, scene.ambient)]
    look = torch.tensor(_MATERIAL_LOOK)[scene.material]  # [n, k, 6]
    table = _per_object(
        scene, [scene.colour, look, scene.tex_axis, scene.tex_freq, scene.tex_phase, *per_sample]
    )
    att = table.index_select(1, geo.hit_object)  # [18, V]
    albedo = att[0:3]
    spec_k, shininess, diffuse_k, metallic, tex_kind, contrast = att[3:9]
    axis = att[9:12]
    freq, phase = att[12], att[13]
    light, ambient = att[14:17], att[17]

    # Procedural 3D texture on the object-space hit point, so it moves with the object.
    p = geo.hit_local
    along = (p * axis).sum(dim=0)
    two_pi = 2.0 * torch.pi
    stripes = 0.5 + 0.5 * torch.sin(two_pi * (freq * along + phase))
    cells = torch.floor(freq * p + phase).sum(dim=0)
    checker = cells - 2.0 * torch.floor(0.5 * cells)
    radial = torch.sqrt(((p * p).sum(dim=0) - along * along).clamp_min(1e-12))
    rings = 0.5 + 0.5 * torch.sin(two_pi * (2.0 * freq * radial + phase))
    pattern = torch.where(tex_kind < 0.5, stripes, torch.where(tex_kind < 1.5, checker, rings))
    albedo = albedo * (1.0 - contrast * pattern)

    normal = geo.hit_normal
    lambert = (normal * light).sum(dim=0).clamp_min(0.0)
    view = geo.dirs.reshape(3, -1).index_select(1, geo.hit_pixel % (size * size))
    half = light - view
    half = half / torch.sqrt((half * half).sum(dim=0).clamp_min(1e-12))
    cos_h = (normal * half).sum(dim=0).clamp_min(1e-6)
    # pow via exp/log with a floor on the exponent: tiny powers would underflow to denormals,
    # which are very slow on CPU.
    highlight = torch.exp((shininess * torch.log(cos_h)).clamp_min(-30.0)) * (lambert > 0)
    shade = ambient + (1.0 - ambient) * diffuse_k * lambert
    spec_colour = torch.lerp(torch.ones_like(albedo), albedo, metallic)
    obj = albedo * shade + (spec_k * highlight) * spec_colour

    # Paste the object pixels into the [n, 3, P] background: flat index s*3P + c*P + p.
    npix = size * size
    sample = geo.hit_pixel // npix
    base = geo.hit_pixel + 2 * npix * sample
    index = torch.cat([base, base + npix, base + 2 * npix])
    image = _background(scene, size).reshape(-1).index_copy_(0, index, obj.reshape(-1))
    return image.reshape(n, 3, size, size).clamp_(0.0, 1.0)


def silhouette_pixels(slot: Tensor) -> Tensor:
    """Bool [n, H, W]: pixels whose visible object (or background) differs from a 4-neighbour."""
    edge = torch.zeros_like(slot, dtype=torch.bool)
    dx = slot[:, :, 1:] != slot[:, :, :-1]
    dy = slot[:, 1:, :] != slot[:, :-1, :]
    edge[:, :, 1:] |= dx
    edge[:, :, :-1] |= dx
    edge[:, 1:, :] |= dy
    edge[:, :-1, :] |= dy
    return edge


def wall_z(scene: Scene, geo: Geometry) -> Tensor:
    """Camera-space z [n, H, W] of the far wall plane z = wall_z + tilt . (x, y)."""
    d = geo.dirs
    tx, ty = scene.wall_tilt[:, 0, None, None], scene.wall_tilt[:, 1, None, None]
    t = scene.wall_z[:, None, None] / (d[2] - tx * d[0] - ty * d[1])
    return t * d[2]


def render_depth(scene: Scene, geo: Geometry, gen: torch.Generator, noise: float) -> Tensor:
    """Normalised inverse depth [n, 1, H, W]; 0 marks missing pixels.

    ``noise`` is ``depth_noise``. Values are Z_NEAR / z (disparity-like: nearer is larger), so
    "missing" (0, no return) reads as "infinitely far" instead of as a spike in front of
    everything.
    """
    n = scene.n
    size = geo.slot.shape[-1]
    fg = geo.slot >= 0
    z = torch.where(fg, geo.z, wall_z(scene, geo))

    holes = smooth_noise(gen, n, 1, 6, size)[:, 0]
    u1, u2, speckle = bulk_uniform(gen, 3, n, size, size)
    # Triangular noise (sum of two uniforms) with unit variance: bell-shaped and cheap.
    gauss = u1.add_(u2).sub_(1.0).mul_(6.0**0.5)

    # Stereo / structured-light noise grows with z^2 in depth, i.e. is constant in disparity.
    depth = (Z_NEAR / z).add_(gauss, alpha=0.005 * noise)
    # Missing pixels: silhouettes and grazing surfaces return no signal, plus random holes.
    cos_view = -(geo.normal * geo.dirs[None]).sum(dim=1)
    grazing = (1.0 - cos_view.abs()).clamp(0.0, 1.0) * fg
    p_missing = noise * (0.01 + 0.3 * silhouette_pixels(geo.slot) + 0.6 * grazing**3)
    # Holes: where the smooth field exceeds 1 + 0.8 / noise (never for noise = 0).
    missing = (speckle < p_missing) | (noise * (holes - 1.0) > 0.8)
    depth = depth.clamp_(1e-3, 1.0).masked_fill_(missing, 0.0)
    return depth[:, None]

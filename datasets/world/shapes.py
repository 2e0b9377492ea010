"""Shape classes: signed distance functions and per-class parameter ranges.

Every shape lives in object space inside the unit ball (bounding radius <= ~0.96), so the
renderer can use a bounding sphere of radius ``scale`` around the object's centre as an
early-out. SDFs return distances in object units; see the note on the calling convention
below.

Round shapes use exact SDFs. Polyhedra (and cone, pyramid, prisms, dome) use the maximum of
their face-plane distances: exact inside, a lower bound outside. A lower bound is all sphere
tracing needs (it never overshoots); it only makes the hit test slightly generous at sharp
corners, by at most the tracing tolerance times 1/sin(half the corner angle), well under a pixel.
Gradients of the plane-max form are the exact face normals, which keeps crease edges crisp.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

SHAPE_NAMES: tuple[str, ...] = (
    "sphere",
    "box",
    "cylinder",
    "cone",
    "torus",
    "capsule",
    "octahedron",
    "hexagonal_prism",
    "triangular_prism",
    "square_pyramid",
    "tetrahedron",
    "dome",
)

_SQRT3_2 = 0.8660254037844386

# Sphere tracing calls an SDF ~16 times per ray group, so SDFs are written for the fewest torch
# calls: points come stacked as p [3, R] (consumed: modified in place) and per-ray constants
# q [K, R] are derived from the shape parameters once per group by the class's ``prepare``.
SDF = Callable[[Tensor, Tensor], Tensor]
Prepare = Callable[[Tensor], Tensor]


def _row_norm(q: Tensor) -> Tensor:
    """Euclidean norm over dim 0, consuming ``q``.

    The +1e-20 is a large speed fix as well as a guard: this CPU backend takes a slow path
    (10-100x) in sqrt for zeros and denormals, and converged rays produce many zeros.
    """
    return q.square_().sum(dim=0).add_(1e-20).sqrt_()


def _radial(p: Tensor) -> Tensor:
    """Distance from the y axis (the symmetry axis of the solids of revolution)."""
    return (p[0] * p[0]).addcmul_(p[2], p[2]).add_(1e-20).sqrt_()


def _box2(a: Tensor, b: Tensor) -> Tensor:
    """Exact SDF of the intersection of two slabs given the two signed slab distances."""
    q = torch.stack([a, b])
    inside = q.amax(dim=0).clamp_max_(0.0)
    return _row_norm(q.clamp_min_(0.0)).add_(inside)


def _identity(prm: Tensor) -> Tensor:
    """Shapes whose SDF reads the raw parameters."""
    return prm


def sdf_sphere(p: Tensor, q: Tensor) -> Tensor:
    """Sphere of radius q[0] (exact)."""
    return _row_norm(p).sub_(q[0])


def sdf_box(p: Tensor, q: Tensor) -> Tensor:
    """Axis-aligned cuboid with half extents q (exact)."""
    d = p.abs_().sub_(q)
    inside = d.amax(dim=0).clamp_max_(0.0)
    return _row_norm(d.clamp_min_(0.0)).add_(inside)


def sdf_cylinder(p: Tensor, q: Tensor) -> Tensor:
    """Capped cylinder along y: radius q[0], half height q[1] (exact)."""
    return _box2(_radial(p).sub_(q[0]), p[1].abs_().sub_(q[1]))


def prep_slant(prm: Tensor) -> Tensor:
    """Cone / pyramid constants from (base half width w, half height h).

    The slant face through the apex (0, h) and the base edge (w, -h) of the (radius, y)
    profile has outward unit normal (2h, w) / L, so its signed distance is
    (rho * 2h + y * w - h * w) / L.
    """
    w, h = prm[0], prm[1]
    inv_len = torch.rsqrt(4.0 * h * h + w * w)
    return torch.stack([2.0 * h * inv_len, w * inv_len, h * w * inv_len, h])


def sdf_cone(p: Tensor, q: Tensor) -> Tensor:
    """Cone along y: base radius w at y=-h, apex at y=+h (bound); q from prep_slant."""
    side = _radial(p).mul_(q[0]).addcmul_(p[1], q[1]).sub_(q[2])
    return torch.maximum(side, (p[1] + q[3]).neg_())


def sdf_torus(p: Tensor, q: Tensor) -> Tensor:
    """Torus around y: ring radius q[0], tube radius q[1] (exact)."""
    ring = _radial(p).sub_(q[0])
    return ring.square_().addcmul_(p[1], p[1]).add_(1e-20).sqrt_().sub_(q[1])


def sdf_capsule(p: Tensor, q: Tensor) -> Tensor:
    """Capsule along y: segment half length q[0], radius q[1] (exact)."""
    p[1].abs_().sub_(q[0]).clamp_min_(0.0)
    return _row_norm(p).sub_(q[1])


def prep_planes(prm: Tensor) -> Tensor:
    """Octahedron / tetrahedron constants: unit plane-normal scales and the plane offset.

    With vertex coordinates (a, b, c) the faces are s . (x/a, y/b, z/c) = 1 for sign patterns
    s; dividing by |(1/a, 1/b, 1/c)| (the same for every face) makes the distance exact.
    """
    inv = prm.reciprocal()
    k = torch.rsqrt(inv.square().sum(dim=0))
    return torch.cat([inv * k, k[None]])


def sdf_octahedron(p: Tensor, q: Tensor) -> Tensor:
    """Octahedron with vertices at +-(a, b, c) on the axes (bound); q from prep_planes."""
    return p.abs_().mul_(q[:3]).sum(dim=0).sub_(q[3])


def sdf_hex_prism(p: Tensor, q: Tensor) -> Tensor:
    """Hexagonal prism along y: apothem q[0], half height q[1] (bound).

    Faces have normals at 0, +-60 and 180 +-60 degrees in the xz plane; by symmetry the largest
    face distance is max(|x|, |x|/2 + (sqrt3/2)|z|).
    """
    p.abs_()
    hexagon = torch.maximum(p[0], torch.add(p[0] * 0.5, p[2], alpha=_SQRT3_2))
    return torch.maximum(hexagon.sub_(q[0]), p[1].sub_(q[1]))


def sdf_tri_prism(p: Tensor, q: Tensor) -> Tensor:
    """Equilateral triangular prism along z: inradius q[0], half length q[1] (bound)."""
    slant = torch.add(p[1] * 0.5, p[0].abs_(), alpha=_SQRT3_2)
    triangle = torch.maximum(slant, p[1].neg()).sub_(q[0])
    return torch.maximum(triangle, p[2].abs_().sub_(q[1]))


def sdf_pyramid(p: Tensor, q: Tensor) -> Tensor:
    """Square pyramid along y: base half width w at y=-h, apex at y=+h (bound)."""
    across = torch.maximum(p[0].abs_(), p[2].abs_())
    side = across.mul_(q[0]).addcmul_(p[1], q[1]).sub_(q[2])
    return torch.maximum(side, (p[1] + q[3]).neg_())


def sdf_tetrahedron(p: Tensor, q: Tensor) -> Tensor:
    """Tetrahedron with vertices (+-a, +-b, +-c), even count of minus signs (bound).

    The four face terms -a-b-c, -a+b+c, a-b+c, a+b-c (in scaled coordinates) have the maximum
    max(|a + b| - c, |a - b| + c).
    """
    s = p.mul_(q[:3])
    u = (s[0] + s[1]).abs_().sub_(s[2])
    v = (s[0] - s[1]).abs_().add_(s[2])
    return torch.maximum(u, v).sub_(q[3])


def prep_dome(prm: Tensor) -> Tensor:
    """Dome constants: radius and the shift that centres it (its flat side is at -0.375 r)."""
    return torch.stack([prm[0], 0.375 * prm[0]])


def sdf_dome(p: Tensor, q: Tensor) -> Tensor:
    """Hemisphere of radius r, flat side down, centred on its bounding box (bound)."""
    p[1].add_(q[1])
    below = p[1].neg()
    return torch.maximum(_row_norm(p).sub_(q[0]), below)


SDFS: tuple[SDF, ...] = (
    sdf_sphere,
    sdf_box,
    sdf_cylinder,
    sdf_cone,
    sdf_torus,
    sdf_capsule,
    sdf_octahedron,
    sdf_hex_prism,
    sdf_tri_prism,
    sdf_pyramid,
    sdf_tetrahedron,
    sdf_dome,
)
PREPARE: tuple[Prepare, ...] = (
    _identity,
    _identity,
    _identity,
    prep_slant,
    _identity,
    _identity,
    prep_planes,
    _identity,
    _identity,
    prep_slant,
    prep_planes,
    prep_dome,
)


def evaluate(cls: int, p: Tensor, prm: Tensor) -> Tensor:
    """SDF of class ``cls`` at points [3, R] with raw params [3, R], inputs left untouched."""
    return SDFS[cls](p.clone(), PREPARE[cls](prm))


# Parameter ranges: prm = low + span * u with u ~ U[0,1]^3, then every length is rescaled so the
# shape's bounding radius is exactly _FILL. The ranges thus only set aspect ratios (the visible
# intra-class variation that stops a classifier from memorising one silhouette per class); the
# on-screen size is set by the object's world scale alone, for every class alike, which is also
# what the audio pitch follows.
_FILL: float = 0.95
_PARAM_LOW: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0),  # sphere: radius
    (0.30, 0.30, 0.30),  # box: half extents
    (0.35, 0.30, 0.0),  # cylinder: radius, half height
    (0.40, 0.40, 0.0),  # cone: base radius, half height
    (0.50, 0.14, 0.0),  # torus: ring radius, tube radius
    (0.25, 0.25, 0.0),  # capsule: half length, radius
    (0.55, 0.55, 0.55),  # octahedron: vertex distances
    (0.40, 0.25, 0.0),  # hexagonal prism: apothem, half height
    (0.20, 0.40, 0.0),  # triangular prism: inradius, half length
    (0.38, 0.35, 0.0),  # square pyramid: base half width, half height
    (0.42, 0.42, 0.42),  # tetrahedron: vertex coordinates
    (1.0, 0.0, 0.0),  # dome: radius
)
_PARAM_SPAN: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 0.0),
    (0.24, 0.24, 0.24),
    (0.30, 0.40, 0.0),
    (0.25, 0.30, 0.0),
    (0.20, 0.12, 0.0),
    (0.30, 0.15, 0.0),
    (0.40, 0.40, 0.40),
    (0.20, 0.40, 0.0),
    (0.10, 0.35, 0.0),
    (0.17, 0.20, 0.0),
    (0.13, 0.13, 0.13),
    (0.0, 0.0, 0.0),
)


def bounding_radius(cls: Tensor, prm: Tensor) -> Tensor:
    """Radius [...] of the smallest origin-centred ball holding each shape (prm [..., 3])."""
    a, b, c = prm.unbind(-1)
    norm3 = torch.sqrt(a * a + b * b + c * c)
    radii = torch.stack(
        [
            a,  # sphere
            norm3,  # box corner
            torch.sqrt(a * a + b * b),  # cylinder rim
            torch.sqrt(a * a + b * b),  # cone base rim (apex is at h < rim)
            a + b,  # torus
            a + b,  # capsule
            torch.maximum(torch.maximum(a, b), c),  # octahedron vertex
            torch.sqrt(a * a / 0.75 + b * b),  # hexagonal prism corner (circumradius a/cos30)
            torch.sqrt(4.0 * a * a + b * b),  # triangular prism corner (circumradius 2a)
            torch.sqrt(2.0 * a * a + b * b),  # square pyramid base corner
            norm3,  # tetrahedron vertex
            a * (1.0 + 0.375**2) ** 0.5,  # dome rim
        ],
        dim=-1,
    )
    return radii.gather(-1, cls[..., None]).squeeze(-1)


def half_extents(cls: Tensor, prm: Tensor) -> Tensor:
    """Half sizes [..., 3] of an origin-centred, axis-aligned box holding each shape.

    Much tighter than the bounding ball for elongated shapes; the renderer uses it to cull
    rays and to start sphere tracing close to the surface.
    """
    a, b, c = prm.unbind(-1)
    hex_r = a / _SQRT3_2
    options = [
        (a, a, a),  # sphere
        (a, b, c),  # box
        (a, b, a),  # cylinder
        (a, b, a),  # cone
        (a + b, b, a + b),  # torus
        (b, a + b, b),  # capsule
        (a, b, c),  # octahedron
        (a, b, hex_r),  # hexagonal prism: flat sides at x = +-a, corners at z = +-a/cos30
        (2.0 * _SQRT3_2 * a, 2.0 * a, b),  # triangular prism: corners at (+-sqrt3 a, -a), (0, 2a)
        (a, b, a),  # square pyramid
        (a, b, c),  # tetrahedron
        (a, 0.625 * a, a),  # dome: y in [-0.375 r, 0.625 r]
    ]
    table = torch.stack([torch.stack(o, dim=-1) for o in options], dim=-2)  # [..., 12, 3]
    index = cls[..., None, None].expand(*cls.shape, 1, 3)
    return table.gather(-2, index).squeeze(-2)


def shape_params(cls: Tensor, u: Tensor) -> Tensor:
    """Map uniform draws ``u`` [..., 3] to shape parameters for classes ``cls`` [...].

    Unused parameter slots get 1.0 rather than 0 so SDFs that divide by a parameter stay finite.
    """
    low = torch.tensor(_PARAM_LOW, dtype=u.dtype)[cls]
    span = torch.tensor(_PARAM_SPAN, dtype=u.dtype)[cls]
    prm = low + span * u
    prm = prm * (_FILL / bounding_radius(cls, prm))[..., None]
    return torch.where(low == 0.0, torch.ones_like(prm), prm)

"""The embedded paired multi-modal world.

A procedurally generated, deterministic dataset: each sample is one latent 3D scene (shape
class, shape parameters, pose, scale, material, colour, light, background) rendered into every
modality -- rgb, depth, seg, sketch and audio -- so the modalities are paired by construction.
"""

from .cache import cache_key, load_or_generate
from .config import GENERATOR_VERSION, MODALITIES, WorldConfig
from .core import generate, measure_throughput
from .shapes import SHAPE_NAMES

__all__ = [
    "GENERATOR_VERSION",
    "MODALITIES",
    "SHAPE_NAMES",
    "WorldConfig",
    "cache_key",
    "generate",
    "load_or_generate",
    "measure_throughput",
]

"""Per-sample random augmentations on batched tensors, for self-supervised pre-training.

SimCLR's views (Chen et al., ICML 2020, Appendix A) need every sample of a batch cropped
and coloured differently. torchvision's transforms draw one set of parameters per call, so
a batch would get one crop for all its images; here each transform draws its parameters
per sample from a `torch.Generator` and applies them to the whole batch at once (one
`grid_sample` for all crops), which keeps the random stream seeded and the cost close to
a single forward of a small network.

The recipe follows SimCLR's CIFAR-10 setting: random resized crop (area 0.08–1, aspect
3/4–4/3), horizontal flip, colour jitter with strength 0.5 (brightness, contrast,
saturation 0.4; hue 0.1) applied with probability 0.8, random grey-scale with probability
0.2, no blur (the paper drops it for 32×32 images). Colour operations only apply to
3-channel inputs; other inputs get crop, flip, brightness and contrast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# RGB → YIQ: hue is a rotation of the (I, Q) chroma plane; Y is luma (Rec. 601 weights).
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
_LUMA = _RGB_TO_YIQ[0]


@dataclass(frozen=True)
class ViewRecipe:
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    jitter: float = 0.8  # probability of applying colour jitter
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale: float = 0.2


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_resized_crop(
    x: Tensor,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    flip: float,
    g: torch.Generator,
) -> Tensor:
    """Crop a random box of each image (area fraction in `scale`, aspect ratio in `ratio`),
    mirror it with probability `flip`, and resample it to the input size (bilinear)."""
    n = len(x)
    area = _uniform(n, *scale, g)
    log_ratio = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), g)
    aspect = log_ratio.exp()
    width = (area * aspect).sqrt().clamp(max=1.0)  # as fractions of the image side
    height = (area / aspect).sqrt().clamp(max=1.0)
    centre_x = (1 - width) * (2 * torch.rand(n, generator=g) - 1)  # in [-1, 1] coordinates
    centre_y = (1 - height) * (2 * torch.rand(n, generator=g) - 1)
    mirror = torch.where(torch.rand(n, generator=g) < flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = width * mirror
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = centre_y
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _grey(x: Tensor) -> Tensor:
    return torch.einsum("nchw,c->nhw", x, _LUMA.to(x)).unsqueeze(1)


def colour_jitter(x: Tensor, recipe: ViewRecipe, g: torch.Generator) -> Tensor:
    """Brightness, contrast, saturation and hue factors drawn per sample, applied in that
    order to the samples selected with probability `recipe.jitter`."""
    n = len(x)
    shape = (n, 1, 1, 1)
    active = (torch.rand(n, generator=g) < recipe.jitter).view(shape).to(x)

    def factor(strength: float) -> Tensor:
        drawn = _uniform(n, 1 - strength, 1 + strength, g).view(shape).to(x)
        return active * drawn + (1 - active)  # factor 1 = unchanged

    out = x * factor(recipe.brightness)
    mean = (
        out.mean(dim=(1, 2, 3), keepdim=True)
        if x.shape[1] != 3
        else _grey(out).mean(dim=(1, 2, 3), keepdim=True)
    )
    out = mean + factor(recipe.contrast) * (out - mean)
    if x.shape[1] == 3:
        grey = _grey(out)
        out = grey + factor(recipe.saturation) * (out - grey)
        angle = _uniform(n, -recipe.hue, recipe.hue, g).to(x) * 2 * math.pi * active.view(n)
        cos, sin = angle.cos(), angle.sin()
        rotation = torch.zeros(n, 3, 3, dtype=x.dtype, device=x.device)
        rotation[:, 0, 0] = 1
        rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
        rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
        mix = _YIQ_TO_RGB.to(x) @ rotation @ _RGB_TO_YIQ.to(x)  # [n, 3, 3]
        out = torch.einsum("nij,njhw->nihw", mix, out).clamp(0.0, 1.0)  # RGB lives in [0, 1]
    return out


def random_grayscale(x: Tensor, p: float, g: torch.Generator) -> Tensor:
    if x.shape[1] != 3:
        return x
    chosen = (torch.rand(len(x), generator=g) < p).view(-1, 1, 1, 1).to(x.device)
    return torch.where(chosen, _grey(x).expand_as(x), x)


def random_view(x: Tensor, recipe: ViewRecipe, g: torch.Generator) -> Tensor:
    """One SimCLR view of every image in the batch."""
    out = random_resized_crop(x, recipe.crop_scale, recipe.crop_ratio, recipe.flip, g)
    out = colour_jitter(out, recipe, g)
    return random_grayscale(out, recipe.grayscale, g)

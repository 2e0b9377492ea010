"""MST-Distill's AV-MNIST students as timm models (`mst_lenet5`, `mst_cnn3`), so the
`configs/mst-*.yaml` runs train the peer's networks (Gray-OREO/MST-Distill,
`models/LeNet5.py`, `models/CNNs.py`; `utils.get_Smodules` picks them for AV-MNIST).

Registered with timm's `register_model`, they are created like any timm backbone with
`features_only=True` (what `benchmark.backbones.Backbone` asks for): the forward returns
every stage's map, `feature_info.channels()` their widths. The peer's classifier is not
part of them: the harness puts its own head on the pooled last map.

- `mst_lenet5` (the image network, 28 × 28): conv5×5(6, pad 2)+ReLU+avgpool2 →
  conv5×5(16)+ReLU+avgpool2 → conv5×5(120)+ReLU → fc1 (120 → 84)+ReLU, the last as a 1×1
  convolution on the 1 × 1 map, which is the same linear map; the harness's linear head on
  the 84-wide embedding is then LeNet5's fc2, so backbone plus head is the peer's LeNet5.
  At other input sizes the third map is larger than 1 × 1 and is averaged by the pooling.
- `mst_cnn3` (ThreeLayerCNN-A, the audio network, 112 × 112): three conv3×3 (32, 64, 128,
  pad 1)+ReLU+maxpool2 stages. Difference: the peer classifies the flattened 128 × 14 × 14
  map with one linear layer; the harness's head reads the globally averaged 128-wide
  embedding (a head on the flattened map would not fit the harness's embedding contract).

Initialisation is PyTorch's default for both, as in the peer's code. No pretrained weights
exist: `pretrained=True` is an error.
"""

from __future__ import annotations

from typing import Any

from timm.models import register_model
from timm.models._features import FeatureInfo
from torch import Tensor, nn


class StageNet(nn.Module):
    """A plain stack of stages whose forward returns every stage's output."""

    def __init__(self, stages: list[nn.Module], channels: list[int], reductions: list[int]):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        info = [
            {"num_chs": c, "reduction": r, "module": f"stages.{i}"}
            for i, (c, r) in enumerate(zip(channels, reductions, strict=True))
        ]
        self.feature_info = FeatureInfo(info, tuple(range(len(info))))

    def forward(self, x: Tensor) -> list[Tensor]:
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps


def _check(name: str, pretrained: bool, features_only: bool) -> None:
    if pretrained:
        raise ValueError(f"{name} has no pretrained weights (MST-Distill trains it from scratch)")
    if not features_only:
        raise ValueError(f"{name} is a feature extractor only: create it with features_only=True")


@register_model
def mst_lenet5(
    pretrained: bool = False, features_only: bool = False, in_chans: int = 1, **_: Any
) -> StageNet:
    """MST-Distill's LeNet5 without its fc2 classifier (module docstring)."""
    _check("mst_lenet5", pretrained, features_only)
    relu = nn.ReLU
    stages: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(in_chans, 6, 5, padding=2), relu(), nn.AvgPool2d(2, 2)),
        nn.Sequential(nn.Conv2d(6, 16, 5), relu(), nn.AvgPool2d(2, 2)),
        nn.Sequential(nn.Conv2d(16, 120, 5), relu()),
        nn.Sequential(nn.Conv2d(120, 84, 1), relu()),
    ]
    return StageNet(stages, [6, 16, 120, 84], [2, 4, 4, 4])


@register_model
def mst_cnn3(
    pretrained: bool = False, features_only: bool = False, in_chans: int = 1, **_: Any
) -> StageNet:
    """MST-Distill's ThreeLayerCNN-A without its classifier (module docstring)."""
    _check("mst_cnn3", pretrained, features_only)
    stages: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        for c_in, c_out in ((in_chans, 32), (32, 64), (64, 128))
    ]
    return StageNet(stages, [32, 64, 128], [2, 4, 8])

"""Backbones seen as (pooled embedding, feature maps): timm CNNs for image-shaped inputs,
with any number of input channels, and small `torch.nn` sequence encoders for token
sequences (`benchmark.sequence`).

Teacher and student use the same wrapper: timm's `features_only` models give every stage's
feature map, which segmentation heads and feature-map methods need; the embedding is the
global average of the deepest map, which is what classification-style methods align.

The backbone is chosen per modality (`build_backbone`): an image-shaped input gets the
named timm model; a token sequence (int64 [N, L]) gets a sequence backbone, the one named
when `student.backbone` names one (`SEQUENCE_BACKBONES`), else the default one, since a
timm CNN cannot read token ids.
"""

from __future__ import annotations

from typing import Any

import timm
import torch
from torch import Tensor, nn

from benchmark import peer_backbones  # noqa: F401  (registers the mst_* timm models)
from benchmark.errors import UserError, did_you_mean
from benchmark.kinds import get_kind
from benchmark.method import Context, Outputs
from benchmark.sequence import DEFAULT_SEQUENCE_BACKBONE, SEQUENCE_BACKBONES, SequenceBackbone

# Convolutions run in channels-last (NHWC) layout: oneDNN's CPU kernels train the small
# ResNets of the quick profile faster in it than in the default NCHW layout (`bench
# perf` measures both). Layout
# changes the order of floating-point sums, so results differ in the last bits from an
# NCHW run, never in what they mean; the setting is part of the protocol version.
MEMORY_FORMAT = torch.channels_last

# Backbones known to work at the profiles' image sizes; any timm model with
# `features_only` support can be named, this list is what `bench list backbones` shows,
# followed by the sequence backbones that text targets get (`benchmark.sequence`).
SUGGESTED = (
    "test_resnet",
    "resnet10t",
    "resnet18",
    "resnet34",
    "resnet50",
    "convnext_atto",
    *SEQUENCE_BACKBONES,
)


def check_backbone(name: str) -> str:
    if name in SEQUENCE_BACKBONES:
        return name
    if not timm.is_model(name):
        known = [*SEQUENCE_BACKBONES, *timm.list_models()]
        raise UserError(f"unknown backbone '{name}': {did_you_mean(name, known)}")
    return name


def is_sequence(x: Tensor) -> bool:
    """Whether `x` is a batch of token sequences (integer [N, L]) rather than images."""
    return x.dim() == 2 and not x.is_floating_point()


def check_backbone_fits(name: str, sequence: bool, task: str, setting: str) -> None:
    """A sequence backbone named for an image input is an error (one line, before a run
    starts); an image model named for a token input stands for the default sequence
    backbone (`build_backbone`), so it always fits."""
    if name in SEQUENCE_BACKBONES and not sequence:
        raise UserError(
            f"{setting}={name} reads token sequences, but {task}'s input is an image: name "
            f"an image model such as {SUGGESTED[1]}, or set it for text tasks only "
            f"(--set tasks.<task>.{setting}={name})"
        )


def build_backbone(name: str, in_chans: int, sequence: bool = False) -> nn.Module:
    """The backbone for an input of `in_chans` channels (for token sequences: the
    vocabulary size). Sequence inputs get the named sequence backbone, or the default one
    when `name` is an image model; a sequence backbone named for an image input is an
    error."""
    if sequence:
        kind = name if name in SEQUENCE_BACKBONES else DEFAULT_SEQUENCE_BACKBONE
        return SequenceBackbone(kind, vocab_size=in_chans)
    if name in SEQUENCE_BACKBONES:
        raise UserError(
            f"backbone '{name}' reads token sequences, not images: name an image model "
            f"such as {SUGGESTED[1]} for this task"
        )
    return Backbone(name, in_chans)


class Backbone(nn.Module):
    """A timm feature extractor returning `Outputs(embedding, feature_maps)`."""

    def __init__(
        self,
        name: str,
        in_chans: int,
        pretrained: bool = False,
        pretrained_cfg_overlay: dict[str, Any] | None = None,
    ) -> None:
        """`pretrained` loads timm's weights for `name` (downloading them), or, with
        `pretrained_cfg_overlay={"state_dict": ...}`, a given timm state dict; timm loads
        them into the whole model before cutting it to `features_only`, which is why they
        are passed here rather than loaded afterwards (see `benchmark.weights`)."""
        super().__init__()
        check_backbone(name)
        self.name = name
        self.body = timm.create_model(
            name,
            features_only=True,
            in_chans=in_chans,
            pretrained=pretrained,
            pretrained_cfg_overlay=pretrained_cfg_overlay,
        )
        self.body.to(memory_format=MEMORY_FORMAT)
        self.channels: tuple[int, ...] = tuple(self.body.feature_info.channels())
        self.dim = self.channels[-1]

    def forward(self, x: Tensor) -> Outputs:
        maps = list(self.body(x.contiguous(memory_format=MEMORY_FORMAT)))
        return Outputs(embedding=maps[-1].mean(dim=(2, 3)), feature_maps=maps)


class DenseHead(nn.Module):
    """A light FPN-style segmentation head: every stage projected to one width, resampled to
    1/`stride` of the input, summed, mixed by one 3×3 convolution, classified per pixel and
    upsampled to the input size. At 32×32 inputs, fusing at 1/2 rather than 1/4 keeps the
    small objects' pixels, for a head still lighter than the backbone."""

    def __init__(
        self, channels: tuple[int, ...], num_classes: int, width: int = 48, stride: int = 2
    ) -> None:
        super().__init__()
        self.stride = stride
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, kernel_size=1) for c in channels)
        self.mix = nn.Sequential(
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.classify = nn.Conv2d(width, num_classes, kernel_size=1)
        self.to(memory_format=MEMORY_FORMAT)

    def forward(self, maps: list[Tensor], size: tuple[int, int]) -> Tensor:
        target = (max(1, size[0] // self.stride), max(1, size[1] // self.stride))
        fused = sum(resample(conv(m), target) for conv, m in zip(self.lateral, maps, strict=True))
        logits = self.classify(self.mix(fused))
        return nn.functional.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def class_head(ctx: Context) -> nn.Module:
    """A class head of the student's own, for the methods that distil class logits (`kd`,
    `dkd`, `dist`, `c2kd`): the backbone has none, since evaluation reads the backbone
    only. Linear on the pooled embedding for classification; a `DenseHead` on every stage
    for segmentation, the same head the few-label step trains."""
    if ctx.dense:
        return DenseHead(ctx.student_channels, ctx.num_classes)
    return nn.Linear(ctx.student_dim, ctx.num_classes)


def head_logits(head: nn.Module, student: Outputs, like: Tensor) -> Tensor:
    """The logits of a `class_head` on the student's outputs, shaped like `like` (the
    teacher's logits): [N, K] from the embedding, or [N, K, H, W] from the stages."""
    if isinstance(head, DenseHead):
        return head(student.feature_maps, size=(like.shape[-2], like.shape[-1]))
    return head(student.embedding)


def resample(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Average-pool down, bilinear up: the map at `size` without aliasing."""
    if x.shape[-2:] == size:
        return x
    if x.shape[-2] >= size[0] and x.shape[-1] >= size[1]:
        return nn.functional.adaptive_avg_pool2d(x, size)
    return nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)


class TaskModel(nn.Module):
    """Backbone plus a task head: linear classifier or dense head. `forward` returns
    `Outputs` with logits filled, so a trained teacher feeds methods directly.

    `head=False` builds the label-free track's teacher: a backbone that never had a head,
    whose outputs carry no logits."""

    def __init__(self, backbone: Backbone, num_classes: int, kind: str, head: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.kind = kind
        self.head: nn.Module | None = None
        if head:
            self.head = (
                DenseHead(backbone.channels, num_classes)
                if get_kind(kind).dense
                else nn.Linear(backbone.dim, num_classes)
            )

    def forward(self, x: Tensor) -> Outputs:
        out = self.backbone(x)
        if self.head is None:
            return out
        if get_kind(self.kind).dense:
            out.logits = self.head(out.feature_maps, size=x.shape[-2:])
        else:
            out.logits = self.head(out.embedding)
        return out


@torch.no_grad()
def forward_all(
    model: nn.Module, x: Tensor, *, keep_maps: bool, on_cpu: bool, batch_size: int = 256
) -> Outputs:
    """A backbone's or task model's `Outputs` on all of `x`, in eval mode, batch by batch;
    on CPU (for caching) or on the model's device (for modules that read them next)."""
    model.eval()
    device = next(model.parameters()).device

    def place(t: Tensor) -> Tensor:
        return t.cpu() if on_cpu else t

    parts = [model(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    logits = [place(p.logits) for p in parts if p.logits is not None]
    levels = zip(*(p.feature_maps for p in parts), strict=True) if keep_maps else []
    return Outputs(
        embedding=torch.cat([place(p.embedding) for p in parts]),
        feature_maps=[torch.cat([place(m) for m in level]).contiguous() for level in levels],
        logits=torch.cat(logits) if logits else None,
    )

"""The interface every distillation method implements, and the method registry.

A method is one class in one file under `methods/`. It sees the teacher's and the
student's outputs for a batch of pairs and returns named loss terms; the runner sums
them, back-propagates into the student and into the method's own modules (heads,
adapters) and steps one optimiser over both. In the supervised and label-free tracks the
pairs are unlabelled and labels never reach a method; in the labelled track
(`benchmark.tracks`) the batch carries the target labels in `Batch.label`, the one field
through which a method learns it has them, and the runner adds the track's cross-entropy
(`benchmark.protocol.labelled`).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from benchmark.kinds import get_kind
from benchmark.params import Param, collect_params, validate
from benchmark.registry import Registry
from benchmark.streams import IGNORE_INDEX


@dataclass
class Outputs:
    """What a backbone produced for a batch.

    `embedding` is the pooled last feature map [B, D]; `feature_maps` are the backbone's
    stages, shallow to deep, each [B, C_l, H_l, W_l] (a sequence student's are
    [B, C_l, L, 1], over its L token slots: `benchmark.sequence`); `logits` exist for the
    teacher only: [B, K] for classification, [B, K, H, W] for segmentation (and not for
    the label-free track's teacher, which has no head).
    """

    embedding: Tensor
    feature_maps: list[Tensor] = field(default_factory=list)
    logits: Tensor | None = None


@dataclass
class Batch:
    """Per-sample facts a method may use besides outputs.

    `index` holds each sample's position in the paired set, so memory banks and queues
    can be keyed by instance.

    `source_id` [B] (long) holds each sample's shared-input id, the paired split's
    `source_ids` at `index`: samples with equal ids were built from one input file (two
    sketches of one photo), so a contrastive method must not use one as the other's
    negative. None when every pair has inputs of its own (the embedded world): a method
    must then compute exactly what it computes without the field (no extra RNG draw).

    `label` holds the pairs' target labels, [B] or [B, H, W] (long, `IGNORE_INDEX` where a
    pair or pixel has none), in the labelled track only; None in the other two tracks, so
    a method can never read a label there. A method whose paper uses the ground truth
    (DKD's target class, C2KD's non-target class) reads it here when it is not None and
    otherwise keeps its label-free reading; the track's cross-entropy on the student's
    head is the runner's, never a method's own term.
    """

    index: Tensor
    source_id: Tensor | None = None
    label: Tensor | None = None


@dataclass
class Context:
    """Everything a method may size its modules by, handed to `Method.setup` once.

    `teacher_head` is the teacher's frozen classifier (linear for classification, the
    dense head for segmentation), for methods that route student features through it;
    None in the label-free track, whose teacher has no head.

    `source_ids` [num_pairs] (long) is the paired split's `source_ids`, for methods whose
    memory banks hold every pair and must know which bank rows share an anchor's input;
    None when every pair has inputs of its own.

    `student_sizes` / `teacher_sizes` are each stage's feature-map (height, width) on the
    task's inputs, shallow to deep like the channels, for methods whose modules depend on
    spatial sizes (FitNets' convolutional regressor); None where the caller did not
    measure them, and such a method then documents what it assumes.
    """

    student_dim: int
    teacher_dim: int
    student_channels: tuple[int, ...]
    teacher_channels: tuple[int, ...]
    num_classes: int
    num_pairs: int
    task_kind: str
    teacher_head: nn.Module | None = None
    source_ids: Tensor | None = None
    student_sizes: tuple[tuple[int, int], ...] | None = None
    teacher_sizes: tuple[tuple[int, int], ...] | None = None

    @property
    def dense(self) -> bool:
        """Per-pixel predictions (segmentation): dense heads, per-pixel losses."""
        return get_kind(self.task_kind).dense


class Method(nn.Module):
    """Base class: declare hyperparameters with `param(...)`, build modules in `setup`,
    return named loss terms from `losses`.

    Class attributes a method may set:
    - `distills = False` skips the distillation stage entirely (the `scratch` reference);
    - `uses_feature_maps = True` asks the runner to keep teacher feature maps, which cost
      memory, not only embeddings and logits;
    - `version`: raise it when a change alters what the method computes (even in the last
      bits), so its existing records stop matching and are recomputed; other methods'
      records stay valid. Version 1 is not written into the record hash
      (`benchmark.hashing`, method-version-1).
    - `labelled_defaults` / `labelled_ce_weight`: the labelled track's loss weights, the
      ones the method's reference runs use beside a labelled cross-entropy (RepDistiller's
      `-r γ -a α -b β`, mdistiller's `CE_WEIGHT`): parameter values that replace the
      declared defaults in that track only (the user's `--set` still wins), and the weight
      γ of the track's cross-entropy. A method with a `ce_weight` parameter (`dkd`,
      `dist`, `c2kd`) uses it as γ instead. The module docstring states both and where
      they come from.
    """

    name: ClassVar[str] = ""
    distills: ClassVar[bool] = True
    uses_feature_maps: ClassVar[bool] = False
    version: ClassVar[int] = 1
    params: ClassVar[dict[str, Param]] = {}
    labelled_defaults: ClassVar[dict[str, Any]] = {}
    labelled_ce_weight: ClassVar[float] = 1.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.params = collect_params(cls)

    def __init__(self, **values: Any) -> None:
        super().__init__()
        self.hparams = validate(type(self).params, values, self.name)
        for key, value in self.hparams.items():
            setattr(self, key, value)

    def needs_teacher_logits(self) -> bool:
        """Whether these settings read the teacher's logits (or its head). In the
        label-free track (`benchmark.tracks`) the teacher has neither, and a method that
        says True here gets a `not_applicable` record instead of running."""
        return False

    def needs_spatial_maps(self) -> bool:
        """Whether these settings compare the student's and the teacher's feature maps
        position by position (after resampling one to the other's size). A sequence
        student's maps are [B, C, L, 1] over token slots (`benchmark.sequence`), which
        correspond to no place in the teacher's image, so on a text target a method that
        says True here gets a `not_applicable` record instead of running."""
        return False

    def setup(self, ctx: Context) -> None:
        """Build trainable modules and buffers once dimensions are known."""

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        """Named scalar loss terms for one batch of pairs; the runner sums them."""
        raise NotImplementedError

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor] | None:
        """(student rows, teacher rows) in the space where this method pulls the two sides
        together, both [B, D] of one width D, for the modality-gap estimates
        (`benchmark.protocol.gaps`). Called after distillation on held-out pairs, in eval mode and
        without gradients. The default None means "no such space": the gap is then
        measured through a linear map from student to teacher embedding fitted on half of
        the held-out pairs. Methods with projection heads or regressors return their
        outputs, so the gap is measured where the method itself measures distance."""
        return None


METHODS: Registry[type[Method]] = Registry("method")


def register_method(
    name: str, *, aliases: tuple[str, ...] = ()
) -> Callable[[type[Method]], type[Method]]:
    """Class decorator: register a method under `name` (timm's `@register_model` idea)."""

    def decorator(cls: type[Method]) -> type[Method]:
        cls.name = name
        return METHODS.register(name, aliases=aliases)(cls)

    return decorator


_loaded = False


def load_methods() -> Registry[type[Method]]:
    """Import every module in `benchmark.methods`, so a new file registers itself."""
    global _loaded
    if not _loaded:
        package = importlib.import_module("benchmark.methods")
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"benchmark.methods.{info.name}")
        _loaded = True
    return METHODS


def list_methods(pattern: str = "*") -> list[str]:
    return load_methods().names(pattern)


def summary(cls: type) -> str:
    """The first sentence of a method's docstring (its module's when the class has none):
    what `bench list methods` and the methods reference page show."""
    doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip()
    paragraph = " ".join(doc.split("\n\n")[0].split())  # its lines joined
    return re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]  # the whole sentence


def create_method(name: str, **values: Any) -> Method:
    """Instantiate a registered method with validated hyperparameters."""
    return load_methods().get(name)(**values)


def class_targets(labels: Tensor | None, teacher_rows: Tensor) -> Tensor:
    """The class each row of `teacher_rows` [N, K] is taken to belong to by a method
    whose paper uses the label: the ground truth where the row has one (`labels`, any
    shape with N entries), else the teacher's argmax, the label-free reading."""
    guess = teacher_rows.detach().argmax(dim=1)
    if labels is None:
        return guess
    labels = labels.reshape(-1)
    return torch.where(labels == IGNORE_INDEX, guess, labels)

"""`scratch`: no distillation — the reference row every method must beat."""

from __future__ import annotations

from torch import Tensor

from benchmark.method import Batch, Method, Outputs, register_method


@register_method("scratch")
class Scratch(Method):
    """The student is never trained on the pairs: the probe reads its randomly initialised
    features and the fine-tune starts from them. A method's gain over this row is what
    the unlabelled pairs and the teacher bought."""

    distills = False

    # Labelled track: no distillation, so cross-entropy alone (γ = 1) on the labelled
    # pairs, the supervised baseline every paper of that setting reports against.

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        return {}

"""`soft-proj`: soft-constrained distillation with a projection head and quality weights.

Paper: Zhao, Jin, Song, Chen, Miao, Hu, "Cross-Modal Distillation For Widely Differing
Modalities", arXiv 2507.16296 (2025), extending Jin et al., "Cross-Modal Distillation for
Speaker Recognition", AAAI 2023.
Reference code: none available to this project.

Only the abstracts were available (MKD's margin, "a loose constraint", and QAW's quality
weights), so this file is this project's reading of them: a margin on FitNets' regressed
feature match (Romero et al., ICLR 2015) and on Hinton's KD (2015), f pooled embeddings:

    feature level     L_feat = mean_i w_i · max(0, 1 − cos(g(f_s,i), f_t,i) − m)
    classifier level  L_cls  = mean_i w_i · max(0, T²·KL(σ(z_t,i/T) ‖ σ(z_s,i/T)) − δ)
                      with z_s,i = h_t(a(f_s,i)), h_t the frozen teacher classifier
    quality weights   w_i = q_i / mean_j q_j  (no gradient), q_i = ‖f_t,i‖ ("norm"),
                      max_k σ(z_t,i)_k ("confidence"), or w_i = 1 ("none").

g: a trainable MLP (student_dim → student_dim → teacher_dim) on the student's side, so the
hinge's target is the teacher's own embedding (on the teacher's side nothing anchors g
and a collapsed student meets every hinge: `tests/methods/test_collapse.py`). a: a learnt
linear adapter, so the teacher's head (eval mode, parameters detached, never trained
here) scores the student. Segmentation: per-stage 1×1 adapters into the teacher's dense
head, the hinge per pixel, averaged. Why, and the tasks that match the papers' settings:
`docs/methods/soft-proj.md`.
Defaults: m = 0.1, T = 4 (as `kd`), δ = 0.1: this project's choices, not the papers'.
`feature`, `classifier` and `quality=none` switch components off for ablations.

Labelled track: the papers' supervised form (`benchmark.tracks`), L = 1·CE(h(f_s), y) +
L_feat + L_cls on the track's head; the papers' weights were not available: γ = 1.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from benchmark.errors import UserError
from benchmark.method import Batch, Context, Method, Outputs, register_method
from benchmark.params import log_uniform, param, uniform


def quality_weights(scores: Tensor) -> Tensor:
    """Per-sample weights proportional to `scores`, mean 1 over the batch, no gradient."""
    scores = scores.detach().float()
    return scores / scores.mean().clamp_min(1e-12)


def feature_hinge(f_s: Tensor, f_t: Tensor, weights: Tensor, margin: float) -> Tensor:
    """mean_i w_i · max(0, (1 − cos(f_s,i, f_t,i)) − margin)."""
    distance = 1.0 - F.cosine_similarity(f_s, f_t, dim=1)
    return (weights * F.relu(distance - margin)).mean()


def classifier_hinge(
    student_logits: Tensor,
    teacher_logits: Tensor,
    weights: Tensor,
    temperature: float,
    margin: float,
) -> Tensor:
    """mean_i w_i · max(0, T²·KL(p_t ‖ p_s) − margin), KL over dim 1; for dense logits
    the hinge is per pixel and pixels are averaged before weighting."""
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    kl = temperature**2 * (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)
    hinge = F.relu(kl - margin)
    if hinge.dim() > 1:  # dense: [B, H, W] → per-sample mean over pixels
        hinge = hinge.flatten(1).mean(dim=1)
    return (weights * hinge).mean()


def call_frozen(module: nn.Module, *args: Any, **kwargs: Any) -> Tensor:
    """Run a module we do not own in eval mode with detached parameters: gradients reach
    its inputs, never its weights, and its batch-norm statistics stay untouched."""
    state = {name: t.detach() for name, t in module.named_parameters()}
    state.update({name: t.detach() for name, t in module.named_buffers()})
    was_training = module.training
    module.eval()
    try:
        return functional_call(module, state, args, kwargs)
    finally:
        module.train(was_training)


def stage_pairing(student_stages: int, teacher_stages: int) -> list[int]:
    """For each teacher stage, the student stage at the same relative depth."""
    if teacher_stages == 1:
        return [student_stages - 1]
    return [round(j * (student_stages - 1) / (teacher_stages - 1)) for j in range(teacher_stages)]


@register_method("soft-proj")
class SoftProj(Method):
    feature: bool = param(True, help="use the feature-level margin loss")
    classifier: bool = param(True, help="use the classifier-level margin loss")
    quality: str = param(
        "norm", choices=("norm", "confidence", "none"), help="per-sample quality score"
    )
    # Search spaces (`bench tune`): the papers' equations were not available, so the
    # margins are searched over this project's reading (m up to a quarter of the cosine
    # distance's [0, 2], δ up to 1 in T²-scaled KL units, both uniform: a margin is a
    # difference, not a factor); T as `kd` (Hinton et al.: 1 to 20); each level's weight
    # a decade either side of 1.
    feature_weight: float = param(
        1.0, low=0.0, help="scale of the feature-level loss", space=log_uniform(0.1, 10.0)
    )
    classifier_weight: float = param(
        1.0, low=0.0, help="scale of the classifier-level loss", space=log_uniform(0.1, 10.0)
    )
    feature_margin: float = param(
        0.1, low=0.0, high=2.0, help="margin m on cosine distance", space=uniform(0.0, 0.5)
    )
    classifier_margin: float = param(
        0.1, low=0.0, high=100.0, help="margin δ on the T²-scaled KL", space=uniform(0.0, 1.0)
    )
    temperature: float = param(
        4.0, low=0.05, high=100.0, help="softmax temperature T", space=log_uniform(1.0, 20.0)
    )

    uses_feature_maps = True  # the segmentation classifier level reads the student's stages
    version = 2  # in the record hash: raised when the loss's numerics change

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        if not (self.feature or self.classifier):
            raise UserError("soft-proj needs feature=true or classifier=true: no loss is left")

    def needs_teacher_logits(self) -> bool:
        """The classifier level reads the teacher's head and logits, confidence weights
        its logits; the feature level with norm (or no) weights reads embeddings only."""
        return self.classifier or self.quality == "confidence"

    def setup(self, ctx: Context) -> None:
        self.dense = ctx.dense
        if self.feature:
            self.project = nn.Sequential(
                nn.Linear(ctx.student_dim, ctx.student_dim),
                nn.ReLU(inplace=True),
                nn.Linear(ctx.student_dim, ctx.teacher_dim),
            )
        if self.classifier:
            if ctx.teacher_head is None:
                raise ValueError("soft-proj's classifier level needs the teacher's head")
            # Kept out of the module tree: not trained, not saved, not switched to train().
            self.__dict__["_teacher_head"] = ctx.teacher_head
            if self.dense:
                pairs = stage_pairing(len(ctx.student_channels), len(ctx.teacher_channels))
                self.stage_of = pairs
                self.adapt: nn.Module = nn.ModuleList(
                    nn.Conv2d(ctx.student_channels[s], c, kernel_size=1)
                    for s, c in zip(pairs, ctx.teacher_channels, strict=True)
                )
            else:
                self.adapt = nn.Linear(ctx.student_dim, ctx.teacher_dim)

    def student_logits(self, student: Outputs, teacher_logits: Tensor) -> Tensor:
        """The student's features scored by the teacher's classifier, through adapters."""
        head: nn.Module = self.__dict__["_teacher_head"]
        if self.dense:
            assert isinstance(self.adapt, nn.ModuleList)
            maps = [
                conv(student.feature_maps[s])
                for conv, s in zip(self.adapt, self.stage_of, strict=True)
            ]
            return call_frozen(head, maps, size=tuple(teacher_logits.shape[-2:]))
        return call_frozen(head, self.adapt(student.embedding))

    def weights(self, teacher: Outputs) -> Tensor:
        f_t = teacher.embedding.detach()
        if self.quality == "none":
            return torch.ones(len(f_t), device=f_t.device)
        if self.quality == "norm":
            return quality_weights(f_t.norm(dim=1))
        if teacher.logits is None:
            raise ValueError("soft-proj quality=confidence needs the teacher's logits")
        confidence = teacher.logits.detach().softmax(dim=1).amax(dim=1)
        return quality_weights(confidence.flatten(1).mean(dim=1) if self.dense else confidence)

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        w = self.weights(teacher)
        terms: dict[str, Tensor] = {}
        if self.feature:
            terms["soft_feat"] = self.feature_weight * feature_hinge(
                self.project(student.embedding), teacher.embedding.detach(), w, self.feature_margin
            )
        if self.classifier:
            if teacher.logits is None:
                raise ValueError("soft-proj's classifier level needs the teacher's logits")
            logits = self.student_logits(student, teacher.logits)
            terms["soft_cls"] = self.classifier_weight * classifier_hinge(
                logits, teacher.logits, w, self.temperature, self.classifier_margin
            )
        return terms

    def aligned(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor] | None:
        """The feature level's space (the projected student embedding g(f_s) against the
        teacher's embedding f_t); without it, for classification, the adapter's space
        a(f_s) against f_t, where the teacher's classifier reads both. A dense classifier
        level alone aligns per-pixel maps only: None, so the gap uses the fitted map."""
        if self.feature:
            return self.project(student.embedding), teacher.embedding
        if not self.dense:
            return self.adapt(student.embedding), teacher.embedding
        return None

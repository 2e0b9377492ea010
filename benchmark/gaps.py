"""Modality-gap estimates: how far apart the teacher's and the student's features are.

CMCD's generalisation bound (Lin et al., "A Generalization Theory of Cross-Modality
Distillation with Contrastive Learning", arXiv 2405.03355) charges the target-modality
error with the total-variation distance between source and target feature distributions;
the paper never measures it. Every cell here measures three things on held-out pairs
(the task's test split: both views, never distilled on), in the space where the method
aligns the two sides (`Method.aligned`; a ridge map student → teacher fitted here when a
method has no such space):

- `gap_tv` — a lower bound on total variation from a two-sample classifier (Lopez-Paz &
  Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017). For equal-sized samples of
  P and Q, any classifier's expected accuracy is a = ½(P(h=1) + Q(h=0)) ≤ ½(1 + TV(P, Q)),
  so TV ≥ 2a − 1. `gap_tv_lo`/`gap_tv_hi` map a 95% Wilson interval on a through 2a − 1.
  The pairs of the test half share scenes, so the interval treats them as independent
  draws, which they nearly are (one scene per pair, scenes independent).
- `gap_cka` — linear CKA between paired features (Kornblith et al., "Similarity of Neural
  Network Representations Revisited", ICML 2019, Eq. 5): 1 for representations equal up
  to rotation and isotropic scale, 0 for unrelated ones. A similarity, not a distance.
- `gap_pair` — the mean cosine distance 1 − cos(s_i, t_i) over pairs, in [0, 2].

`gap_map_*` are the same three always through the fitted map, in the teacher's embedding
space: the one space every method shares, since each method's own space differs.

The pairs are split once, by a seeded permutation, into half A (fits the optional linear
map and the classifier) and half B (every reported number), so no estimate is scored on
data it was fitted to.

The *input gap* of a task is the same estimate between the teacher's features of the
source view and the same (source-trained) teacher backbone's features of the target
view, through a fitted map as for `scratch`: it depends on the task and seed only, not
on any method, so tasks can be ordered by how far apart their modalities are.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.backbones import forward_all
from benchmark.datasets.tasks import TaskData
from benchmark.method import Method, Outputs
from benchmark.training import seeded

Z95 = 1.959964  # two-sided 95% normal quantile
RIDGE = 1e-2  # ridge of the student → teacher map, per sample (features standardised)
CLASSIFIER_DECAY = 1e-3  # L2 penalty of the two-sample classifier
CLASSIFIER_STEPS = 100  # L-BFGS iterations (a convex problem: converges well within)
BATCH = 256


def halves(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded split of n pairs into (fit half A, estimate half B)."""
    order = torch.randperm(n, generator=seeded(seed, "gap"))
    return order[: n // 2], order[n // 2 :]


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA of paired rows, ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F ‖Yᵀ Y‖_F) on centred features
    (Kornblith et al. 2019, Eq. 5); the widths of x and y may differ."""
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    denom = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    if denom <= 0:
        return math.nan
    return float(torch.linalg.matrix_norm(y.T @ x) ** 2 / denom)


def pair_distance(x: Tensor, y: Tensor) -> float:
    """Mean cosine distance 1 − cos(x_i, y_i) over paired rows of equal width."""
    distance = 1.0 - F.cosine_similarity(x.double(), y.double(), dim=1)
    return max(0.0, float(distance.mean()))  # max: -1e-17 for identical rows


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion: unlike the normal approximation,
    it stays inside [0, 1] and keeps its coverage at accuracies near 0.5 or 1."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _standardiser(train: Tensor) -> tuple[Tensor, Tensor]:
    return train.mean(0), train.std(0) + 1e-6


def fit_linear_map(x: Tensor, y: Tensor, ridge: float = RIDGE) -> nn.Linear:
    """Ridge regression y ≈ W x + b (closed form, so deterministic): the best linear
    read-out of the teacher's features from the student's, for methods without heads."""
    x, y = x.double(), y.double()
    mean_x, std_x = _standardiser(x)
    mean_y = y.mean(0)
    xs = (x - mean_x) / std_x
    gram = xs.T @ xs + ridge * len(xs) * torch.eye(xs.shape[1], dtype=xs.dtype)
    w = torch.linalg.solve(gram, xs.T @ (y - mean_y))  # [d_x, d_y] on standardised x
    layer = nn.Linear(x.shape[1], y.shape[1])
    with torch.no_grad():
        layer.weight.copy_((w / std_x[:, None]).T.float())
        layer.bias.copy_((mean_y - (mean_x / std_x) @ w).float())
    return layer


def _expand(z: Tensor) -> Tensor:
    """[z, z²]: a logistic regression on these is a diagonal quadratic discriminant, so
    the two-sample test sees differences in spread (a regression map's shrunken outputs,
    say), not only differences in mean."""
    return torch.cat([z, z * z], dim=1)


def classifier_accuracy(p_fit: Tensor, q_fit: Tensor, p_test: Tensor, q_test: Tensor) -> float:
    """Held-out accuracy of a logistic regression telling P's rows (label 1) from Q's
    (label 0): trained full-batch with L-BFGS from zeros, so no seed is involved."""
    fit = torch.cat([p_fit, q_fit]).double()
    mean, std = _standardiser(fit)
    feats = _expand((fit - mean) / std)
    labels = torch.cat([torch.ones(len(p_fit)), torch.zeros(len(q_fit))]).double()
    layer = nn.Linear(feats.shape[1], 1).double()
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    opt = torch.optim.LBFGS(
        layer.parameters(),
        max_iter=CLASSIFIER_STEPS,
        history_size=10,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(layer(feats).squeeze(1), labels)
        loss = loss + CLASSIFIER_DECAY * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    test = torch.cat([p_test, q_test]).double()
    truth = torch.cat([torch.ones(len(p_test)), torch.zeros(len(q_test))]).bool()
    with torch.no_grad():
        guess = layer(_expand((test - mean) / std)).squeeze(1) > 0
    return float((guess == truth).double().mean())


def tv_lower_bound(
    p_fit: Tensor, q_fit: Tensor, p_test: Tensor, q_test: Tensor
) -> dict[str, float]:
    """TV(P, Q) ≥ 2a − 1 from the classifier's held-out accuracy a, with a 95% interval
    (Lopez-Paz & Oquab 2017); both sides of the test set must have the same size."""
    if len(p_test) != len(q_test):
        raise ValueError("the two-sample test needs equal-sized test samples")
    acc = classifier_accuracy(p_fit, q_fit, p_test, q_test)
    n = len(p_test) + len(q_test)
    lo, hi = wilson(round(acc * n), n)
    return {
        "tv": max(0.0, 2 * acc - 1),
        "tv_lo": max(0.0, 2 * lo - 1),
        "tv_hi": max(0.0, 2 * hi - 1),
        "acc": acc,
    }


def estimate(
    student: Tensor, teacher: Tensor, seed: int, *, fit_map: bool, prefix: str = "gap"
) -> dict[str, float]:
    """All estimates for paired rows student[i] ↔ teacher[i], fitted on half A and scored
    on half B. With `fit_map`, student rows are first mapped into the teacher's space by
    a ridge map fitted on A; otherwise both must already share one space."""
    student, teacher = student.detach().cpu().float(), teacher.detach().cpu().float()
    fit, held = halves(len(student), seed)
    if fit_map:
        with torch.no_grad():
            student = fit_linear_map(student[fit], teacher[fit])(student)
    if student.shape[1] != teacher.shape[1]:
        raise ValueError(f"aligned features differ in width: {student.shape} vs {teacher.shape}")
    tv = tv_lower_bound(teacher[fit], student[fit], teacher[held], student[held])
    out = {f"{prefix}_{k}": v for k, v in tv.items() if k != "acc"}
    out[f"{prefix}_cka"] = linear_cka(student[held], teacher[held])
    out[f"{prefix}_pair"] = pair_distance(student[held], teacher[held])
    return out


def _rows(out: Outputs, start: int, stop: int) -> Outputs:
    return Outputs(
        embedding=out.embedding[start:stop],
        feature_maps=[m[start:stop] for m in out.feature_maps],
        logits=None if out.logits is None else out.logits[start:stop],
    )


@torch.no_grad()
def aligned_features(
    method: Method, student: Outputs, teacher: Outputs
) -> tuple[Tensor, Tensor] | None:
    """The method's `aligned` hook over all rows (in batches, modules in eval mode)."""
    was_training = method.training
    method.eval()
    try:
        parts = []
        for start in range(0, len(student.embedding), BATCH):
            stop = start + BATCH
            pair = method.aligned(_rows(student, start, stop), _rows(teacher, start, stop))
            if pair is None:
                return None
            parts.append(pair)
    finally:
        method.train(was_training)
    return torch.cat([s for s, _ in parts]), torch.cat([t for _, t in parts])


def gap_metrics(
    student: nn.Module, method: Method, teacher: nn.Module, data: TaskData, seed: int
) -> dict[str, float]:
    """`gap_*` of a distilled (or, for `scratch`, untouched) student on the test pairs,
    in the method's alignment space, else through a fitted student → teacher map; and
    `gap_map_*`, always through the fitted map, so methods can also be compared in one
    space (the teacher's embedding) whatever their heads."""
    test = data.test
    if test.source is None or test.target is None:
        raise ValueError(f"task {data.name}'s test split lacks paired source/target views")
    maps = method.uses_feature_maps
    s_out = forward_all(student, test.target, keep_maps=maps, on_cpu=False)
    t_out = forward_all(teacher, test.source, keep_maps=maps, on_cpu=False)
    common = estimate(s_out.embedding, t_out.embedding, seed, fit_map=True, prefix="gap_map")
    pair = aligned_features(method, s_out, t_out) if method.distills else None
    if pair is None:
        own = {k.replace("gap_map_", "gap_"): v for k, v in common.items()}
    else:
        own = estimate(pair[0], pair[1], seed, fit_map=False)
    return {**own, **common}


def adapt_channels(x: Tensor, channels: int) -> Tensor:
    """Target images for a source-trained encoder: channels repeated cyclically, then cut
    to the encoder's count (a 1-channel sketch becomes grey RGB), so no weights change."""
    if x.shape[1] == channels:
        return x
    reps = math.ceil(channels / x.shape[1])
    return x.repeat(1, reps, *([1] * (x.dim() - 2)))[:, :channels]


def input_gap(teacher: nn.Module, data: TaskData, seed: int) -> dict[str, float]:
    """`input_gap_*`: the teacher's source-view features against the same teacher's
    features of the target view, through a fitted map (as for `scratch`)."""
    test = data.test
    if test.source is None or test.target is None:
        raise ValueError(f"task {data.name}'s test split lacks paired source/target views")
    source = forward_all(teacher, test.source, keep_maps=False, on_cpu=False).embedding
    target = forward_all(
        teacher, adapt_channels(test.target, test.source.shape[1]), keep_maps=False, on_cpu=False
    ).embedding
    return estimate(target, source, seed, fit_map=True, prefix="input_gap")

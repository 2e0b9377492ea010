"""Modality-gap estimators: how far apart two sets of paired feature rows are.

CMCD's generalisation bound (Lin et al., "A Generalization Theory of Cross-Modality
Distillation with Contrastive Learning", arXiv 2405.03355) charges the target-modality
error with the total-variation distance between source and target feature distributions;
the paper never measures it. This module holds the estimators, on plain tensors: no task,
method or model appears here, so they can be checked on synthetic data
(`scripts/gap_calibration.py`, `tests/protocol/test_gaps.py`). Which rows they are given
— the held-out pairs of a cell, the teacher's and student's features, the keys of a
record — is `benchmark.protocol.gaps`.

The **common space** (`fit_common_space`) is the frozen teacher's embedding of the source
view, reduced to its top `GAP_DIM` principal directions (fitted on the teacher rows of the
map pairs, so it depends on the task and seed only). The student's embedding (the backbone
every method trains, not a method's head) is carried into it by a ridge map of fixed
capacity (linear, ridge `RIDGE`) fitted on the same map pairs. No method can move the
teacher side, and a method's heads play no part, so the figure is the distance between the
source-view and target-view feature distributions in one fixed space, not in a space the
method shaped. Why the teacher's space with a fixed width: it is the one space every method
shares (each method's own space has its own width: 10 logits for `kd`, 128 for `crd`, the
teacher's width otherwise), the classifier bound loses power as the width grows, and
debiased CKA is comparable only at a fixed width; PCA, not a random projection, keeps the
directions the teacher's features vary in (`gap_kept` records the share of the teacher's
variance kept). This project's reading.

The pairs come as a `GapSplit`: five disjoint sets of pair indices (map pairs, and the
classifier's teacher-fit, student-fit, teacher-test and student-test samples), so the two
samples of the two-sample test come from disjoint pairs and the classifier is fitted and
scored on disjoint pairs.

The estimates (`<prefix>_…`, from `estimate`):

- `tv`, `tv_lo`, `tv_hi` — the two-sample classifier bound (Lopez-Paz & Oquab, "Revisiting
  Classifier Two-Sample Tests", ICLR 2017): for equal-sized samples of P and Q, any fixed
  classifier's accuracy a = ½(P(h=1) + Q(h=0)) ≤ ½(1 + TV(P, Q)), so TV ≥ 2a − 1. The
  point estimate 2â − 1 is *not* clipped at 0, so it is unbiased for 2a − 1 (whose value is
  exactly 0 for P = Q) and can be slightly negative; `tv_lo`/`tv_hi` map a 95% Wilson
  interval on a through 2a − 1, so TV ≥ max(0, `tv_lo`) with 95% confidence.
- `cka` — debiased linear CKA over the scored pairs (all but the map pairs): linear CKA
  (Kornblith et al., "Similarity of Neural Network Representations Revisited", ICML 2019)
  with each HSIC replaced by the unbiased estimator HSIC₁ of Song et al. ("Feature
  Selection via Dependence Maximization", JMLR 13, 2012), as in Nguyen, Raghu & Kornblith
  ("Do Wide and Deep Networks Learn the Same Things?", ICLR 2021). Its numerator has
  expectation 0 for independent features at any size and width. A similarity, not a
  distance.
- `pair` — the mean cosine distance 1 − cos(s_i, t_i) over the scored pairs, in [0, 2]
  (in the common space: on centred principal coordinates).
- `n` (rows per side in each of the classifier's fit and test samples), `dim` (the
  space's width) and, in the common space, `kept`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAP_DIM = 16  # width of the common space: the teacher embedding's top principal directions
Z95 = 1.959964  # two-sided 95% normal quantile
RIDGE = 1e-2  # ridge of the student → common-space map, per sample (features standardised)
CLASSIFIER_DECAY = 1e-3  # L2 penalty of the two-sample classifier
CLASSIFIER_STEPS = 100  # L-BFGS iterations (a convex problem: converges well within)


@dataclass(frozen=True)
class GapSplit:
    """Five disjoint sets of pair indices: `map` fits the common space; the classifier
    learns teacher rows of `fit_p` against student rows of `fit_q` and is scored on teacher
    rows of `test_p` against student rows of `test_q`."""

    map: Tensor
    fit_p: Tensor
    fit_q: Tensor
    test_p: Tensor
    test_q: Tensor

    @property
    def n(self) -> int:
        """Rows per side in each of the classifier's samples."""
        return len(self.test_p)

    @property
    def scored(self) -> Tensor:
        """The pairs CKA and the pair distance are computed on: all but the map pairs."""
        return torch.cat([self.fit_p, self.fit_q, self.test_p, self.test_q])

    @property
    def used(self) -> Tensor:
        return torch.cat([self.map, self.scored])

    def compact(self) -> GapSplit:
        """The same split over rows[self.used] (positions 0..k−1), for features computed on
        the used pairs only."""
        sets = (self.map, self.fit_p, self.fit_q, self.test_p, self.test_q)
        bounds = [0, *itertools.accumulate(len(s) for s in sets)]
        return GapSplit(*(torch.arange(a, b) for a, b in itertools.pairwise(bounds)))


def _hsic1(k: Tensor, g: Tensor) -> Tensor:
    """The unbiased HSIC estimator of Song et al. 2012 (JMLR 13), HSIC₁ =
    [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)), with K̃, L̃ the
    Gram matrices (K, L = `k`, `g`) with zeroed diagonals."""
    n = len(k)
    k = k - torch.diag_embed(torch.diagonal(k))
    g = g - torch.diag_embed(torch.diagonal(g))
    ones_kl = k.sum(0) @ g.sum(0)  # 1ᵀK̃L̃1, K̃ symmetric
    total = (k * g).sum() + k.sum() * g.sum() / ((n - 1) * (n - 2)) - 2 * ones_kl / (n - 2)
    return total / (n * (n - 3))


def debiased_cka(x: Tensor, y: Tensor) -> float:
    """Debiased linear CKA of paired rows: HSIC₁(K, L) / √(HSIC₁(K, K)·HSIC₁(L, L)) with
    linear kernels K = XXᵀ, L = YYᵀ on centred features (Song et al. 2012's unbiased HSIC
    in Kornblith et al. 2019's CKA, as Nguyen, Raghu & Kornblith, ICLR 2021 use it); the
    widths may differ. Near 0 for independent features at any width, 1 for features
    equal up to rotation and isotropic scale; can be slightly negative."""
    if len(x) < 4:
        return math.nan
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    k, g = x @ x.T, y @ y.T
    denom = _hsic1(k, k) * _hsic1(g, g)
    if denom <= 0:
        return math.nan
    return float(_hsic1(k, g) / denom.sqrt())


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA of paired rows, ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F ‖Yᵀ Y‖_F) on centred features
    (Kornblith et al. 2019, Eq. 5), with the biased HSIC: kept for comparison
    (`scripts/gap_calibration.py`); the records use `debiased_cka`."""
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
    """Wilson score interval of a binomial proportion (Wilson, JASA 1927): unlike the
    normal approximation, it stays inside [0, 1] and keeps its coverage at accuracies near
    0.5 or 1."""
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
    read-out of the target rows from the input rows (Hoerl & Kennard, Technometrics 1970)."""
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


@dataclass
class CommonSpace:
    """The teacher's top principal directions (`basis` [D_t, d] around `mean`) and a
    ridge map of student rows into those coordinates; `kept` is the share of the
    teacher's variance (on the fit rows) the d directions hold."""

    mean: Tensor
    basis: Tensor
    student_map: nn.Linear
    kept: float

    def teacher(self, t: Tensor) -> Tensor:
        return (t.float() - self.mean) @ self.basis

    @torch.no_grad()
    def student(self, s: Tensor) -> Tensor:
        return self.student_map(s.float())


def fit_common_space(student: Tensor, teacher: Tensor, dim: int = GAP_DIM) -> CommonSpace:
    """PCA (Pearson 1901) of the teacher rows to at most `dim` directions, then a ridge map
    from the paired student rows into those coordinates; both fitted on the given pairs
    only (the map pairs)."""
    teacher = teacher.float()
    mean = teacher.mean(0)
    _, values, vh = torch.linalg.svd((teacher - mean).double(), full_matrices=False)
    d = max(1, min(dim, teacher.shape[1], len(teacher) - 1))
    basis = vh[:d].T.float()
    power = values.pow(2)
    kept = float(power[:d].sum() / power.sum()) if power.sum() > 0 else math.nan
    return CommonSpace(mean, basis, fit_linear_map(student, (teacher - mean) @ basis), kept)


def _expand(z: Tensor) -> Tensor:
    """[z, z²]: a logistic regression on these is a diagonal quadratic discriminant, so
    the two-sample test sees differences in spread (a regression map's shrunken outputs,
    say), not only differences in mean."""
    return torch.cat([z, z * z], dim=1)


def fit_classifier(p_fit: Tensor, q_fit: Tensor) -> Callable[[Tensor], Tensor]:
    """A logistic regression on standardised [z, z²] telling P's rows (label 1) from Q's
    (label 0), trained full-batch with L-BFGS from zeros, so no seed is involved; returns
    the rule rows → (predicted P?)."""
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

    @torch.no_grad()
    def rule(rows: Tensor) -> Tensor:
        return layer(_expand((rows.double() - mean) / std)).squeeze(1) > 0

    return rule


def classifier_accuracy(p_fit: Tensor, q_fit: Tensor, p_test: Tensor, q_test: Tensor) -> float:
    """Held-out accuracy of `fit_classifier` on P's and Q's test rows."""
    return rule_accuracy(fit_classifier(p_fit, q_fit), p_test, q_test)


def rule_accuracy(rule: Callable[[Tensor], Tensor], p_rows: Tensor, q_rows: Tensor) -> float:
    """The share of rows a rule labels right (P's rows as P, Q's as not)."""
    right = rule(p_rows).sum() + (~rule(q_rows)).sum()
    return float(right) / (len(p_rows) + len(q_rows))


def tv_from_accuracy(acc: float, n: int) -> dict[str, float]:
    """2a − 1 and a 95% Wilson interval on a (from n scored rows) mapped through it.
    Nothing is clipped at 0 (this project's reading): the point estimate is then unbiased
    for the classifier's 2a − 1, whose value is exactly 0 when P = Q."""
    lo, hi = wilson(round(acc * n), n)
    return {"tv": 2 * acc - 1, "tv_lo": 2 * lo - 1, "tv_hi": 2 * hi - 1, "acc": acc}


def tv_lower_bound(
    p_fit: Tensor, q_fit: Tensor, p_test: Tensor, q_test: Tensor
) -> dict[str, float]:
    """TV(P, Q) ≥ 2a − 1 from the classifier's held-out accuracy a (Lopez-Paz & Oquab
    2017), with a 95% interval (`tv_from_accuracy`). Both test samples must have the same
    size, and their rows must be independent draws."""
    if len(p_test) != len(q_test):
        raise ValueError("the two-sample test needs equal-sized test samples")
    acc = classifier_accuracy(p_fit, q_fit, p_test, q_test)
    return tv_from_accuracy(acc, len(p_test) + len(q_test))


def estimate(
    student: Tensor, teacher: Tensor, split: GapSplit, *, common: bool, prefix: str = "gap"
) -> dict[str, float]:
    """Every estimate for paired rows student[i] ↔ teacher[i] over the pairs of `split`
    (module docstring). With `common`, both sides first go into the common space fitted
    on the map pairs; otherwise they must already share one space, and the map pairs go
    unused."""
    student, teacher = student.detach().cpu().float(), teacher.detach().cpu().float()
    out: dict[str, float] = {}
    if common:
        space = fit_common_space(student[split.map], teacher[split.map])
        student, teacher = space.student(student), space.teacher(teacher)
        out[f"{prefix}_kept"] = space.kept
    if student.shape[1] != teacher.shape[1]:
        raise ValueError(f"aligned features differ in width: {student.shape} vs {teacher.shape}")
    tv = tv_lower_bound(
        teacher[split.fit_p], student[split.fit_q], teacher[split.test_p], student[split.test_q]
    )
    out.update({f"{prefix}_{k}": v for k, v in tv.items() if k != "acc"})
    scored = split.scored
    out[f"{prefix}_cka"] = debiased_cka(student[scored], teacher[scored])
    out[f"{prefix}_pair"] = pair_distance(student[scored], teacher[scored])
    out[f"{prefix}_n"] = float(split.n)
    out[f"{prefix}_dim"] = float(teacher.shape[1])
    return out

"""Calibration of the modality-gap estimators (`benchmark.protocol.gap_estimators`) on
synthetic Gaussians whose total variation and dependence are known, at the sizes and widths
the harness uses.

    python scripts/gap_calibration.py [--repeats 100]

Prints three markdown tables (docs/gap.md, "Calibration of the estimators", explains them):

1. `tv_lower_bound` (the classifier bound behind `gap_tv`): P = N(0, I_d) against
   Q = N(Δ·e₁, I_d), TV = 2Φ(Δ/2) − 1, or against Q = N(0, s²I_d) with s chosen so that
   TV = 0.5 (TV = F_d(r²) − F_d(r²/s²), F_d the χ²_d CDF, r² = 2d·ln s / (1 − s⁻²) where
   the densities cross). Each repeat draws n rows per side for the classifier's fit and
   n per side for its test. Besides the estimate 2â − 1 and its interval, each repeat
   scores the fitted classifier on 5,000 fresh rows per side: its accuracy a* is what the
   interval is an interval for (2a* − 1 ≤ TV).
2. Linear CKA, biased (Kornblith et al. 2019) and debiased (unbiased HSIC, Song et al.
   2012): x ~ N(0, I_d), y = ρx + √(1 − ρ²)e, population CKA ρ².
3. The whole common-space `estimate` (PCA of a 96-wide teacher to `GAP_DIM`, ridge map of
   a 96-wide student, the disjoint pair sets of `gap_split`): teacher t ~ N(0, Σ) with
   σ_k² = k^(−1.5); student s = (t + τe)R (R a random rotation) for τ = 0 (a linear copy),
   a noisy copy, or s independent of t. Given the fitted space, both sides the test
   compares are Gaussian with known moments, so each repeat's true TV (by Monte Carlo on
   the exact densities) and population CKA are known.

Sizes: n = `GAP_SAMPLES` per side per sample (the test split holding 6·`GAP_SAMPLES`
usable pairs or more), and n = 83 (a 500-pair test split); CKA is scored on 4n pairs.
Widths: `GAP_DIM` (the common space), 10 (`kd`'s logits), 128 (`crd`, `cmcd-cmc` heads),
512 (a resnet18 teacher's embedding) for the own-space figures. Deterministic (seeded);
one torch thread.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
from scipy import optimize, stats
from torch import Tensor

from benchmark.protocol.gap_estimators import (
    GAP_DIM,
    debiased_cka,
    estimate,
    fit_classifier,
    fit_common_space,
    linear_cka,
    rule_accuracy,
    tv_from_accuracy,
)
from benchmark.protocol.gaps import GAP_MAP_PAIRS, GAP_SAMPLES, gap_split

FRESH = 5000  # fresh rows per side scoring each fitted classifier (its a*)
MC = 10000  # Monte Carlo draws for a Gaussian pair's TV
SMALL_TEST = 500  # a test split of 500 pairs: the shrunk sizes
TEACHER_WIDTH = 96  # the quick profile's test_resnet embedding
NOISE = 0.02  # τ² of the noisy-copy student
STUDENTS: tuple[tuple[str, float | None], ...] = (
    ("linear copy", 0.0),
    (f"noisy copy (τ² = {NOISE})", NOISE**0.5),
    ("independent", None),
)


def shift_tv(delta: float) -> float:
    """TV of N(0, I) and N(Δe₁, I): 2Φ(Δ/2) − 1."""
    return 2 * stats.norm.cdf(delta / 2) - 1


def spread_tv(s: float, d: int) -> float:
    """TV of N(0, I_d) and N(0, s²I_d), s > 1."""
    r2 = 2 * d * math.log(s) / (1 - s**-2)
    return float(stats.chi2.cdf(r2, d) - stats.chi2.cdf(r2 / s**2, d))


def spread_for(tv: float, d: int) -> float:
    return float(optimize.brentq(lambda s: spread_tv(s, d) - tv, 1.0 + 1e-9, 50.0))


def gaussian_tv(
    mean_p: Tensor, cov_p: Tensor, mean_q: Tensor, cov_q: Tensor, g: torch.Generator
) -> float:
    """TV(P, Q) = E_P[(1 − q/p)₊] by Monte Carlo on the exact Gaussian densities."""
    mean_p, cov_p, mean_q, cov_q = (t.double() for t in (mean_p, cov_p, mean_q, cov_q))
    jitter = 1e-10 * torch.eye(len(cov_p), dtype=torch.double)
    p = torch.distributions.MultivariateNormal(mean_p, cov_p + jitter)
    q = torch.distributions.MultivariateNormal(mean_q, cov_q + jitter)
    chol = torch.linalg.cholesky(cov_p + jitter)
    x = mean_p + torch.randn(MC, len(mean_p), generator=g, dtype=torch.double) @ chol.T
    ratio = (q.log_prob(x) - p.log_prob(x)).clamp(max=50).exp()
    return float((1 - ratio).clamp(min=0).mean())


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def rate(flags: list[bool]) -> str:
    return f"{100 * sum(flags) / len(flags):.0f}%"


def sampler(
    d: int, param: Tensor, spread: bool, g: torch.Generator
) -> Callable[[int, bool], Tensor]:
    """k rows of P = N(0, I_d), or of Q (P's rows scaled by or shifted by `param`)."""

    def draw(k: int, q: bool) -> Tensor:
        x = torch.randn(k, d, generator=g)
        if not q:
            return x
        return x * param if spread else x + param

    return draw


def tv_table(repeats: int, g: torch.Generator) -> list[str]:
    small = SMALL_TEST * GAP_SAMPLES // (4 * GAP_SAMPLES + GAP_MAP_PAIRS)
    settings = [
        (GAP_SAMPLES, GAP_DIM, "common space"),
        (small, GAP_DIM, "common, 500-pair test"),
        (GAP_SAMPLES, 10, "own: kd logits"),
        (GAP_SAMPLES, 128, "own: crd/cmcd heads"),
        (GAP_SAMPLES, 512, "own: resnet18 width"),
    ]
    lines = [
        row(
            [
                "Q vs N(0, I)",
                "where",
                "n/side",
                "d",
                "TV",
                "mean 2a*−1",
                "mean est.",
                "bias",
                "SD",
                "old clipped mean",
                "TV ≥ lo",
                "TV in [lo, hi]",
                "2a*−1 in [lo, hi]",
            ]
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, d, where in settings:
        cases: list[tuple[str, float, Tensor, bool]] = []
        for delta in (0.0, 1.0, 2.0, 4.0):
            shift = torch.zeros(d)
            shift[0] = delta
            cases.append((f"mean + {delta:g}·e₁", shift_tv(delta), shift, False))
        s = spread_for(0.5, d)
        cases.append((f"scale × {s:.3f}", 0.5, torch.full((d,), s), True))
        for name, tv, param, spread in cases:
            draw = sampler(d, param, spread, g)
            est, reach, clipped, lower, inside, own = [], [], [], [], [], []
            for _ in range(repeats):
                rule = fit_classifier(draw(n, False), draw(n, True))
                out = tv_from_accuracy(rule_accuracy(rule, draw(n, False), draw(n, True)), 2 * n)
                star = 2 * rule_accuracy(rule, draw(FRESH, False), draw(FRESH, True)) - 1
                est.append(out["tv"])
                reach.append(star)
                clipped.append(max(0.0, out["tv"]))
                lower.append(out["tv_lo"] <= tv)
                inside.append(out["tv_lo"] <= tv <= out["tv_hi"])
                own.append(out["tv_lo"] <= star <= out["tv_hi"])
            mean = statistics.fmean(est)
            lines.append(
                row(
                    [
                        name,
                        where,
                        str(n),
                        str(d),
                        f"{tv:.3f}",
                        f"{statistics.fmean(reach):.3f}",
                        f"{mean:.3f}",
                        f"{mean - tv:+.3f}",
                        f"{statistics.stdev(est):.3f}",
                        f"{statistics.fmean(clipped):.3f}",
                        rate(lower),
                        rate(inside),
                        rate(own),
                    ]
                )
            )
    return lines


def cka_table(repeats: int, g: torch.Generator) -> list[str]:
    small = 4 * (SMALL_TEST * GAP_SAMPLES // (4 * GAP_SAMPLES + GAP_MAP_PAIRS))
    settings = [
        (4 * GAP_SAMPLES, GAP_DIM),
        (small, GAP_DIM),
        (4 * GAP_SAMPLES, 128),
        (4 * GAP_SAMPLES, 512),
        (GAP_SAMPLES, 128),
        (GAP_SAMPLES, 512),
    ]
    lines = [
        row(
            [
                "dependence",
                "pairs",
                "d",
                "CKA",
                "debiased mean",
                "bias",
                "SD",
                "biased mean",
                "bias",
                "SD",
            ]
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, d in settings:
        for rho2, name in ((0.0, "independent"), (0.5, "ρ² = 0.5"), (1.0, "identical")):
            new, old = [], []
            for _ in range(repeats):
                x, e = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
                y = math.sqrt(rho2) * x + math.sqrt(1 - rho2) * e
                new.append(debiased_cka(x, y))
                old.append(linear_cka(x, y))
            lines.append(
                row(
                    [
                        name,
                        str(n),
                        str(d),
                        f"{rho2:.2f}",
                        f"{statistics.fmean(new):.3f}",
                        f"{statistics.fmean(new) - rho2:+.3f}",
                        f"{statistics.stdev(new):.3f}",
                        f"{statistics.fmean(old):.3f}",
                        f"{statistics.fmean(old) - rho2:+.3f}",
                        f"{statistics.stdev(old):.3f}",
                    ]
                )
            )
    return lines


def pipeline_table(repeats: int, g: torch.Generator) -> list[str]:
    width = TEACHER_WIDTH
    sigma2 = torch.arange(1, width + 1, dtype=torch.double).pow(-1.5)
    cov_t = torch.diag(sigma2)
    lines = [
        row(
            [
                "student",
                "test pairs",
                "n/side",
                "true TV",
                "mean gap_tv",
                "bias",
                "SD",
                "TV ≥ lo",
                "TV in [lo, hi]",
                "true CKA",
                "mean gap_cka",
                "bias",
                "SD",
            ]
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    full = 4 * GAP_SAMPLES + GAP_MAP_PAIRS
    for pairs in (full, SMALL_TEST):
        for name, tau in STUDENTS:
            tv_est, tv_true, lower, inside, cka_est, cka_true = [], [], [], [], [], []
            n = 0
            for rep in range(repeats):
                rot, _ = torch.linalg.qr(torch.randn(width, width, generator=g, dtype=torch.double))
                t = torch.randn(pairs, width, generator=g, dtype=torch.double) * sigma2.sqrt()
                e = torch.randn(pairs, width, generator=g, dtype=torch.double)
                if tau is None:
                    s, cov_s = e @ rot, torch.eye(width, dtype=torch.double)
                    cov_st = torch.zeros(width, width, dtype=torch.double)
                else:
                    s = (t + tau * e) @ rot
                    cov_s = rot.T @ (cov_t + tau**2 * torch.eye(width, dtype=torch.double)) @ rot
                    cov_st = rot.T @ cov_t
                split = gap_split(pairs, rep)
                n = split.n
                out = estimate(s.float(), t.float(), split, common=True)
                space = fit_common_space(s.float()[split.map], t.float()[split.map])
                w = space.student_map.weight.detach().double()
                b = space.student_map.bias.detach().double()
                basis = space.basis.double()
                cov_m, cov_tt = w @ cov_s @ w.T, basis.T @ cov_t @ basis
                cross = w @ cov_st @ basis
                truth = gaussian_tv(-basis.T @ space.mean.double(), cov_tt, b, cov_m, g)
                tv_est.append(out["gap_tv"])
                tv_true.append(truth)
                lower.append(out["gap_tv_lo"] <= truth)
                inside.append(out["gap_tv_lo"] <= truth <= out["gap_tv_hi"])
                norms = torch.linalg.matrix_norm(cov_m) * torch.linalg.matrix_norm(cov_tt)
                cka_true.append(float(torch.linalg.matrix_norm(cross) ** 2 / norms))
                cka_est.append(out["gap_cka"])
            tv_mean, cka_mean = statistics.fmean(tv_est), statistics.fmean(cka_est)
            tv_ref, cka_ref = statistics.fmean(tv_true), statistics.fmean(cka_true)
            lines.append(
                row(
                    [
                        name,
                        str(pairs),
                        str(n),
                        f"{tv_ref:.3f}",
                        f"{tv_mean:.3f}",
                        f"{tv_mean - tv_ref:+.3f}",
                        f"{statistics.stdev(tv_est):.3f}",
                        rate(lower),
                        rate(inside),
                        f"{cka_ref:.3f}",
                        f"{cka_mean:.3f}",
                        f"{cka_mean - cka_ref:+.3f}",
                        f"{statistics.stdev(cka_est):.3f}",
                    ]
                )
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="draws per table row")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    print(f"`python scripts/gap_calibration.py --repeats {args.repeats}`\n", flush=True)
    print("**Two-sample classifier bound (`gap_tv`), shifted and scaled Gaussians**\n")
    print("\n".join(tv_table(args.repeats, g)))
    print("\n**Linear CKA (`gap_cka`), biased and debiased**\n")
    print("\n".join(cka_table(args.repeats, g)))
    print("\n**The whole common-space estimate (`estimate(..., common=True)`)**\n")
    print("\n".join(pipeline_table(args.repeats, g)))
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

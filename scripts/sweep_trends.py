"""What a sweep shows, with the intervals README's claims are read off: per knob value the
task's reference figures (all-labels ceiling, teacher, input gap), per method the target
error, its paired change from the first to the last value, the per-seed slope of error
against the measured input gap, the change of the method's own common-space gap, and the
distillation gain over `scratch` (the method's accuracy minus scratch's, same seed and
value) and its paired change: the part of a change in error that is the distillation's,
since `scratch` sees no teacher.

    python scripts/sweep_trends.py results/sweeps/world.sketch_ruling [--versus cmcd-cmc]

Every interval is a 95% t interval over seeds of a per-seed quantity (a seed fixes the
scenes, the teacher and the student's initialisation for every value of a world knob, so
differences and slopes are paired within a seed); "*" marks one that excludes zero. A
slope is the least-squares slope, within one seed, of the method's error (points) against
`input_gap_pair` across the knob's values, in points per +0.1 of the gap; the input gap
is the figure that is precise within a seed (README, "The modality gap").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.results.stats import mean_ci

REFERENCE = "_reference"
GAPS = ("input_gap_pair", "input_gap_tv", "input_gap_cka")
OWN = ("gap_pair", "gap_tv", "gap_cka")


def ci(values: pd.Series | np.ndarray, scale: float = 1.0, digits: int = 1) -> str:
    """'mean ± half' with a * when the interval excludes zero."""
    mean, half = mean_ci(pd.Series(np.asarray(values, dtype=float)))
    mark = "\\*" if np.isfinite(half) and abs(mean) > half else ""
    return f"{scale * mean:+.{digits}f} ± {scale * half:.{digits}f}{mark}"


def level(values: pd.Series, scale: float = 1.0, digits: int = 1) -> str:
    mean, half = mean_ci(values)
    return f"{scale * mean:.{digits}f} ± {scale * half:.{digits}f}"


def slope(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a sweep folder holding sweep.csv")
    parser.add_argument(
        "--versus", default=None, help="also print this method minus each other, per value"
    )
    args = parser.parse_args()
    table = pd.read_csv(args.sweep / "sweep.csv")
    table = table[table.status == "ok"]
    knob = table.knob.iloc[0]
    values = sorted(float(v) for v in table.value.unique())
    first, last = values[0], values[-1]
    refs = table[table.method == REFERENCE].set_index(["seed", "value"])
    runs = table[table.method != REFERENCE]
    seeds = sorted(set(refs.index.get_level_values("seed")))
    names = [f"{v:g}" for v in values]
    print(f"{knob}: values {', '.join(names)}; seeds {', '.join(map(str, seeds))}\n")

    print(f"| per value | {' | '.join(names)} | {names[-1]} − {names[0]} |")
    print("|---|" + "---:|" * (len(values) + 1))
    for column, scale, digits in (
        ("all_labels_acc", 100, 1),
        ("teacher_acc", 100, 1),
        *((g, 1, 3) for g in GAPS),
    ):
        cells = [level(refs.xs(v, level="value")[column], scale, digits) for v in values]
        delta = refs.xs(last, level="value")[column] - refs.xs(first, level="value")[column]
        print(f"| {column} | " + " | ".join(cells) + f" | {ci(delta, scale, digits)} |")

    gap = refs["input_gap_pair"]
    scratch = runs[runs.method == "scratch"].set_index(["seed", "value"])["finetune_acc"]
    print(
        f"\n| method | error at {' | '.join(names)} | Δ error {names[-1]} − {names[0]} "
        "| slope per +0.1 input_gap_pair | Δ gap_pair | Δ gap_tv | Δ gap_cka "
        f"| gain over scratch at {names[0]} | at {names[-1]} | Δ gain |"
    )
    print("|---|" + "---:|" * (len(values) + 8))
    for method, group in runs.groupby("method", sort=True):
        score = group.set_index(["seed", "value"])
        error = 100 * (1 - score["finetune_acc"])
        cells = [level(error.xs(v, level="value")) for v in values]
        delta = error.xs(last, level="value") - error.xs(first, level="value")
        slopes = []
        for seed in seeds:
            e = error.xs(seed, level="seed").reindex(values)
            g = gap.xs(seed, level="seed").reindex(values)
            if e.notna().all() and g.notna().all():
                slopes.append(slope(g.to_numpy(), e.to_numpy()) / 10)
        own = [
            ci(score[c].xs(last, level="value") - score[c].xs(first, level="value"), 1, 3)
            for c in OWN
        ]
        gains = [
            score["finetune_acc"].xs(v, level="value") - scratch.xs(v, level="value")
            for v in (first, last)
        ]
        gain = (
            [ci(g, 100) for g in (*gains, gains[1] - gains[0])]
            if method != "scratch"
            else ["—"] * 3
        )
        print(
            f"| {method} | "
            + " | ".join(cells)
            + f" | {ci(delta)} | {ci(np.array(slopes))} | "
            + " | ".join(own)
            + " | "
            + " | ".join(gain)
            + " |"
        )

    if args.versus is not None:
        accuracy = runs.set_index(["method", "seed", "value"])["finetune_acc"]
        print(f"\n| {args.versus} minus | {' | '.join(names)} |")
        print("|---|" + "---:|" * len(values))
        for other in sorted(set(runs.method) - {args.versus}):
            cells = [
                ci(
                    accuracy[args.versus].xs(v, level="value")
                    - accuracy[other].xs(v, level="value"),
                    100,
                )
                for v in values
            ]
            print(f"| {other} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""What a sweep shows, as tables: per knob value the task's reference figures, per method
the target error, its paired change, the slope of error against the measured input gap,
the change of the method's own common-space gap and the distillation gain over `scratch`
(`benchmark.results.sweep_trends` computes them; the results page renders the same
figures with Holm over each table).

    python scripts/sweep_trends.py results/sweeps/world.sketch_ruling [--versus cmcd-cmc]

Every interval is a 95% t interval over seeds of a per-seed quantity; "*" marks one that
excludes zero, unadjusted for the table's many intervals: a pointer, not a finding.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmark.results.sweep_trends import Estimate, trends


def ci(e: Estimate, digits: int = 1) -> str:
    """'mean ± half' with a * when the interval excludes zero."""
    mark = "\\*" if e.excludes_zero else ""
    return f"{e.mean:+.{digits}f} ± {e.half:.{digits}f}{mark}"


def level(e: Estimate, digits: int = 1) -> str:
    return f"{e.mean:.{digits}f} ± {e.half:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a sweep folder holding sweep.csv")
    parser.add_argument(
        "--versus", default=None, help="also print this method minus each other, per value"
    )
    args = parser.parse_args()
    t = trends(pd.read_csv(args.sweep / "sweep.csv"))
    names = [f"{v:g}" for v in t.values]
    print(f"{t.knob}: values {', '.join(names)}; seeds {', '.join(map(str, t.seeds))}\n")

    print(f"| per value | {' | '.join(names)} | {names[-1]} − {names[0]} |")
    print("|---|" + "---:|" * (len(names) + 1))
    for column, levels in t.levels.items():
        digits = 1 if column.endswith("_acc") else 3
        cells = [level(e, digits) for e in levels]
        print(f"| {column} | " + " | ".join(cells) + f" | {ci(t.changes[column], digits)} |")

    print(
        f"\n| method | error at {' | '.join(names)} | Δ error {names[-1]} − {names[0]} "
        "| slope per +0.1 input_gap_pair | Δ gap_pair | Δ gap_tv | Δ gap_cka "
        f"| gain over scratch at {names[0]} | at {names[-1]} | Δ gain |"
    )
    print("|---|" + "---:|" * (len(names) + 8))
    for m in t.methods:
        own = [ci(m.own[c], 3) for c in ("gap_pair", "gap_tv", "gap_cka")]
        gain = [ci(g) for g in m.gains] if m.gains else ["—"] * 3
        print(
            f"| {m.method} | "
            + " | ".join(level(e) for e in m.error)
            + f" | {ci(m.delta)} | {ci(m.slope)} | "
            + " | ".join(own)
            + " | "
            + " | ".join(gain)
            + " |"
        )

    if args.versus is not None:
        print(f"\n| {args.versus} minus | {' | '.join(names)} |")
        print("|---|" + "---:|" * len(names))
        for other, per_value in t.versus[args.versus].items():
            print(f"| {other} | " + " | ".join(ci(e) for e in per_value) + " |")


if __name__ == "__main__":
    main()

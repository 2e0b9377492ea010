"""Every paired comparison of a results folder: for each task and track, each pair of
methods, the mean per-seed difference of the task's primary metric with its unadjusted
95% paired t interval, the Holm-adjusted p of the directional claim, and the verdict the
leaderboard uses (`benchmark.results.ranks`): resolved (Holm over the n(n − 1) one-sided
pairwise hypotheses of the task and track), equivalent within ±margin (TOST, Holm over the
task's pairs), or undetermined. Methods of two tracks are never paired. The results page's
claims about orderings (docs/results.md) come from the same statistics.

    python scripts/pairwise.py --out results [--method cmcd-cmc] [--margin 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.results.aggregate import families, method_frame, primary_metrics
from benchmark.results.ranks import MARGIN
from benchmark.results.records import read_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--method", default=None, help="only the pairs that include this one")
    parser.add_argument(
        "--margin", type=float, default=100 * MARGIN, help="equivalence margin in points"
    )
    args = parser.parse_args()
    records = read_records(args.out)
    frame = method_frame(records)
    verdicts = families(records, margin=args.margin / 100)
    print(
        "| task | track | metric | a | b | a − b (points) | seeds | Holm p | "
        f"verdict (±{args.margin:g} pts) | family |"
    )
    print("|---|---|---|---|---|---:|---:|---:|---|---|")
    for (track, task), family in verdicts.items():
        group = frame[(frame.task == task) & (frame.track == track)]
        metric, _ = primary_metrics(group)
        for i, a in enumerate(family.methods):
            for b in family.methods[i + 1 :]:
                if args.method is not None and args.method not in (a, b):
                    continue
                first, second = (b, a) if args.method == b else (a, b)
                pair = family.pair(first, second)
                verdict = {"better": "resolved: a > b", "worse": "resolved: a < b"}.get(
                    pair.word, pair.word
                )
                print(
                    f"| {task} | {track} | {metric} | {first} | {second} | "
                    f"{100 * pair.diff.mean:+.2f} ± {100 * pair.diff.half:.2f} | "
                    f"{pair.diff.n} | {pair.p_holm:.4f} | {verdict} | "
                    f"{family.hypotheses} hypotheses |"
                )


if __name__ == "__main__":
    main()

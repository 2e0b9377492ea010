"""Every paired comparison of a results folder: for each task, each pair of methods, the
mean per-seed difference of the task's primary metric with its 95% paired t interval
(within each track: methods of two tracks are never paired),
and whether the interval excludes zero. README's claims about orderings are read off it.

    python scripts/pairwise.py --out results [--method cmcd-cmc]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from benchmark.results.leaderboard import primary_metrics
from benchmark.results.records import REFERENCE, read_records, records_frame
from benchmark.results.stats import paired_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--method", default=None, help="only the pairs that include this one")
    args = parser.parse_args()
    frame = records_frame([r for r in read_records(args.out) if r.ok and r.method != REFERENCE])
    print("| task | track | metric | a | b | a − b (points) | seeds | resolved |")
    print("|---|---|---|---|---|---:|---:|---|")
    for (task, track), group in frame.groupby(["task", "track"], sort=True):
        metric, _ = primary_metrics(group)
        scores = {m: g.set_index("seed")[metric] for m, g in group.groupby("method")}
        for a, b in itertools.combinations(sorted(scores), 2):
            if args.method is not None and args.method not in (a, b):
                continue
            if args.method == b:
                a, b = b, a
            test = paired_test(scores[a], scores[b])
            print(
                f"| {task} | {track} | {metric} | {a} | {b} | {100 * test.mean:+.2f} ± "
                f"{100 * test.half:.2f} | {test.n} | {'yes' if test.excludes_zero else 'no'} |"
            )


if __name__ == "__main__":
    main()

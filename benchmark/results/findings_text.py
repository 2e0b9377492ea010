"""Formatting shared by the results page's sections (`benchmark.results.findings`).

The page's rule is that every number in it comes from the records: these helpers only
turn computed values into text (points, intervals, seed lists, verdict marks) and never
hold a figure of their own. A verdict mark is read off a `benchmark.results.ranks.Pair`,
so a pair the family did not resolve can never be printed as resolved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from benchmark.results.ranks import ALPHA, Pair

# One mark per verdict of `Pair.word` (resolved wins over equivalent, as on the board).
MARKS = {"better": "▲", "worse": "▼", "equivalent": "≈", "undetermined": "?"}
LEGEND = (
    "▲ resolved ahead and ▼ resolved behind (Holm over the family named above the table, "
    f"family-wise error ≤ {ALPHA:.0%}); ≈ equivalent within the margin (TOST, Holm over the task's "
    "pairs); ? undetermined: neither a resolved difference nor shown equivalent. The ± is "
    "the unadjusted 95% paired t interval over the seeds both methods have."
)


def pts(value: float, signed: bool = False, digits: int = 1) -> str:
    """A fraction as points (`0.123` → `12.3`); '—' for a missing value."""
    if value is None or math.isnan(value):
        return "—"
    return f"{100 * value:+.{digits}f}" if signed else f"{100 * value:.{digits}f}"


def pts_ci(mean: float, half: float, signed: bool = False, digits: int = 1) -> str:
    """'mean ± half' in points (the half-width left out where there is none)."""
    text = pts(mean, signed, digits)
    if text == "—" or half is None or math.isnan(half):
        return text
    return f"{text} ± {100 * half:.{digits}f}"


def num(value: float, digits: int = 2, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def pair_cell(pair: Pair, digits: int = 1) -> str:
    """One pair as a table cell: its mean difference, interval and verdict mark."""
    return (
        f"{pts_ci(pair.diff.mean, pair.diff.half, signed=True, digits=digits)} {MARKS[pair.word]}"
    )


def seed_list(seeds: Iterable[int]) -> str:
    """Seeds as ranges: [0, 1, 2, 5] → '0–2, 5 (4 seeds)'."""
    ordered = sorted(set(seeds))
    if not ordered:
        return "no seeds"
    runs: list[tuple[int, int]] = []
    for s in ordered:
        if runs and s == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], s)
        else:
            runs.append((s, s))
    text = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)
    count = len(ordered)
    return f"{text} ({count} seed{'s' if count != 1 else ''})"


def names(items: Iterable[str], empty: str = "none") -> str:
    """`a`, `b` and `c` — code-formatted names in prose order."""
    quoted = [f"`{x}`" for x in items]
    if not quoted:
        return empty
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def span(values: Iterable[float], signed: bool = False, digits: int = 1) -> str:
    """'lo to hi' in points over finite values ('—' when none)."""
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if not finite:
        return "—"
    lo, hi = min(finite), max(finite)
    if lo == hi:
        return pts(lo, signed, digits)
    return f"{pts(lo, signed, digits)} to {pts(hi, signed, digits)}"


def cell(value: object) -> str:
    """A record's string made inert in a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    """A Markdown table; `align` per column: 'l' or 'r' (default: first left, rest right)."""
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"
    return [
        "| " + " | ".join(header) + " |",
        rule,
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]

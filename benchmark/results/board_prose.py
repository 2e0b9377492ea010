"""The leaderboard's words that do not come from records: each track's introduction, the
words for a verdict, and the footnote saying what every column means and which family
each claim belongs to.

Kept apart from the layout (`benchmark.results.leaderboard`) so the board's explanation
can be read, and changed, in one place without reading table code; docs/statistics.md
gives the statistics in full, the footnote says them briefly.
"""

from __future__ import annotations

from benchmark.results.aggregate import BASELINE
from benchmark.results.ranks import ALPHA, MARGIN
from benchmark.tracks import LABEL_FREE, LABELLED

TRACK_INTRO = {
    LABEL_FREE: [
        "# Label-free track",
        "",
        "CMCD's own protocol: the source teacher is pre-trained with SimCLR on the source "
        "images alone and has no head, so no label is seen before the few-label target "
        "step. Methods that need the teacher's logits cannot run here and are listed as "
        "not applicable. Methods are compared only within a track.",
        "",
    ],
}


TRACK_INTRO[LABELLED] = [
    "# Labelled track",
    "",
    "The literature's setting (RepDistiller, mdistiller, C2KD, MST-Distill): the supervised "
    "teacher, every pair labelled, the student and a fresh head trained with cross-entropy "
    "plus each method's loss at its reference weights; `scratch` is cross-entropy alone. "
    "Ranked by the student's own head on the test set (no few-label fine-tune); the probe "
    "is shown beside it. Methods are compared only within a track.",
    "",
]


VERDICT_TEXT = {
    "better": "resolved (above)",
    "worse": "resolved (below)",
    "equivalent": "equivalent",
    "undetermined": "undetermined",
}


def footnote(alpha: float = ALPHA, margin: float = MARGIN) -> list[str]:
    """What every column means and which family each claim belongs to."""
    return [
        "Rows are sorted by each task's primary metric on the target test set (named in its "
        "table's header). ± is the half-width of a 95% Student-t interval over seeds. The "
        "fine-tune score of a cell is the mean of its fine-tune restarts; the probe is a "
        "linear probe on the frozen distilled features.",
        "",
        f"Δ vs {BASELINE} and Δ vs best other (the other method with the highest mean on the "
        "task, named in brackets) are mean per-seed differences with their unadjusted 95% "
        "paired t interval. The pairing is two-level: within a seed both methods are scored "
        "on the same test samples, and a seed fixes the data, the teacher and the student's "
        "initial weights, so the spread of the per-seed differences holds every source of "
        "variance and the t interval over seeds is the exact interval of this balanced "
        f"nested design. **\\*** marks a difference **resolved after error control**: "
        "Holm's step-down procedure over the family of every one-sided pairwise hypothesis "
        f"of the task and track (n methods: n(n − 1) hypotheses), family-wise error ≤ "
        f"{alpha:.0%}. An interval that excludes zero without a \\* is not a finding.",
        "",
        f"vs best other, ±{100 * margin:g} pts: *resolved* (the \\* above), *equivalent* "
        f"(two one-sided tests show the difference within ±{100 * margin:g} points, Holm "
        "over the task's n(n − 1)/2 pairs), or *undetermined* (neither: more seeds needed).",
        "",
        "Rank set: every rank the method can hold given the resolved differences "
        "(Mogstad, Romano, Shaikh & Wilhelm's confidence set for ranks, Holm variant): "
        "from 1 + the methods resolved better to n − the methods resolved worse. With "
        f"probability ≥ {1 - alpha:.0%} every method's true rank lies in its set, all "
        "methods at once. Two methods whose difference is unresolved never have disjoint "
        "sets. Resolution: the minimum detectable difference (MDE) of a single paired t "
        "test over the task's seeds at 95% confidence and 80% power, from the per-seed SD "
        "of paired differences pooled over the task's method pairs (`bench power` splits "
        "that SD into test sampling, training noise and seed). docs/statistics.md has the "
        "details.",
        "",
        "gap_tv is a lower bound on the total variation between the teacher's and the "
        "student's held-out features, gap_cka their debiased CKA, both in one space every "
        "method shares (the teacher's top principal directions, the student's embedding "
        "mapped in by a ridge fit on disjoint pairs, a fixed number of pairs); means over "
        "seeds. The input gap is the same estimate for the source-trained teacher on the "
        "source vs the target view. See docs/gap.md.",
    ]

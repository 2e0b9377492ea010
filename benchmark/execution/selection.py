"""`bench tune`'s selection rules: which of a study's trials is kept.

As in DomainBed's `model_selection.py` (Gulrajani & Lopez-Paz, ICLR 2021), a rule is a
small class with one method, `score`, that reads one trial's result; the shared `select`
keeps the trial with the best score. Two rules:

- `ValidationSelection` (`val`, the default): the ranking metric on the labelled
  validation split, which no record's test score ever reads — the protocol's rule;
- `TestOracle` (`oracle`): the same metric on the test set — an upper bound on what any
  selection could reach, shown beside the tuned board, never used to rank.

Ties go to the lower trial number, so the defaults (trial 0) win a tie.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class TrialResult:
    """What one trial of a study gave: its parameters, its record's status, and its
    ranking metric on the validation split and on the test set (None: no score)."""

    number: int
    params: dict[str, Any]
    status: str
    val: float | None
    test: float | None


class SelectionRule:
    """A rule picking one trial of a study by the score it gives each trial's result."""

    name: ClassVar[str]

    def score(self, result: TrialResult) -> float | None:
        """The trial's score under this rule (None: the trial cannot be chosen)."""
        raise NotImplementedError

    def select(self, results: list[TrialResult]) -> TrialResult | None:
        """The kept trial: the best score, ties to the lower trial number; None when no
        trial has a score."""
        scored = [(s, r) for r in results if (s := self.score(r)) is not None]
        if not scored:
            return None
        return max(scored, key=lambda sr: (sr[0], -sr[1].number))[1]


class ValidationSelection(SelectionRule):
    """The best score on the labelled validation split (the protocol's rule)."""

    name = "val"

    def score(self, result: TrialResult) -> float | None:
        return result.val


class TestOracle(SelectionRule):
    """The best score on the test set: an upper bound only, never a tuned result."""

    __test__ = False  # not a pytest class, whatever its name says
    name = "oracle"

    def score(self, result: TrialResult) -> float | None:
        return result.test


RULES: dict[str, SelectionRule] = {
    rule.name: rule for rule in (ValidationSelection(), TestOracle())
}


def get_rule(name: str) -> SelectionRule:
    """The rule named `name` (`--selection`; argparse has checked the name)."""
    return RULES[name]

"""The one exception type the CLI turns into a one-line message and exit code 2.

Anything a user can get wrong (a name, a value, a file) raises `UserError`; everything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2, no traceback."""


def did_you_mean(value: object, choices: Iterable[object]) -> str:
    """'did you mean X?' for the closest known name, or the whole list when none is close.
    Case is ignored in the comparison (`RKD` suggests `rkd`), and a name equal to one
    choice but for case is always the suggestion. (A YAML key can be a number or a list:
    it is compared as text.)"""
    choices = sorted({str(c) for c in choices})
    text = str(value).lower()
    folded: dict[str, str] = {}
    for choice in choices:
        folded.setdefault(choice.lower(), choice)
    if text in folded:
        return f"did you mean '{folded[text]}'?"
    close = difflib.get_close_matches(text, list(folded), n=1, cutoff=0.5)
    if close:
        return f"did you mean '{folded[close[0]]}'?"
    return "did you mean one of: " + ", ".join(choices) + "?"

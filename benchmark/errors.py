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
    (A YAML key can be a number or a list: it is compared as text.)"""
    choices = sorted(str(c) for c in choices)
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
    if close:
        return f"did you mean '{close[0]}'?"
    return "did you mean one of: " + ", ".join(choices) + "?"

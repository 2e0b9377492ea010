"""The one exception type the CLI turns into a one-line message and exit code 2.

Anything a user can get wrong (a name, a value, a file) raises `UserError`; everything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

MAX_QUOTED = 256  # characters of one quoted value kept in a message (a long path fits)
MAX_MESSAGE = 1000  # characters of a whole message


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2, no traceback.

    The message is bounded here, for every caller (`bounded`): a value from a file or the
    command line can be any length, and a message never carries it whole."""

    def __init__(self, message: str = "") -> None:
        super().__init__(bounded(str(message)))


def bounded(message: str) -> str:
    """`message` on one line, each quoted value ('...') longer than `MAX_QUOTED` cut to
    its start, then the whole cut in the middle if it is still longer than `MAX_MESSAGE`
    (its end, which says what to do, is kept)."""
    message = " ".join(message.splitlines())

    def cut(match: re.Match[str]) -> str:
        text = match.group(0)
        return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 2] + "…'"

    message = re.sub(r"'[^']*'", cut, message)
    if len(message) <= MAX_MESSAGE:
        return message
    head = MAX_MESSAGE * 2 // 3
    return message[:head] + " … " + message[-(MAX_MESSAGE - head - 3) :]


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

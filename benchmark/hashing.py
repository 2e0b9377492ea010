"""How a record's settings become its hash: `config_hash` and the protocol version.

A cell's record carries the settings it ran with and a short content hash of them; a
re-run compares hashes to tell whether an existing record still answers the same
question, and `tests/test_reference_results.py` checks that the committed reference
records still hash to what they say.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Bump when the protocol changes what a cell computes, so old records stop matching.
PROTOCOL_VERSION = 3  # 3: larger test sets, fine-tune restarts, per-sample outcomes


def config_hash(payload: dict[str, Any]) -> str:
    """A short, stable content hash of a JSON-able mapping (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

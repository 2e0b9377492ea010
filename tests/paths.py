"""Paths the tests read: the repository root, whatever folder of `tests/` a test lives in
(the tests are grouped in folders mirroring the packages; none computes its own depth)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

"""Random streams and the label constant every stage shares: a bottom module that data
loaders, methods and the training loops may all import (it imports torch only).

Every loop in the harness draws from its own `torch.Generator`, one per (seed, purpose),
so one stage's randomness never shifts another's when that stage changes.
"""

from __future__ import annotations

import torch

# Label of pixels (or samples) that carry no ground truth, e.g. invalid depth in real
# segmentation data: skipped by every loss and every metric.
IGNORE_INDEX = -1


def seeded(seed: int, stream: str) -> torch.Generator:
    """An independent generator per (seed, purpose), so stages don't shift each other's
    random streams when one of them changes."""
    offset = sum((i + 1) * ord(ch) for i, ch in enumerate(stream))
    return torch.Generator().manual_seed(seed * 1_000_003 + offset)

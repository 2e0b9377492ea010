"""Where a result came from: library versions, git commit, host and device."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from pathlib import Path

import timm
import torch

import benchmark

# Outputs committed as reference results: a run that rewrites them (the reference run
# itself) changes the checkout without changing the code that computes a cell.
OUTPUTS = ("results", "LEADERBOARD.md")


@functools.cache
def git_commit() -> str:
    """The commit of the checkout this package runs from, '+dirty' when its code differs
    from that commit (changes under `OUTPUTS` do not count); 'unknown' outside a git
    checkout (an installed wheel)."""
    root = Path(benchmark.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                *(f":(exclude){path}" for path in OUTPUTS),
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty.strip() else "")


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "xmd_bench": benchmark.__version__,
    }


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def host() -> str:
    return socket.gethostname()

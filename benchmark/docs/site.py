"""What a generated page is rendered for: the docs folder it goes under, the `bench`
parser it may document (handed in by the caller: `benchmark.cli.main` imports every
command, `bench docs` among them, so nothing below it imports that module) and the
records a page of findings is rendered from."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Site:
    root: Path  # the docs folder; links to hand-written pages are checked under it
    parser: argparse.ArgumentParser  # `bench`'s, from `benchmark.cli.main.build_parser`
    records: Path = Path("results")  # the committed reference records

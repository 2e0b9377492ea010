"""`bench docs`: write the documentation pages generated from the code (the methods,
tasks and CLI references: `benchmark.docs.pages`), or with `--check` say which committed
page differs from what the code generates now (exit 1), as the tests do."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from benchmark.cli.common import Command

DOCS = Path("docs")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--output",
        type=Path,
        default=DOCS,
        help="the docs folder the pages go under (default docs)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each page that is missing or differs from the code",
    )


def cmd_docs(args: argparse.Namespace, console: Console) -> int:
    from benchmark.docs.pages import render_all, stale, write
    from benchmark.docs.site import Site
    from benchmark.storage import check_folder

    check_folder(args.output, "--output")
    pages = render_all(Site(args.output, args.bench_parser))
    if args.check:
        old = [str(args.output / path) for path in stale(args.output, pages)]
        if old:
            print(
                f"bench docs: {', '.join(old)} differ{'s' if len(old) == 1 else ''} from what "
                "the code generates: run 'bench docs' and commit the result",
                file=sys.stderr,
            )
            return 1
        console.print(
            f"docs: {len(pages)} generated pages up to date under {args.output}", soft_wrap=True
        )
        return 0
    changed = write(args.output, pages)
    wrote = ", ".join(changed) if changed else "nothing (all up to date)"
    console.print(f"docs: wrote {wrote} under {args.output}", highlight=False, soft_wrap=True)
    return 0


COMMAND = Command(
    "docs",
    "generate the reference pages (methods, tasks, CLI) from the code",
    add_arguments,
    cmd_docs,
)

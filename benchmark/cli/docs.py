"""`bench docs`: write the generated documentation pages (`benchmark.docs.pages`): the
references rendered from the code, which the site's build also generates, and the results
page rendered from the committed records; with `--check`, say which committed page
differs from what the records give now (exit 1), as the tests do."""

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
        "--records",
        type=Path,
        default=Path("results"),
        help="the results folder the results page is rendered from (default results)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each committed page (the results page) that is "
        "missing or differs from what the records give",
    )


def cmd_docs(args: argparse.Namespace, console: Console) -> int:
    from benchmark.docs.pages import RECORD_PAGES, render_all, stale, write
    from benchmark.docs.site import Site
    from benchmark.errors import UserError
    from benchmark.storage import check_folder

    check_folder(args.output, "--output")
    if not (args.records / "runs").is_dir():
        raise UserError(
            f"--records '{args.records}' holds no runs/ folder: pass a results folder "
            "(default results)"
        )
    site = Site(args.output, args.bench_parser, args.records)
    if args.check:
        pages = render_all(site, RECORD_PAGES)
        old = [str(args.output / path) for path in stale(args.output, pages)]
        if old:
            print(
                f"bench docs: {', '.join(old)} differ{'s' if len(old) == 1 else ''} from what "
                "the records give: run 'bench docs' and commit the result",
                file=sys.stderr,
            )
            return 1
        console.print(
            f"docs: {len(pages)} committed pages up to date under {args.output}", soft_wrap=True
        )
        return 0
    changed = write(args.output, render_all(site))
    wrote = ", ".join(changed) if changed else "nothing (all up to date)"
    console.print(f"docs: wrote {wrote} under {args.output}", highlight=False, soft_wrap=True)
    return 0


COMMAND = Command(
    "docs",
    "generate the reference pages (methods, tasks, CLI) and the results page",
    add_arguments,
    cmd_docs,
)

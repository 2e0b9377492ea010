"""The generated pages, in one place: each relative path under the docs folder and the
function that renders it. Adding a page is one line in one of the two registries:

- `CODE_PAGES` render from the code alone (the methods, tasks and CLI references). The
  site's build generates them every time (`scripts/mkdocs_hooks.py`), so they are never
  committed and a new method's file is all a contributor adds; `bench docs` writes them
  for a look without the site.
- `RECORD_PAGES` render from the committed reference records (the results page). They
  are committed beside the records, like LEADERBOARD.md, and `bench docs --check` and the
  tests say when one differs from what the records give.

A render function takes the `Site` (the docs folder, for links to hand-written pages
that may or may not exist there, the `bench` parser, and the records) and returns the
page's whole text, a pure function of its inputs: no dates, no absolute paths, sorted,
so a page regenerates byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmark.docs import cli_page, methods_page, tasks_page
from benchmark.docs.site import Site
from benchmark.results.findings import render_findings
from benchmark.storage import check_target, check_writable, read_input, write_text

Render = Callable[[Site], str]

CODE_PAGES: dict[str, Render] = {
    "reference/methods.md": methods_page.render,
    "reference/tasks.md": tasks_page.render,
    "reference/cli.md": cli_page.render,
}
RECORD_PAGES: dict[str, Render] = {
    "results.md": lambda site: render_findings(site.records),
}
PAGES: dict[str, Render] = {**CODE_PAGES, **RECORD_PAGES}
MAX_PAGE_BYTES = 16 * 2**20  # a bound on a committed page read back for comparison


def render_all(site: Site, pages: dict[str, Render] = PAGES) -> dict[str, str]:
    """The text of each of `pages` (by default every page), by relative path."""
    return {path: render(site) for path, render in sorted(pages.items())}


def committed(root: Path, path: str) -> str | None:
    """The page's current text under `root` (None when it is absent)."""
    target = root / path
    if not target.exists():
        return None
    return read_input(target, "generated page", MAX_PAGE_BYTES).decode("utf-8", "replace")


def stale(root: Path, pages: dict[str, str]) -> list[str]:
    """The relative paths whose file under `root` is absent or differs from `pages`."""
    return [path for path, text in pages.items() if committed(root, path) != text]


def write(root: Path, pages: dict[str, str]) -> list[str]:
    """Write the pages that changed, each atomically; returns their relative paths.
    Every target is checked before the first is written, so bad output writes nothing."""
    check_writable(root, "--output")
    for path in pages:
        check_target(root / path, "generated page")
    changed = stale(root, pages)
    for path in changed:
        write_text(root / path, pages[path])
    return changed

"""The generated pages, in one place: each relative path under the docs folder and the
function that renders it from the code. Adding a page is one line in `PAGES`; `bench
docs` writes every page listed, `bench docs --check` and the tests compare each one.

A render function takes the `Site` (the docs folder, for links to hand-written pages
that may or may not exist there, and the `bench` parser) and returns the page's whole
text, a pure function of the code and that folder: no dates, no absolute paths, sorted,
so a page regenerates byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmark.docs import cli_page, methods_page, tasks_page
from benchmark.docs.site import Site
from benchmark.storage import check_target, check_writable, read_input, write_text

Render = Callable[[Site], str]

PAGES: dict[str, Render] = {
    "reference/methods.md": methods_page.render,
    "reference/tasks.md": tasks_page.render,
    "reference/cli.md": cli_page.render,
}
MAX_PAGE_BYTES = 16 * 2**20  # a bound on a committed page read back for comparison


def render_all(site: Site) -> dict[str, str]:
    """Every page's text, by relative path, rendered for `site`."""
    return {path: render(site) for path, render in sorted(PAGES.items())}


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

"""docs/reference/methods.md: every registered method, from the registry and the method
classes themselves: its docstrings, its declared parameters (type, default, bounds, the
space `bench tune` searches), the paper and code it cites (`benchmark.docs.citations`),
its labelled-track weights, and where it runs (`benchmark.tracks.not_applicable`, the
rule the runner applies)."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmark.docs.citations import paper, reference_code
from benchmark.docs.markdown import code, docstring, page, table
from benchmark.docs.method_tracks import labelled_text, tracks_table
from benchmark.docs.site import Site
from benchmark.method import Method, load_methods, summary
from benchmark.params import Param

INTRO = (
    "Every method `bench list methods` lists, with what its code declares: the module's "
    "and the class's docstrings, each parameter's type, default, bounds and the space "
    "`bench tune` searches (a parameter without one keeps its default when tuned), the "
    "weights of the labelled track, and the tracks and targets it runs on. *Paper* is "
    "the docstring's `Paper:` line, else the citation its second paragraph opens with; "
    "*Reference code* is its `Reference code:` line, else the code bases it names "
    "(GitHub `owner/repo` names, RepDistiller, mdistiller), each linked to its "
    "repository. A method that cannot run in a cell gets a `not_applicable` record "
    "saying why."
)


def bounds_text(spec: Param) -> str:
    """A parameter's bounds as the page shows them: `{a, b}`, `[low, high]` (±inf where
    one side is open) or — for none."""
    if spec.choices is not None:
        return "{" + ", ".join(map(repr, spec.choices)) + "}"
    if spec.low is None and spec.high is None:
        return "—"
    low = "-inf" if spec.low is None else repr(spec.low)
    high = "inf" if spec.high is None else repr(spec.high)
    return f"[{low}, {high}]"


def params_table(cls: type[Method]) -> str:
    if not cls.params:
        return "Parameters: none."
    rows = [
        (
            code(name),
            spec.value_type.__name__,
            code(repr(spec.default)),
            bounds_text(spec),
            spec.space.describe() if spec.space is not None else "—",
            spec.help,
        )
        for name, spec in cls.params.items()
    ]
    header = ("Parameter", "Type", "Default", "Bounds", "Tuning space", "Meaning")
    return table(header, rows)


def _docs(cls: type[Method], shown: dict[str, str]) -> list[str]:
    """The module docstring (once per module: a later method of the module points to
    the first) and the class's own docstring."""
    module = cls.__module__
    parts: list[str] = []
    if module in shown:
        parts.append(f"The module's docstring: see [{shown[module]}](#{shown[module]}).")
    else:
        shown[module] = cls.name
        parts.append(docstring(sys.modules[module].__doc__))
    if cls.__doc__ and cls.__doc__ is not Method.__doc__:
        parts.append(docstring(cls.__doc__))
    return parts


def _facts(cls: type[Method], aliases: list[str], root: Path) -> str:
    doc = sys.modules[cls.__module__].__doc__ or ""
    lines = [
        f"- Aliases: {', '.join(code(a) for a in aliases)}" if aliases else "",
        f"- Paper: {paper(doc) or 'none named'}",
        f"- Reference code: {reference_code(doc) or 'none named'}",
        f"- Version: {cls.version} (raised when what it computes changes)",
        f"- Labelled track: {labelled_text(cls)}",
    ]
    notes = _hand_written(cls, root)
    if notes:
        lines.append(f"- Design notes: [{notes}](../methods/{notes})")
    return "\n".join(line for line in lines if line)


def _hand_written(cls: type[Method], root: Path) -> str:
    """The file name of the method's hand-written page under `root`/methods ('' if none):
    `<name>.md`, else `<module>.md` for a module registering several methods."""
    for stem in (cls.name, cls.__module__.rsplit(".", 1)[-1]):
        if (root / "methods" / f"{stem}.md").is_file():
            return f"{stem}.md"
    return ""


def method_section(name: str, root: Path, shown: dict[str, str]) -> str:
    """One method: its summary and facts, parameters, tracks, then its docstrings whole."""
    registry = load_methods()
    cls = registry.get(name)
    aliases = sorted(a for a, target in registry.aliases().items() if target == name)
    parts = [f"## {name}", summary(cls), _facts(cls, aliases, root)]
    parts += ["### Parameters", params_table(cls), "### Where it runs", tracks_table(name)]
    parts += ["### Docstring", *_docs(cls, shown)]
    return "\n\n".join(p for p in parts if p)


def render(site: Site) -> str:
    """The whole page (links to the hand-written pages found under `site.root`)."""
    shown: dict[str, str] = {}
    names = load_methods().names()
    rows = [(f"[{n}](#{n})", summary(load_methods().get(n))) for n in names]
    index = table(("Method", "Summary"), rows)
    return page("Methods", INTRO, [index, *(method_section(n, site.root, shown) for n in names)])

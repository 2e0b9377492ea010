"""The package's import structure, read from the source: no import loops (lazy and
type-checking imports included), `methods/` and `datasets/` import only the small bottom
modules, and the stages' subpackages import only downwards:

    core (the top-level modules) < protocol < results < execution < docs < cli
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import ROOT

FOLDERS = {
    "benchmark": "benchmark",
    "methods": "benchmark.methods",
    "datasets": "benchmark.datasets",
}
LAYERS = ("core", "protocol", "results", "execution", "docs", "cli")
# What a method or a loader may import: RNG streams, errors, the registry and parameters,
# the task kinds, and (for methods) the method interface and the backbones' heads.
LEAF_ALLOWED = {
    "benchmark.methods": {
        "benchmark.method",
        "benchmark.params",
        "benchmark.errors",
        "benchmark.backbones",
        "benchmark.kinds",
        "benchmark.streams",
    },
    "benchmark.datasets": {
        "benchmark.errors",
        "benchmark.kinds",
        "benchmark.params",
        "benchmark.registry",
        "benchmark.streams",
    },
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [*FOLDERS[rel.parts[0]].split("."), *rel.parts[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports anywhere in its source."""
    paths = {module_name(p): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                subs = {f"{base}.{a.name}" for a in node.names}
                # `from pkg import submodule` imports the submodule; the package's own
                # initialisation is not an edge back to it.
                edges |= (subs & paths.keys()) or {base}
        graph[name] = {e for e in edges if e in paths and e != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "core"


GRAPH = import_graph()


def test_the_graph_sees_lazy_and_type_checking_imports() -> None:
    """The reading must catch what a loop hides in: runner imports records at the top,
    the task registry's plugin package is real data, and an edge added by hand is seen."""
    assert "benchmark.results.records" in GRAPH["benchmark.execution.runner"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_loops() -> None:
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("leaf", sorted(LEAF_ALLOWED))
def test_methods_and_datasets_import_only_bottom_modules(leaf: str) -> None:
    outside = {
        f"{m} -> {d}"
        for m, deps in GRAPH.items()
        if m.startswith(leaf)
        for d in deps
        if not d.startswith(leaf) and d not in LEAF_ALLOWED[leaf]
    }
    assert not outside, sorted(outside)


def test_subpackages_import_only_downwards() -> None:
    upward = {
        f"{m} -> {d}"
        for m, deps in GRAPH.items()
        for d in deps
        if LAYERS.index(layer(d)) > LAYERS.index(layer(m))
    }
    assert not upward, sorted(upward)

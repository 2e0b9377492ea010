"""What the registries declare — method names, aliases, summaries and parameters; task
names, aliases and descriptions; the suggested backbones — as plain data, cached, so the
commands that only print or check declarations (`bench list`, `bench validate`) answer
without importing torch, timm or any method.

Why a cache keyed by the source, not declarations parsed from the source: a method's
parameters are whatever its class body and its bases compute (`param(...)` calls with
search spaces, inherited and overridden declarations, a family of methods made in one
module), and a parser that reads them without running them would be a second
implementation that drifts from the first. The catalog is instead built by importing
the registries once, exactly as a run does, and stored under a key that hashes every
source file of the package (`benchmark/`, `methods/`, `datasets/`) and the Python
version: any edit, added file or other interpreter builds it again, on the first call
after the change (that call costs what the import costs). A missing, unreadable,
corrupted or foreign entry is rebuilt (entries are read by an unpickler that builds
only the catalog's own classes and plain values); the 8 newest entries are kept; a cache
folder that cannot be written only costs the speed.
A lookup the catalog cannot answer (a name that is neither registered nor an alias,
e.g. a `pairs:<path>` task or a typo) goes to the real registry, so its answer and its
error message are the registry's own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import pickle
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.params import Param
from benchmark.storage import read_input

FORMAT = 1  # raise when the catalog's fields change, so old entries are not read
MAX_ENTRY_BYTES = 16 * 2**20  # far above a real entry; a bound so a planted file cannot fill memory


@dataclass(frozen=True)
class MethodEntry:
    name: str
    aliases: tuple[str, ...]
    summary: str  # the docstring's first sentence
    params: dict[str, Param]


@dataclass(frozen=True)
class TaskEntry:
    name: str
    source: str
    target: str
    kind: str
    description: str
    world: dict[str, Any]


@dataclass(frozen=True)
class Catalog:
    methods: tuple[MethodEntry, ...]
    method_aliases: dict[str, str]
    tasks: tuple[TaskEntry, ...]
    task_aliases: dict[str, str]
    backbones: tuple[str, ...]
    key: str = field(default="", compare=False)

    def method(self, name: str) -> MethodEntry | None:
        """The entry of a registered method name or alias (None for any other name)."""
        name = self.method_aliases.get(name, name)
        return next((m for m in self.methods if m.name == name), None)

    def canonical_task(self, name: str) -> str:
        """Like `TASKS.canonical`: the registered name of a task name or alias; any other
        name (a `pairs:` folder, a typo) is answered by the registry itself."""
        if any(t.name == name for t in self.tasks):
            return name
        if name in self.task_aliases:
            return self.task_aliases[name]
        from benchmark.datasets.tasks import TASKS

        return TASKS.canonical(name)


def build() -> Catalog:
    """The catalog from the registries themselves (imports torch, timm, every method)."""
    from benchmark.backbones import SUGGESTED
    from benchmark.datasets.tasks import TASKS
    from benchmark.method import load_methods, summary

    registry = load_methods()
    aliases = registry.aliases()
    methods = []
    for name in registry.names():
        cls = registry.get(name)
        own = tuple(a for a, target in aliases.items() if target == name)
        methods.append(MethodEntry(name, own, summary(cls), dict(cls.params)))
    tasks = []
    for name in TASKS.names():
        spec = TASKS.get(name)
        tasks.append(
            TaskEntry(name, spec.source, spec.target, spec.kind, spec.description, spec.world)
        )
    return Catalog(tuple(methods), aliases, tuple(tasks), TASKS.aliases(), tuple(SUGGESTED), key="")


def _roots() -> list[Path]:
    """The folders holding the package's source (the methods and datasets live outside
    `benchmark/` in a checkout: pyproject's package-dir)."""
    roots = [Path(__file__).resolve().parents[1]]  # benchmark/
    for package in ("benchmark.methods", "benchmark.datasets"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            roots += [Path(p).resolve() for p in spec.submodule_search_locations]
    return roots


def _sources() -> Iterator[Path]:
    seen: set[Path] = set()
    for root in _roots():
        for path in sorted(root.rglob("*.py")):
            if path not in seen:
                seen.add(path)
                yield path


def source_key() -> str:
    """A hash of every source file of the package, the format and the interpreter."""
    digest = hashlib.sha256(f"catalog {FORMAT} {sys.version}".encode())
    for path in _sources():
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "catalog" / f"{key}.pickle"


def load(cache_dir: Path | None, store: bool = True) -> Catalog:
    """The catalog of this source: from the cache when an entry for it exists and reads
    back whole, else built (and, with `store`, kept when `cache_dir` can be written; a
    command that must write nothing on bad input keeps it with `save` once it succeeded)."""
    if cache_dir is None:
        return build()
    key = source_key()
    try:
        # read_input: a FIFO or device planted as the entry is refused, not read forever
        data = read_input(_path(cache_dir, key), "catalog entry", MAX_ENTRY_BYTES)
        catalog = _Unpickler(io.BytesIO(data)).load()
        if isinstance(catalog, Catalog) and catalog.key == key:
            return catalog
    except Exception:  # absent, truncated, corrupted, of an old layout: rebuilt below
        pass
    fresh = build()
    catalog = Catalog(
        fresh.methods,
        fresh.method_aliases,
        fresh.tasks,
        fresh.task_aliases,
        fresh.backbones,
        key=key,
    )
    if store:
        save(cache_dir, catalog)
    return catalog


def save(cache_dir: Path | None, catalog: Catalog) -> None:
    """Keep `catalog` in the cache unless an entry for its source is there already."""
    if cache_dir is None or not catalog.key:
        return
    path = _path(cache_dir, catalog.key)
    try:
        if path.is_file():
            return
    except OSError:  # an unreadable cache folder: nothing is kept
        return
    _store(path, catalog)


# What a catalog entry is made of; an entry naming anything else (a foreign or tampered
# file) is refused before any of it is built, and the catalog is rebuilt from the source.
_ALLOWED = {
    ("benchmark.cli.catalog", "Catalog"),
    ("benchmark.cli.catalog", "MethodEntry"),
    ("benchmark.cli.catalog", "TaskEntry"),
    ("benchmark.params", "Param"),
    ("benchmark.params", "Space"),
    *(("builtins", n) for n in ("bool", "int", "float", "str", "object", "complex")),
    *(("builtins", n) for n in ("tuple", "list", "dict", "set", "frozenset")),
}
KEEP = 8  # entries kept (several checkouts or branches may share one cache)


class _Unpickler(pickle.Unpickler):
    """Reads only the catalog's own classes and plain values: no code of the file's
    choosing runs, as with `torch.load(weights_only=True)` for checkpoints."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a catalog")
        return super().find_class(module, name)


def _prune(folder: Path) -> None:
    """Keep the `KEEP` most recently written entries."""
    entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)


def _store(path: Path, catalog: Catalog) -> None:
    """Write atomically (a temporary file renamed over the entry); skip silently where
    the cache cannot be written."""
    import os
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(catalog, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _prune(path.parent)
    except OSError:
        pass


# ---- what `bench list` prints ------------------------------------------------------


def list_lines(catalog: Catalog, what: str, verbose: bool) -> list[tuple[str, bool]]:
    """`bench list WHAT [-v]` as (rich markup, highlight) lines, from the catalog."""
    lines: list[tuple[str, bool]] = []
    if what == "methods":
        for m in catalog.methods:
            alias = f" (alias {', '.join(m.aliases)})" if m.aliases else ""
            lines.append((f"[bold]{m.name}[/]{alias}  {m.summary}", False))
            if verbose:
                lines += [(f"    {p}: {spec.describe()}", False) for p, spec in m.params.items()]
    elif what == "tasks":
        for t in catalog.tasks:
            lines.append(
                (f"[bold]{t.name}[/]  {t.source} → {t.target}, {t.kind}: {t.description}", False)
            )
            if verbose and t.world:
                lines.append((f"    world: {t.world}", False))
    else:
        lines += [(name, True) for name in catalog.backbones]
        if verbose:
            lines.append(("(any timm model with features_only support can be named)", True))
            lines.append(
                (
                    "(text-transformer and text-cnn read token sequences: a text target "
                    "gets text-transformer unless student.backbone names one of them)",
                    True,
                )
            )
    return lines


def check_method_settings(catalog: Catalog, cfg: Any) -> None:
    """`benchmark.execution.plan.check_method_settings` from the catalog: every
    `methods.<name>` section, run-wide or in `tasks.<task>`, validated against the
    declared parameters by the same `validate`. A name the catalog does not know goes to
    the real check, whose error (with its did-you-mean) is the one to print."""
    from benchmark.params import validate
    from benchmark.tracks import method_values

    for own in [cfg, *(cfg.for_task(t) for t in cfg.tasks)]:
        for name in own.methods:
            entry = catalog.method(name)
            if entry is None:
                from benchmark.execution.plan import check_method_settings as real

                real(cfg)
                return
            values = own.methods.get(entry.name, {})  # a `ce_weight` may be the labelled γ
            validate(entry.params, method_values(entry.params, values, entry.name), entry.name)

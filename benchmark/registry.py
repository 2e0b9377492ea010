"""Name → factory registries, in the spirit of timm's `register_model`.

A registry maps names (and aliases) to classes or functions. Registering the same name
twice is an error, because a silent override would let two contributions fight over a
name and make results depend on import order.

A registry may name a `plugins` package whose modules register entries in it, imported
on the first lookup: the module that defines the registry then never imports the
modules that build on it (the task registry and the real-data adapters).
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from benchmark.errors import UserError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of entries with aliases and did-you-mean lookups."""

    def __init__(self, kind: str, *, plugins: str | None = None) -> None:
        self.kind = kind
        self._plugins = plugins  # imported once, before the first lookup
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._factories: dict[str, Callable[[str], tuple[str, T]]] = {}
        self._built: dict[str, T] = {}  # made by a factory: resolvable, never listed

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator: register the decorated object under `name` (and `aliases`)."""

        def decorator(entry: T) -> T:
            for key in (name, *aliases):
                if key in self._entries or key in self._aliases:
                    raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[name] = entry
            for alias in aliases:
                self._aliases[alias] = name
            return entry

        return decorator

    def register_prefix(self, prefix: str, factory: Callable[[str], tuple[str, T]]) -> None:
        """Names starting with `prefix` are built on first use: `factory(name)` returns the
        entry's name (what records use) and the entry, e.g. `pairs:<path>` → a task per
        folder. Built entries resolve like registered ones but `names()` never lists them."""
        self._factories[prefix] = factory

    def _discover(self) -> None:
        if self._plugins is not None:
            package, self._plugins = self._plugins, None
            importlib.import_module(package)

    def canonical(self, name: str) -> str:
        """The registered name for `name` or one of its aliases; UserError otherwise."""
        self._discover()
        if name in self._entries or name in self._built:
            return name
        if name in self._aliases:
            return self._aliases[name]
        for prefix, factory in self._factories.items():
            if name.startswith(prefix):
                return self._build(name, factory)
        known = list(self._entries) + list(self._aliases)
        raise UserError(f"unknown {self.kind} '{name}': {did_you_mean(name, known)}")

    def _build(self, name: str, factory: Callable[[str], tuple[str, T]]) -> str:
        key, entry = factory(name)
        if key in self._entries or key in self._built:
            raise UserError(
                f"{self.kind} '{name}' would be recorded as '{key}', which is taken; rename it"
            )
        self._built[key] = entry
        self._aliases[name] = key
        return key

    def get(self, name: str) -> T:
        key = self.canonical(name)
        return self._built[key] if key in self._built else self._entries[key]

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names (aliases excluded) matching a shell-style pattern, sorted."""
        self._discover()
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def aliases(self) -> dict[str, str]:
        self._discover()
        return dict(self._aliases)

    def resolve(self, spec: str) -> list[str]:
        """Expand a CLI list: 'all' or comma-separated names → canonical names, in order."""
        if spec.strip() == "all":
            return self.names()
        names: list[str] = []
        for raw in spec.split(","):
            raw = raw.strip()
            if not raw:
                raise UserError(f"empty {self.kind} name in '{spec}'")
            name = self.canonical(raw)
            if name not in names:
                names.append(name)
        return names

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries or name in self._aliases or name in self._built

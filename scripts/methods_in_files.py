"""The registered method names that files under `methods/` define, for the pull-request
workflow (`.github/workflows/pr.yml`) to run those methods' checks only.

    python scripts/methods_in_files.py methods/rkd.py methods/cmcd.py   # cmcd-cmc,cmcd-cmd,rkd
    python scripts/methods_in_files.py methods/soft_proj.py             # soft-proj

A method file stands for the names its module registers (one file may register several,
and a name need not be the file's: `soft_proj.py` registers `soft-proj`). A shared helper
(a module whose name starts with `_`) stands for the methods whose modules import from it,
and for every method when none does directly; `methods/__init__.py` for every method.
Files outside `methods/`, and files that no longer exist (a deletion), stand for nothing.
Prints the names comma-separated and sorted (what `XMD_TEST_METHODS` takes; the workflow
then selects their tests with `pytest -m registry`, tests/conftest.py), or an empty line
when no method is named.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.method import load_methods  # noqa: E402


def _imports_from(module: ModuleType, helper: str) -> bool:
    """Whether `module` holds the helper module itself or anything defined in it."""
    for value in vars(module).values():
        if isinstance(value, ModuleType) and value.__name__ == helper:
            return True
        if getattr(value, "__module__", None) == helper:
            return True
    return False


def methods_in(paths: list[str]) -> list[str]:
    registry = load_methods()
    modules = {name: registry.get(name).__module__ for name in registry.names()}
    everything = sorted(modules)
    found: set[str] = set()
    for raw in paths:
        path = (ROOT / raw).resolve()
        if path.parent != ROOT / "methods" or path.suffix != ".py" or not path.exists():
            continue
        if path.stem == "__init__":
            return everything
        qualified = f"benchmark.methods.{path.stem}"
        if path.stem.startswith("_"):
            users = [
                name
                for name, module in modules.items()
                if _imports_from(importlib.import_module(module), qualified)
            ]
            found.update(users or everything)
        else:
            found.update(name for name, module in modules.items() if module == qualified)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="changed files (paths from the repository root)")
    args = parser.parse_args(argv)
    names = methods_in(args.paths)
    print(",".join(names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The tests' own layout: every test file sits in the folder of what it protects, named
after a package (`benchmark/<name>/`, `methods/`, `datasets/`), `core/` for benchmark's
top-level modules or `repo/` for checks of the repository as a whole; the top of `tests/`
holds only the shared helpers."""

from __future__ import annotations

from tests.paths import ROOT

TESTS = ROOT / "tests"
BESIDES = {"core", "repo", "methods", "datasets"}


def test_no_test_file_at_the_top_of_tests() -> None:
    flat = sorted(p.name for p in TESTS.glob("test_*.py"))
    assert not flat, f"move into the folder of what each protects (CONTRIBUTING): {flat}"


def test_every_test_folder_mirrors_a_package() -> None:
    packages = {p.parent.name for p in (ROOT / "benchmark").glob("*/__init__.py")}
    folders = {p.relative_to(TESTS).parts[0] for p in TESTS.glob("*/**/test_*.py")}
    assert folders and folders <= packages | BESIDES, sorted(folders - packages - BESIDES)

"""Shared fixtures: the smoke profile and one world/teacher cache for the whole session,
so each world split and teacher is generated once however many tests use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from benchmark.config import RunConfig, resolve


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread for a test: on a shared 2-core machine it is several times faster
    for the tiny cells of the executor and checkpoint tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xmd-cache")


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny copies of every real dataset in its on-disk format (tests/real_fixtures.py), so
    the registry-wide tests run the real tasks too."""
    from tests.real_fixtures import write_all

    return write_all(tmp_path_factory.mktemp("xmd-data"))


@pytest.fixture
def smoke() -> RunConfig:
    return resolve("smoke")


@pytest.fixture(autouse=True)
def _isolated_cache_env(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """CLI runs in tests must never touch the user's ~/.cache."""
    monkeypatch.setenv("XMD_CACHE", str(cache_dir))


REGISTRY_MARK = "registry"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{REGISTRY_MARK}: a test parametrised by a registered method (added at collection): "
        "`XMD_TEST_METHODS=NAME pytest ... -m registry` runs exactly NAME's",
    )


def _method_of(value: object) -> object:
    """A parameter's method name: the value, or a case tuple's first item (collapse)."""
    return value[0] if isinstance(value, tuple) and value else value


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test one of whose parameters is a method `XMD_TEST_METHODS` selects
    (every registered one when unset), so `-m registry` picks a method's registry-wide
    tests exactly, where `-k NAME` matches substrings of every test's name."""
    params = [getattr(item, "callspec", None) for item in items]
    if not any(params):
        return
    from tests.method_selection import selected_methods

    names = set(selected_methods())
    for item, callspec in zip(items, params, strict=True):
        values = callspec.params.values() if callspec is not None else ()
        if any(isinstance(m, str) and m in names for m in map(_method_of, values)):
            item.add_marker(REGISTRY_MARK)

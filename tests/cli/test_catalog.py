"""The registries' catalog (`benchmark.cli.catalog`): `bench list` and `bench validate`
answer from it without importing torch, print what the registries themselves give, and
rebuild it when the source changes or the entry is corrupted."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from benchmark.cli import catalog
from benchmark.errors import UserError
from tests.paths import ROOT

# Runs a bench command in a fresh interpreter, then reports its output and whether
# torch or timm were imported.
PROBE = """
import contextlib, io, json, sys
from benchmark.cli.main import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "timm") if m in sys.modules)
print(json.dumps({"code": code, "out": out.getvalue(), "heavy": heavy}))
"""


def _bench(cache: Path, *args: str) -> dict:
    env = {"XMD_CACHE": str(cache), "PATH": "/usr/bin:/bin", "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(self.path),))


def _render(lines: list[tuple[str, bool]]) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=80)
    for text, highlight in lines:
        console.print(text, highlight=highlight)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding this source's catalog, built in this (torch-importing) process."""
    cache = tmp_path_factory.mktemp("catalog-cache")
    catalog.load(cache)
    return cache


def test_listing_imports_no_torch_and_prints_what_the_registries_give(warm: Path) -> None:
    fresh = catalog.build()
    for what in ("methods", "tasks", "backbones"):
        got = _bench(warm, "list", what, "-v")
        assert got["code"] == 0 and got["heavy"] == []
        assert got["out"] == _render(catalog.list_lines(fresh, what, True))
    assert "    temperature: float = 4.0" in _bench(warm, "list", "methods", "-v")["out"]


def test_validate_imports_no_torch_and_keeps_the_registrys_errors(
    warm: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("profile: smoke\nmethods:\n  kd:\n    temperature: 2.0\n")
    got = _bench(warm, "validate", str(good))
    assert (
        got["code"] == 0
        and got["heavy"] == []
        and "ok (profile smoke)" in " ".join(got["out"].split())
    )
    cfg_bad = tmp_path / "bad.yaml"
    cfg_bad.write_text("methods:\n  kd:\n    temperature: -1\n")
    assert _bench(warm, "validate", str(cfg_bad))["code"] == 2
    from benchmark.config import load_yaml, resolve
    from benchmark.execution.plan import check_method_settings

    for text in ("methods:\n  kd:\n    temperature: -1\n", "methods:\n  kdd:\n    weight: 1\n"):
        cfg_bad.write_text(text)
        cfg = resolve(None, load_yaml(cfg_bad), None)
        with pytest.raises(UserError) as real:
            check_method_settings(cfg)
        with pytest.raises(UserError) as fast:
            catalog.check_method_settings(catalog.load(warm), cfg)
        assert str(fast.value) == str(real.value)


def test_the_catalog_is_rebuilt_when_corrupted_or_the_source_changes(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = catalog.source_key()
    path = warm / "catalog" / f"{key}.pickle"
    assert path.is_file()
    path.write_bytes(b"not a pickle")
    assert catalog.load(warm).key == key  # rebuilt, and stored again
    # An entry that would run code when read is refused, not run, and rebuilt.
    marker = warm / "ran"
    path.write_bytes(pickle.dumps(_Evil(str(marker))))
    assert catalog.load(warm).key == key and not marker.exists()
    assert catalog.load(warm) == catalog.build()
    source = warm / "src"
    source.mkdir()
    (source / "m.py").write_text("X = 1\n")
    monkeypatch.setattr(catalog, "_roots", lambda: [source])
    before = catalog.source_key()
    (source / "m.py").write_text("X = 2\n")
    assert catalog.source_key() != before
    (source / "n.py").write_text("")
    assert len({before, catalog.source_key()}) == 2


def test_a_special_file_planted_as_the_entry_is_rebuilt_not_read(tmp_path: Path) -> None:
    """A FIFO where the entry belongs would block a plain read forever: it is refused
    like a corrupted entry and the catalog is built instead."""
    import os
    import threading

    path = tmp_path / "catalog" / f"{catalog.source_key()}.pickle"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    found: list[catalog.Catalog] = []
    reader = threading.Thread(target=lambda: found.append(catalog.load(tmp_path)), daemon=True)
    reader.start()
    reader.join(timeout=120)
    assert found and found[0].key == catalog.source_key()

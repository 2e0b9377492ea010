"""Our `datasets` and `methods` folders live under `benchmark.`: they never shadow the
Hugging Face `datasets` package a user loads real data with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import benchmark

REPO = Path(benchmark.__file__).resolve().parent.parent


def _python(code: str, cwd: Path, extra_path: Path | None = None) -> str:
    env = {"PATH": "/usr/bin:/bin"}
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_installed_import_datasets_is_not_ours(tmp_path: Path) -> None:
    code = (
        "import importlib.util as u; s = u.find_spec('datasets'); "
        "print(s.origin if s and s.origin else s and list(s.submodule_search_locations))"
    )
    origin = _python(code, tmp_path)
    assert str(REPO) not in origin
    ours = _python("import benchmark.datasets as d; print(d.__file__)", tmp_path)
    assert Path(ours).resolve() == REPO / "datasets" / "__init__.py"


def test_hugging_face_datasets_and_ours_coexist(tmp_path: Path) -> None:
    fake = tmp_path / "site"
    (fake / "datasets").mkdir(parents=True)
    (fake / "datasets" / "__init__.py").write_text("WHO = 'huggingface'\n")
    code = (
        "import datasets, benchmark.datasets.tasks as t; "
        "print(datasets.WHO, 'sketch-cls' in t.list_tasks())"
    )
    assert _python(code, tmp_path, fake) == "huggingface True"


def test_no_top_level_datasets_or_methods_in_the_distribution() -> None:
    from importlib.metadata import distribution

    dist = distribution("xmd-bench")
    top = {f.parts[0] for f in dist.files or []}
    assert "datasets" not in top and "methods" not in top


def test_every_package_folder_is_in_the_distribution() -> None:
    """A non-editable install ships only the packages pyproject.toml lists: a new
    subpackage folder that is not listed would import here and be missing there."""
    import tomllib

    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    folders = {name: REPO / path for name, path in setup["package-dir"].items()}
    found = set()
    for name, root in folders.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root).parts
            found.add(".".join([name, *rel]))
    assert found - listed == set(), sorted(found - listed)

"""What every refused input must show, shared by the hold-out list of bad inputs and the
hostile-input classes: exit code 2, one line on stderr that starts `bench: error:`, names
the bad value and is bounded, no traceback, nothing on stdout, an end within 30 s, and
nothing created or changed under the case's folder. Also the small setup steps both
tables build their cases from."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmark.cli.main import main

Setup = Callable[[Path], None] | None
LIMIT_S = 30
MAX_MESSAGE = 1100  # UserError bounds a message at 1,000 characters, plus its prefix


def write(rel: str, data: str | bytes) -> Callable[[Path], None]:
    """A step that writes `data` at `rel` under the case's folder."""

    def setup(tmp: Path) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    """A step that runs `steps` in order."""

    def setup(tmp: Path) -> None:
        for step in steps:
            step(tmp)

    return setup


def listing(root: Path) -> dict[str, str]:
    """Every entry under `root`: a digest for a regular file, its kind for anything else
    (a FIFO is never opened)."""
    entries = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            entries[name] = f"link to {os.readlink(path)}"
        elif path.is_file():
            entries[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            entries[name] = "folder" if path.is_dir() else "special"
    return entries


def _timeout(signum: int, frame: object) -> None:
    raise TimeoutError(f"the command did not end within {LIMIT_S} s")


def assert_refused(
    argv: list[str],
    message: str,
    setup: Setup,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run `bench argv` on the case's folder and check the refusal. `{out}`, `{tmp}` and
    `{name}` in argv and message are the case's output folder, folder and folder name."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no SLURM, whatever the machine
    monkeypatch.setenv("XMD_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(tmp_path)
    fill = {"out": str(tmp_path / "out"), "tmp": str(tmp_path), "name": tmp_path.name}
    before = listing(tmp_path)
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(LIMIT_S)
    try:
        code = main([a.format(**fill) for a in argv])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    assert out == "", out
    assert err.count("\n") == 1 and err.startswith("bench: error: "), err
    assert len(err) < MAX_MESSAGE, f"an unbounded message: {len(err)} characters"
    assert message.format(**fill) in err, err
    assert listing(tmp_path) == before

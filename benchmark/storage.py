"""Atomic file writes: a reader, or a process killed mid-write, never sees half a file.

A write goes to a temp file `.<name>.<random>.tmp` in the target's folder, then is
renamed over the target. A process killed mid-write (`kill -9`, out of memory) leaves
that temp file behind; the next `bench run` removes every one whose writer is gone
(`remove_stale_temps`): the writer holds an advisory lock on its temp file while
writing, which the kernel drops when it dies, and a temp file younger than
`STALE_TEMP_S` is never touched (a writer of another kind may still be filling it).

Before anything is written, `check_writable` turns an output folder that cannot be one
(a file, a read-only or missing mount) into one line instead of a traceback half-way.

Special files (docs/cluster.md, "Reliability"): an output path that exists and is not
a regular file (a device such as /dev/null, a FIFO, a socket, a folder) is refused, never
written through and never replaced: a write goes through a temp file renamed over its
target, which would replace a device node with a regular file (as root, /dev/null
itself), and writing through a FIFO blocks until someone reads it. `check_target` says so
in one line before a command writes anything, and `atomic_write` refuses too, for any
path a command did not check. Inputs are read through `read_input`, which refuses what is
not a regular file (reading a FIFO would hang) or is larger than its reader's bound.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from benchmark.errors import UserError

TEMP_GLOB = ".*.tmp"
STALE_TEMP_S = 60.0  # a temp file untouched this long, and unlocked, is a dead writer's


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in (
        (stat.S_ISDIR, "folder"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def check_target(path: Path, what: str) -> None:
    """An output file may be written at `path`: it is absent, or a regular file (links
    followed). Anything else is refused in one line (module docstring: special files)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        if err.errno in (errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG):
            return  # the folder checks (`check_writable`) or the write itself name it
        raise UserError(f"{what} '{path}' cannot be checked: {err.strerror or err}") from None
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise UserError(f"{what} '{path}' is a folder: name the file to write")
    raise UserError(
        f"{what} '{path}' is a {_kind(mode)}, not a regular file: bench never writes over "
        "special files; name a regular file or a new path"
    )


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temp file in the same folder, fsync it, then rename over `path`.
    A target that is not a regular file is refused (`check_target`); a full disk is
    raised as an `OSError(ENOSPC)` naming `path` (torch's zip writer names no file)."""
    check_target(path, "output file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # "being written": see `remove_stale_temps`
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, Exception) and disk_full(err) and not _names_file(err):
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from err
        raise


def _names_file(err: BaseException) -> bool:
    return isinstance(err, OSError) and bool(err.filename)


def read_input(path: Path, what: str, max_bytes: int) -> bytes:
    """The bytes of an input file, or one line saying why not: missing, a folder or any
    other non-regular file (a FIFO would block the read forever, a device never ends), or
    larger than `max_bytes` (a bound, so a huge file cannot exhaust memory)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (regular files ignore it).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise UserError(f"{what} '{path}' is a {_kind(mode)}, not a regular file")
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise UserError(f"{what} '{path}' does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{what} '{path}' is a folder, not a file") from None
    except OSError as err:
        raise UserError(f"cannot read {what} '{path}': {err.strerror or err}") from None
    if len(data) > max_bytes:
        raise UserError(f"{what} '{path}' is larger than {max_bytes:,} bytes")
    return data


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()))


def write_json(path: Path, payload: Any) -> None:
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def save_tensors(path: Path, payload: Any) -> None:
    """torch.save, atomically; load back with `torch.load(path, weights_only=True)`.
    (torch is imported here, so that readers of configs and records stay torch-free.)"""
    import torch

    atomic_write(path, lambda handle: torch.save(payload, handle))


def _locked(path: Path) -> bool:
    """Whether a live process holds the lock of the temp file it is writing."""
    from benchmark.locks import is_held  # locks imports nothing of the project's

    return is_held(path)


def remove_stale_temps(root: Path, older_than_s: float | None = None) -> list[Path]:
    """Delete the temp files that killed writers left under `root`; returns them."""
    if not root.is_dir():
        return []
    limit = STALE_TEMP_S if older_than_s is None else older_than_s
    now = time.time()
    removed = []
    for path in root.rglob(TEMP_GLOB):
        try:
            if not path.is_file() or now - path.stat().st_mtime < limit or _locked(path):
                continue
            path.unlink()
        except OSError:
            continue  # gone already, or not ours to remove: leave it
        removed.append(path)
    return removed


def check_writable(folder: Path, what: str) -> None:
    """One line now, rather than a traceback later, if `folder` cannot be written to: it
    is a file, it lies under a file, or its nearest existing folder refuses a new file
    (permissions, a read-only mount, /proc). Leaves nothing behind."""
    probe = check_folder(folder, what)
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".bench-write-check.", suffix=".tmp")
    except OSError as err:
        reason = err.strerror or str(err)
        raise UserError(
            f"{what} '{folder}' is not writable ('{probe}': {reason}): "
            "choose another folder or fix its permissions"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def check_folder(folder: Path, what: str) -> Path:
    """One line if `folder` is not a folder, or cannot be made because something on its
    way is not one (a file, a FIFO); writes nothing. Returns its nearest existing folder."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what} '{folder}' is a file, not a folder: pass a folder")
    if folder.is_symlink() and not folder.exists():
        raise UserError(f"{what} '{folder}' is a dangling link: remove it or pass a folder")
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{what} '{folder}' cannot be made: '{probe}' is a file, not a folder")
    return probe


def disk_full(err: BaseException) -> bool:
    """Whether `err` (or what caused it) is a full disk or an exceeded quota. torch.save
    reports ENOSPC as a RuntimeError from its zip writer, without the errno."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen)
        if "No space left on device" in text or "unexpected pos" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def full_disk_message(err: BaseException) -> str:
    """The one line a full disk gets: the cause, the file being written where known, and
    what to do (finished cells are kept, so a re-run resumes)."""
    seen: BaseException | None = err
    where = ""
    while seen is not None and not where:
        if isinstance(seen, OSError) and seen.filename:
            where = f" writing '{seen.filename}'"
        seen = seen.__cause__ or seen.__context__
    return (
        f"no space left on device{where}: free space where --out and the cache "
        "($XMD_CACHE, --cache-dir) live, or point them elsewhere, and re-run; finished "
        "cells are kept"
    )


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in chunks: what a cache entry's metadata
    keeps, so a truncated or corrupted entry is recognised on load."""
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def quarantine(path: Path) -> Path:
    """Move a bad cache file aside, into `corrupt/` next to it (kept for a post-mortem,
    out of every glob the cache uses), and return where it went."""
    target = path.parent / "corrupt" / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return target

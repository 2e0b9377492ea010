"""Advisory file locks for what many processes share: a cache entry, a cell, the manifest.

Why `flock` on a separate `.lock` file:
- the kernel drops the lock when its holder dies, however it dies (`kill -9`, out of
  memory, a node reboot for NFS), so a crash never leaves a stale lock behind that a
  human has to delete, and no lock needs a timeout;
- a lock file is never deleted (deleting it would let two processes hold "the" lock on
  two different inodes), and it is never the data: the data is still written
  atomically (temp file + rename), so readers never take a lock at all;
- on Linux NFS clients `flock` is carried to the server as a POSIX lock, so it excludes
  across the nodes of a cluster. (Lustre needs the `flock` mount option; `localflock`
  would exclude only within one node.)

The holder writes who it is (host, pid, job) into the lock file, which `bench status`
reads to say which job is running a cell.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def file_lock(
    path: Path,
    *,
    holder: dict[str, Any] | None = None,
    on_wait: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block, waiting as long as another process
    holds it. `on_wait` is called once, with the current holder's description, before
    waiting; `holder` (plus host and pid) is written into the file while it is held."""
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(read_holder(path))
            fcntl.flock(fd, fcntl.LOCK_EX)
        me = {"host": socket.gethostname(), "pid": os.getpid(), **(holder or {})}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me, sort_keys=True) + "\n").encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_held(path: Path) -> bool:
    """Whether some process holds the lock now (a probe: it never waits). A file that is
    gone or cannot be opened is not held."""
    try:
        fd = os.open(path, os.O_RDONLY)  # flock needs no write access
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def read_holder(path: Path) -> dict[str, Any]:
    """What the current holder wrote about itself; empty when unknown."""
    try:
        text = path.read_text().strip()
        loaded = json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}

"""The deep data check: decode every file a real task's loader reads, and list the bad ones.

The scan (`bench data check`) only walks a dataset's layout and reads its headers, so a
truncated JPEG among Sketchy's ~87,000 files is `found` and then fails every cell that
draws it. Here each file of a `Survey`'s `FileGroup`s is decoded the way its loader decodes
it (images fully, sounds to the last sample, arrays and HDF5 datasets to the last chunk);
a file that raises is bad, and in a `uniform` group so is one whose signature (an image's
size, an array's channel count, a sound's sample rate) differs from the group's most common
one, since the loader stacks them.

Verdicts are cached per file, keyed by the decoder, the file's path under the dataset
folder, its size and its mtime (ns), in one JSON file per dataset folder under
`<cache dir>/data-check/`; a file that changes is decoded again, and a second check of
unchanged files costs one `stat` each. The first deep check of Sketchy decodes its
~87,000 small files once (about 0.5 ms a photo, 0.3 ms a sketch on this project's
machine).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .common import DataError, FileGroup, Survey, malformed
from .decode import read_wav

CACHE_VERSION = 1  # bump when a decoder starts rejecting files it used to accept
ANNOUNCE = 1000  # files to decode before a check says, on stderr, that it is working


@dataclass(frozen=True)
class BadFile:
    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


# --- decoders: a path → its signature, or raise ----------------------------------------------


def image(path: Path) -> str:
    """Decode an image file completely (PIL); its signature is its size."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise malformed(path, f"not a readable image ({_why(err)})") from None
    return f"{width}×{height}"


def sound(path: Path) -> str:
    """Decode a sound file to its last sample; its signature is its sample rate."""
    _, rate = read_wav(path)
    return f"{rate} Hz"


def array(path: Path) -> str:
    """Read a .npy array to its last element and check its values are finite numbers; its
    signature is its channel count ([H,W] → 1, [C,H,W] → C)."""
    arr = _open_npy(path)
    if arr.dtype.kind not in "biuf":
        raise malformed(path, f"holds {arr.dtype}, not numbers")
    _finite_rows(path, arr)
    return f"{arr.shape[0] if arr.ndim == 3 else 1} channels"


def hdf5(*keys: str) -> Callable[[Path], str]:
    """A decoder reading datasets `keys` of an HDF5 file chunk by chunk along axis 0."""

    def decode(path: Path) -> str:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                for key in keys:
                    if key not in f:
                        continue  # the scan names a missing dataset the task needs
                    ds = f[key]
                    if not ds.shape:
                        ds[()]
                        continue
                    step = max(1, (64 << 20) // max(1, ds.dtype.itemsize * _row_size(ds.shape)))
                    for start in range(0, ds.shape[0], step):
                        ds[start : start + step]
        except OSError as err:
            raise malformed(path, f"unreadable HDF5 data ({_why(err)})") from None
        return ""

    decode.__name__ = f"hdf5[{','.join(keys)}]"
    return decode


def _open_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise malformed(path, f"not a readable .npy array ({_why(err)})") from None


def _finite_rows(path: Path, arr: np.ndarray) -> None:
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    rows = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)
    step = max(1, (64 << 20) // max(1, rows.shape[1] * arr.dtype.itemsize))
    for start in range(0, len(rows), step):
        block = np.asarray(rows[start : start + step])
        bad = ~np.isfinite(block)
        if bad.any():
            row = start + int(np.nonzero(bad.any(axis=1))[0][0])
            raise malformed(path, f"row {row} holds a non-finite value")


def _row_size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape[1:])) if len(shape) > 1 else 1


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{err.__class__.__name__}: {text[0]}" if text else err.__class__.__name__


# --- checking with a verdict cache --------------------------------------------------------------


def check(
    survey: Survey, cache_dir: Path | None, label: str = "", pending: list[Verdicts] | None = None
) -> tuple[int, list[BadFile]]:
    """Decode every file of `survey` not already judged at its current size and mtime:
    (files checked, the bad ones in the survey's order). The new verdicts are saved at
    the end (even when interrupted), or, given `pending`, left there for the caller to
    `save` once every input of its command is accepted: a refused run writes nothing."""
    cache = Verdicts(cache_dir, survey.root)
    todo = sum(1 for g in survey.files for p in g.paths if cache.get(g, p) is None)
    if todo >= ANNOUNCE:
        where = f" (verdicts cached in {cache.path})" if cache.path else ""
        print(
            f"bench: decoding {todo:,} files of {label or survey.root} once{where}", file=sys.stderr
        )
    bad: list[BadFile] = []
    total = 0
    try:
        for group in survey.files:
            signatures: dict[Path, str] = {}
            for path in group.paths:
                total += 1
                verdict = cache.get(group, path)
                if verdict is None:
                    verdict = _decode(group, path)
                    cache.put(group, path, verdict)
                problem, signature = verdict
                if problem is not None:
                    bad.append(BadFile(path, problem))
                else:
                    signatures[path] = signature
            if group.uniform:
                bad += _odd_ones(group, signatures)
    finally:
        if pending is None:
            cache.save()
        else:
            pending.append(cache)
    return total, bad


def _decode(group: FileGroup, path: Path) -> tuple[str | None, str]:
    try:
        return None, group.decode(path)
    except DataError as err:
        return _problem(str(err), path), ""
    except Exception as err:  # a decoder library's own error: the loader would fail too
        return _why(err), ""


def _problem(message: str, path: Path) -> str:
    prefix = f"malformed {path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _odd_ones(group: FileGroup, signatures: dict[Path, str]) -> list[BadFile]:
    counts = Counter(signatures.values())
    if len(counts) < 2:
        return []
    common, n = counts.most_common(1)[0]
    return [
        BadFile(path, f"{sig}, where {n} other {group.name} are {common} (they are stacked)")
        for path, sig in signatures.items()
        if sig != common
    ]


class Verdicts:
    """The verdict cache of one dataset folder:
    key → [size, mtime_ns, problem or None, signature]."""

    def __init__(self, cache_dir: Path | None, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.path: Path | None = None
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        if cache_dir is None:
            return
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        self.path = Path(cache_dir) / "data-check" / f"{self.root.name or 'root'}-{digest}.json"
        self.entries = self._saved()

    def _saved(self) -> dict[str, list[Any]]:
        """The verdicts on disk; none for a missing, foreign or corrupt file (rebuilt)."""
        if self.path is None or not self.path.is_file():
            return {}
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(saved, dict) or not isinstance(saved.get("files"), dict):
            return {}
        if saved.get("version") == CACHE_VERSION and saved.get("root") == str(self.root):
            return saved["files"]
        return {}

    def _key(self, group: FileGroup, path: Path) -> str:
        absolute = Path(os.path.abspath(path))
        try:
            name = str(absolute.relative_to(self.root))
        except ValueError:
            name = str(absolute)
        return f"{group.decode.__name__}:{name}"

    def _stamp(self, path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def get(self, group: FileGroup, path: Path) -> tuple[str | None, str] | None:
        entry = self.entries.get(self._key(group, path))
        stamp = self._stamp(path)
        if not isinstance(entry, list) or len(entry) != 4 or stamp is None:
            return None  # absent, or a corrupt entry: decoded again
        if tuple(entry[:2]) != stamp or not isinstance(entry[3], str):
            return None
        if entry[2] is not None and not isinstance(entry[2], str):
            return None
        return entry[2], entry[3]

    def put(self, group: FileGroup, path: Path, verdict: tuple[str | None, str]) -> None:
        stamp = self._stamp(path)
        if stamp is None:
            return
        self.entries[self._key(group, path)] = [*stamp, *verdict]
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        if self.path.exists() and not self.path.is_file():
            return  # never written over a special file (docs/cluster.md, "Reliability")
        # Verdicts saved meanwhile (another check of the same folder) are kept.
        files = {**self._saved(), **self.entries}
        body = {"version": CACHE_VERSION, "root": str(self.root), "files": files}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(body, separators=(",", ":")))
            os.replace(tmp, self.path)
        except OSError:
            pass  # an unwritable cache only costs the next check its decoding
        self.dirty = False

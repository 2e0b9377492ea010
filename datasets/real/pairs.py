"""Generic paired folder → `pairs:<path>`: a user's own paired data as a classification task,
with no code.

Layout (one folder per modality, split and class; a sample is paired across modalities by
its class folder and file name without extension):

    <path>/source/train/<class>/<id>.<ext>
    <path>/source/test/<class>/<id>.<ext>
    <path>/target/train/<class>/<id>.<ext>
    <path>/target/test/<class>/<id>.<ext>

- Files of one modality are all images (.png .jpg .jpeg .bmp .tif .tiff), all NumPy arrays
  (.npy) or all sounds (.wav .flac); source and target may differ (e.g. images → sounds).
- Images: greyscale files (PIL modes L, I;16, I, F, 1) give 1 channel, anything else RGB (3);
  the first file of a modality decides and the rest are converted to it. 8-bit values are
  scaled to [0,1], 16-bit by 1/65535, float images kept. Resized bilinearly to image_size.
- Arrays: [H,W] (1 channel) or channels-first [C,H,W], any numeric dtype, values kept as
  float32 and resized bilinearly; every array of a modality has the same C.
- Sounds: mono (channels averaged), one sample rate per modality, turned into the embedded
  world's 1 × n_mels × audio_frames log-mel "image" of the longest clip's duration (at
  most 10 s; shorter clips zero-padded), standardised with the training files' statistics.
- Classes are the folders of source/train (sorted); a class folder anywhere else that is
  not one of them is an error, and so is a split with no pair.

Splits: the source pool draws from every source/train file, the paired set from the train
pairs, the few-label set from every target/train file, the test split from the test pairs
(all seeded subsamples, see `common`). Files present in only one modality are used where a
split needs only that modality. A pair is one source file and one target file of its own
(one name in one class folder), drawn without replacement, so no two pairs of a split share
a file: `Split.source_ids` stays None.

Naming: `<path>` is absolute, or relative to --data-root when that folder exists there,
else to the working directory. Records and the leaderboard name the task
`pairs:<folder name>`, so two folders of one name cannot be run together. A path with a
comma cannot be given to `--tasks`, which splits on commas.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark.datasets.data_config import DataConfig
from benchmark.datasets.tasks import (
    CLASSIFICATION,
    TASKS,
    Split,
    TaskData,
    TaskSpec,
    world_config,
)
from benchmark.datasets.world import WorldConfig
from benchmark.errors import UserError

from . import deep
from .common import (
    DataMissing,
    Dataset,
    FewPool,
    FileGroup,
    Survey,
    draw,
    few_per_class,
    malformed,
    real_spec,
    sizes_info,
)
from .decode import load_images, log_mel, read_wav, resize, standardise

PREFIX = "pairs:"
PAIRS = Dataset("a paired folder", "docs/real-datasets.md, 'Your own paired data'", "")
KINDS = {
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"), "image"),
    ".npy": "array",
    **dict.fromkeys((".wav", ".flac"), "sound"),
}
MODALITIES = ("source", "target")
SPLITS = ("train", "test")
MAX_SECONDS = 10.0
_GREY = {"L", "I;16", "I;16B", "I;16L", "I", "F", "1"}
Key = tuple[str, str]  # (class, file name without extension)


@dataclass
class Side:
    """One modality: its file kind and, per split, its files by (class, id)."""

    kind: str = ""
    files: dict[str, dict[Key, Path]] = field(default_factory=dict)


@dataclass
class PairsIndex:
    root: Path
    classes: list[str]
    sides: dict[str, Side]
    pairs: dict[str, list[Key]]  # split → keys present in both modalities


def folder(raw: str, data_root: Path | None) -> Path:
    path = Path(raw).expanduser()
    if not path.is_absolute() and data_root is not None and (data_root / path).is_dir():
        return data_root / path
    return path


def _need_dir(path: Path) -> Path:
    if not path.is_dir():
        raise DataMissing(
            f"missing folder {path.absolute()} — a pairs: task reads "
            "<path>/{source,target}/{train,test}/<class>/<id>.<ext> "
            "(docs/real-datasets.md, 'Your own paired data')"
        )
    return path


def scan(raw: str, data_root: Path | None) -> PairsIndex:
    root = _need_dir(folder(raw, data_root))
    for modality in MODALITIES:
        for split in SPLITS:
            _need_dir(root / modality / split)
    classes = sorted(p.name for p in (root / "source" / "train").iterdir() if p.is_dir())
    if not classes:
        raise malformed(root / "source" / "train", "no class folders")
    sides = {m: _scan_side(root / m, classes) for m in MODALITIES}
    if not sides["source"].files["train"]:
        raise malformed(root / "source" / "train", "empty split: no files")
    pairs = {}
    for split in SPLITS:
        pairs[split] = sorted(set(sides["source"].files[split]) & set(sides["target"].files[split]))
        if not pairs[split]:
            raise malformed(
                root / "target" / split,
                f"empty split: no <class>/<id> in both source/{split} and target/{split}",
            )
    return PairsIndex(root, classes, sides, pairs)


def _scan_side(path: Path, classes: list[str]) -> Side:
    side = Side()
    kinds: dict[str, Path] = {}
    for split in SPLITS:
        files: dict[Key, Path] = {}
        for class_dir in sorted(p for p in (path / split).iterdir() if p.is_dir()):
            if class_dir.name not in classes:
                raise malformed(class_dir, "unknown class folder (not in source/train)")
            for file in sorted(class_dir.iterdir()):
                if file.name.startswith("."):
                    continue
                if not file.is_file():  # a folder, FIFO, device or socket: never opened
                    raise malformed(file, "not a regular file (a sample is one file)")
                kind = KINDS.get(file.suffix.lower())
                if kind is None:
                    raise malformed(file, "unsupported file type (use images, .npy or .wav)")
                kinds.setdefault(kind, file)
                key = (class_dir.name, file.stem)
                if key in files:
                    raise malformed(file, f"two files named {file.stem} in one class folder")
                files[key] = file
        side.files[split] = files
    if len(kinds) > 1:
        raise malformed(path, f"mixes file kinds: {', '.join(sorted(kinds))} (one per modality)")
    side.kind = next(iter(kinds), "")
    return side


def _images(paths: list[Path], size: int) -> Tensor:
    from PIL import Image

    with Image.open(paths[0]) as first:
        mode = "L" if first.mode in _GREY else "RGB"
    return load_images(paths, mode, size, resize)


def _arrays(paths: list[Path], size: int) -> Tensor:
    out = []
    for path in paths:
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise malformed(path, f"not a readable .npy array ({err.__class__.__name__})") from None
        if arr.dtype.kind not in "biuf" or arr.ndim not in (2, 3):
            raise malformed(path, f"{arr.dtype} {arr.shape}, expected numbers [H,W] or [C,H,W]")
        x = torch.from_numpy(np.asarray(arr, dtype=np.float32).copy())
        x = x[None] if x.ndim == 2 else x
        if out and x.shape[0] != out[0].shape[0]:
            raise malformed(path, f"{x.shape[0]} channels, {paths[0]} has {out[0].shape[0]}")
        out.append(resize(x[None], size)[0])
    return torch.stack(out)


def _sounds(paths: list[Path], train: Tensor, n_mels: int, frames: int) -> Tensor:
    waves, rate = [], 0
    for path in paths:
        wave, this = read_wav(path)
        if rate and this != rate:
            raise malformed(path, f"sample rate {this} Hz, {paths[0].name} has {rate} Hz")
        rate = this
        waves.append(wave)
    seconds = min(MAX_SECONDS, max(len(w) for w in waves) / rate)
    feats = log_mel(waves, rate, n_mels, frames, seconds)
    return standardise(feats, feats[train])


def _modality(
    index: PairsIndex,
    modality: str,
    wanted: list[tuple[str, Key]],
    size: int,
    world: WorldConfig,
) -> tuple[Tensor, dict[tuple[str, Key], int]]:
    """Every wanted (split, key) file of one modality loaded once: tensor and row of each."""
    side = index.sides[modality]
    if side.kind == "sound":  # standardised on the train files, so read them all
        wanted = [(s, k) for s in SPLITS for k in side.files[s]]
    rows = {item: i for i, item in enumerate(dict.fromkeys(wanted))}
    paths = [side.files[split][key] for split, key in rows]
    if side.kind == "image":
        x = _images(paths, size)
    elif side.kind == "array":
        x = _arrays(paths, size)
    else:
        train = torch.tensor([split == "train" for split, _ in rows])
        x = _sounds(paths, train, world.n_mels, world.audio_frames)
    return x, rows


def load(
    spec: TaskSpec,
    data: DataConfig,
    world: dict[str, Any],
    seed: int,
    data_root: Path | None,
    *,
    raw: str,
) -> TaskData:
    config = world_config(spec, data, world)
    index = scan(raw, data_root)
    label = {c: i for i, c in enumerate(index.classes)}
    src_train = list(index.sides["source"].files["train"])
    tgt_train = list(index.sides["target"].files["train"])

    def pick(keys: list[Key], size: int, stream: str) -> list[Key]:
        return [keys[i] for i in draw(len(keys), size, seed, stream)]

    pool = pick(src_train, data.source_pool, "pool")
    paired = pick(index.pairs["train"], data.paired, "paired")
    test = pick(index.pairs["test"], len(index.pairs["test"]), "test")  # every test pair
    pool_of_few = few_pool(index)
    k = data.labels_per_class
    few_rows = few_per_class(pool_of_few.labels, k, index.classes, seed, pool_of_few.noun)
    few = [tgt_train[i] for i in few_rows]
    size = data.image_size
    src, src_rows = _modality(
        index,
        "source",
        [("train", k) for k in pool + paired] + [("test", k) for k in test],
        size,
        config,
    )
    tgt, tgt_rows = _modality(
        index,
        "target",
        [("train", k) for k in paired + few] + [("test", k) for k in test],
        size,
        config,
    )

    def take(x: Tensor, rows: dict[tuple[str, Key], int], split: str, keys: list[Key]) -> Tensor:
        return x[torch.tensor([rows[(split, k)] for k in keys], dtype=torch.long)]

    def labels(keys: list[Key]) -> Tensor:
        return torch.tensor([label[c] for c, _ in keys], dtype=torch.long)

    return TaskData(
        name=spec.name,
        kind=CLASSIFICATION,
        num_classes=len(index.classes),
        source_channels=src.shape[1],
        target_channels=tgt.shape[1],
        source_pool=Split(source=take(src, src_rows, "train", pool), labels=labels(pool)),
        paired=Split(
            source=take(src, src_rows, "train", paired),
            target=take(tgt, tgt_rows, "train", paired),
            labels=labels(paired),
        ),
        few=Split(target=take(tgt, tgt_rows, "train", few), labels=labels(few)),
        test=Split(
            source=take(src, src_rows, "test", test),
            target=take(tgt, tgt_rows, "test", test),
            labels=labels(test),
        ),
        info={
            "dataset": "pairs",
            "folder": str(index.root),
            "classes": index.classes,
            "modalities": {m: index.sides[m].kind for m in MODALITIES},
            "sizes": sizes_info(
                source_pool=len(pool), paired=len(paired), few=len(few), test=len(test)
            ),
        },
    )


DECODERS = {"image": deep.image, "array": deep.array, "sound": deep.sound}


def few_pool(index: PairsIndex) -> FewPool:
    """The classes of the target/train files, which the few-label set draws from."""
    label = {c: i for i, c in enumerate(index.classes)}
    labels = torch.tensor([label[c] for c, _ in index.sides["target"].files["train"]])
    return FewPool(labels, index.classes, "target/train files")


def summary(data_root: Path | None, *, raw: str) -> Survey:
    index = scan(raw, data_root)
    kinds = " → ".join(index.sides[m].kind for m in MODALITIES)
    groups = []
    for modality in MODALITIES:  # images are stacked, arrays share C, sounds a sample rate
        side = index.sides[modality]
        files = [path for split in SPLITS for path in side.files[split].values()]
        groups.append(FileGroup(f"{modality} files", files, DECODERS[side.kind], uniform=True))
    return Survey(
        f"{index.root}: {len(index.classes)} classes, {kinds}, "
        f"{len(index.pairs['train'])} train / {len(index.pairs['test'])} test pairs",
        index.root,
        files=tuple(groups),
        few=few_pool(index),
    )


def make_task(name: str) -> tuple[str, TaskSpec]:
    """`pairs:<path>` → (`pairs:<folder name>`, its task spec), for the task registry."""
    raw = name[len(PREFIX) :]
    if not raw.strip():
        raise UserError(f"task '{name}' names no folder: use pairs:<path>, e.g. pairs:/data/mine")
    path = Path(raw).expanduser()
    label = path.name if path.name not in ("", ".", "..") else path.resolve().name
    canonical = f"{PREFIX}{label}"
    spec = real_spec(
        canonical,
        "source",
        "target",
        CLASSIFICATION,
        f"class from the target files of the paired folder {raw}",
        PAIRS,
        functools.partial(load, raw=raw),
        functools.partial(summary, raw=raw),
    )
    return canonical, spec


TASKS.register_prefix(PREFIX, make_task)

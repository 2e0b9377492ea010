"""AV-MNIST (Vielzeuf et al., 2018), as MultiBench distributes it → `avmnist-audio-cls`: a
handwritten digit (source) paired with a spectrogram of a spoken digit (target), 10 classes.

This is the AV-MNIST the multimodal literature reports on: pre-built arrays, each row one
(image, audio, label) sample, read by MultiBench's loader (pliang279/MultiBench,
`datasets/avmnist/get_data.py`; the archive `avmnist.tar.gz` is linked from MultiBench's
README). Its images are MNIST digits with most of their PCA energy removed and its audio
is a 112 × 112 spectrogram of a Free Spoken Digit Dataset recording mixed with noise, so
neither modality alone is easy. (`mnist_fsdd.py`'s `mnist-fsdd-audio-cls` builds a pairing
of its own from the original MNIST and FSDD files instead.)

Files under the data root, as the archive unpacks:

    avmnist/image/train_data.npy   60,000 × 784 (or × 28 × 28) digit images, 0..255 scale
    avmnist/image/test_data.npy    10,000 × 784
    avmnist/audio/train_data.npy   60,000 × 112 × 112 spectrograms, 0..255 scale
    avmnist/audio/test_data.npy    10,000 × 112 × 112
    avmnist/train_labels.npy       60,000 digits 0..9
    avmnist/test_labels.npy        10,000 digits

What MultiBench's loader fixes and this adapter therefore checks: file names and places;
images reshaped to 28 × 28 and audio to 112 × 112 (so 784 and 12,544 values a row); one
label a row; the image and audio arrays divided by 255 (its default normalisation, kept
here); rows 0-54,999 of the training arrays for training and 55,000-59,999 as validation.
The arrays may be of any numeric dtype (MultiBench divides the image array in place, so
the release's is a float type); labels must be whole numbers 0..9.

Splits: training draws only from the first 11/12 of the training rows (55,000 of 60,000:
MultiBench's training set); its last 5,000 rows, the validation set, are not used, since
this benchmark tunes nothing on held-out data. The test split is the whole test array.
Source pool, paired and few-label sets are seeded subsamples of the training rows, as
for every real task.

Source: the digit as 3 identical channels (RGB backbones and ImageNet teachers apply
unchanged), resized bilinearly to `data.image_size`. Target: the spectrogram as a
1-channel image resized (bilinear, antialiased) to the benchmark's audio layout,
`world.n_mels` × `world.audio_frames` (32 × 32 unless set; `--set world.n_mels=112
world.audio_frames=112` keeps the published resolution).

Each row is its own pair, so no two pairs of a split share an input file. Rows made from
one FSDD recording have similar spectrograms, but the archive does not say which
recording a row came from, so `Split.source_ids` stays None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.datasets.data_config import MST_SPLIT, STANDARD_SPLIT, DataConfig
from benchmark.datasets.tasks import CLASSIFICATION, Split, TaskData, TaskSpec, world_config

from . import deep
from .common import (
    Dataset,
    FewPool,
    FileGroup,
    Survey,
    draw,
    few_per_class,
    malformed,
    register_real,
    sizes_info,
)
from .decode import resize
from .peer_splits import Joined, mst_split

AVMNIST = Dataset(
    "AV-MNIST (MultiBench's avmnist.tar.gz, linked from its README)",
    "https://github.com/pliang279/MultiBench",
    "avmnist",
)
PARTS = ("train", "test")
IMAGE_SIDE, AUDIO_SIDE = 28, 112
RELEASE_ROWS = {"train": 60_000, "test": 10_000}
VALIDATION_SHARE = 12  # the last 1/12 of the training rows (5,000 of 60,000) is validation
DIGITS = tuple(str(d) for d in range(10))
CHUNK = 1024  # rows converted and resized at a time


@dataclass
class Part:
    """One part's arrays, memory-mapped (rows are read when used)."""

    images: np.ndarray
    audio: np.ndarray
    labels: Tensor


def paths(root: Path, part: str) -> dict[str, Path]:
    return {
        "images": root / "image" / f"{part}_data.npy",
        "audio": root / "audio" / f"{part}_data.npy",
        "labels": root / f"{part}_labels.npy",
    }


def _open(path: Path) -> np.ndarray:
    try:
        arr = np.load(AVMNIST.need_file(path), mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # truncated files fail here (mmap size)
        raise malformed(path, f"not a readable .npy array ({err.__class__.__name__})") from None
    if arr.dtype.kind not in "biuf":
        raise malformed(path, f"holds {arr.dtype}, not numbers")
    return arr


def _rows_of(path: Path, arr: np.ndarray, side: int) -> np.ndarray:
    """`arr` as [N, side, side]: MultiBench reshapes rows of side² values or side × side."""
    n = arr.shape[0] if arr.ndim else 0
    if arr.ndim == 2 and arr.shape[1] == side * side:
        return arr.reshape(n, side, side)
    if arr.ndim == 3 and arr.shape[1:] == (side, side):
        return arr
    raise malformed(path, f"shape {arr.shape}, expected (N, {side * side}) or (N, {side}, {side})")


def read_part(root: Path, part: str) -> Part:
    where = paths(root, part)
    images = _rows_of(where["images"], _open(where["images"]), IMAGE_SIDE)
    audio = _rows_of(where["audio"], _open(where["audio"]), AUDIO_SIDE)
    raw = np.asarray(_open(where["labels"]))
    if raw.ndim == 2 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.ndim != 1:
        raise malformed(where["labels"], f"shape {raw.shape}, expected one label a row (N,)")
    if len(raw) == 0:
        raise malformed(where["labels"], "no rows (empty split)")
    if np.any(raw != np.round(raw)) or raw.min() < 0 or raw.max() > 9:
        raise malformed(where["labels"], "labels must be the digits 0..9")
    for key, arr in (("images", images), ("audio", audio)):
        if len(arr) != len(raw):
            raise malformed(where[key], f"{len(arr)} rows for {len(raw)} labels")
    return Part(images, audio, torch.from_numpy(raw.astype(np.int64)))


def fit_rows(n: int) -> int:
    """Training rows in MultiBench's training set: all but the last 1/12 (validation)."""
    return n - round(n / VALIDATION_SHARE) if n >= VALIDATION_SHARE else n


def _scan(data_root: Path | None) -> tuple[Path, Part, Part]:
    root = AVMNIST.need_dir(AVMNIST.root(data_root))
    train, test = read_part(root, "train"), read_part(root, "test")
    fit = train.labels[: fit_rows(len(train.labels))]
    for d in range(10):
        if not bool((fit == d).any()):
            raise malformed(paths(root, "train")["labels"], f"no training row of digit {d}")
    return root, train, test


def _warnings(train: Part, test: Part) -> list[str]:
    out = []
    for part, data in (("train", train), ("test", test)):
        if len(data.labels) != RELEASE_ROWS[part]:
            out.append(f"{len(data.labels)} {part} rows (the release has {RELEASE_ROWS[part]:,})")
    return out


def _take(arr: np.ndarray, rows: Tensor, size: tuple[int, int]) -> Tensor:
    """Rows of a memory-mapped [N,S,S] array, /255 as MultiBench does, resized to `size`."""
    out = []
    order = rows.numpy()
    for start in range(0, len(order), CHUNK):
        chunk = np.asarray(arr[order[start : start + CHUNK]], dtype=np.float32) / 255.0
        x = torch.from_numpy(chunk)[:, None]
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
        out.append(x)
    return torch.cat(out) if out else torch.zeros(0, 1, *size)


def _digits(part: Part, rows: Tensor, size: int) -> Tensor:
    x = _take(part.images, rows, (IMAGE_SIDE, IMAGE_SIDE))
    return resize(x, size).expand(-1, 3, -1, -1).contiguous()


def few_pool(train: Part) -> FewPool:
    return FewPool(train.labels[: fit_rows(len(train.labels))], DIGITS, "training rows")


def mst_parts(train: Part, test: Part, seed: int) -> tuple[Part, Tensor, Tensor]:
    """MST-Distill's partition (`data.split: mst`, datasets/real/peer_splits.py): the
    training and test arrays pooled, the pooled rows its group `seed` puts in training,
    and those it puts in test."""
    pooled = Part(
        Joined(train.images, test.images),  # type: ignore[arg-type]
        Joined(train.audio, test.audio),  # type: ignore[arg-type]
        torch.cat([train.labels, test.labels]),
    )
    fit, _, tested = mst_split(len(pooled.labels), seed)
    return pooled, fit, tested


def load(
    spec: TaskSpec, data: DataConfig, world: dict[str, Any], seed: int, data_root: Path | None
) -> TaskData:
    config = world_config(spec, data, world)  # n_mels and audio_frames, validated
    _, train, test = _scan(data_root)
    if data.split == MST_SPLIT:
        return _load_mst(spec, data, config.n_mels, config.audio_frames, train, test, seed)
    n_fit = fit_rows(len(train.labels))
    pool = draw(n_fit, data.source_pool, seed, "pool")
    paired = draw(n_fit, data.paired, seed, "paired")
    pool_of_few = few_pool(train)
    k = data.labels_per_class
    few = few_per_class(pool_of_few.labels, k, DIGITS, seed, pool_of_few.noun)
    tested = draw(len(test.labels), len(test.labels), seed, "test")  # the whole test array
    size, audio = data.image_size, (config.n_mels, config.audio_frames)
    return _task_data(
        spec,
        (train, pool, paired, few),
        (test, tested),
        size,
        audio,
        {
            "dataset": "avmnist",
            "classes": list(DIGITS),
            "test_split": "the whole test array",
            "validation": f"training rows {n_fit}.. (MultiBench's validation set) unused",
            "warnings": _warnings(train, test),
            "sizes": sizes_info(
                source_pool=len(pool), paired=len(paired), few=len(few), test=len(tested)
            ),
        },
    )


def _task_data(
    spec: TaskSpec,
    fit: tuple[Part, np.ndarray, np.ndarray, np.ndarray],
    test: tuple[Part, np.ndarray],
    size: int,
    audio: tuple[int, int],
    info: dict,
) -> TaskData:
    """The task's splits from row indices: `fit` is the part the source pool, paired and
    few-label rows index (with those three index arrays), `test` the part and rows scored."""
    part, pool, paired, few = fit
    test_part, tested = test
    return TaskData(
        name=spec.name,
        kind=CLASSIFICATION,
        num_classes=10,
        source_channels=3,
        target_channels=1,
        source_pool=Split(source=_digits(part, pool, size), labels=part.labels[pool]),
        paired=Split(
            source=_digits(part, paired, size),
            target=_take(part.audio, paired, audio),
            labels=part.labels[paired],
        ),
        few=Split(target=_take(part.audio, few, audio), labels=part.labels[few]),
        test=Split(
            source=_digits(test_part, tested, size),
            target=_take(test_part.audio, tested, audio),
            labels=test_part.labels[tested],
        ),
        info=info,
    )


def _load_mst(
    spec: TaskSpec,
    data: DataConfig,
    n_mels: int,
    frames: int,
    train: Part,
    test: Part,
    seed: int,
) -> TaskData:
    """The splits under MST-Distill's partition: source pool, paired and few-label sets
    drawn from its training rows, its test rows whole. Scaling stays MultiBench's /255
    (the peer min-max normalises each row, the same map for a row spanning 0..255)."""
    pooled, fit, tested = mst_parts(train, test, seed)
    pool = fit[draw(len(fit), data.source_pool, seed, "pool")]
    paired = fit[draw(len(fit), data.paired, seed, "paired")]
    few = fit[few_per_class(pooled.labels[fit], data.labels_per_class, DIGITS, seed, "rows")]
    size, audio = data.image_size, (n_mels, frames)
    return _task_data(
        spec,
        (pooled, pool, paired, few),
        (pooled, tested),
        size,
        audio,
        {
            "dataset": "avmnist",
            "classes": list(DIGITS),
            "split": f"MST-Distill's group {seed}: train and test rows pooled, 60/20/20",
            "test_split": f"MST-Distill's test rows of group {seed} ({len(tested)} rows)",
            "validation": "MST-Distill's validation rows (20%) unused",
            "warnings": _warnings(train, test),
            "sizes": sizes_info(
                source_pool=len(pool), paired=len(paired), few=len(few), test=len(tested)
            ),
        },
    )


def summary(data_root: Path | None) -> Survey:
    root, train, test = _scan(data_root)
    n, n_fit = len(train.labels), fit_rows(len(train.labels))
    text = (
        f"{n} train rows ({n_fit} training, {n - n_fit} validation, unused) / "
        f"{len(test.labels)} test rows, images 28×28, audio 112×112"
    )
    files = [p for part in PARTS for p in paths(root, part).values()]
    return Survey(
        text + "".join(f"; warning: {w}" for w in _warnings(train, test)),
        root,
        files=(FileGroup("arrays", files, deep.array),),
        few=few_pool(train),
    )


register_real(
    "avmnist-audio-cls",
    "rgb",
    "audio",
    CLASSIFICATION,
    "digit from a spoken digit's spectrogram (AV-MNIST, MultiBench's arrays)",
    AVMNIST,
    load,
    summary,
    splits=(STANDARD_SPLIT, MST_SPLIT),
)

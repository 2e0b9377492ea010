"""MNIST + FSDD → `mnist-fsdd-audio-cls`: a handwritten digit (MNIST, source) paired with a
spoken digit of the same class (Free Spoken Digit Dataset, target), 10 classes, built here
from the two original releases.

This is not the literature's AV-MNIST: that one (Vielzeuf et al., 2018), the one papers
report on, is distributed as pre-built arrays and read by `avmnist.py` as
`avmnist-audio-cls`. This task pairs the same two sources the way AV-MNIST did (a digit
image with a recording of the same digit) but keeps MNIST's images as they are and turns
FSDD's recordings into this benchmark's log-mel layout.

Files under the data root:

    mnist/train-images-idx3-ubyte   mnist/train-labels-idx1-ubyte   (or the same + .gz)
    mnist/t10k-images-idx3-ubyte    mnist/t10k-labels-idx1-ubyte
    fsdd/recordings/<digit>_<speaker>_<n>.wav                       (8 kHz mono)

MNIST's own page (yann.lecun.com/exdb/mnist) no longer serves the files; the four .gz files
are on the mirrors maintained loaders use: https://ossci-datasets.s3.amazonaws.com/mnist/
(torchvision's `MNIST.mirrors`, first entry) and
https://storage.googleapis.com/cvdf-datasets/mnist/ (TensorFlow Datasets' CVDF mirror).

IDX files are read byte-exact: a big-endian header (two zero bytes, type 0x08 = unsigned
byte, the number of dimensions, then each dimension as a 4-byte integer) followed by the
data; images are N×28×28, labels N digits 0..9. FSDD's own split is kept: recordings
numbered 0-4 are its test set, 5 and up its training set (the FSDD README).

Pairing: every MNIST image of a split gets a recording of the same digit from the same
partition, drawn uniformly by a seeded generator; a recording serves several images (FSDD
is far smaller than MNIST). The MNIST images of a split are distinct, but pairs that drew
one recording have identical student inputs, so they are false negatives of each other just
as Sketchy's pairs of one photo are: the paired and test splits' `Split.source_ids` hold
each pair's recording (its index in the sorted recording list), the shared input that
groups them.

Source: the digit as 3 identical channels in [0,1], resized bilinearly, so RGB backbones
and ImageNet-pretrained teachers apply unchanged (as they do to the embedded `rgb`).
Target: the embedded world's audio feature layout, a 1 × n_mels × audio_frames log-mel
"image" (`world.n_mels`, `world.audio_frames`, 32 × 32 by default) of the first
CLIP_SECONDS of the recording (zero-padded; FSDD clips are trimmed and mostly shorter),
standardised with the mean and std of the training recordings' features.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark.datasets.data_config import DataConfig
from benchmark.datasets.tasks import CLASSIFICATION, Split, TaskData, TaskSpec, world_config
from benchmark.streams import seeded

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
from .decode import log_mel, read_wav, resize, standardise

MIRRORS = (  # torchvision's MNIST.mirrors (first entry) and TensorFlow Datasets' CVDF mirror
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST = Dataset(  # yann.lecun.com/exdb/mnist, the original page, no longer serves the files
    "MNIST's four .gz files",
    f"{MIRRORS[0]} (torchvision's mirror; also {MIRRORS[1]})",
    "mnist",
)
FSDD = Dataset(
    "the Free Spoken Digit Dataset",
    "https://github.com/Jakobovski/free-spoken-digit-dataset",
    "fsdd",
)
BOTH = Dataset(  # what a missing data root asks for: the task needs both datasets
    f"MNIST ({MIRRORS[0]}) and FSDD", FSDD.homepage, "mnist/ and fsdd"
)
SAMPLE_RATE = 8000
CLIP_SECONDS = 1.0
DIGITS = tuple(str(d) for d in range(10))
_RECORDING = re.compile(r"^([0-9])_(.+)_([0-9]+)\.wav$")
_IDX_UBYTE = 0x08


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes (optionally gzipped) as an array of `ndim` dimensions."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise malformed(path, f"unreadable ({err.__class__.__name__})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise malformed(path, "not an IDX file (the first two bytes must be zero)")
    if raw[2] != _IDX_UBYTE or raw[3] != ndim:
        raise malformed(
            path, f"IDX type 0x{raw[2]:02x} with {raw[3]} dimensions, expected 0x08 with {ndim}"
        )
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    if len(raw) != header + int(np.prod(dims)):
        raise malformed(path, f"{len(raw) - header} data bytes for dimensions {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _idx_path(folder: Path, stem: str) -> Path:
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    raise MNIST.missing("file", folder / stem)


def read_mnist(data_root: Path | None, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images [N,28,28] uint8 and labels [N] of MNIST's `train` or `t10k` part."""
    folder = MNIST.need_dir(MNIST.root(data_root))
    images_path = _idx_path(folder, f"{part}-images-idx3-ubyte")
    labels_path = _idx_path(folder, f"{part}-labels-idx1-ubyte")
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise malformed(labels_path, f"{len(labels)} labels for {len(images)} images")
    if len(images) == 0:
        raise malformed(images_path, "no images (empty split)")
    if labels.max() > 9:
        raise malformed(labels_path, f"label {labels.max()} is not a digit")
    return images, labels


@dataclass
class Recordings:
    paths: list[Path]
    digit: Tensor
    test: Tensor  # bool


def list_recordings(data_root: Path | None) -> Recordings:
    """FSDD's recordings, their digits and its test flag (recording number 0-4)."""
    folder = FSDD.need_dir(FSDD.root(data_root) / "recordings")
    paths = sorted(folder.glob("*.wav"))
    if not paths:
        raise FSDD.missing("recordings (*.wav) in", folder)
    digits, test = [], []
    for path in paths:
        match = _RECORDING.match(path.name)
        if match is None:
            raise malformed(path, "name is not '<digit>_<speaker>_<n>.wav'")
        digits.append(int(match[1]))
        test.append(int(match[3]) <= 4)
    rec = Recordings(paths, torch.tensor(digits), torch.tensor(test))
    for part, flag in (("training", False), ("test", True)):
        present = set(rec.digit[rec.test == flag].tolist())
        for d in range(10):
            if d not in present:
                raise malformed(folder, f"empty {part} split: no recording of digit {d}")
    return rec


def features(rec: Recordings, n_mels: int, frames: int) -> Tensor:
    """Standardised log-mel features of every recording, resampled to 8 kHz if needed."""
    import torchaudio

    waves = []
    for path in rec.paths:
        wave, rate = read_wav(path)
        if rate != SAMPLE_RATE:
            resampled = torchaudio.functional.resample(torch.from_numpy(wave), rate, SAMPLE_RATE)
            wave = resampled.numpy()
        waves.append(wave)
    feats = log_mel(waves, SAMPLE_RATE, n_mels, frames, CLIP_SECONDS)
    return standardise(feats, feats[~rec.test])


def _pair(labels: Tensor, pool: Tensor, digit: Tensor, seed: int, stream: str) -> Tensor:
    """For each label, a recording index out of `pool` with the same digit (seeded)."""
    u = torch.rand(len(labels), generator=seeded(seed, f"real/{stream}"))
    out = torch.empty(len(labels), dtype=torch.long)
    for d in range(10):
        bucket = pool[digit[pool] == d]
        rows = torch.nonzero(labels == d).flatten()
        out[rows] = bucket[(u[rows] * len(bucket)).long().clamp_max(len(bucket) - 1)]
    return out


def _digits(images: np.ndarray, rows: Tensor, size: int) -> Tensor:
    x = torch.from_numpy(images[rows.numpy()]).float().div(255.0)[:, None]
    return resize(x, size).expand(-1, 3, -1, -1).contiguous()


def load(
    spec: TaskSpec, data: DataConfig, world: dict[str, Any], seed: int, data_root: Path | None
) -> TaskData:
    BOTH.root(data_root)
    config = world_config(spec, data, world)  # n_mels and audio_frames, validated
    train_img, train_lab = read_mnist(data_root, "train")
    test_img, test_lab = read_mnist(data_root, "t10k")
    rec = list_recordings(data_root)
    feats = features(rec, config.n_mels, config.audio_frames)
    train_rec = torch.nonzero(~rec.test).flatten()
    test_rec = torch.nonzero(rec.test).flatten()
    train_y = torch.from_numpy(train_lab.astype(np.int64))
    test_y = torch.from_numpy(test_lab.astype(np.int64))

    pool = draw(len(train_img), data.source_pool, seed, "pool")
    paired = draw(len(train_img), data.paired, seed, "paired")
    paired_rec = _pair(train_y[paired], train_rec, rec.digit, seed, "pairing")
    pool_of_few = few_pool(rec)
    k = data.labels_per_class
    few = train_rec[few_per_class(pool_of_few.labels, k, DIGITS, seed, pool_of_few.noun)]
    test = draw(len(test_img), len(test_img), seed, "test")  # the whole t10k partition
    test_rec_rows = _pair(test_y[test], test_rec, rec.digit, seed, "test-pairing")
    size = data.image_size
    return TaskData(
        name=spec.name,
        kind=CLASSIFICATION,
        num_classes=10,
        source_channels=3,
        target_channels=1,
        source_pool=Split(source=_digits(train_img, pool, size), labels=train_y[pool]),
        paired=Split(
            source=_digits(train_img, paired, size),
            target=feats[paired_rec],
            labels=train_y[paired],
            source_ids=paired_rec,
        ),
        few=Split(target=feats[few], labels=rec.digit[few]),
        test=Split(
            source=_digits(test_img, test, size),
            target=feats[test_rec_rows],
            labels=test_y[test],
            source_ids=test_rec_rows,
        ),
        info={
            "dataset": "mnist-fsdd",
            "classes": list(DIGITS),
            "sizes": sizes_info(
                source_pool=len(pool), paired=len(paired), few=len(few), test=len(test)
            ),
        },
    )


def few_pool(rec: Recordings) -> FewPool:
    """The digits of FSDD's training recordings, which the few-label set draws from."""
    return FewPool(rec.digit[~rec.test], DIGITS, "training recordings")


def summary(data_root: Path | None) -> Survey:
    BOTH.root(data_root)  # names both datasets when there is no data root
    assert data_root is not None
    sizes = [len(read_mnist(data_root, part)[0]) for part in ("train", "t10k")]  # read whole
    rec = list_recordings(data_root)
    return Survey(
        f"MNIST {sizes[0]} train / {sizes[1]} test images; FSDD {int((~rec.test).sum())} "
        f"train / {int(rec.test.sum())} test recordings",
        Path(data_root),
        files=(FileGroup("recordings", rec.paths, deep.sound),),
        few=few_pool(rec),
    )


register_real(
    "mnist-fsdd-audio-cls",
    "rgb",
    "audio",
    CLASSIFICATION,
    "digit from a spoken FSDD recording, paired with MNIST digits (built here, not AV-MNIST)",
    MNIST,
    load,
    summary,
)

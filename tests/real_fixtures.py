"""Tiny copies of the real datasets, written in each one's exact on-disk format, so the real
loaders run in CI on files shaped like the published ones (only smaller).

- Sketchy: the rendered_256x256 tree of JPEG photos and PNG sketches (`<photo-id>-<n>.png`)
  and `info/testset.txt`;
- NYU-Depth V2: an HDF5 `nyu_depth_v2_labeled.mat` with a MATLAB v7.3 user block, the
  datasets' dtypes and MATLAB's transposed axis order, cell arrays as object references to
  uint16 character arrays; `splits.mat` and `classMapping40.mat` as MATLAB v5 files;
- AV-MNIST as MultiBench distributes it: `avmnist/{image,audio}/{train,test}_data.npy`
  and `avmnist/{train,test}_labels.npy`, rows of 784 image values (float64) and 112 × 112
  spectrograms (float32) on a 0..255 scale, and uint8 digits (MultiBench's loader fixes
  the names, shapes and scale, not the dtypes; any numeric dtype is read);
- MNIST + FSDD: big-endian IDX files (train gzipped, t10k plain) and 8 kHz 16-bit WAVs named
  `<digit>_<speaker>_<n>.wav`;
- CrisisMMD v2.0: `crisismmd_datasplit_all/task_humanitarian_text_img_{train,dev,test}.tsv`
  (the release's nine tab-separated columns, a tweet with two images on two rows) and the
  JPEGs under `data_image/<event>/<date>/`;
- VoxCeleb1: `iden_split.txt`, `vox1_meta.csv` (tab-separated), 16 kHz WAVs under
  `wav/id<n>/<video>/<utt>.wav` and face frames under
  `unzippedIntervalFaces/data/<name>/1.6/<video>/<n>/<frame>.jpg`;
- a `pairs:` folder of PNG images paired with .npy arrays or WAV sounds.

Every sample carries its class in a visible way (colour, stroke, depth, pitch), so the
smoke runs have something to learn, though the tests only ask for finite scores.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import h5py
import numpy as np
import scipy.io
import soundfile
from PIL import Image

SKETCHY_FIXTURE_CLASSES = ("airplane", "cat", "hot-air_balloon", "zebra")
SCENE_TYPES = [
    "bathroom",
    "bedroom",
    "bookstore",
    "classroom",
    "dining_room",
    "home_office",
    "kitchen",
    "living_room",
    "office",
    "basement",
    "cafe",
    "study",
]
NYU_IMAGES = 200  # 120 training and 80 test images
RAW_LABELS = 894
MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5"


def write_all(root: Path) -> Path:
    """Every real dataset under `root`, laid out as `--data-root` expects."""
    write_sketchy(root)
    write_nyuv2(root)
    write_avmnist(root)
    write_mnist(root)
    write_fsdd(root)
    write_crisismmd(root)
    write_voxceleb(root)
    return root


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))


# --- Sketchy ------------------------------------------------------------------------------


def write_sketchy(
    root: Path,
    classes: tuple[str, ...] = SKETCHY_FIXTURE_CLASSES,
    photos: int = 36,
    test_photos: int = 4,
    size: int = 40,
) -> Path:
    """`photos` photos a class (the first `test_photos` listed in info/testset.txt); test
    photos get 4 sketches, training photos 1 or 2."""
    rng = _rng("sketchy")
    base = root / "sketchy" / "rendered_256x256" / "256x256"
    listed = []
    for c, name in enumerate(classes):
        photo_dir = base / "photo" / "tx_000000000000" / name
        sketch_dir = base / "sketch" / "tx_000000000000" / name
        photo_dir.mkdir(parents=True)
        sketch_dir.mkdir(parents=True)
        for i in range(photos):
            photo_id = f"n{1000000 + c:08d}_{100 + i}"
            colour = np.array([60 * c, 255 - 60 * c, 40 + 50 * c]) + rng.integers(0, 30, 3)
            pixels = np.clip(colour + rng.integers(-20, 20, (size, size, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(photo_dir / f"{photo_id}.jpg")
            sketches = 4 if i < test_photos else 1 + i % 2
            for n in range(1, sketches + 1):
                paper = np.full((size, size), 255, np.uint8)
                paper[:, 4 + 8 * c + n] = 0  # a vertical stroke whose place tells the class
                paper[size // 2, :] = 0
                Image.fromarray(paper).save(sketch_dir / f"{photo_id}-{n}.png")
            if i < test_photos:
                listed.append(f"{name}/{photo_id}.jpg")
    info = root / "sketchy" / "info"
    info.mkdir(parents=True)
    (info / "testset.txt").write_text("\n".join(listed) + "\n")
    return root / "sketchy"


# --- NYU-Depth V2 ---------------------------------------------------------------------------


def _char_refs(f: h5py.File, key: str, strings: list[str]) -> None:
    """A MATLAB cell array of char row vectors, as v7.3 stores it: (1, n) references into
    #refs#, each string a (length, 1) uint16 array of character codes."""
    refs = f.require_group("#refs#")
    ds = f.create_dataset(key, (1, len(strings)), dtype=h5py.ref_dtype)
    ds.attrs["MATLAB_class"] = np.bytes_("cell")
    for i, text in enumerate(strings):
        codes = np.array([ord(ch) for ch in text], dtype=np.uint16)[:, None]
        target = refs.create_dataset(f"{key}_{i}", data=codes)
        target.attrs["MATLAB_class"] = np.bytes_("char")
        ds[0, i] = target.ref


def write_nyuv2(
    root: Path,
    *,
    n: int = NYU_IMAGES,
    width: int = 40,
    height: int = 30,
    raw_labels: int = RAW_LABELS,
    images_shape: tuple[int, ...] | None = None,
    drop: str = "",
    scenes: list[str] | None = None,
) -> Path:
    """nyu_depth_v2_labeled.mat (+ splits.mat, classMapping40.mat) with `n` images of
    width × height, h5py shapes as MATLAB writes them: images (n, 3, W, H) and so on; 60% of
    the images are training images. Fewer `raw_labels` than NYU's 894 write faster (each
    name is an HDF5 object); `images_shape` and `drop` (a dataset to leave out) make
    malformed variants; `scenes` gives each image's scene type (default: SCENE_TYPES in
    turn)."""
    rng = _rng("nyuv2")
    folder = root / "nyuv2"
    folder.mkdir(parents=True, exist_ok=True)
    if scenes is None:
        scenes = [SCENE_TYPES[i % len(SCENE_TYPES)] for i in range(n)]
    assert len(scenes) == n and set(scenes) <= set(SCENE_TYPES)
    scene_id = np.array([SCENE_TYPES.index(s) for s in scenes])
    # H×W maps first, then transposed to MATLAB's W×H as h5py sees it.
    rows = np.arange(height)[None, :, None]
    depth = 1.0 + 0.25 * scene_id[:, None, None] + 0.05 * rows + np.zeros((n, height, width))
    labels = np.zeros((n, height, width), np.uint16)
    for i in range(n):
        labels[i, : height // 2] = rng.integers(1, raw_labels + 1)
        labels[i, height // 2 :] = rng.integers(1, raw_labels + 1)
        labels[i, :, :3] = 0  # an unlabelled border, as in the real maps
    images = rng.integers(0, 255, (n, 3, height, width)).astype(np.uint8)
    images[:, 0] = (20 * scene_id)[:, None, None]
    path = folder / "nyu_depth_v2_labeled.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        data = {
            "images": images.transpose(0, 1, 3, 2),  # (n, 3, W, H)
            "depths": depth.astype(np.float32).transpose(0, 2, 1),  # (n, W, H)
            "labels": labels.transpose(0, 2, 1),
        }
        if images_shape is not None:
            data["images"] = np.zeros(images_shape, np.uint8)
        for key, array in data.items():
            if key != drop:
                f.create_dataset(key, data=array)
        _char_refs(f, "names", [f"object{i}" for i in range(1, raw_labels + 1)])
        if drop != "sceneTypes":
            _char_refs(f, "sceneTypes", scenes)
    with path.open("r+b") as handle:  # MATLAB's text header in the user block
        handle.write(MATLAB_HEADER.ljust(128, b" "))
    order = rng.permutation(n) + 1  # 1-based image numbers, interleaved like the real split
    train = round(0.6 * n)
    scipy.io.savemat(
        folder / "splits.mat",
        {
            "trainNdxs": np.sort(order[:train]).astype(np.float64)[:, None],
            "testNdxs": np.sort(order[train:]).astype(np.float64)[:, None],
        },
    )
    class_names = np.empty((1, 40), dtype=object)
    class_names[0, :] = [f"class{i}" for i in range(1, 41)]
    scipy.io.savemat(
        folder / "classMapping40.mat",
        {
            "mapClass": (np.arange(raw_labels) % 40 + 1).astype(np.float64)[None, :],
            "className": class_names,
        },
    )
    return folder


# --- AV-MNIST (MultiBench's arrays) ------------------------------------------------------------


def write_avmnist(root: Path, train: int = 96, test: int = 64) -> Path:
    """MultiBench's avmnist folder: image rows of 784 values (a bar whose height is the
    digit, then MNIST-like PCA residue: values around the 0..255 scale, some negative) and
    112 × 112 spectrograms with a band whose frequency is the digit, over noise."""
    rng = _rng("avmnist")
    folder = root / "avmnist"
    for sub in ("image", "audio"):
        (folder / sub).mkdir(parents=True)
    for part, n in (("train", train), ("test", test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.normal(0.0, 8.0, (n, 28, 28))
        audio = np.abs(rng.normal(0.0, 10.0, (n, 112, 112)))
        for i, digit in enumerate(labels):
            images[i, 4 + 2 * digit : 8 + 2 * digit, 6:22] += 200.0
            audio[i, 8 + 9 * digit : 14 + 9 * digit, :] += 180.0
        np.save(folder / "image" / f"{part}_data.npy", images.reshape(n, 784))
        np.save(folder / "audio" / f"{part}_data.npy", audio.astype(np.float32))
        np.save(folder / f"{part}_labels.npy", labels)
    return folder


# --- MNIST + FSDD -----------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: 0x0000, type 0x08 (unsigned byte), ndim, big-endian dims, then data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, train: int = 150, test: int = 80) -> Path:
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for part, n, packed in (("train", train, True), ("t10k", test, False)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.uint8)
        for i, digit in enumerate(labels):
            images[i, 4 + 2 * digit : 8 + 2 * digit, 6:22] = 255  # a bar whose height is the digit
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{part}-{kind}-ubyte"
            payload = idx_bytes(array)
            if packed:
                (folder / f"{name}.gz").write_bytes(gzip.compress(payload))
            else:
                (folder / name).write_bytes(payload)
    return folder


def write_fsdd(root: Path, speakers: tuple[str, ...] = ("jackson", "theo"), takes: int = 7) -> Path:
    """`takes` recordings per digit and speaker (numbers 0-4 are FSDD's test set)."""
    rng = _rng("fsdd")
    folder = root / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    t = np.arange(int(0.3 * 8000)) / 8000
    for digit in range(10):
        for speaker in speakers:
            for take in range(takes):
                tone = np.sin(2 * np.pi * (300 + 150 * digit) * t) * np.hanning(len(t))
                wave = 0.5 * tone + 0.01 * rng.standard_normal(len(t))
                soundfile.write(folder / f"{digit}_{speaker}_{take}.wav", wave, 8000, "PCM_16")
    return folder


# --- CrisisMMD v2.0 ---------------------------------------------------------------------

CRISIS_HEADER = (
    "event_name\ttweet_id\timage_id\ttweet_text\timage\tlabel\tlabel_text\tlabel_image"
    "\tlabel_text_image"
)
CRISIS_WORDS = (
    ("fine", "nothing", "weather"),
    ("family", "lost", "home"),
    ("bridge", "road", "collapsed"),
    ("injured", "dead", "hospital"),
    ("missing", "found", "search"),
    ("donate", "volunteers", "rescue"),
    ("car", "truck", "wrecked"),
    ("update", "shelter", "info"),
)


def write_crisismmd(root: Path, per_class: tuple[int, int, int] = (6, 2, 3)) -> Path:
    """Tweets of every category in train / dev / test (counts per class), each with one
    JPEG whose colour tells its class; the first training tweet of a class has a second
    image (a second row with the same tweet id, which the loader drops)."""
    from benchmark.datasets.real.crisismmd import CATEGORIES

    rng = _rng("crisismmd")
    base = root / "CrisisMMD_v2.0"
    (base / "crisismmd_datasplit_all").mkdir(parents=True)
    tweet = 900_000_000_000_000_000
    for part, count in zip(("train", "dev", "test"), per_class, strict=True):
        lines = [CRISIS_HEADER]
        for c, label in enumerate(CATEGORIES):
            for i in range(count):
                tweet += 1
                event, date = ("hurricane_harvey", "1_9_2017") if c % 2 else ("iraq_iran", "13_11")
                images = 2 if (part == "train" and i == 0) else 1
                for n in range(images):
                    rel = f"data_image/{event}/{date}/{tweet}_{n}.jpg"
                    path = base / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    colour = np.array([30 * c, 255 - 30 * c, 120], np.int64)
                    pixels = colour + rng.integers(-20, 20, (20 + 4 * n, 24, 3))
                    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)
                    words = " ".join(rng.choice(CRISIS_WORDS[c], 4))
                    text = f"RT @user{i}: {words} #{event} https://t.co/x{tweet % 1000}"
                    lines.append(
                        f"{event}\t{tweet}\t{tweet}_{n}\t{text}\t{rel}\t{label}"
                        f"\tinformative\tinformative\tPositive"
                    )
        path = base / "crisismmd_datasplit_all" / f"task_humanitarian_text_img_{part}.tsv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return base


# --- VoxCeleb1 ---------------------------------------------------------------------------

VOX_NAMES = ("A.J._Buckley", "A.R._Rahman", "Aaron_Tveit", "Aamir_Khan")


def write_voxceleb(root: Path, train: int = 4, test: int = 6) -> Path:
    """Four identities (ids 10001-10004), two videos each; per identity `train` set-1,
    one set-2 and `test` set-3 utterances, a pitch per identity; three face frames per
    utterance, a colour per identity."""
    rng = _rng("voxceleb")
    base = root / "voxceleb1"
    base.mkdir(parents=True)
    meta = ["VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet"]
    split = []
    t = np.arange(int(0.5 * 16000)) / 16000
    for s, name in enumerate(VOX_NAMES):
        speaker = f"id{10001 + s}"
        meta.append(f"{speaker}\t{name}\tm\tUSA\t{'test' if s == 3 else 'dev'}")
        sets = ["1"] * train + ["2"] + ["3"] * test
        for u, part in enumerate(sets):
            video = f"vid{s}{u % 2}xYz_-"
            utt = f"{u + 1:05d}"
            wav = base / "wav" / speaker / video / f"{utt}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            tone = np.sin(2 * np.pi * (150 + 90 * s) * t) + 0.05 * rng.standard_normal(len(t))
            soundfile.write(wav, 0.3 * tone, 16000, "PCM_16")
            faces = base / "unzippedIntervalFaces" / "data" / name / "1.6" / video / str(u + 1)
            faces.mkdir(parents=True, exist_ok=True)
            for frame in range(1, 4):
                pixels = np.array([60 * s, 200 - 40 * s, 90], np.int64) + rng.integers(
                    -15, 15, (28, 24, 3)
                )
                Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(
                    faces / f"{frame:02d}.jpg"
                )
            split.append(f"{part} {speaker}/{video}/{utt}.wav")
    (base / "vox1_meta.csv").write_text("\n".join(meta) + "\n")
    (base / "iden_split.txt").write_text("\n".join(split) + "\n")
    return base


# --- pairs: -----------------------------------------------------------------------------------


def write_pairs(
    folder: Path, target: str = "npy", classes: tuple[str, ...] = ("a", "b", "c"), n: int = 12
) -> Path:
    """PNG sources paired with `target` files ("npy" or "wav"); 2/3 train, 1/3 test."""
    rng = _rng("pairs")
    for c, name in enumerate(classes):
        for i in range(n):
            split = "test" if i % 3 == 0 else "train"
            src = folder / "source" / split / name
            tgt = folder / "target" / split / name
            src.mkdir(parents=True, exist_ok=True)
            tgt.mkdir(parents=True, exist_ok=True)
            pixels = np.full((24, 24, 3), 80 * c, np.uint8) + rng.integers(0, 40, (24, 24, 3))
            Image.fromarray(pixels.astype(np.uint8)).save(src / f"s{i:03d}.png")
            if target == "npy":
                np.save(tgt / f"s{i:03d}.npy", np.full((2, 20, 20), float(c), np.float32))
            else:
                t = np.arange(1600 + 80 * i) / 8000
                soundfile.write(tgt / f"s{i:03d}.wav", np.sin(2 * np.pi * 200 * (c + 1) * t), 8000)
    return folder

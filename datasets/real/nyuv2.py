"""NYU-Depth V2, labelled set (Silberman et al., ECCV 2012) → RGB (source) ↔ depth (target):
`nyuv2-depth-seg` (40 classes), `nyuv2-depth-seg13` (13 classes) and `nyuv2-depth-cls`
(scene type).

Files under the data root:

    nyuv2/nyu_depth_v2_labeled.mat   the labelled set (MATLAB v7.3, i.e. HDF5; read with h5py)
    nyuv2/splits.mat                 the standard split (MATLAB v5; scipy.io.loadmat)
    nyuv2/classMapping40.mat         Gupta et al.'s 894 → 40 mapping (segmentation only),
                                     as github.com/ankurhanda/nyuv2-meta-data publishes it

What the adapter assumes of them (checked by `bench data check`, each mismatch named):
- MATLAB writes its column-major arrays transposed into HDF5, so h5py sees `images` as
  uint8 (N, 3, W, H) = (1449, 3, 640, 480), `depths` as float (N, W, H) in metres and
  `labels` as an unsigned integer (N, W, H) of the 894 raw label ids, 0 = unlabelled.
  Every map is transposed back to H×W here. Any N, W and H load, as long as they agree.
- `names` and `sceneTypes` are cell arrays: datasets of HDF5 object references, each to a
  uint16 array of character codes (a MATLAB char row vector, stored as (n, 1)).
- `splits.mat` holds `trainNdxs` (795×1) and `testNdxs` (654×1), 1-based image numbers.
- `classMapping40.mat` holds `mapClass` (1×894: raw label id i → class 1..40 at i-1) and
  `className` (a 1×40 cell of class names).

Labels: raw id → 40 classes by `mapClass`; the 13-class task maps those 40 on to Couprie et
al.'s 13 (bed, books, ceiling, chair, floor, furniture, objects, picture, sofa, table, tv,
wall, window) with the table below. Class ids keep NYU's numbering 1..C; id 0 is the
unlabelled "class" every `TaskData` of a segmentation task reserves, and its pixels (and any
id the mapping sends to 0) are labelled -1 (IGNORE_INDEX), skipped by losses and mIoU.

Scene classification groups the 27 scene types into 10 classes: the nine common types in
`SCENES` keep their class and every other type becomes `other`, so every class has training
images for the few-label set. The same ten classes are used by published NYUv2 loader code
(a `REDUCED_SCENES` list of exactly these nine types and `others`); this project has not
traced the grouping to a paper. The names are assumed to be spelt as in the file's
`sceneTypes` (e.g. `living_room`); `bench data check` warns when one of the nine never
occurs, and reports the task unusable when a class has fewer training frames than the
profile's `data.labels_per_class`.

Images are resized to image_size × image_size (the 4:3 frame is squeezed, nothing is
cropped): RGB bilinear in [0,1]; depth as inverse depth NEAR_M / z clamped to [0,1] (nearer
is brighter, 0 = no depth), the embedded world's depth convention; labels nearest.

A pair is one frame's RGB and its own depth, and a split draws frames without replacement,
so no two pairs of a split share an input: `Split.source_ids` stays None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark.datasets.data_config import MST_SPLIT, STANDARD_SPLIT, DataConfig
from benchmark.datasets.tasks import CLASSIFICATION, SEGMENTATION, Split, TaskData, TaskSpec
from benchmark.streams import IGNORE_INDEX

from . import deep
from .common import (
    Dataset,
    FewPool,
    FileGroup,
    RealLoader,
    Scanner,
    Survey,
    draw,
    few_per_class,
    malformed,
    register_real,
    sizes_info,
)
from .decode import resize, resize_labels
from .peer_splits import mst_split

NYU = Dataset(
    "NYU-Depth V2 (labelled set and splits.mat)",
    "https://cs.nyu.edu/~silberman/datasets/nyu_depth_v2.html",
    "nyuv2",
)
MAPPING = Dataset(  # the copy maintained loaders fetch; Gupta et al. (CVPR 2013) made it
    "the 40-class mapping classMapping40.mat (Gupta et al., CVPR 2013)",
    "https://github.com/ankurhanda/nyuv2-meta-data/raw/master/classMapping40.mat",
    "nyuv2",
)
MAT, SPLITS, MAP40 = "nyu_depth_v2_labeled.mat", "splits.mat", "classMapping40.mat"
NEAR_M = 0.5  # inverse-depth scale (metres): 0.5 m → 1, 10 m → 0.05
SCENES = (
    "bathroom",
    "bedroom",
    "bookstore",
    "classroom",
    "dining_room",
    "home_office",
    "kitchen",
    "living_room",
    "office",
    "other",
)
# Couprie et al.'s 13 classes (2013), each with the 40-class ids it merges.
CLASSES13_FROM_40: dict[str, tuple[int, ...]] = {
    "bed": (4,),
    "books": (23,),
    "ceiling": (22,),
    "chair": (5,),
    "floor": (2, 20),
    "furniture": (3, 10, 12, 15, 17, 24, 32, 39),
    "objects": (18, 19, 21, 26, 27, 28, 29, 30, 31, 33, 34, 35, 36, 37, 38, 40),
    "picture": (11,),
    "sofa": (6,),
    "table": (7, 14),
    "tv": (25,),
    "wall": (1, 8),
    "window": (9, 13, 16),
}
CLASSES13 = tuple(CLASSES13_FROM_40)
MAP_40_TO_13 = [0] * 41  # 40-class id → 13-class id; 0 stays 0 (unlabelled)
for _id13, _ids40 in enumerate(CLASSES13_FROM_40.values(), start=1):
    for _id40 in _ids40:
        MAP_40_TO_13[_id40] = _id13
CHUNK = 32  # images read from the HDF5 file at a time


@dataclass
class NyuFiles:
    """The validated files: split indices (0-based) and, per task, labels or scenes."""

    mat: Path
    n: int
    train: Tensor
    test: Tensor
    class_names: list[str] = field(default_factory=list)
    lut: Tensor | None = None  # raw label id → class id (0 = ignore)
    scenes: list[str] = field(default_factory=list)


def _need(f: Any, path: Path, key: str) -> Any:
    if key not in f:
        raise malformed(path, f"no dataset '{key}'")
    return f[key]


def _open(path: Path) -> Any:
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError:
        raise malformed(
            path, "not a MATLAB v7.3 (HDF5) file; the published labelled set is one"
        ) from None


def _cell_strings(f: Any, path: Path, key: str) -> list[str]:
    """A MATLAB cell array of char vectors stored as HDF5 object references."""
    import h5py

    ds = _need(f, path, key)
    if h5py.check_dtype(ref=ds.dtype) is not h5py.Reference:
        raise malformed(path, f"'{key}' is {ds.dtype}, expected a cell array (references)")
    out = []
    for ref in ds[()].reshape(-1):
        codes = np.asarray(f[ref][()]).reshape(-1)
        out.append("".join(map(chr, codes.astype(np.int64).tolist())))
    return out


def _check_mat(f: Any, path: Path, kind: str) -> int:
    images = _need(f, path, "images")
    if images.ndim != 4 or images.shape[1] != 3 or images.dtype != np.uint8:
        raise malformed(
            path,
            f"'images' is {images.dtype} {images.shape}, expected uint8 (N, 3, W, H) "
            "(MATLAB's H×W×3×N as HDF5 stores it)",
        )
    n, _, w, h = images.shape
    keys = ["depths", "labels"] if kind == SEGMENTATION else ["depths"]
    for key in keys:
        ds = _need(f, path, key)
        want = "f" if key == "depths" else "ui"
        if ds.shape != (n, w, h) or ds.dtype.kind not in want:
            expect = "float" if key == "depths" else "integer"
            raise malformed(
                path, f"'{key}' is {ds.dtype} {ds.shape}, expected {expect} {(n, w, h)}"
            )
    return n


def _load_v5(path: Path) -> dict[str, Any]:
    import scipy.io

    try:
        return scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises several types for foreign or truncated files
        raise malformed(path, f"not a MATLAB v5 .mat file ({err.__class__.__name__})") from None


def _read_splits(path: Path, n: int) -> tuple[Tensor, Tensor]:
    mat = _load_v5(path)
    out = []
    for key in ("trainNdxs", "testNdxs"):
        if key not in mat:
            raise malformed(path, f"no variable '{key}'")
        raw = np.asarray(mat[key]).reshape(-1)
        if raw.size == 0:
            raise malformed(path, f"'{key}' is empty (empty split)")
        if raw.dtype.kind not in "uif" or np.any(raw != np.round(raw)):
            raise malformed(path, f"'{key}' holds non-integer values ({raw.dtype})")
        if raw.min() < 1 or raw.max() > n:
            raise malformed(path, f"'{key}' has image numbers outside 1..{n} (they are 1-based)")
        out.append(torch.from_numpy(raw.astype(np.int64) - 1))
    if len(np.intersect1d(out[0].numpy(), out[1].numpy())):
        raise malformed(path, "trainNdxs and testNdxs share images")
    return out[0], out[1]


def _read_mapping(path: Path, classes: int) -> tuple[Tensor, list[str]]:
    mat = _load_v5(path)
    if "mapClass" not in mat:
        raise malformed(path, "no variable 'mapClass'")
    raw = np.asarray(mat["mapClass"]).reshape(-1)
    if raw.size == 0 or raw.dtype.kind not in "uif" or raw.min() < 0 or raw.max() > 40:
        raise malformed(path, f"'mapClass' must map label ids to 0..40, got {raw.dtype} values")
    lut = torch.from_numpy(np.concatenate([[0], raw]).astype(np.int64))  # raw id 0 → 0
    names = [f"class{i}" for i in range(1, 41)]
    if "className" in mat:  # a 1×40 cell: each entry a 1-element array holding the name
        names = [str(np.asarray(x).reshape(-1)[0]) for x in np.asarray(mat["className"]).flat]
    if classes == 13:
        lut, names = torch.tensor(MAP_40_TO_13)[lut], list(CLASSES13)
    return lut, names


def scan(data_root: Path | None, kind: str, classes: int) -> NyuFiles:
    root = NYU.root(data_root)
    mat_path = NYU.need_file(root / MAT)
    splits_path = NYU.need_file(root / SPLITS)
    with _open(mat_path) as f:
        n = _check_mat(f, mat_path, kind)
        train, test = _read_splits(splits_path, n)
        files = NyuFiles(mat_path, n, train, test)
        if kind == SEGMENTATION:
            map_path = MAPPING.need_file(root / MAP40)
            files.lut, names = _read_mapping(map_path, classes)
            raw_ids = len(_cell_strings(f, mat_path, "names")) if "names" in f else None
            if raw_ids is not None and raw_ids != len(files.lut) - 1:
                raise malformed(
                    map_path, f"maps {len(files.lut) - 1} ids, the .mat names {raw_ids} classes"
                )
            files.class_names = ["(unlabelled)", *names]
        else:
            files.scenes = _cell_strings(f, mat_path, "sceneTypes")
            if len(files.scenes) != n:
                raise malformed(
                    mat_path, f"'sceneTypes' has {len(files.scenes)} entries for {n} images"
                )
            files.class_names = list(SCENES)
    return files


def _read(f: Any, rows: Sequence[int], files: NyuFiles, size: int, kind: str) -> dict[str, Tensor]:
    """RGB, depth and labels of images `rows` (sorted), resized; transposed back to H×W."""
    rgb, depth, labels = [], [], []
    for start in range(0, len(rows), CHUNK):
        chunk = list(rows[start : start + CHUNK])
        img = torch.from_numpy(f["images"][chunk]).transpose(-1, -2).float() / 255.0
        rgb.append(resize(img, size))
        z = torch.from_numpy(f["depths"][chunk].astype(np.float32)).transpose(-1, -2)
        inv = torch.where(torch.isfinite(z) & (z > 0), NEAR_M / z, torch.zeros_like(z))
        depth.append(resize(inv.clamp(0.0, 1.0)[:, None], size))
        if kind == SEGMENTATION:
            assert files.lut is not None
            raw = torch.from_numpy(f["labels"][chunk].astype(np.int64)).transpose(-1, -2)
            if int(raw.max()) >= len(files.lut):
                raise malformed(
                    files.mat,
                    f"label id {int(raw.max())} is beyond the {len(files.lut) - 1} ids of {MAP40}",
                )
            mapped = files.lut[raw]
            labels.append(resize_labels(mapped.masked_fill(mapped == 0, IGNORE_INDEX), size))
    out = {"rgb": torch.cat(rgb), "depth": torch.cat(depth)}
    if labels:
        out["labels"] = torch.cat(labels)
    return out


def _loader(kind: str, classes: int) -> RealLoader:
    def load(
        spec: TaskSpec, data: DataConfig, world: dict[str, Any], seed: int, data_root: Path | None
    ) -> TaskData:
        files = scan(data_root, kind, classes)
        train, test = files.train, files.test
        if data.split == MST_SPLIT:  # MST-Distill's 60/20/20 of all frames (peer_splits.py)
            train, _, test = mst_split(files.n, seed)
        pool = train[draw(len(train), data.source_pool, seed, "pool")]
        paired = train[draw(len(train), data.paired, seed, "paired")]
        if kind == SEGMENTATION:
            few = train[draw(len(train), data.labels_per_class * classes, seed, "few")]
            scene = None
        else:
            scene, pool_of_few = scene_pool(files)
            k = data.labels_per_class
            few = train[few_per_class(pool_of_few.labels, k, SCENES, seed, pool_of_few.noun)]
        tested = test[draw(len(test), len(test), seed, "test")]  # all 654 test frames
        rows = sorted(set(torch.cat([pool, paired, few, tested]).tolist()))
        with _open(files.mat) as f:
            arrays = _read(f, rows, files, data.image_size, kind)
        at = {row: i for i, row in enumerate(rows)}

        def take(name: str, idx: Tensor) -> Tensor:
            if name == "scene":
                assert scene is not None
                return scene[idx]
            return arrays[name][torch.tensor([at[i] for i in idx.tolist()], dtype=torch.long)]

        label = "labels" if kind == SEGMENTATION else "scene"
        return TaskData(
            name=spec.name,
            kind=kind,
            num_classes=classes + 1 if kind == SEGMENTATION else len(SCENES),
            source_channels=3,
            target_channels=1,
            source_pool=Split(source=take("rgb", pool), labels=take(label, pool)),
            paired=Split(
                source=take("rgb", paired),
                target=take("depth", paired),
                labels=take(label, paired),
            ),
            few=Split(target=take("depth", few), labels=take(label, few)),
            test=Split(
                source=take("rgb", tested),
                target=take("depth", tested),
                labels=take(label, tested),
            ),
            info={
                "dataset": "nyuv2",
                **(
                    {"split": f"MST-Distill's group {seed} of all {files.n} frames, 60/20/20"}
                    if data.split == MST_SPLIT
                    else {}
                ),
                "classes": files.class_names,
                "sizes": sizes_info(
                    source_pool=len(pool), paired=len(paired), few=len(few), test=len(tested)
                ),
            },
        )

    return load


def scene_pool(files: NyuFiles) -> tuple[Tensor, FewPool]:
    """Every image's scene class, and the training frames' classes the few-label set (and
    `bench data check`, at the profile's sizes) draws from."""
    scene = torch.tensor(
        [SCENES.index(s) if s in SCENES else len(SCENES) - 1 for s in files.scenes]
    )
    return scene, FewPool(scene[files.train], SCENES, "training frames")


def _summary(kind: str, classes: int) -> Scanner:
    def summary(data_root: Path | None) -> Survey:
        files = scan(data_root, kind, classes)
        what = f"{classes} classes" if kind == SEGMENTATION else f"{len(SCENES)} scene classes"
        text = f"{files.n} images, {len(files.train)} train / {len(files.test)} test, {what}"
        absent = [s for s in SCENES[:-1] if files.scenes and s not in files.scenes]
        if absent:  # a spelling other than NYU's would silently empty a class
            text += f"; warning: no image of scene type {', '.join(absent)}"
        keys = ("images", "depths", "labels") if kind == SEGMENTATION else ("images", "depths")
        return Survey(
            text,
            NYU.root(data_root),
            files=(FileGroup("labelled sets", [files.mat], deep.hdf5(*keys)),),
            few=None if kind == SEGMENTATION else scene_pool(files)[1],
        )

    return summary


for _name, _kind, _classes, _what in (
    ("nyuv2-depth-seg", SEGMENTATION, 40, "per-pixel class (40 classes) from depth"),
    ("nyuv2-depth-seg13", SEGMENTATION, 13, "per-pixel class (13 classes) from depth"),
    ("nyuv2-depth-cls", CLASSIFICATION, 10, "scene type (10 classes) from depth"),
):
    register_real(
        _name,
        "rgb",
        "depth",
        _kind,
        f"{_what} (NYU-Depth V2 labelled, 795/654 split)",
        NYU,
        _loader(_kind, _classes),
        _summary(_kind, _classes),
        splits=(STANDARD_SPLIT, MST_SPLIT) if _kind == SEGMENTATION else (STANDARD_SPLIT,),
    )

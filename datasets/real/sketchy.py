"""Sketchy (Sangkloy et al., SIGGRAPH 2016) → `sketchy-sketch-cls`: photo (rgb source) → the
sketches drawn of it (1-channel target), 125 object classes.

Layout under the data root, as the released archives unpack (`rendered_256x256.7z`, and the
`info` archive for the test list):

    sketchy/rendered_256x256/256x256/photo/tx_000000000000/<class>/<photo-id>.jpg
    sketchy/rendered_256x256/256x256/sketch/tx_000000000000/<class>/<photo-id>-<n>.png
    sketchy/info/testset.txt          (optional; info-06-04/info/testset.txt also read)

`tx_000000000000` is the untransformed rendering (photo and sketch in the photo's frame).
The test list names one test photo a line as `<class>/<photo-id>.jpg` (1,250 photos, 10 a
class, in the release); all sketches of a test photo are test sketches. Without the list,
10% of each class's photos (at least one) are held out by a fixed seeded draw, the same
for every run seed, so that seeds vary the subsample and never the split.

A sample of the paired, few-label and test splits is one (photo, sketch) pair; the source
pool is made of training photos. Photos are RGB in [0,1]; sketches are ink (1 - grey level,
1 = stroke, as in the embedded world) max-pooled to the image size so strokes survive.

A photo has several sketches, so pairs of the paired and test splits can share one photo
(dozens at the quick profile's 1,000 pairs, thousands at the paper profile's). Their
`Split.source_ids` is the photo's index in the scan's sorted photo list, the same in every
split and seed, so contrastive methods keep such pairs out of each other's negatives and
estimates fitted on one half of the pairs keep a photo in one half.

The release has 125 classes (`SKETCHY_CLASSES`, 12,500 photos, 75,471 sketches). Another
count still loads (a subset is a legitimate experiment) and is reported as a warning by
`bench data check` and in `info["warnings"]`; a sketch class folder without a photo
folder of the same name is an error, as is a class folder without photos.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmark.datasets.data_config import DataConfig
from benchmark.datasets.tasks import CLASSIFICATION, Split, TaskData, TaskSpec
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
from .decode import load_images, resize, resize_ink

SKETCHY = Dataset("Sketchy", "https://sketchy.eye.gatech.edu/", "sketchy")
PHOTO_DIR = "rendered_256x256/256x256/photo/tx_000000000000"
SKETCH_DIR = "rendered_256x256/256x256/sketch/tx_000000000000"
TEST_LISTS = ("info/testset.txt", "info-06-04/info/testset.txt")
TEST_FRACTION = 0.1  # held out per class when no test list is present (the release's share)

# The 125 class folder names of the release, sorted.
_RELEASE_CLASSES = """
airplane alarm_clock ant ape apple armor axe banana bat bear bee beetle bell bench
bicycle blimp bread butterfly cabin camel candle cannon car_(sedan) castle cat chair
chicken church couch cow crab crocodilian cup deer dog dolphin door duck elephant
eyeglasses fan fish flower frog geyser giraffe guitar hamburger hammer harp hat hedgehog
helicopter hermit_crab horse hot-air_balloon hotdog hourglass jack-o-lantern jellyfish
kangaroo knife lion lizard lobster motorcycle mouse mushroom owl parrot pear penguin
piano pickup_truck pig pineapple pistol pizza pretzel rabbit raccoon racket ray
rhinoceros rifle rocket sailboat saw saxophone scissors scorpion sea_turtle seagull seal
shark sheep shoe skyscraper snail snake songbird spider spoon squirrel starfish
strawberry swan sword table tank teapot teddy_bear tiger tree trumpet turtle umbrella
violin volcano wading_bird wheelchair windmill window wine_bottle zebra
"""
SKETCHY_CLASSES: tuple[str, ...] = tuple(sorted(_RELEASE_CLASSES.split()))
_LIST_LINE = re.compile(r"^([^/\s]+)/([^/\s]+)\.jpg$")


@dataclass
class SketchyIndex:
    """Every photo and sketch found, and which photos are test photos."""

    classes: list[str]
    photos: list[Path] = field(default_factory=list)
    photo_class: list[int] = field(default_factory=list)
    test_photo: list[bool] = field(default_factory=list)
    sketches: list[Path] = field(default_factory=list)
    sketch_photo: list[int] = field(default_factory=list)  # index into photos
    split_from: str = ""
    warnings: list[str] = field(default_factory=list)


def _subdirs(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir())


def scan(data_root: Path | None) -> SketchyIndex:
    """Walk the release's tree, pair every sketch with its photo and decide the split."""
    root = SKETCHY.root(data_root)
    photo_root = SKETCHY.need_dir(root / PHOTO_DIR)
    sketch_root = SKETCHY.need_dir(root / SKETCH_DIR)
    classes = _subdirs(photo_root)
    if not classes:
        raise malformed(photo_root, "no class folders")
    for name in _subdirs(sketch_root):
        if name not in classes:
            raise malformed(sketch_root / name, "unknown class folder (no photo folder)")
    index = SketchyIndex(classes)
    orphans = 0
    for c, name in enumerate(classes):
        sketch_dir = SKETCHY.need_dir(sketch_root / name)
        photos = sorted((photo_root / name).glob("*.jpg"))
        if not photos:
            raise malformed(photo_root / name, "empty class folder (no .jpg photos)")
        by_id = {p.stem: len(index.photos) + i for i, p in enumerate(photos)}
        index.photos += photos
        index.photo_class += [c] * len(photos)
        for sketch in sorted(sketch_dir.glob("*.png")):
            photo = by_id.get(sketch.stem.rpartition("-")[0])
            if photo is None:
                orphans += 1
                continue
            index.sketches.append(sketch)
            index.sketch_photo.append(photo)
    _choose_test_photos(index, root)
    _warn(index, orphans)
    for split, wanted in (("training", False), ("test", True)):
        if not any(index.test_photo[p] == wanted for p in index.sketch_photo):
            raise malformed(sketch_root, f"empty {split} split: no sketch of a {split} photo")
    return index


def _choose_test_photos(index: SketchyIndex, root: Path) -> None:
    lists = [root / name for name in TEST_LISTS if (root / name).is_file()]
    if lists:
        listed = _read_test_list(lists[0])
        pairs = zip(index.photo_class, index.photos, strict=True)
        key = [(index.classes[c], p.stem) for c, p in pairs]
        index.test_photo = [k in listed for k in key]
        found = sum(index.test_photo)
        if found == 0:
            raise malformed(lists[0], "names none of the photos found (empty test split)")
        if found < len(listed):
            index.warnings.append(f"{len(listed) - found} photos of {lists[0].name} not found")
        index.split_from = str(lists[0])
        return
    gen = seeded(0, "sketchy/test-photos")  # fixed: the split is a property of the data
    index.test_photo = [False] * len(index.photos)
    classes = torch.tensor(index.photo_class)
    for c in range(len(index.classes)):
        members = torch.nonzero(classes == c).flatten()
        held = members[torch.randperm(len(members), generator=gen)]
        for i in held[: max(1, round(TEST_FRACTION * len(members)))].tolist():
            index.test_photo[i] = True
    index.split_from = f"seeded {TEST_FRACTION:.0%} of each class (no {TEST_LISTS[0]})"


def _read_test_list(path: Path) -> set[tuple[str, str]]:
    listed = set()
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LIST_LINE.match(line)
        if match is None:
            raise malformed(path, f"line {number} {line!r} is not '<class>/<photo-id>.jpg'")
        listed.add((match[1], match[2]))
    if not listed:
        raise malformed(path, "lists no photo (empty test split)")
    return listed


def _warn(index: SketchyIndex, orphans: int) -> None:
    if len(index.classes) != len(SKETCHY_CLASSES):
        index.warnings.append(f"{len(index.classes)} classes (the release has 125)")
    unexpected = [c for c in index.classes if c not in SKETCHY_CLASSES]
    if unexpected:
        index.warnings.append(f"classes not in the release: {', '.join(unexpected[:5])}")
    if orphans:
        index.warnings.append(f"{orphans} sketches without a photo skipped")


def few_pool(index: SketchyIndex) -> tuple[torch.Tensor, FewPool]:
    """The training pairs (sketch indices) and their classes: what the few-label set and,
    at the profile's sizes, `bench data check` draw from."""
    is_test = torch.tensor(index.test_photo)
    sketch_photo = torch.tensor(index.sketch_photo)
    train_pairs = torch.nonzero(~is_test[sketch_photo]).flatten()
    labels = torch.tensor(index.photo_class)[sketch_photo[train_pairs]]
    return train_pairs, FewPool(labels, index.classes, "training sketches")


def summary(data_root: Path | None) -> Survey:
    index = scan(data_root)
    test = sum(index.test_photo)
    text = (
        f"{len(index.classes)} classes, {len(index.photos)} photos ({test} test), "
        f"{len(index.sketches)} sketches; test split: {index.split_from}"
    )
    return Survey(
        text + "".join(f"; warning: {w}" for w in index.warnings),
        SKETCHY.root(data_root),
        files=(
            FileGroup("photos", index.photos, deep.image, uniform=True),
            FileGroup("sketches", index.sketches, deep.image, uniform=True),
        ),
        few=few_pool(index)[1],
    )


def load(
    spec: TaskSpec, data: DataConfig, world: dict[str, Any], seed: int, data_root: Path | None
) -> TaskData:
    index = scan(data_root)
    size = data.image_size
    is_test = torch.tensor(index.test_photo)
    photo_class = torch.tensor(index.photo_class)
    sketch_photo = torch.tensor(index.sketch_photo)
    train_photos = torch.nonzero(~is_test).flatten()
    train_pairs, pool_of_few = few_pool(index)
    test_pairs = torch.nonzero(is_test[sketch_photo]).flatten()

    pool = train_photos[draw(len(train_photos), data.source_pool, seed, "pool")]
    paired = train_pairs[draw(len(train_pairs), data.paired, seed, "paired")]
    few = train_pairs[
        few_per_class(
            pool_of_few.labels, data.labels_per_class, index.classes, seed, pool_of_few.noun
        )
    ]
    test = test_pairs[draw(len(test_pairs), len(test_pairs), seed, "test")]  # all sketches

    def photos(rows: torch.Tensor) -> torch.Tensor:
        return load_images([index.photos[i] for i in rows.tolist()], "RGB", size, resize)

    def sketches(rows: torch.Tensor) -> torch.Tensor:
        return load_images([index.sketches[i] for i in rows.tolist()], "L", size, _ink)

    return TaskData(
        name=spec.name,
        kind=CLASSIFICATION,
        num_classes=len(index.classes),
        source_channels=3,
        target_channels=1,
        source_pool=Split(source=photos(pool), labels=photo_class[pool]),
        paired=Split(
            source=photos(sketch_photo[paired]),
            target=sketches(paired),
            labels=photo_class[sketch_photo[paired]],
            source_ids=sketch_photo[paired],
        ),
        few=Split(target=sketches(few), labels=photo_class[sketch_photo[few]]),
        test=Split(
            source=photos(sketch_photo[test]),
            target=sketches(test),
            labels=photo_class[sketch_photo[test]],
            source_ids=sketch_photo[test],
        ),
        info={
            "dataset": "sketchy",
            "classes": index.classes,
            "test_split": index.split_from,
            "warnings": index.warnings,
            "sizes": sizes_info(
                source_pool=len(pool), paired=len(paired), few=len(few), test=len(test)
            ),
        },
    )


def _ink(grey: torch.Tensor, size: int) -> torch.Tensor:
    return resize_ink(1.0 - grey, size)


register_real(
    "sketchy-sketch-cls",
    "rgb",
    "sketch",
    CLASSIFICATION,
    "photo class from its hand-drawn sketches (Sketchy, 125 classes)",
    SKETCHY,
    load,
    summary,
)

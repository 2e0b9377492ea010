"""CrisisMMD v2.0 (Alam et al., ICWSM 2018) → `crisismmd-text-cls`: the image of a crisis
tweet (rgb source) → the tweet's text (token sequence target), its humanitarian category,
8 classes.

The direction and the label set are MST-Distill's (Gray-OREO/MST-Distill, its `CMMD-V2`
setting: teacher `MLP-Vb` on the image, student `MLP-Tb` on the text, 8 classes). Its
preprocessing reads every `task_humanitarian*` TSV, takes the `label` column, keeps the
first row of each `tweet_id` (a tweet with several images appears once per image), and
its `map_category` numbers the categories in `CATEGORIES`' order. Two things differ
here, by this project's rules: the release's own train / dev / test partition is kept
(train and dev are the training partition, test the test set) where MST-Distill draws a
random 60/20/20 split of the deduplicated pool; and the inputs are the raw image and the
tweet's tokens, where MST-Distill feeds precomputed ResNet-50 and BERTweet features to MLPs.

Layout under the data root, as the release unpacks (`CrisisMMD_v2.0.tar.gz`, with the
split archive `crisismmd_datasplit_all.zip` unpacked inside it):

    CrisisMMD_v2.0/crisismmd_datasplit_all/task_humanitarian_text_img_{train,dev,test}.tsv
    CrisisMMD_v2.0/data_image/<event>/<date>/<tweet_id>_<n>.jpg

Each TSV has a header and nine tab-separated columns: event_name, tweet_id, image_id,
tweet_text, image (the image's path relative to `CrisisMMD_v2.0/`), label, label_text,
label_image, label_text_image. A row whose `label` is not one of `CATEGORIES`, or with
another column count, is malformed (one line naming the file and row).

Tokenisation: `nltk`'s `TweetTokenizer` (pure code that ships inside the `nltk` package:
no model or vocabulary is downloaded), lower-cased, with BERTweet's normalisation as
MST-Distill applies it (a user handle becomes `@user`, a URL `httpurl`). Token ids come
from a vocabulary built from the training partition's tweets: every token seen at least
`MIN_COUNT` times, most frequent first (ties alphabetical), up to `MAX_VOCAB`; 0 is
padding and 1 every other token. A tweet is cut to `MAX_TOKENS` tokens. The target is
int64 [N, MAX_TOKENS]; the student is a sequence backbone (`benchmark.sequence`).

Images are RGB in [0, 1], each resized (antialiased) to the image size on its own, since
the release's images have many sizes.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark.datasets.data_config import DataConfig
from benchmark.datasets.tasks import CLASSIFICATION, Split, TaskData, TaskSpec
from benchmark.errors import UserError

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
from .decode import read_image, resize

CRISISMMD = Dataset("CrisisMMD v2.0", "https://crisisnlp.qcri.org/crisismmd", "CrisisMMD_v2.0")
SPLIT_DIR = "crisismmd_datasplit_all"
PARTS = {"train": ("train", "dev"), "test": ("test",)}
COLUMNS = (
    "event_name",
    "tweet_id",
    "image_id",
    "tweet_text",
    "image",
    "label",
    "label_text",
    "label_image",
    "label_text_image",
)
# MST-Distill's `categories` (preprocess_CrisisMMD_1.py): class index = position.
CATEGORIES = (
    "not_humanitarian",
    "affected_individuals",
    "infrastructure_and_utility_damage",
    "injured_or_dead_people",
    "missing_or_found_people",
    "rescue_volunteering_or_donation_effort",
    "vehicle_damage",
    "other_relevant_information",
)
MAX_TOKENS = 64
MIN_COUNT = 2
MAX_VOCAB = 20_000
PAD, UNK = 0, 1


@dataclass
class Rows:
    """One partition's tweets, one row per tweet id (the first of its rows)."""

    texts: list[str]
    images: list[Path]
    labels: Tensor


def _tsv(root: Path, part: str) -> Path:
    return CRISISMMD.need_file(root / SPLIT_DIR / f"task_humanitarian_text_img_{part}.tsv")


def read_rows(root: Path, partition: str, seen: set[str] | None = None) -> Rows:
    """The partition's rows, deduplicated by tweet id (also against `seen`, which it
    extends); a bad header, column count or label is malformed, naming file and line."""
    seen = set() if seen is None else seen
    texts: list[str] = []
    images: list[Path] = []
    labels: list[int] = []
    for part in PARTS[partition]:
        path = _tsv(root, part)
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
                header = next(reader, None)
                if header is None or tuple(h.strip() for h in header) != COLUMNS:
                    raise malformed(path, f"header is not the release's {len(COLUMNS)} columns")
                for line, row in enumerate(reader, start=2):
                    if len(row) != len(COLUMNS):
                        raise malformed(path, f"line {line} has {len(row)} columns, not 9")
                    tweet, text, image, label = row[1], row[3], row[4], row[5].strip()
                    if label not in CATEGORIES:
                        raise malformed(path, f"line {line}: unknown label {label!r}")
                    if tweet in seen:
                        continue
                    seen.add(tweet)
                    texts.append(text)
                    images.append(root / image)
                    labels.append(CATEGORIES.index(label))
        except UnicodeDecodeError:
            raise malformed(path, "not UTF-8 text") from None
    if not texts:
        raise malformed(_tsv(root, PARTS[partition][0]), "no tweets")
    return Rows(texts, images, torch.tensor(labels, dtype=torch.long))


def tokenize(text: str) -> list[str]:
    """A tweet's tokens: nltk's TweetTokenizer, lower-cased, handles and URLs normalised."""
    try:
        from nltk.tokenize import TweetTokenizer
    except ImportError:
        raise UserError(
            "crisismmd-text-cls tokenises with nltk's TweetTokenizer: pip install nltk"
        ) from None
    out = []
    for token in TweetTokenizer(preserve_case=False).tokenize(text):
        if token.startswith("@") and len(token) > 1:
            token = "@user"
        elif token.startswith(("http", "www")):
            token = "httpurl"
        out.append(token)
    return out


def vocabulary(texts: list[str]) -> dict[str, int]:
    """Token → id from the training tweets (module docstring)."""
    counts = Counter(t for text in texts for t in tokenize(text))
    kept = sorted((w for w, c in counts.items() if c >= MIN_COUNT), key=lambda w: (-counts[w], w))
    return {w: i + 2 for i, w in enumerate(kept[:MAX_VOCAB])}


def encode(texts: list[str], vocab: dict[str, int]) -> Tensor:
    out = torch.full((len(texts), MAX_TOKENS), PAD, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [vocab.get(t, UNK) for t in tokenize(text)[:MAX_TOKENS]]
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def _images(paths: list[Path], rows: Tensor, size: int) -> Tensor:
    """The rows' images, each resized on its own (the release's sizes vary)."""
    out = torch.zeros(len(rows), 3, size, size)
    for i, row in enumerate(rows.tolist()):
        arr = read_image(paths[row], "RGB")
        x = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
        out[i] = resize(x, size)[0]
    return out


def load(
    spec: TaskSpec, data: DataConfig, world: dict[str, Any], seed: int, data_root: Path | None
) -> TaskData:
    root = CRISISMMD.need_dir(CRISISMMD.root(data_root))
    seen: set[str] = set()
    test_rows = read_rows(root, "test", seen)
    train_rows = read_rows(root, "train", seen)  # a tweet id of the test set stays there
    vocab = vocabulary(train_rows.texts)
    train_tokens, test_tokens = encode(train_rows.texts, vocab), encode(test_rows.texts, vocab)
    n, size = len(train_rows.texts), data.image_size
    pool = draw(n, data.source_pool, seed, "pool")
    paired = draw(n, data.paired, seed, "paired")
    k = data.labels_per_class
    few = few_per_class(train_rows.labels, k, CATEGORIES, seed, "training tweets")
    test = torch.arange(len(test_rows.texts))
    y = train_rows.labels
    return TaskData(
        name=spec.name,
        kind=CLASSIFICATION,
        num_classes=len(CATEGORIES),
        source_channels=3,
        target_channels=len(vocab) + 2,
        source_pool=Split(source=_images(train_rows.images, pool, size), labels=y[pool]),
        paired=Split(
            source=_images(train_rows.images, paired, size),
            target=train_tokens[paired],
            labels=y[paired],
        ),
        few=Split(target=train_tokens[few], labels=y[few]),
        test=Split(
            source=_images(test_rows.images, test, size),
            target=test_tokens,
            labels=test_rows.labels,
        ),
        info={
            "dataset": "crisismmd-v2.0",
            "classes": list(CATEGORIES),
            "tokenizer": "nltk TweetTokenizer, vocabulary of the training tweets",
            "vocabulary": len(vocab) + 2,
            "test_split": "the release's test partition (task_humanitarian_text_img_test.tsv)",
            "sizes": sizes_info(
                source_pool=len(pool), paired=len(paired), few=len(few), test=len(test)
            ),
        },
    )


def summary(data_root: Path | None) -> Survey:
    root = CRISISMMD.need_dir(CRISISMMD.root(data_root))
    seen: set[str] = set()
    test_rows = read_rows(root, "test", seen)
    train_rows = read_rows(root, "train", seen)
    images = [*train_rows.images, *test_rows.images]
    for path in images:
        if not path.is_file():
            raise CRISISMMD.missing("image", path)
    return Survey(
        f"{len(train_rows.texts):,} training / {len(test_rows.texts):,} test tweets with "
        f"images, {len(CATEGORIES)} humanitarian categories",
        root,
        files=(FileGroup("images", images, deep.image),),
        few=FewPool(train_rows.labels, CATEGORIES, "training tweets"),
    )


register_real(
    "crisismmd-text-cls",
    "rgb",
    "text",
    CLASSIFICATION,
    "humanitarian category of a crisis tweet from its text, taught by its image (CrisisMMD)",
    CRISISMMD,
    load,
    summary,
)

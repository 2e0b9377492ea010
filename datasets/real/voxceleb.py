"""VoxCeleb1 (Nagrani et al., Interspeech 2017) → `voxceleb-audio-cls`: a speaker's face (rgb
source) → the same utterance's voice (log-mel target), speaker identification over the
1,251 identities.

The setting is Jin et al.'s (AAAI 2023; Zhao et al., arXiv 2507.16296, its successor,
the paper `soft-proj` implements): a face-recognition teacher distils into a speaker
student on paired face/voice data of one utterance, and the student is scored on voice
alone. Identification uses the release's split file `iden_split.txt`: each line is
`<set> id<nnnnn>/<video>/<utt>.wav` with set 1 = train, 2 = validation, 3 = test; set 1
is the training partition, set 3 the test set (every identity has utterances in both),
set 2 is not used.

Layout under the data root, as the release unpacks (the dev and test audio archives both
unpack into `wav/`; the face frames are the release's `unzippedIntervalFaces` archive):

    voxceleb1/iden_split.txt
    voxceleb1/vox1_meta.csv                       VoxCeleb1 ID, VGGFace1 ID (name), ... (tab)
    voxceleb1/wav/id<nnnnn>/<video>/<utt>.wav     16 kHz mono
    voxceleb1/unzippedIntervalFaces/data/<VGGFace1 ID>/1.6/<video>/<int(utt)>/<frame>.jpg

An utterance's face is the middle frame (in sorted file order) of its face folder, named
by the speaker's VGGFace1 ID from `vox1_meta.csv` and the utterance number without
leading zeros (`00003.wav` → `3/`). An utterance without a face folder, an identity that
`vox1_meta.csv` lacks, or a split line of another form is an error naming the file.

Target: the first CLIP_SECONDS of the utterance as the embedded world's log-mel layout
(1 × n_mels × audio_frames), standardised with the mean and std of the training
utterances the splits use. Only the utterances of the paired, few-label and test splits
are decoded, and only the faces of the source pool, paired and test splits are read.
Labels are the identities in sorted order.

Budgets. With 1,251 classes a budget counted per class multiplies fast: the training
partition has about 138,000 utterances, some 110 per identity. A few-label set of
`data.labels_per_class` = 1–5 utterances per identity (1,251–6,255 labels) is the
few-label regime here; the quick profile's 10 would already be 12,510 labelled voices,
near a tenth of the partition. The paired set should hold at least about 20 utterances
per identity (25,000 pairs) for the student to see every voice several times, and the
source pool can be the whole partition (faces are cheap at 32–64 px). The paper profile
sets these (2 a speaker, 25,000 pairs, a source pool of up to 100,000); the smoke and
quick profiles keep their sizes, which suit a check that the task runs, not a result.
The test set is the release's 8,251 set-3 utterances at every profile.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark.datasets.data_config import DataConfig
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
from .decode import log_mel, read_image, read_wav, resize, standardise

VOXCELEB1 = Dataset(
    "VoxCeleb1 (audio, iden_split.txt, vox1_meta.csv and the face frames)",
    "https://www.robots.ox.ac.uk/~vgg/data/voxceleb/vox1.html",
    "voxceleb1",
)
SAMPLE_RATE = 16_000
CLIP_SECONDS = 3.0
FACES = "unzippedIntervalFaces/data"
_LINE = re.compile(r"^([123]) (id\d+)/([^/\s]+)/(\d+)\.wav$")


@dataclass
class Utterances:
    """The split file's utterances of sets 1 and 3: wav path, face frame, identity."""

    wavs: list[Path]
    faces: list[Path]
    speaker: Tensor  # index into `identities`
    test: Tensor  # bool: set 3
    identities: list[str]


def _names(root: Path) -> dict[str, str]:
    """VoxCeleb1 ID → VGGFace1 ID (the face folder's name) from vox1_meta.csv."""
    path = VOXCELEB1.need_file(root / "vox1_meta.csv")
    names: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
    except UnicodeDecodeError:
        raise malformed(path, "not UTF-8 text") from None
    if not rows or not rows[0] or rows[0][0].strip() != "VoxCeleb1 ID":
        raise malformed(path, "header does not start with 'VoxCeleb1 ID'")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or not row[0].strip().startswith("id"):
            raise malformed(path, f"line {line} is not '<VoxCeleb1 ID>\\t<VGGFace1 ID>\\t...'")
        names[row[0].strip()] = row[1].strip()
    return names


def _face(folder: Path) -> Path:
    frames = sorted(folder.glob("*.jpg"))
    if not frames:
        raise VOXCELEB1.missing("face frames (*.jpg) in", folder)
    return frames[len(frames) // 2]


def list_utterances(data_root: Path | None) -> Utterances:
    root = VOXCELEB1.need_dir(VOXCELEB1.root(data_root))
    split = VOXCELEB1.need_file(root / "iden_split.txt")
    names = _names(root)
    wavs, faces, speakers, test = [], [], [], []
    try:
        lines = split.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise malformed(split, "not UTF-8 text") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None:
            raise malformed(split, f"line {number} is not '<1|2|3> id<n>/<video>/<utt>.wav'")
        part, speaker, video, utt = match.groups()
        if part == "2":
            continue
        if speaker not in names:
            raise malformed(root / "vox1_meta.csv", f"no row for {speaker} (iden_split.txt)")
        wav = VOXCELEB1.need_file(root / "wav" / speaker / video / f"{utt}.wav")
        wavs.append(wav)
        frames = root / FACES / names[speaker] / "1.6" / video / str(int(utt))
        faces.append(_face(VOXCELEB1.need_dir(frames)))
        speakers.append(speaker)
        test.append(part == "3")
    if not wavs:
        raise malformed(split, "no utterances of sets 1 and 3")
    identities = sorted(set(speakers))
    index = {s: i for i, s in enumerate(identities)}
    flags = torch.tensor(test)
    labels = torch.tensor([index[s] for s in speakers])
    if flags.all() or not flags.any():
        raise malformed(split, "needs utterances of both set 1 (train) and set 3 (test)")
    return Utterances(wavs, faces, labels, flags, identities)


def _voices(utt: Utterances, rows: Tensor, n_mels: int, frames: int) -> Tensor:
    """Log-mel features [len(utt.wavs), 1, n_mels, frames] of the utterances `rows` (the
    others stay zero: only the splits' rows are decoded, not the whole release),
    resampled to 16 kHz if needed and standardised with the mean and std of the training
    utterances among them."""
    import torchaudio

    waves = []
    for row in rows.tolist():
        wave, rate = read_wav(utt.wavs[row])
        if rate != SAMPLE_RATE:
            wave = torchaudio.functional.resample(torch.from_numpy(wave), rate, SAMPLE_RATE)
            wave = wave.numpy()
        waves.append(wave)
    feats = log_mel(waves, SAMPLE_RATE, n_mels, frames, CLIP_SECONDS)
    out = torch.zeros(len(utt.wavs), *feats.shape[1:])
    out[rows] = standardise(feats, feats[~utt.test[rows]])
    return out


def _faces(paths: list[Path], rows: Tensor, size: int) -> Tensor:
    out = torch.zeros(len(rows), 3, size, size)
    for i, row in enumerate(rows.tolist()):
        arr = np.ascontiguousarray(read_image(paths[row], "RGB"))
        out[i] = resize(torch.from_numpy(arr).permute(2, 0, 1)[None], size)[0]
    return out


def load(
    spec: TaskSpec, data: DataConfig, world: dict[str, Any], seed: int, data_root: Path | None
) -> TaskData:
    config = world_config(spec, data, world)  # n_mels and audio_frames, validated
    utt = list_utterances(data_root)
    train = torch.nonzero(~utt.test).flatten()
    test = torch.nonzero(utt.test).flatten()
    y, size = utt.speaker, data.image_size
    pool = train[draw(len(train), data.source_pool, seed, "pool")]
    paired = train[draw(len(train), data.paired, seed, "paired")]
    few_pool = pool_of_few(utt)
    k = data.labels_per_class
    few = train[few_per_class(few_pool.labels, k, few_pool.classes, seed, few_pool.noun)]
    heard = torch.unique(torch.cat([paired, few, test]))
    voices = _voices(utt, heard, config.n_mels, config.audio_frames)
    return TaskData(
        name=spec.name,
        kind=CLASSIFICATION,
        num_classes=len(utt.identities),
        source_channels=3,
        target_channels=1,
        source_pool=Split(source=_faces(utt.faces, pool, size), labels=y[pool]),
        paired=Split(
            source=_faces(utt.faces, paired, size), target=voices[paired], labels=y[paired]
        ),
        few=Split(target=voices[few], labels=y[few]),
        test=Split(source=_faces(utt.faces, test, size), target=voices[test], labels=y[test]),
        info={
            "dataset": "voxceleb1",
            "classes": len(utt.identities),
            "test_split": "iden_split.txt set 3",
            "sizes": sizes_info(
                source_pool=len(pool), paired=len(paired), few=len(few), test=len(test)
            ),
        },
    )


def pool_of_few(utt: Utterances) -> FewPool:
    return FewPool(utt.speaker[~utt.test], utt.identities, "training utterances")


def summary(data_root: Path | None) -> Survey:
    utt = list_utterances(data_root)
    assert data_root is not None
    return Survey(
        f"{len(utt.identities):,} identities; {int((~utt.test).sum()):,} training / "
        f"{int(utt.test.sum()):,} test utterances with faces",
        Path(data_root) / VOXCELEB1.folder,
        files=(
            FileGroup("utterances", utt.wavs, deep.sound),
            FileGroup("faces", utt.faces, deep.image),
        ),
        few=pool_of_few(utt),
    )


register_real(
    "voxceleb-audio-cls",
    "rgb",
    "audio",
    CLASSIFICATION,
    "speaker identity from the voice, taught by the face (VoxCeleb1 identification)",
    VOXCELEB1,
    load,
    summary,
)

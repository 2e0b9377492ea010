"""The CrisisMMD v2.0 and VoxCeleb1 adapters on tiny files in their released layouts
(tests/real_fixtures.py): ids, splits, label mapping, the tokenizer, `bench data check`,
and one line with exit 2 for a malformed file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark.cli.main import main
from benchmark.config import RunConfig
from benchmark.datasets.real import inspect
from benchmark.datasets.real.crisismmd import (
    CATEGORIES,
    encode,
    read_rows,
    tokenize,
    vocabulary,
)
from benchmark.datasets.real.voxceleb import list_utterances
from benchmark.datasets.tasks import get_task
from tests.real_fixtures import CRISIS_WORDS, VOX_NAMES, write_crisismmd, write_voxceleb

CRISIS, VOX = "crisismmd-text-cls", "voxceleb-audio-cls"


def test_crisismmd_keeps_the_release_split_mst_labels_and_one_row_a_tweet(
    tmp_path: Path, smoke: RunConfig
) -> None:
    write_crisismmd(tmp_path)  # per class: 6 train (one tweet on two rows), 2 dev, 3 test
    assert CATEGORIES[0] == "not_humanitarian" and CATEGORIES[7] == "other_relevant_information"
    assert len(CATEGORIES) == 8  # MST-Distill's CMMD-V2 classes, in its order
    data = get_task(CRISIS).load(smoke.data, {}, 0, None, tmp_path)
    assert data.num_classes == 8 and data.source_channels == 3
    assert len(data.test) == 8 * 3  # the whole test TSV
    assert torch.equal(torch.bincount(data.test.labels, minlength=8), torch.full((8,), 3))
    assert data.info["sizes"]["source_pool"] == 8 * (6 + 2)  # train + dev, deduplicated
    assert data.paired.target.dtype == torch.int64 and data.paired.target.shape[1] == 64
    assert int(data.paired.target.max()) < data.target_channels == data.info["vocabulary"]
    # Labels follow the TSV's `label` column (the test TSV lists the classes in order,
    # three tweets each), and each tweet's tokens hold its class's words.
    assert torch.equal(data.test.labels, torch.arange(8).repeat_interleave(3))
    vocab = vocabulary(read_rows(tmp_path / "CrisisMMD_v2.0", "train").texts)
    for tokens, label in zip(data.test.target, data.test.labels, strict=True):
        assert {vocab[w] for w in CRISIS_WORDS[label]} & set(tokens.tolist())
    assert get_task(CRISIS).sequence_target


def test_tweets_are_tokenised_with_bertweet_normalisation() -> None:
    tokens = tokenize("RT @FEMA: Road CLOSED near Houston!! https://t.co/xyz #Harvey")
    assert tokens[:3] == ["rt", "@user", ":"] and "httpurl" in tokens and "#harvey" in tokens
    vocab = vocabulary(["road closed", "road open", "closed"])
    assert vocab == {"closed": 2, "road": 3}  # seen twice, most frequent first, then a-z
    ids = encode(["road to nowhere"], vocab)
    assert ids[0, :3].tolist() == [3, 1, 1] and ids[0, 3:].eq(0).all()


def test_a_test_tweet_never_enters_training(tmp_path: Path, smoke: RunConfig) -> None:
    base = write_crisismmd(tmp_path)
    splits = base / "crisismmd_datasplit_all"
    test_line = (splits / "task_humanitarian_text_img_test.tsv").read_text().splitlines()[1]
    with (splits / "task_humanitarian_text_img_train.tsv").open("a") as handle:
        handle.write(test_line + "\n")
    data = get_task(CRISIS).load(smoke.data, {}, 0, None, tmp_path)
    assert data.info["sizes"]["source_pool"] == 64 and len(data.test) == 24


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda line: line.replace("vehicle_damage", "vehicle_damaged"), "unknown label"),
        (lambda line: line + "\textra", "has 10 columns, not 9"),
    ],
)
def test_a_malformed_tsv_is_one_line_and_exit_2(
    damage: object, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_crisismmd(tmp_path)
    tsv = base / "crisismmd_datasplit_all" / "task_humanitarian_text_img_dev.tsv"
    lines = tsv.read_text().splitlines()
    bad = next(i for i, line in enumerate(lines) if "vehicle_damage" in line)
    lines[bad] = damage(lines[bad])  # type: ignore[operator]
    tsv.write_text("\n".join(lines) + "\n")
    assert inspect(CRISIS, tmp_path).status == "malformed"
    out = tmp_path / "out"
    argv = ["run", "--profile", "smoke", "--tasks", CRISIS, "--out", str(out)]
    assert main([*argv, "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tsv) in err and message in err, err
    assert not out.exists()


def test_voxceleb_reads_the_identification_split_and_the_face_frames(
    tmp_path: Path, smoke: RunConfig
) -> None:
    write_voxceleb(tmp_path)  # 4 identities × (4 set-1, 1 set-2, 6 set-3 utterances)
    utt = list_utterances(tmp_path)
    assert utt.identities == ["id10001", "id10002", "id10003", "id10004"]
    assert int((~utt.test).sum()) == 16 and int(utt.test.sum()) == 24  # set 2 left out
    first = utt.wavs.index(tmp_path / "voxceleb1/wav/id10002/vid11xYz_-/00002.wav")
    assert int(utt.speaker[first]) == 1
    face = utt.faces[first]  # the middle of its three frames, under the VGGFace1 name
    assert face.parts[-5:] == (VOX_NAMES[1], "1.6", "vid11xYz_-", "2", "02.jpg")
    data = get_task(VOX).load(smoke.data, {}, 0, None, tmp_path)
    assert data.num_classes == 4 and len(data.test) == 24
    assert data.paired.target.shape[1:] == (1, 32, 32) and data.paired.source.shape[1] == 3
    assert torch.equal(torch.bincount(data.few.labels), torch.full((4,), 2))


def test_voxceleb_problems_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_voxceleb(tmp_path)
    split = base / "iden_split.txt"
    text = split.read_text()
    split.write_text(text.replace("1 id10001/", "4 id10001/", 1))
    found, reason = get_task(VOX).check(tmp_path)  # type: ignore[misc]
    assert found == "malformed" and "line 1 is not" in reason
    argv = ["run", "--profile", "smoke", "--tasks", VOX, "--out", str(tmp_path / "out")]
    assert main([*argv, "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "iden_split.txt" in err
    split.write_text(text)
    frames = base / "unzippedIntervalFaces/data" / VOX_NAMES[0] / "1.6" / "vid00xYz_-" / "1"
    for frame in frames.iterdir():
        frame.unlink()
    found, reason = get_task(VOX).check(tmp_path)  # type: ignore[misc]
    assert found == "missing" and str(frames) in reason

"""The real-dataset adapters on tiny files in each dataset's exact on-disk format
(tests/real_fixtures.py): what they read, the one-line error for every missing or malformed
piece, `bench data check`, and `bench run --data-root` end to end."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from benchmark.cli import main
from benchmark.config import RunConfig
from benchmark.datasets.real import check_all, real_tasks, resolve_tasks
from benchmark.datasets.real.avmnist import _pair, read_idx
from benchmark.datasets.real.nyuv2 import MAP_40_TO_13, SCENES
from benchmark.datasets.real.sketchy import scan as scan_sketchy
from benchmark.datasets.tasks import TASKS, get_task, list_tasks
from benchmark.errors import UserError
from benchmark.records import read_records
from tests.real_fixtures import (
    idx_bytes,
    write_fsdd,
    write_mnist,
    write_nyuv2,
    write_pairs,
    write_sketchy,
)

REAL = ("avmnist-audio-cls", "nyuv2-depth-cls", "nyuv2-depth-seg", "nyuv2-depth-seg13")
REAL += ("sketchy-sketch-cls",)


def test_real_tasks_are_registered_and_listed() -> None:
    assert real_tasks() == list(REAL)
    assert set(REAL) <= set(list_tasks())
    assert all(get_task(t).homepage.startswith("http") for t in REAL)
    assert not get_task("sketch-cls").needs_data_root


# --- what the loaders read -----------------------------------------------------------------


def test_sketchy_keeps_the_published_test_list(data_root: Path, smoke: RunConfig) -> None:
    index = scan_sketchy(data_root)
    listed = (data_root / "sketchy" / "info" / "testset.txt").read_text().split()
    tested = [
        f"{index.classes[c]}/{p.name}"
        for c, p, t in zip(index.photo_class, index.photos, index.test_photo, strict=True)
        if t
    ]
    assert sorted(tested) == sorted(listed)
    data = get_task("sketchy-sketch-cls").load(smoke.data, {}, 0, None, data_root)
    assert data.info["warnings"] == ["4 classes (the release has 125)"]
    assert data.paired.target.amax(dim=(1, 2, 3)).min() == 1.0  # strokes survive shrinking


def test_sketchy_without_a_test_list_holds_out_a_fixed_tenth(tmp_path: Path) -> None:
    write_sketchy(tmp_path, classes=("cat", "dog"), photos=20)
    (tmp_path / "sketchy" / "info" / "testset.txt").unlink()
    first, second = scan_sketchy(tmp_path), scan_sketchy(tmp_path)
    assert first.test_photo == second.test_photo and sum(first.test_photo) == 4
    assert first.split_from.startswith("seeded 10%")


def test_nyuv2_undoes_matlabs_transpose_and_ignores_unlabelled(
    data_root: Path, smoke: RunConfig
) -> None:
    data = get_task("nyuv2-depth-seg").load(smoke.data, {}, 0, None, data_root)
    depth = data.test.target[:, 0]
    assert bool((depth[:, 0].mean(1) > depth[:, -1].mean(1)).all())  # depth grows down the rows
    labels = data.test.labels
    assert bool((labels[:, :, 0] == -1).all())  # the unlabelled left border
    assert bool((labels[:, 0, 5:] == labels[:, 0, 5:6]).all())  # one class across the top half
    assert data.info["classes"][:2] == ["(unlabelled)", "class1"]
    scenes = get_task("nyuv2-depth-cls").load(smoke.data, {}, 0, None, data_root)
    assert scenes.num_classes == len(SCENES) and int(scenes.test.labels.max()) < len(SCENES)


def test_the_13_class_table_covers_the_40_classes_once() -> None:
    assert MAP_40_TO_13[0] == 0 and sorted(set(MAP_40_TO_13[1:])) == list(range(1, 14))
    assert len(MAP_40_TO_13) == 41


def test_avmnist_pairs_digits_with_recordings_of_the_same_digit() -> None:
    digit = torch.arange(40) % 10
    labels = torch.randint(10, (200,), generator=torch.Generator().manual_seed(0))
    chosen = _pair(labels, torch.arange(40), digit, 0, "t")
    assert torch.equal(digit[chosen], labels)
    assert torch.equal(chosen, _pair(labels, torch.arange(40), digit, 0, "t"))


def test_idx_round_trip_and_gzip(tmp_path: Path, data_root: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "x-idx3-ubyte").write_bytes(idx_bytes(images))
    assert np.array_equal(read_idx(tmp_path / "x-idx3-ubyte", 3), images)
    assert read_idx(data_root / "mnist" / "train-labels-idx1-ubyte.gz", 1).shape == (150,)


def test_pairs_folders_of_arrays_and_sounds(tmp_path: Path, smoke: RunConfig) -> None:
    arrays = write_pairs(tmp_path / f"{tmp_path.name}-npy", target="npy")
    sounds = write_pairs(tmp_path / f"{tmp_path.name}-wav", target="wav")
    (name,) = TASKS.resolve(f"pairs:{arrays}")
    assert name == f"pairs:{arrays.name}" and name not in list_tasks()
    data = get_task(name).load(smoke.data, {}, 0, None, None)
    assert data.target_channels == 2 and data.num_classes == 3 and len(data.test) == 12
    assert data.few.labels.bincount().tolist() == [2, 2, 2]
    (wav,) = TASKS.resolve(f"pairs:{sounds.name}")  # relative to the data root
    audio = get_task(wav).load(smoke.data, {"n_mels": 16}, 0, None, tmp_path)
    assert audio.paired.target.shape[1:] == (1, 16, 32)
    with pytest.raises(UserError, match="names no folder"):
        TASKS.resolve("pairs:")


# --- one-line errors -------------------------------------------------------------------------


def _sketchy(root: Path) -> None:
    write_sketchy(root, classes=("cat", "dog"), photos=6, test_photos=1)


def _nyuv2(root: Path) -> None:
    write_nyuv2(root, n=24, raw_labels=60)


def _avmnist(root: Path) -> None:
    write_mnist(root, train=20, test=10)
    write_fsdd(root, speakers=("theo",), takes=6)


def _save_splits(root: Path, train: np.ndarray, test: np.ndarray) -> None:
    scipy.io.savemat(root / "nyuv2" / "splits.mat", {"trainNdxs": train, "testNdxs": test})


SKETCH = "sketchy/rendered_256x256/256x256/sketch/tx_000000000000"
PHOTO = "sketchy/rendered_256x256/256x256/photo/tx_000000000000"
Write = Callable[[Path], object]
CASES: list[tuple[str, Write, Write | None, str, str]] = [
    (
        "sketchy-sketch-cls",
        _sketchy,
        lambda r: shutil.rmtree(r / PHOTO),
        "missing",
        f"missing folder {{root}}/{PHOTO} — download Sketchy from https://sketchy.eye.gatech.edu/",
    ),
    (
        "sketchy-sketch-cls",
        _sketchy,
        lambda r: (r / SKETCH / "owl").mkdir(),
        "malformed",
        f"{{root}}/{SKETCH}/owl: unknown class folder",
    ),
    (
        "sketchy-sketch-cls",
        _sketchy,
        lambda r: [p.unlink() for p in (r / PHOTO / "dog").iterdir()],
        "malformed",
        f"{{root}}/{PHOTO}/dog: empty class folder",
    ),
    (
        "sketchy-sketch-cls",
        _sketchy,
        lambda r: (r / "sketchy/info/testset.txt").write_text("cat n01.jpg\n"),
        "malformed",
        "testset.txt: line 1 'cat n01.jpg' is not '<class>/<photo-id>.jpg'",
    ),
    (
        "nyuv2-depth-seg",
        _nyuv2,
        lambda r: (r / "nyuv2/nyu_depth_v2_labeled.mat").unlink(),
        "missing",
        "missing file {root}/nyuv2/nyu_depth_v2_labeled.mat — download NYU-Depth V2",
    ),
    (
        "nyuv2-depth-seg",
        lambda r: write_nyuv2(r, n=24, raw_labels=60, images_shape=(24, 30, 40, 3)),
        None,
        "malformed",
        "'images' is uint8 (24, 30, 40, 3), expected uint8 (N, 3, W, H)",
    ),
    (
        "nyuv2-depth-seg",
        lambda r: write_nyuv2(r, n=24, raw_labels=60, drop="labels"),
        None,
        "malformed",
        "nyu_depth_v2_labeled.mat: no dataset 'labels'",
    ),
    (
        "nyuv2-depth-cls",
        lambda r: write_nyuv2(r, n=24, raw_labels=60, drop="sceneTypes"),
        None,
        "malformed",
        "no dataset 'sceneTypes'",
    ),
    (
        "nyuv2-depth-seg",
        _nyuv2,
        lambda r: (r / "nyuv2/nyu_depth_v2_labeled.mat").write_text("x"),
        "malformed",
        "labeled.mat: not a MATLAB v7.3 (HDF5) file",
    ),
    (
        "nyuv2-depth-seg",
        _nyuv2,
        lambda r: _save_splits(r, np.arange(1, 20.0)[:, None], np.zeros((0, 1))),
        "malformed",
        "splits.mat: 'testNdxs' is empty (empty split)",
    ),
    (
        "nyuv2-depth-seg",
        _nyuv2,
        lambda r: (r / "nyuv2/classMapping40.mat").unlink(),
        "missing",
        "classMapping40.mat — download the 40-class mapping",
    ),
    (
        "avmnist-audio-cls",
        _avmnist,
        lambda r: (r / "mnist/t10k-labels-idx1-ubyte").unlink(),
        "missing",
        "missing file {root}/mnist/t10k-labels-idx1-ubyte — download MNIST",
    ),
    (
        "avmnist-audio-cls",
        _avmnist,
        lambda r: (r / "mnist/t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0d\x01" + bytes(8)),
        "malformed",
        "IDX type 0x0d with 1 dimensions, expected 0x08 with 1",
    ),
    (
        "avmnist-audio-cls",
        _avmnist,
        lambda r: [p.unlink() for p in (r / "fsdd/recordings").glob("3_*_[0-4].wav")],
        "malformed",
        "empty test split: no recording of digit 3",
    ),
    (
        "avmnist-audio-cls",
        _avmnist,
        lambda r: (r / "fsdd/recordings/three.wav").write_bytes(b""),
        "malformed",
        "three.wav: name is not '<digit>_<speaker>_<n>.wav'",
    ),
]


@pytest.mark.parametrize(("task", "write", "damage", "status", "message"), CASES)
def test_each_broken_piece_is_named_in_one_line(
    task: str,
    write: Write,
    damage: Write | None,
    status: str,
    message: str,
    tmp_path: Path,
    smoke: RunConfig,
) -> None:
    write(tmp_path)
    if damage is not None:
        damage(tmp_path)
    spec = get_task(task)
    assert spec.check is not None
    found, reason = spec.check(tmp_path)
    expected = message.format(root=tmp_path)
    assert (found, "\n" in reason) == (status, False) and expected in reason, reason
    with pytest.raises(UserError) as err:
        spec.load(smoke.data, {}, 0, None, tmp_path)
    assert str(err.value).startswith(f"{task}: ") and expected in str(err.value)


def test_an_undecodable_photo_is_named_when_loading(tmp_path: Path, smoke: RunConfig) -> None:
    _sketchy(tmp_path)
    photo = next((tmp_path / PHOTO / "cat").glob("*.jpg"))
    photo.write_bytes(b"not a jpeg")
    assert get_task("sketchy-sketch-cls").check(tmp_path)[0] == "found"  # the tree is fine
    with pytest.raises(UserError, match=f"malformed {photo}: not a readable image"):
        get_task("sketchy-sketch-cls").load(smoke.data, {}, 0, None, tmp_path)


def test_pairs_errors(tmp_path: Path, smoke: RunConfig) -> None:
    root = write_pairs(tmp_path / f"{tmp_path.name}-bad")
    (name,) = TASKS.resolve(f"pairs:{root}")
    (root / "target" / "test" / "zzz").mkdir()
    assert "target/test/zzz: unknown class folder" in get_task(name).check(None)[1]
    shutil.rmtree(root / "target" / "test")
    (root / "target" / "test").mkdir()
    status, reason = get_task(name).check(None)
    assert status == "malformed" and "empty split" in reason
    shutil.rmtree(root / "target")
    assert get_task(name).check(None)[0] == "missing"
    other = tmp_path / "elsewhere" / root.name
    other.mkdir(parents=True)
    with pytest.raises(UserError, match="which is taken"):
        TASKS.resolve(f"pairs:{other}")


def test_a_bad_nyu_label_id_is_named(tmp_path: Path, smoke: RunConfig) -> None:
    write_nyuv2(tmp_path, n=24, raw_labels=60)
    with h5py.File(tmp_path / "nyuv2" / "nyu_depth_v2_labeled.mat", "r+") as f:
        f["labels"][0, 0, 0] = 2000
    with pytest.raises(UserError, match="label id 2000 is beyond the 60 ids"):
        get_task("nyuv2-depth-seg").load(smoke.data, {}, 0, None, tmp_path)


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line


def test_data_check_without_a_root_lists_every_task_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, wide: None
) -> None:
    monkeypatch.delenv("XMD_DATA", raising=False)
    assert main(["data", "check"]) == 0
    out = capsys.readouterr().out
    for task in REAL:
        (row,) = [line for line in out.splitlines() if f" {task} " in line]
        assert "missing" in row and "no data root" in row and "http" in row
    assert all(status == "missing" for _, status, _ in check_all(None))


def test_data_check_found_and_malformed(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], wide: None
) -> None:
    assert main(["data", "check", "--data-root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert all("found" in next(x for x in out.splitlines() if f" {t} " in x) for t in REAL)
    _nyuv2(tmp_path)
    (tmp_path / "nyuv2" / "nyu_depth_v2_labeled.mat").write_text("not hdf5")
    assert main(["data", "check", "--data-root", str(tmp_path)]) == 0
    rows = {t: s for t, s, _ in check_all(tmp_path)}
    assert rows["nyuv2-depth-seg"] == "malformed" and rows["sketchy-sketch-cls"] == "missing"
    assert "malformed" in capsys.readouterr().out


def test_run_checks_named_real_tasks_before_any_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["run", "--profile", "smoke", "--out", str(out), "--tasks", "nyuv2-depth-seg"]
    assert main([*argv, "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nyuv2-depth-seg: missing file" in err
    _nyuv2(tmp_path)
    _save_splits(tmp_path, np.arange(1, 20.0)[:, None], np.array([[99.0]]))
    assert main([*argv, "--data-root", str(tmp_path)]) == 2
    assert "image numbers outside 1..24" in capsys.readouterr().err
    assert not out.exists()
    run, skipped = resolve_tasks("all", None)
    assert set(skipped) == set(REAL) and "sketch-cls" in run


def test_bench_run_on_every_adapter_end_to_end(data_root: Path, tmp_path: Path) -> None:
    """One cell per adapter through `bench run --data-root`, on smaller splits than smoke
    (tests/test_runner.py runs every method on every registered real task at smoke size)."""
    pairs = write_pairs(data_root / f"{tmp_path.name}-pairs")
    tasks = f"sketchy-sketch-cls,nyuv2-depth-seg13,avmnist-audio-cls,pairs:{pairs.name}"
    sets = ["data.source_pool=24", "data.paired=16", "data.test=16", "data.labels_per_class=1"]
    sets += ["data.image_size=16", "eval.probe_steps=3"]
    argv = ["run", "--profile", "smoke", "--seeds", "1", "--methods", "l2", "--tasks", tasks]
    argv += ["--out", str(tmp_path), "--data-root", str(data_root)]
    assert main([*argv, *(x for s in sets for x in ("--set", s))]) == 0
    records = read_records(tmp_path)
    assert {(r.task, r.method) for r in records} == {
        (t, m) for t in tasks.split(",") for m in ("l2", "_reference")
    }
    assert all(r.ok for r in records), [r.reason for r in records if not r.ok]

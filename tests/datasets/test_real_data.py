"""The real-dataset adapters on tiny files in each dataset's exact on-disk format
(tests/real_fixtures.py): what they read, the one-line error for every missing or malformed
piece, `bench data check` (its sizes check and `--deep` decoding), and `bench run
--data-root` end to end."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from benchmark.cli.main import main
from benchmark.config import RunConfig, resolve
from benchmark.datasets.real import check_all, inspect, real_tasks, resolve_tasks
from benchmark.datasets.real.mnist_fsdd import _pair, read_idx
from benchmark.datasets.real.nyuv2 import MAP_40_TO_13, SCENES
from benchmark.datasets.real.sketchy import scan as scan_sketchy
from benchmark.datasets.tasks import TASKS, get_task, list_tasks
from benchmark.errors import UserError
from benchmark.results.records import read_records
from tests.real_fixtures import (
    SCENE_TYPES,
    idx_bytes,
    write_avmnist,
    write_fsdd,
    write_mnist,
    write_nyuv2,
    write_pairs,
    write_sketchy,
)

REAL = ("avmnist-audio-cls", "crisismmd-text-cls", "mnist-fsdd-audio-cls", "nyuv2-depth-cls")
REAL += ("nyuv2-depth-seg", "nyuv2-depth-seg13", "sketchy-sketch-cls", "voxceleb-audio-cls")


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


def test_mnist_fsdd_pairs_digits_with_recordings_of_the_same_digit() -> None:
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


def test_avmnist_reads_multibench_arrays_and_keeps_validation_out(
    data_root: Path, tmp_path: Path, smoke: RunConfig
) -> None:
    data = get_task("avmnist-audio-cls").load(smoke.data, {"n_mels": 16}, 0, None, data_root)
    # smoke asks for 120 pool images: all 88 of MultiBench's training rows, none of the 8
    # validation rows (the fixture has 96 training rows, 1/12 of them validation)
    assert data.info["sizes"] == {"source_pool": 88, "paired": 88, "few": 20, "test": 64}
    assert data.source_pool.source.shape == (88, 3, 32, 32)
    assert data.paired.target.shape == (88, 1, 16, 32)  # n_mels × audio_frames
    assert data.paired.source_ids is None and data.test.source_ids is None
    # the band's frequency row tells the digit: it survives the resize, in row order
    band = data.test.target[:, 0].mean(dim=2).argmax(dim=1)
    per_digit = [int(band[data.test.labels == d].float().mean()) for d in range(10)]
    assert per_digit == sorted(per_digit) and per_digit[0] < per_digit[9]
    # MultiBench's 0..255 scale divided by 255, as its loader does
    assert 0.7 < float(data.test.source.amax()) < 1.0
    write_avmnist(tmp_path, train=24, test=12)  # images as N × 28 × 28 also read
    images = np.load(tmp_path / "avmnist/image/train_data.npy")
    np.save(tmp_path / "avmnist/image/train_data.npy", images.reshape(24, 28, 28))
    assert get_task("avmnist-audio-cls").check(tmp_path)[0] == "found"


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


def _mnist_fsdd(root: Path) -> None:
    write_mnist(root, train=20, test=10)
    write_fsdd(root, speakers=("theo",), takes=6)


def _avmnist(root: Path) -> None:
    write_avmnist(root, train=24, test=12)


def _npy(root: Path, name: str, array: np.ndarray) -> None:
    np.save(root / "avmnist" / name, array)


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
        "mnist-fsdd-audio-cls",
        _mnist_fsdd,
        lambda r: (r / "mnist/t10k-labels-idx1-ubyte").unlink(),
        "missing",
        "missing file {root}/mnist/t10k-labels-idx1-ubyte — download MNIST's four .gz files "
        "from https://ossci-datasets.s3.amazonaws.com/mnist/ (torchvision's mirror; also "
        "https://storage.googleapis.com/cvdf-datasets/mnist/)",
    ),
    (
        "mnist-fsdd-audio-cls",
        _mnist_fsdd,
        lambda r: (r / "mnist/t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0d\x01" + bytes(8)),
        "malformed",
        "IDX type 0x0d with 1 dimensions, expected 0x08 with 1",
    ),
    (
        "mnist-fsdd-audio-cls",
        _mnist_fsdd,
        lambda r: [p.unlink() for p in (r / "fsdd/recordings").glob("3_*_[0-4].wav")],
        "malformed",
        "empty test split: no recording of digit 3",
    ),
    (
        "mnist-fsdd-audio-cls",
        _mnist_fsdd,
        lambda r: (r / "fsdd/recordings/three.wav").write_bytes(b""),
        "malformed",
        "three.wav: name is not '<digit>_<speaker>_<n>.wav'",
    ),
    (
        "avmnist-audio-cls",
        _avmnist,
        lambda r: (r / "avmnist/audio/test_data.npy").unlink(),
        "missing",
        "missing file {root}/avmnist/audio/test_data.npy — download AV-MNIST (MultiBench's "
        "avmnist.tar.gz, linked from its README) from https://github.com/pliang279/MultiBench",
    ),
    (
        "avmnist-audio-cls",
        _avmnist,
        lambda r: _npy(r, "audio/train_data.npy", np.zeros((24, 64, 64), np.float32)),
        "malformed",
        "audio/train_data.npy: shape (24, 64, 64), expected (N, 12544) or (N, 112, 112)",
    ),
    (
        "avmnist-audio-cls",
        _avmnist,
        lambda r: _npy(r, "image/test_data.npy", np.zeros((11, 784))),
        "malformed",
        "image/test_data.npy: 11 rows for 12 labels",
    ),
    (
        "avmnist-audio-cls",
        _avmnist,
        lambda r: _npy(r, "test_labels.npy", np.full(12, 10, np.uint8)),
        "malformed",
        "test_labels.npy: labels must be the digits 0..9",
    ),
    (
        "avmnist-audio-cls",
        _avmnist,
        lambda r: _truncate(r / "avmnist/image/train_data.npy"),
        "malformed",
        "image/train_data.npy: not a readable .npy array",
    ),
]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


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
    assert all(row.status == "missing" for row in check_all(None))


def test_data_check_found_and_malformed(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], wide: None
) -> None:
    assert main(["data", "check", "--data-root", str(data_root), "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert all("found" in next(x for x in out.splitlines() if f" {t} " in x) for t in REAL)
    assert main(["data", "check", "--data-root", str(data_root)]) == 0  # quick: 10 a class
    out = capsys.readouterr().out
    assert "unusable" in next(x for x in out.splitlines() if " nyuv2-depth-cls " in x)
    _nyuv2(tmp_path)
    (tmp_path / "nyuv2" / "nyu_depth_v2_labeled.mat").write_text("not hdf5")
    assert main(["data", "check", "--data-root", str(tmp_path)]) == 0
    rows = {row.task: row.status for row in check_all(tmp_path)}
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


# --- the sizes check: what `run` would fail on at the profile's sizes ------------------------


def _nyu_with_one_bookstore_frame(root: Path) -> None:
    """60 NYU frames whose training frames cycle through the other scene classes, and one
    of which is a bookstore: 1 training frame of that class."""
    write_nyuv2(root / "probe", n=60, raw_labels=60)  # the same split for the same n
    train = scipy.io.loadmat(root / "probe/nyuv2/splits.mat")["trainNdxs"][:, 0].astype(int) - 1
    others = [t for t in SCENE_TYPES if t != "bookstore"][:9]
    scenes = [others[i % len(others)] for i in range(60)]
    scenes[int(train.min())] = "bookstore"
    write_nyuv2(root, n=60, raw_labels=60, scenes=scenes)


def test_data_check_reports_what_run_would_fail_on_at_the_profile_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wide: None, smoke: RunConfig
) -> None:
    _nyu_with_one_bookstore_frame(tmp_path)
    argv = ["data", "check", "--data-root", str(tmp_path), "--tasks", "nyuv2-depth-cls"]
    assert main([*argv, "--profile", "smoke"]) == 0
    (row,) = [x for x in capsys.readouterr().out.splitlines() if "nyuv2-depth-cls" in x]
    assert "unusable" in row and "at profile smoke" in row
    shortfall = (
        "the few-label set needs data.labels_per_class=2 training frames of every class, but "
        "class 'bookstore' has 1; lower data.labels_per_class to 1 or less"
    )
    assert shortfall in row
    with pytest.raises(UserError, match="class 'bookstore' has 1") as err:  # what run meets
        get_task("nyuv2-depth-cls").load(smoke.data, {}, 0, None, tmp_path)
    assert shortfall in str(err.value)
    with pytest.raises(UserError, match=f"nyuv2-depth-cls: at profile smoke, {shortfall}"):
        resolve_tasks("nyuv2-depth-cls", tmp_path, resolve("smoke"))  # bench run's check
    assert resolve_tasks("nyuv2-depth-cls", tmp_path)[0] == ["nyuv2-depth-cls"]  # no sizes
    assert main([*argv, "--profile", "smoke", "--set", "data.labels_per_class=1"]) == 0
    assert "found" in next(x for x in capsys.readouterr().out.splitlines() if "nyuv2-depth" in x)
    assert inspect("nyuv2-depth-seg", tmp_path, resolve("quick")).status == "found"  # no few


# --- the deep check: every file decoded, verdicts cached ------------------------------------


def _truncated_photo(root: Path) -> Path:
    _sketchy(root)
    photo = sorted((root / PHOTO / "cat").glob("*.jpg"))[1]
    photo.write_bytes(photo.read_bytes()[:300])
    return photo


def test_deep_check_lists_a_truncated_jpeg(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wide: None
) -> None:
    root, cache = tmp_path / "data", tmp_path / "cache"
    photo = _truncated_photo(root)
    odd = sorted((root / SKETCH / "dog").glob("*.png"))[0]
    Image.new("L", (52, 40), 255).save(odd)  # decodes, but cannot be stacked with the rest
    argv = ["data", "check", "--data-root", str(root), "--tasks", "sketchy-sketch-cls"]
    argv += ["--cache-dir", str(cache), "--profile", "smoke"]
    assert main(argv) == 0
    assert "found" in capsys.readouterr().out  # the scan reads no image
    assert main([*argv, "--deep"]) == 0
    out = capsys.readouterr().out
    (row,) = [x for x in out.splitlines() if x.startswith("│ sketchy")]
    assert "malformed" in row and "2 of 36 files fail to decode" in row
    assert f"sketchy-sketch-cls: bad file {photo}: not a readable image" in out
    assert f"sketchy-sketch-cls: bad file {odd}: 52×40, where 23 other sketches are 40×40" in out


def test_run_stops_on_an_undecodable_file_before_any_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = tmp_path / "data", tmp_path / "out"
    photo = _truncated_photo(root)
    argv = ["run", "--profile", "smoke", "--seeds", "1", "--methods", "l2", "--out", str(out)]
    argv += ["--tasks", "sketchy-sketch-cls", "--data-root", str(root)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"bench: error: sketchy-sketch-cls: malformed {photo}: not a readable image" in err
    assert not (out / "runs").exists()


def test_deep_verdicts_are_cached_by_size_and_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cache = tmp_path / "data", tmp_path / "cache"
    photo = _truncated_photo(root)
    opened: list[Path] = []
    real_open = Image.open

    def counting_open(fp: Path, *args: object, **kwargs: object) -> Image.Image:
        opened.append(Path(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    first = inspect("sketchy-sketch-cls", root, deep=True, cache_dir=cache)
    assert len(opened) == 36 and [bad.path for bad in first.bad] == [photo]
    opened.clear()
    assert inspect("sketchy-sketch-cls", root, deep=True, cache_dir=cache) == first
    assert opened == []  # a second check decodes nothing
    good = sorted((root / PHOTO / "dog").glob("*.jpg"))[0]
    shutil.copyfile(good, photo)  # a new size and mtime: decoded again, now fine
    fixed = inspect("sketchy-sketch-cls", root, deep=True, cache_dir=cache)
    assert opened == [photo] and fixed.status == "found" and "all 36 files decode" in fixed.reason


def test_bench_run_on_every_adapter_end_to_end(data_root: Path, tmp_path: Path) -> None:
    """One cell per adapter through `bench run --data-root`, on smaller splits than smoke
    (tests/execution/test_runner.py runs `l2` and `kd`, the readers of feature maps and
    of logits, on every registered real task at smoke size)."""
    pairs = write_pairs(data_root / f"{tmp_path.name}-pairs")
    tasks = "sketchy-sketch-cls,nyuv2-depth-seg13,avmnist-audio-cls,mnist-fsdd-audio-cls,"
    tasks += f"pairs:{pairs.name}"
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

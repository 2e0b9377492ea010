"""MST-Distill's protocol (configs/mst-*.yaml) on the real-format fixtures: its permutation
splits, its AV-MNIST networks, and a labelled cell run under the profile; the label
budget knob."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.backbones import Backbone
from benchmark.config import RunConfig, load_yaml, resolve
from benchmark.datasets.data_config import MST_SPLIT
from benchmark.datasets.real.peer_splits import MST_SEED, mst_permutation, mst_split
from benchmark.datasets.tasks import TASKS, get_task
from benchmark.errors import UserError
from benchmark.execution.plan import Cell, plan_cell
from benchmark.execution.runner import CellRunner
from benchmark.protocol.labelled import label_budget
from benchmark.streams import IGNORE_INDEX
from tests.paths import ROOT
from tests.real_fixtures import NYU_IMAGES

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIGS = ROOT / "configs"
AVMNIST_ROWS = 96 + 64  # tests/real_fixtures.py: write_avmnist's train + test rows


def mst(name: str, **sets: object) -> RunConfig:
    overrides: dict[str, dict[str, object]] = {}
    for key, value in sets.items():
        section, field = key.split("__")
        overrides.setdefault(section, {})[field] = value
    file = load_yaml(CONFIGS / f"mst-{name}.yaml")
    return resolve(None, file, overrides, canonical_task=TASKS.canonical)


def test_the_permutations_are_indices_gen_s() -> None:
    """`seed_all(19980427)` then one `np.random.permutation` per group, in order."""
    state = np.random.get_state()
    try:
        np.random.seed(MST_SEED)
        expected = [np.random.permutation(50) for _ in range(3)]
    finally:
        np.random.set_state(state)
    for group, perm in enumerate(expected):
        assert np.array_equal(mst_permutation(50, group), perm)
    train, val, test = mst_split(50, 2)
    assert (len(train), len(val), len(test)) == (30, 10, 10)
    assert torch.equal(torch.cat([train, val, test]), torch.from_numpy(expected[2]))
    with pytest.raises(UserError, match=r"seeds 0\.\.19"):
        mst_split(50, 20)


def test_avmnist_profile_resolves_to_the_peer_split(data_root: Path) -> None:
    cfg = mst("avmnist", data__labels_per_class=2).for_task("avmnist-audio-cls")
    assert cfg.data.split == MST_SPLIT and cfg.student.backbone == "mst_cnn3"
    assert cfg.teacher.backbone == "mst_lenet5" and cfg.data.image_size == 28
    assert cfg.methods["kd"] == {"ce_weight": 0.5, "weight": 0.5}
    data = get_task("avmnist-audio-cls").load(cfg.data, cfg.world, 1, None, data_root)
    train, _, test = mst_split(AVMNIST_ROWS, 1)
    pooled = np.concatenate([np.arange(96) % 10, np.arange(64) % 10])  # the fixture's labels
    assert len(data.paired) == len(data.source_pool) == len(train)  # all training rows
    assert torch.equal(data.test.labels, torch.from_numpy(pooled[test.numpy()]))
    assert sorted(data.paired.labels.tolist()) == sorted(pooled[train.numpy()].tolist())
    assert data.test.target is not None and data.test.target.shape[-2:] == (112, 112)
    assert data.paired.source is not None and data.paired.source.shape[-2:] == (28, 28)
    assert "MST-Distill" in data.info["test_split"]
    plain = get_task("avmnist-audio-cls").load(
        dataclasses.replace(cfg.data, split="standard"), cfg.world, 1, None, data_root
    )
    assert len(plain.test) == 64


def test_nyuv2_profile_resolves_to_the_peer_split(data_root: Path) -> None:
    cfg = mst("nyuv2", data__image_size=16, data__labels_per_class=1).for_task("nyuv2-depth-seg")
    assert cfg.data.split == MST_SPLIT and cfg.distill.batch_size == 6
    data = get_task("nyuv2-depth-seg").load(cfg.data, cfg.world, 0, None, data_root)
    train, _, test = mst_split(NYU_IMAGES, 0)
    assert len(data.test) == len(test) and len(data.paired) == len(train)
    assert data.num_classes == 41
    with pytest.raises(UserError, match=r"data.split=mst is not available .*nyuv2-depth-cls"):
        get_task("nyuv2-depth-cls").load(cfg.data, cfg.world, 0, None, data_root)
    with pytest.raises(UserError, match="not available for task 'sketch-cls'"):
        get_task("sketch-cls").load(cfg.data, cfg.world, 0, None)


def test_the_peer_networks() -> None:
    """LeNet5 ends in an 84-wide 1 × 1 map at 28 × 28 (fc1; the head is its fc2), and
    ThreeLayerCNN-A in a 128 × 14 × 14 map at 112 × 112."""
    lenet = Backbone("mst_lenet5", 3)
    maps = lenet(torch.zeros(2, 3, 28, 28)).feature_maps
    assert lenet.dim == 84 and maps[-1].shape == (2, 84, 1, 1)
    cnn = Backbone("mst_cnn3", 1)
    assert cnn(torch.zeros(2, 1, 112, 112)).feature_maps[-1].shape == (2, 128, 14, 14)
    n = sum(p.numel() for p in lenet.parameters())
    assert n == 6 * 3 * 25 + 6 + 16 * 6 * 25 + 16 + 120 * 16 * 25 + 120 + 84 * 120 + 84


def test_a_labelled_cell_runs_under_the_avmnist_profile(data_root: Path, cache_dir: Path) -> None:
    cfg = mst(
        "avmnist",
        teacher__epochs=1,
        teacher__batch_size=32,
        distill__epochs=1,
        distill__batch_size=32,
        data__labels_per_class=2,
        eval__probe_steps=5,
    )
    cell = plan_cell(Cell("avmnist-audio-cls", "kd", 0, "labelled"), cfg)
    payload = cell.payload
    assert payload["data"]["split"] == MST_SPLIT and payload["labelled"] == {"ce_weight": 0.5}
    runner = CellRunner(cfg, cache_dir, torch.device("cpu"), data_root=data_root)
    record = runner.run(cell)
    assert record.ok, record.reason
    assert 0.0 <= record.metrics["head_acc"] <= 1.0 and record.data["sizes"]["test"] == 32
    assert record.data["sizes"]["labelled"] == record.data["sizes"]["paired"]


def test_the_label_budget_keeps_a_seeded_fraction(smoke: RunConfig) -> None:
    labels = torch.arange(100) % 7
    half = label_budget(labels, 0.5, 3)
    assert int((half != IGNORE_INDEX).sum()) == 50
    assert torch.equal(half, label_budget(labels, 0.5, 3))
    assert label_budget(labels, 1.0, 3) is labels
    with pytest.raises(ValueError, match="labelled_fraction"):
        label_budget(labels, 0.0, 3)
    # Hashed only where it can change a cell: a fraction below 1, in the labelled track.
    low = dataclasses.replace(smoke, data=dataclasses.replace(smoke.data, labelled_fraction=0.5))
    for track in ("supervised", "label-free"):
        cell = Cell("sketch-cls", "l2", 0, track)
        assert plan_cell(cell, low).payload == plan_cell(cell, smoke).payload
    cell = Cell("sketch-cls", "l2", 0, "labelled")
    assert plan_cell(cell, low).payload["data"]["labelled_fraction"] == 0.5
    assert "labelled_fraction" not in plan_cell(cell, smoke).payload["data"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("data.labelled_fraction=0", "labelled_fraction=0.0 must be a finite number > 0"),
        ("data.labelled_fraction=1.5", "labelled_fraction=1.5 must be a finite number > 0"),
        ("data.split=mst", "data.split=mst is not available for task 'sketch-cls'"),
        ("data.split=msd", "unknown data.split 'msd': did you mean 'mst'"),
    ],
)
def test_bad_label_budget_or_split_stops_the_run(
    setting: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmark.cli.main import main

    argv = ["run", "--profile", "smoke", "--tasks", "sketch-cls", "--methods", "kd"]
    argv += ["--tracks", "labelled", "--set", setting, "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bench_validate_reads_the_mst_configs(tmp_path: Path) -> None:
    """`ce_weight` on a method that declares none is the labelled track's γ: accepted by
    `bench validate` (and range-checked), not an unknown parameter."""
    from benchmark.cli.main import main

    for name in ("avmnist", "nyuv2"):
        assert main(["validate", str(CONFIGS / f"mst-{name}.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods:\n  kd: {ce_weight: -2}\n")
    assert main(["validate", str(bad)]) == 2

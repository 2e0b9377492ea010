"""Every registered task, parametrized over the registry: splits, shapes, few-label set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark.config import RunConfig
from benchmark.datasets.tasks import CLASSIFICATION, TASKS, get_task, list_tasks
from benchmark.errors import UserError


@pytest.mark.parametrize("name", list_tasks())
def test_task_splits(name: str, smoke: RunConfig, cache_dir: Path, data_root: Path) -> None:
    spec = get_task(name)
    data = spec.load(smoke.data, smoke.world, 0, cache_dir, data_root)
    d = smoke.data
    if spec.needs_data_root:
        # A real split gets the size asked for or all there is (the fixtures are tiny), and
        # the test split is the whole published test partition (real/common.py).
        assert 1 <= len(data.source_pool) <= d.source_pool and 1 <= len(data.paired) <= d.paired
        assert len(data.test) >= 1
    else:
        assert len(data.source_pool) == d.source_pool and len(data.paired) == d.paired
        assert len(data.test) == d.test
    assert data.source_pool.source is not None and data.source_pool.source.shape[1] == 3
    assert data.paired.source is not None and data.paired.target is not None
    if spec.sequence_target:  # token ids: the channel count is the vocabulary's size
        assert data.paired.target.dtype == torch.int64 and data.paired.target.dim() == 2
        assert 0 <= int(data.paired.target.min()) <= int(data.paired.target.max())
        assert int(data.paired.target.max()) < data.target_channels
    else:
        assert data.paired.target.shape[1] == data.target_channels
    assert data.few.source is None  # the few-label set is target-only
    assert data.few.labels is not None and data.test.labels is not None
    if spec.kind == CLASSIFICATION:
        counts = torch.bincount(data.few.labels, minlength=data.num_classes)
        assert counts.tolist() == [d.labels_per_class] * data.num_classes
        assert data.test.labels.dim() == 1
    else:
        assert len(data.few) == d.labels_per_class * (data.num_classes - 1)
        assert data.test.labels.shape[-2:] == data.test.target.shape[-2:]
        assert int(data.test.labels.max()) < data.num_classes


@pytest.mark.parametrize("name", list_tasks())
def test_task_is_deterministic_and_seeded(
    name: str, smoke: RunConfig, cache_dir: Path, data_root: Path
) -> None:
    spec = get_task(name)
    a = spec.load(smoke.data, smoke.world, 0, cache_dir, data_root)
    b = spec.load(smoke.data, smoke.world, 0, None, data_root)  # regenerated, not cached
    c = spec.load(smoke.data, smoke.world, 1, cache_dir, data_root)
    assert torch.equal(a.paired.target, b.paired.target)
    assert torch.equal(a.few.labels, b.few.labels)
    assert not torch.equal(a.paired.target, c.paired.target)


def test_splits_are_disjoint_slices_of_one_stream(smoke: RunConfig, cache_dir: Path) -> None:
    """Growing the paired set keeps the source pool's samples: the stream is prefix-stable."""
    spec = get_task("sketch-cls")
    small = spec.load(smoke.data, smoke.world, 0, cache_dir)
    bigger = smoke.data.__class__(**{**smoke.data.__dict__, "paired": smoke.data.paired + 8})
    big = spec.load(bigger, smoke.world, 0, cache_dir)
    assert torch.equal(small.source_pool.source, big.source_pool.source)
    assert torch.equal(small.paired.target, big.paired.target[: smoke.data.paired])
    assert not any(torch.equal(small.test.target[0], x) for x in small.paired.target)


def test_unknown_world_knob_and_bad_value(smoke: RunConfig) -> None:
    with pytest.raises(UserError, match="did you mean 'depth_noise'"):
        get_task("depth-cls").load(smoke.data, {"depth_nois": 0.1}, 0, None)
    with pytest.raises(UserError, match="depth_noise"):
        get_task("depth-cls").load(smoke.data, {"depth_noise": 7.0}, 0, None)


def test_the_four_embedded_tasks_are_registered() -> None:
    assert {"sketch-cls", "depth-cls", "depth-seg", "audio-cls"} <= set(TASKS.names())

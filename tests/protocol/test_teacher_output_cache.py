"""The teacher-output cache: bit-identical to a live forward, shared, and invalidated by
any change to the teacher or the paired set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark.backbones import Backbone
from benchmark.config import RunConfig
from benchmark.datasets.tasks import get_task
from benchmark.execution.cell_setup import method_context
from benchmark.method import Batch, create_method
from benchmark.protocol.distill import take
from benchmark.protocol.teacher import Trained, get_teacher
from benchmark.protocol.teacher_outputs import cached_teacher_outputs, outputs_key, teacher_outputs

CPU = torch.device("cpu")


@pytest.fixture(params=["sketch-cls", "depth-seg"])
def setup(request: pytest.FixtureRequest, smoke: RunConfig, cache_dir: Path):
    data = get_task(request.param).load(smoke.data, smoke.world, 0, cache_dir)
    return data, get_teacher(data, smoke, 0, cache_dir, CPU)


def _same(a, b) -> None:
    assert a.embedding.dtype == b.embedding.dtype
    assert torch.equal(a.embedding, b.embedding)
    assert (a.logits is None) == (b.logits is None)
    if a.logits is not None:
        assert torch.equal(a.logits, b.logits)
    assert len(a.feature_maps) == len(b.feature_maps)
    for x, y in zip(a.feature_maps, b.feature_maps, strict=True):
        assert x.dtype == y.dtype and torch.equal(x, y)


def test_cached_outputs_equal_live_forward_bit_for_bit(setup, tmp_path: Path) -> None:
    data, teacher = setup
    x = data.paired.source
    live = teacher_outputs(teacher.model, x, keep_maps=True)
    first = cached_teacher_outputs(teacher, x, keep_maps=True, cache_dir=tmp_path)
    stored = sorted(p.name.split("-")[0] for p in (tmp_path / "teachers/outputs").glob("*.pt"))
    assert stored == ["maps", "outputs"]
    second = cached_teacher_outputs(teacher, x, keep_maps=True, cache_dir=tmp_path)
    _same(live, first)
    _same(live, second)
    # Without maps, the same cached embedding and logits and no maps.
    lean = cached_teacher_outputs(teacher, x, keep_maps=False, cache_dir=tmp_path)
    assert lean.feature_maps == []
    assert torch.equal(lean.embedding, live.embedding)
    # And a single batch of the live teacher gives the same rows as the slice.
    idx = torch.tensor([3, 0, 7])
    direct = teacher.model(x[:256])
    assert torch.equal(take(second, idx, CPU).embedding, direct.embedding[idx])


def test_maps_are_added_to_an_entry_that_had_none(setup, tmp_path: Path) -> None:
    data, teacher = setup
    x = data.paired.source
    cached_teacher_outputs(teacher, x, keep_maps=False, cache_dir=tmp_path)
    assert not list((tmp_path / "teachers/outputs").glob("maps-*.pt"))
    with_maps = cached_teacher_outputs(teacher, x, keep_maps=True, cache_dir=tmp_path)
    _same(with_maps, teacher_outputs(teacher.model, x, keep_maps=True))
    assert len(list((tmp_path / "teachers/outputs").glob("maps-*.pt"))) == 1


@pytest.mark.parametrize("method_name", ["l2", "crd", "kd"])
def test_method_losses_identical_on_cached_and_live_outputs(
    setup, tmp_path: Path, method_name: str
) -> None:
    data, teacher = setup
    x = data.paired.source
    losses = []
    for source in ("live", "cached"):
        outputs = (
            teacher_outputs(teacher.model, x, keep_maps=True)
            if source == "live"
            else cached_teacher_outputs(teacher, x, keep_maps=True, cache_dir=tmp_path)
        )
        torch.manual_seed(0)
        student = Backbone("test_resnet", data.target_channels)
        method = create_method(method_name)
        method.setup(method_context(student, teacher.model, data))
        idx = torch.arange(8)
        terms = method.losses(student(data.paired.target[idx]), take(outputs, idx, CPU), Batch(idx))
        losses.append({k: v.item() for k, v in terms.items()})
    assert losses[0] == losses[1]


def test_key_changes_with_teacher_and_paired_set(setup) -> None:
    data, teacher = setup
    x = data.paired.source
    key = outputs_key(teacher.key, x, CPU)
    assert outputs_key(teacher.key, x.clone(), CPU) == key
    assert outputs_key("another-teacher", x, CPU) != key
    changed = x.clone()
    changed[0, 0, 0, 0] += 1e-3
    assert outputs_key(teacher.key, changed, CPU) != key
    assert outputs_key(teacher.key, x[:-1], CPU) != key


def test_a_retrained_teacher_never_reads_stale_outputs(setup, tmp_path: Path) -> None:
    """Same key string would be a bug; different weights under a different key recompute."""
    data, teacher = setup
    x = data.paired.source
    cached_teacher_outputs(teacher, x, keep_maps=False, cache_dir=tmp_path)
    model = teacher.model
    other = Trained(model, teacher.key + "-other", True, 0.0, {})
    with torch.no_grad():
        saved = [p.clone() for p in model.parameters()]
        for p in model.parameters():
            p.mul_(0.5)
        try:
            fresh = cached_teacher_outputs(other, x, keep_maps=False, cache_dir=tmp_path)
            assert torch.equal(
                fresh.embedding, teacher_outputs(model, x, keep_maps=False).embedding
            )
        finally:
            for p, s in zip(model.parameters(), saved, strict=True):
                p.copy_(s)

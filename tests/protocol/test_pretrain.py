"""SimCLR teacher pre-training: the NT-Xent equation, the per-sample views, and the
teacher recipe that uses them (labels reach only the head; the cache key sees it)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.config import RunConfig, resolve
from benchmark.datasets.tasks import get_task
from benchmark.errors import UserError
from benchmark.protocol.augment import ViewRecipe, random_resized_crop, random_view
from benchmark.protocol.pretrain import nt_xent
from benchmark.protocol.teacher import get_all_labels_reference, get_teacher, recipe_key

IDENTITY = ViewRecipe(
    crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=0.0, jitter=0.0, grayscale=0.0
)


def test_nt_xent_matches_a_direct_computation() -> None:
    torch.manual_seed(0)
    z1, z2, tau = torch.randn(4, 5), torch.randn(4, 5), 0.3
    z = F.normalize(torch.cat([z1, z2]), dim=1).double()
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        j = (i + 4) % n2
        denominator = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(n2) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[j]) / tau) / denominator)
    assert nt_xent(z1, z2, tau).item() == pytest.approx(total / n2, rel=1e-5)


def test_nt_xent_prefers_aligned_views() -> None:
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    assert nt_xent(z, z + 0.01 * torch.randn_like(z), 0.5) < nt_xent(z, torch.randn(16, 8), 0.5)


def test_identity_view_returns_the_input_and_full_flip_mirrors_it() -> None:
    x = torch.rand(3, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(random_view(x, IDENTITY, g), x, atol=1e-5)
    mirrored = random_resized_crop(x, (1.0, 1.0), (1.0, 1.0), 1.0, g)
    assert torch.allclose(mirrored, x.flip(-1), atol=1e-5)


def test_views_differ_per_sample_and_repeat_per_seed() -> None:
    x = torch.rand(1, 3, 16, 16).expand(8, 3, 16, 16).contiguous()
    a = random_view(x, ViewRecipe(), torch.Generator().manual_seed(1))
    b = random_view(x, ViewRecipe(), torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])  # one image, different views
    assert a.min() >= 0 and a.max() <= 1 and a.shape == x.shape


def test_single_channel_views_keep_their_channel_count() -> None:
    x = torch.rand(4, 1, 16, 16)
    assert random_view(x, ViewRecipe(), torch.Generator().manual_seed(0)).shape == x.shape


def test_unknown_pretrain_is_a_user_error() -> None:
    with pytest.raises(UserError, match="did you mean 'simclr'"):
        resolve("smoke", set_overrides={"teacher": {"pretrain": "simclrr"}})


def test_simclr_settings_only_key_simclr_teachers(smoke: RunConfig) -> None:
    supervised = smoke.teacher
    hotter = dataclasses.replace(supervised, simclr_temperature=0.2)
    assert recipe_key(supervised) == recipe_key(hotter)
    simclr = dataclasses.replace(supervised, pretrain="simclr")
    assert recipe_key(simclr) != recipe_key(dataclasses.replace(simclr, simclr_temperature=0.2))


def test_simclr_teacher_learns_its_backbone_without_labels(smoke: RunConfig, cache_dir) -> None:
    """The backbone's weights do not depend on the labels; the head's do."""
    data = get_task("sketch-cls").load(smoke.data, smoke.world, 0, cache_dir)
    cfg = dataclasses.replace(smoke, teacher=dataclasses.replace(smoke.teacher, pretrain="simclr"))
    device = torch.device("cpu")
    first = get_teacher(data, cfg, 0, None, device)
    shuffled_pool = dataclasses.replace(
        data.source_pool,
        labels=data.source_pool.labels.roll(1),  # type: ignore[union-attr]
    )
    second = get_teacher(dataclasses.replace(data, source_pool=shuffled_pool), cfg, 0, None, device)
    backbone_a = first.model.backbone.state_dict()
    backbone_b = second.model.backbone.state_dict()
    assert all(torch.equal(backbone_a[k], backbone_b[k]) for k in backbone_a)
    head_a, head_b = first.model.head.state_dict(), second.model.head.state_dict()
    assert not all(torch.equal(head_a[k], head_b[k]) for k in head_a)
    supervised = get_teacher(data, smoke, 0, None, device)
    assert supervised.key != first.key
    reference = get_all_labels_reference(data, cfg, 0, None, device)
    assert reference.key == get_all_labels_reference(data, smoke, 0, None, device).key

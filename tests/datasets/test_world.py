"""Tests of the embedded paired world (benchmark.datasets.world).

Small images (16 px) keep every generate call to one cheap chunk; module-scoped fixtures share
the few larger draws between tests.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.datasets import world
from benchmark.datasets.world import (
    GENERATOR_VERSION,
    MODALITIES,
    SHAPE_NAMES,
    WorldConfig,
    audio,
    cache_key,
    generate,
    load_or_generate,
    measure_throughput,
)
from benchmark.datasets.world import cache as cache_module
from benchmark.datasets.world.audio import log_mel, mel_transform
from benchmark.datasets.world.config import chunk_size
from benchmark.datasets.world.core import _generator
from benchmark.datasets.world.render import render_geometry
from benchmark.datasets.world.scene import sample_scene
from benchmark.datasets.world.shading import OBJECT_DEPTH_MIN, Z_NEAR, wall_z
from benchmark.datasets.world.shapes import bounding_radius, evaluate, half_extents, shape_params
from benchmark.datasets.world.text import TEXT_LENGTH

SMALL = WorldConfig(image_size=16)
MULTI = WorldConfig(image_size=16, min_objects=2, max_objects=4)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Run this module single-threaded (restored afterwards).

    Output does not depend on the thread count (checked below), but with OpenMP's default
    busy-waiting, two threads on two cores shared with other processes run ~10x slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def small() -> dict[str, torch.Tensor]:
    return generate(SMALL, 64, seed=7)


@pytest.fixture(scope="module")
def multi() -> dict[str, torch.Tensor]:
    return generate(MULTI, 64, seed=7)


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key


def boundary(seg: torch.Tensor) -> torch.Tensor:
    """Bool [n, H, W]: pixels whose seg value differs from a 4-neighbour."""
    edge = torch.zeros_like(seg, dtype=torch.bool)
    dx = seg[:, :, 1:] != seg[:, :, :-1]
    dy = seg[:, 1:] != seg[:, :-1]
    edge[:, :, 1:] |= dx
    edge[:, :, :-1] |= dx
    edge[:, 1:] |= dy
    edge[:, :-1] |= dy
    return edge


# --- determinism and independence -----------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data(small: dict[str, torch.Tensor]) -> None:
    again = generate(SMALL, 64, seed=7)
    assert_same(small, again)
    other = generate(SMALL, 64, seed=8)
    for key in MODALITIES:
        assert not torch.equal(small[key], other[key]), key


def test_prefix_and_start_are_stable(small: dict[str, torch.Tensor]) -> None:
    first = generate(SMALL, 10, seed=7)
    middle = generate(SMALL, 20, seed=7, start=10)
    for key in small:
        assert torch.equal(first[key], small[key][:10]), key
        assert torch.equal(middle[key], small[key][10:30]), key


def test_start_across_a_chunk_boundary() -> None:
    config = WorldConfig(image_size=8)
    edge = chunk_size(config.image_size)
    both = generate(config, 6, seed=3, start=edge - 3)
    before = generate(config, 3, seed=3, start=edge - 3)
    after = generate(config, 3, seed=3, start=edge)
    for key in both:
        assert torch.equal(both[key], torch.cat([before[key], after[key]])), key
    assert not torch.equal(before["audio"], after["audio"])


def test_output_does_not_depend_on_thread_count() -> None:
    config = WorldConfig(image_size=8, min_objects=1, max_objects=2)
    one = generate(config, 8, seed=7)
    torch.set_num_threads(2)
    try:
        assert_same(one, generate(config, 8, seed=7))
    finally:
        torch.set_num_threads(1)


def test_modality_subsets_are_bit_identical(small: dict[str, torch.Tensor]) -> None:
    for m in MODALITIES:
        alone = generate(SMALL, 64, seed=7, modalities=[m])
        assert set(alone) == {m, "label"}
        assert torch.equal(alone[m], small[m]), m
        assert torch.equal(alone["label"], small["label"]), m
    pair = generate(SMALL, 64, seed=7, modalities=("audio", "rgb", "audio"))
    assert list(pair) == ["audio", "rgb", "label"]
    assert torch.equal(pair["rgb"], small["rgb"])


def test_multi_object_subsets_and_labels_are_stable(multi: dict[str, torch.Tensor]) -> None:
    # Multi-object labels need the seg map; asking only for audio must still agree.
    alone = generate(MULTI, 64, seed=7, modalities=["audio"])
    assert torch.equal(alone["audio"], multi["audio"])
    assert torch.equal(alone["label"], multi["label"])


def test_knobs_keep_the_scenes(small: dict[str, torch.Tensor]) -> None:
    """Changing a continuous knob changes only what it is about, not the latent scenes."""
    other = generate(dataclasses.replace(SMALL, sketch_abstraction=0.9), 64, seed=7)
    for key in ("rgb", "depth", "seg", "audio", "label"):
        assert torch.equal(other[key], small[key]), key
    assert not torch.equal(other["sketch"], small["sketch"])


# --- shapes, dtypes, ranges -------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        SMALL,
        WorldConfig(image_size=24, num_classes=12, n_mels=20, audio_frames=12, audio_seconds=0.2),
    ],
)
def test_shapes_dtypes_and_ranges(config: WorldConfig) -> None:
    n, s = 12, config.image_size
    out = generate(config, n, seed=1)
    assert list(out) == [*MODALITIES, "label"]
    expected = {
        "rgb": ((n, 3, s, s), torch.float32),
        "depth": ((n, 1, s, s), torch.float32),
        "seg": ((n, s, s), torch.int64),
        "sketch": ((n, 1, s, s), torch.float32),
        "audio": ((n, 1, config.n_mels, config.audio_frames), torch.float32),
        "text": ((n, TEXT_LENGTH), torch.int64),
        "label": ((n,), torch.int64),
    }
    for key, (shape, dtype) in expected.items():
        assert tuple(out[key].shape) == shape, key
        assert out[key].dtype == dtype, key
        assert out[key].device.type == "cpu"
        assert torch.isfinite(out[key].float()).all(), key
    for key in ("rgb", "depth", "sketch"):
        assert out[key].min() >= 0.0 and out[key].max() <= 1.0, key
    assert out["seg"].min() >= 0 and out["seg"].max() <= config.num_classes
    assert out["label"].min() >= 0 and out["label"].max() < config.num_classes
    # Every scene shows its object; audio is roughly standardised by the fixed affine map.
    assert ((out["seg"] > 0).flatten(1).any(dim=1)).all()
    assert -5.0 < out["audio"].mean() < 5.0


def test_labels_use_all_classes(small: dict[str, torch.Tensor]) -> None:
    labels = generate(SMALL, 512, seed=7, modalities=["audio"])["label"]
    counts = torch.bincount(labels, minlength=SMALL.num_classes)
    assert (counts > 512 / SMALL.num_classes / 3).all()


# --- pairing consistency ----------------------------------------------------------------------


@pytest.mark.parametrize("config", [SMALL, MULTI], ids=["single", "multi"])
def test_seg_depth_and_label_agree(config: WorldConfig) -> None:
    config = dataclasses.replace(config, depth_noise=0.0)
    out = generate(config, 64, seed=2, modalities=["depth", "seg"])
    depth, seg = out["depth"][:, 0], out["seg"]
    assert (depth > 0).all()  # nothing missing without noise
    assert torch.equal(seg > 0, depth > OBJECT_DEPTH_MIN)  # same ray hits
    counts = F.one_hot(seg.flatten(1), config.num_classes + 1).sum(dim=1)[:, 1:]
    assert torch.equal(counts.argmax(dim=1), out["label"])  # label = largest seg region


def test_multi_object_scenes_show_several_classes(multi: dict[str, torch.Tensor]) -> None:
    present = F.one_hot(multi["seg"].flatten(1), MULTI.num_classes + 1).sum(dim=1)[:, 1:] > 0
    assert (present.sum(dim=1) > 1).float().mean() > 0.8


def test_sketch_ink_lies_on_boundaries() -> None:
    config = WorldConfig(image_size=32, sketch_abstraction=0.0)
    out = generate(config, 64, seed=4, modalities=["seg", "sketch"])
    ink = out["sketch"][:, 0]
    band = F.max_pool2d(boundary(out["seg"]).float()[:, None], 3, 1, 1)[:, 0] > 0
    assert (ink * band).sum() / ink.sum() > 0.75
    density_ratio = ((ink * band).sum() / band.sum()) / ((ink * ~band).sum() / (~band).sum())
    assert density_ratio > 8.0


def test_depth_without_noise_is_exact_geometry() -> None:
    config = WorldConfig(image_size=16, depth_noise=0.0)
    depth = generate(config, 16, seed=5, modalities=["depth"])["depth"][:, 0]
    scene = sample_scene(config, chunk_size(config.image_size), _generator(5, 0, "latent"))
    geo = render_geometry(scene, config.image_size)
    z = torch.where(geo.slot >= 0, geo.z, wall_z(scene, geo))[:16]
    assert (depth - (Z_NEAR / z).clamp(1e-3, 1.0)).abs().max() < 1e-6


# --- knobs ------------------------------------------------------------------------------------


def test_depth_noise_knob() -> None:
    clean = generate(WorldConfig(image_size=16, depth_noise=0.0), 64, 3, ["depth"])["depth"]
    noisy = generate(WorldConfig(image_size=16, depth_noise=1.0), 64, 3, ["depth"])["depth"]
    assert (clean == 0).sum() == 0
    assert (noisy == 0).float().mean() > 0.03
    valid = noisy > 0
    assert (noisy[valid] - clean[valid]).abs().mean() > 1e-3


def test_sketch_abstraction_knob() -> None:
    faithful = generate(WorldConfig(image_size=16, sketch_abstraction=0.0), 64, 3, ["sketch"])
    abstract = generate(WorldConfig(image_size=16, sketch_abstraction=1.0), 64, 3, ["sketch"])
    a, b = faithful["sketch"], abstract["sketch"]
    assert (a - b).abs().mean() > 0.02
    assert b.sum() < 0.8 * a.sum()  # dropped strokes and no creases


def test_sketch_ruling_adds_lines_and_takes_nothing_away(small: dict[str, torch.Tensor]) -> None:
    """The ruling is superimposed linearly: (1 + r) * ruled - bare is exactly the lines, a
    grating constant down each column, of period size / 8 across, within [0, r]; everything
    else (the scenes, the other modalities, the drawing itself) is untouched."""
    for r in (0.5, 1.0):
        ruled = generate(dataclasses.replace(SMALL, sketch_ruling=r), 64, seed=7)
        for key in ("rgb", "depth", "seg", "audio", "label"):
            assert torch.equal(ruled[key], small[key]), key
        lines = (1.0 + r) * ruled["sketch"] - small["sketch"]
        assert torch.allclose(lines, lines[:, :, :1, :].expand_as(lines), atol=1e-5)
        period = SMALL.image_size // 8
        assert torch.allclose(lines, lines.roll(period, dims=-1), atol=1e-5)
        assert lines.min() > -1e-5 and lines.max() < r + 1e-5
        assert lines.amax(dim=(1, 2, 3)).min() > 0.5 * r  # every sample has lines
        phases = lines[:, 0, 0, 0]
        assert phases.std() > 0.1 * r  # drawn per sample, not one fixed pattern
    assert ruled["sketch"].min() >= 0.0 and ruled["sketch"].max() <= 1.0


def test_audio_snr_knob() -> None:
    quiet = generate(WorldConfig(image_size=8, audio_snr_db=40.0), 32, 3, ["audio"])["audio"]
    loud = generate(WorldConfig(image_size=8, audio_snr_db=-5.0), 32, 3, ["audio"])["audio"]
    # Noise fills the spectrogram's empty regions: higher floor, less contrast.
    assert loud.mean() > quiet.mean() + 1.0
    assert loud.std() < quiet.std()


def _colour_accuracy(ccc: float) -> float:
    """Nearest-centroid accuracy of the class from the object's mean chromaticity."""
    config = WorldConfig(image_size=16, colour_class_correlation=ccc)
    out = generate(config, 512, seed=11, modalities=["rgb", "seg"])
    fg = (out["seg"] > 0).float()[:, None]
    mean = (out["rgb"] * fg).sum(dim=(2, 3)) / fg.sum(dim=(2, 3))
    chroma = mean / mean.sum(dim=1, keepdim=True)
    y = out["label"]
    train, test = slice(0, 256), slice(256, None)
    centroids = torch.stack([chroma[train][y[train] == c].mean(0) for c in range(10)])
    pred = torch.cdist(chroma[test], centroids).argmin(dim=1)
    return (pred == y[test]).float().mean().item()


def test_colour_class_correlation_knob() -> None:
    assert _colour_accuracy(1.0) > 0.85
    assert _colour_accuracy(0.0) < 0.3


def test_colour_class_correlation_changes_rgb_only(small: dict[str, torch.Tensor]) -> None:
    """Its sweep holds the target fixed: every modality but RGB is bit-identical at any value,
    so only the teacher changes (README, "The theory tested where it can be isolated")."""
    for ccc in (0.0, 1.0):
        other = generate(dataclasses.replace(SMALL, colour_class_correlation=ccc), 64, seed=7)
        for key in ("depth", "seg", "sketch", "audio", "label"):
            assert torch.equal(other[key], small[key]), key
        assert not torch.equal(other["rgb"], small["rgb"])


def test_text_abstraction_changes_text_only(small: dict[str, torch.Tensor]) -> None:
    abstract = generate(dataclasses.replace(SMALL, text_abstraction=1.0), 64, seed=7)
    assert all(torch.equal(small[m], abstract[m]) for m in small if m != "text")
    assert not torch.equal(small["text"], abstract["text"])


def test_clutter_knob() -> None:
    plain = generate(WorldConfig(image_size=16, clutter=0.0), 32, 3, ["rgb", "seg"])
    busy = generate(WorldConfig(image_size=16, clutter=1.0), 32, 3, ["rgb", "seg"])
    bg = (plain["seg"] == 0)[:, None].expand_as(plain["rgb"])
    changed = (busy["rgb"][bg] - plain["rgb"][bg]).abs() > 0.01
    assert changed.float().mean() > 0.15
    assert torch.equal(busy["rgb"][~bg], plain["rgb"][~bg])


# --- geometry and features ----------------------------------------------------------------------


def _reference_sdf(cls: int, p: torch.Tensor, prm: list[float]) -> torch.Tensor:
    """Straightforward per-formula SDFs, to check the optimised in-place versions."""
    (x, y, z), (a, b, c), mx, r3 = p, prm, torch.maximum, math.sqrt(3) / 2

    def ln(*v: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(sum(t * t for t in v))

    def slabs(*q: torch.Tensor) -> torch.Tensor:
        return ln(*(t.clamp(min=0) for t in q)) + torch.stack(q).amax(0).clamp(max=0)

    k, rho, yc = 1.0 / math.sqrt(a**-2 + b**-2 + c**-2), ln(x, z), y + 0.375 * a
    u, v, w = x / a, y / b, z / c
    side = [rho, mx(x.abs(), z.abs())]
    formulas = {
        0: lambda: ln(x, y, z) - a,
        1: lambda: slabs(x.abs() - a, y.abs() - b, z.abs() - c),
        2: lambda: slabs(rho - a, y.abs() - b),
        4: lambda: ln(rho - a, y) - b,
        5: lambda: ln(x, (y.abs() - a).clamp(min=0), z) - b,
        6: lambda: (u.abs() + v.abs() + w.abs() - 1) * k,
        7: lambda: mx(
            mx(x.abs(), mx((x / 2 + r3 * z).abs(), (x / 2 - r3 * z).abs())) - a, y.abs() - b
        ),
        8: lambda: mx(mx(-y, r3 * x.abs() + 0.5 * y) - a, z.abs() - b),
        10: lambda: (torch.stack([-u - v - w, -u + v + w, u - v + w, u + v - w]).amax(0) - 1) * k,
        11: lambda: mx(ln(x, yc, z) - a, -yc),
    }
    for i, cone_like in ((3, side[0]), (9, side[1])):
        formulas[i] = lambda s=cone_like: mx(
            (s * 2 * b + (y - b) * a) / math.hypot(2 * b, a), -y - b
        )
    return formulas[cls]()


@pytest.mark.parametrize("cls", range(len(SHAPE_NAMES)))
def test_sdfs_match_reference_and_fit_their_bounds(cls: int) -> None:
    gen = torch.Generator().manual_seed(cls)
    for _ in range(3):
        prm = shape_params(torch.tensor([cls]), torch.rand(1, 3, generator=gen))[0]
        points = torch.rand(3, 4000, generator=gen) * 2.4 - 1.2
        got = evaluate(cls, points, prm[:, None].expand(3, 4000).contiguous())
        assert (got - _reference_sdf(cls, points, prm.tolist())).abs().max() < 2e-6
        inside = points[:, got <= 0]
        assert inside.shape[1] > 50
        assert torch.linalg.vector_norm(inside, dim=0).max() <= 0.96
        extent = half_extents(torch.tensor(cls), prm)
        assert (inside.abs() <= extent[:, None] + 1e-5).all()
        assert bounding_radius(torch.tensor(cls), prm) == pytest.approx(0.95, abs=1e-5)


def test_log_mel_matches_torchaudio_mel_spectrogram() -> None:
    config = WorldConfig()
    wave = torch.randn(4, config.audio_samples, generator=torch.Generator().manual_seed(0))
    hop = config.audio_samples // config.audio_frames
    reference = mel_transform(config.n_mels, hop)(wave)[..., : config.audio_frames]
    ours = log_mel(wave, config)[:, 0]
    expected = (torch.log(reference + audio._LOG_FLOOR) - audio._LOG_CENTER) / audio._LOG_SCALE
    assert ((ours - expected).abs() / (1.0 + expected.abs())).max() < 1e-4


# --- cache ------------------------------------------------------------------------------------


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_or_generate(SMALL, 8, 1, ["seg", "rgb"], tmp_path)
    files = sorted(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt"
    assert_same(first, generate(SMALL, 8, 1, ["seg", "rgb"]))

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("should have loaded from the cache")

    monkeypatch.setattr(cache_module, "generate", fail)
    second = load_or_generate(SMALL, 8, 1, ["rgb", "seg"], tmp_path)  # order does not matter
    assert list(second) == ["rgb", "seg", "label"]
    for key in first:
        assert torch.equal(first[key], second[key]), key
    monkeypatch.undo()

    load_or_generate(dataclasses.replace(SMALL, clutter=0.25), 8, 1, ["seg", "rgb"], tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.chdir(tmp_path)  # no cache: nothing written anywhere
    assert load_or_generate(SMALL, 4, 1, ["seg"], None)["seg"].shape[0] == 4
    assert len(list(tmp_path.iterdir())) == 2


def test_cache_key_covers_everything() -> None:
    base = cache_key(SMALL, 8, 1, ["rgb"])
    assert base == cache_key(SMALL, 8, 1, ("rgb", "rgb"))
    assert base == cache_key(dataclasses.replace(SMALL, clutter=0.5), 8, 1, ["rgb"])
    assert base == cache_key(dataclasses.replace(SMALL, depth_noise=0.5), 8, 1, ["rgb"])
    assert base != cache_key(dataclasses.replace(SMALL, depth_noise=0.4), 8, 1, ["rgb"])
    # A knob added since the generator version enters the key only when it is set, so the
    # files written before it existed are still found.
    assert base == cache_key(dataclasses.replace(SMALL, sketch_ruling=0), 8, 1, ["rgb"])
    assert base != cache_key(dataclasses.replace(SMALL, sketch_ruling=0.5), 8, 1, ["rgb"])
    assert base != cache_key(SMALL, 9, 1, ["rgb"])
    assert base != cache_key(SMALL, 8, 2, ["rgb"])
    assert base != cache_key(SMALL, 8, 1, ["rgb", "seg"])
    assert GENERATOR_VERSION


def test_failed_write_leaves_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_save(obj: object, fh: object) -> None:
        fh.write(b"partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        load_or_generate(SMALL, 4, 1, ["seg"], tmp_path)
    assert not list(tmp_path.iterdir())


def test_corrupt_cache_file_is_regenerated(tmp_path: Path) -> None:
    path = cache_module.cache_path(tmp_path, SMALL, 4, 1, ["seg"])
    path.write_bytes(b"not a torch file")
    out = load_or_generate(SMALL, 4, 1, ["seg"], tmp_path)
    assert torch.equal(out["seg"], generate(SMALL, 4, 1, ["seg"])["seg"])
    assert torch.equal(torch.load(path, weights_only=True)["seg"], out["seg"])


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image_size", 4),
        ("image_size", 32.0),
        ("num_classes", 13),
        ("min_objects", 0),
        ("max_objects", 7),
        ("sketch_abstraction", 1.5),
        ("depth_noise", -0.1),
        ("audio_snr_db", float("nan")),
        ("colour_class_correlation", 2),
        ("clutter", "high"),
        ("n_mels", 0),
        ("audio_frames", 1),
        ("audio_seconds", 10.0),
    ],
)
def test_config_validation_names_field_value_and_range(field: str, value: object) -> None:
    config = dataclasses.replace(WorldConfig(), **{field: value})
    with pytest.raises(ValueError) as info:
        config.validate()
    message = str(info.value)
    assert "\n" not in message
    assert field in message and repr(value) in message and "[" in message
    with pytest.raises(ValueError):
        generate(config, 1, 0)


def test_config_validation_of_relations() -> None:
    with pytest.raises(ValueError, match="max_objects=1"):
        WorldConfig(min_objects=2, max_objects=1).validate()
    with pytest.raises(ValueError, match="max_objects=4"):
        WorldConfig(num_classes=3, max_objects=4).validate()
    with pytest.raises(ValueError, match="audio_seconds"):
        WorldConfig(audio_frames=1000, audio_seconds=0.1).validate()
    WorldConfig().validate()
    WorldConfig(num_classes=12, min_objects=2, max_objects=6).validate()


def test_unknown_modality_is_named() -> None:
    with pytest.raises(ValueError, match="'thermal'") as info:
        generate(SMALL, 2, 0, modalities=["rgb", "thermal"])
    assert all(m in str(info.value) for m in MODALITIES)
    with pytest.raises(ValueError, match="thermal"):
        load_or_generate(SMALL, 2, 0, ["thermal"], None)


@pytest.mark.parametrize(("n", "start"), [(-1, 0), (2, -1), (1.5, 0)])
def test_bad_counts_are_rejected(n: object, start: int) -> None:
    with pytest.raises(ValueError):
        generate(SMALL, n, 0, start=start)  # type: ignore[arg-type]


def test_numpy_integer_counts_are_accepted(small: dict[str, torch.Tensor]) -> None:
    out = generate(SMALL, np.int64(3), np.int32(7), ["seg"], start=np.int64(1))
    assert torch.equal(out["seg"], small["seg"][1:4])


def test_empty_request() -> None:
    out = generate(SMALL, 0, seed=0, modalities=["seg", "audio"])
    assert out["seg"].shape == (0, 16, 16) and out["audio"].shape == (0, 1, 32, 32)
    assert out["label"].shape == (0,)


def test_measure_throughput_reports_every_stage() -> None:
    rates = measure_throughput(WorldConfig(image_size=8), n=8)
    assert set(rates) == {"latent", *MODALITIES, "all"}
    assert all(math.isfinite(r) and r > 0 for r in rates.values())


def test_public_api() -> None:
    assert MODALITIES == ("rgb", "depth", "seg", "sketch", "audio", "text")
    assert isinstance(GENERATOR_VERSION, str) and len(SHAPE_NAMES) >= 12
    names = "GENERATOR_VERSION MODALITIES WorldConfig generate load_or_generate measure_throughput"
    assert set(world.__all__) >= set(names.split())


def test_pose_variation_keeps_objects_upright_at_zero_and_draws_the_same_scenes() -> None:
    upright = sample_scene(WorldConfig(pose_variation=0.0), 32, torch.Generator().manual_seed(3))
    tilted = sample_scene(WorldConfig(pose_variation=1.0), 32, torch.Generator().manual_seed(3))
    up = torch.tensor([0.0, 1.0, 0.0])
    # At 0 the object's vertical axis stays vertical (only a spin about it).
    assert torch.allclose(upright.rot @ up, up.expand(32, 1, 3), atol=1e-5)
    assert not torch.allclose(tilted.rot @ up, up.expand(32, 1, 3), atol=1e-2)
    # The knob changes the pose only: every other latent draw is identical.
    assert torch.equal(upright.cls, tilted.cls) and torch.equal(upright.pos, tilted.pos)
    eye = torch.eye(3).expand(32, 1, 3, 3)
    assert torch.allclose(tilted.rot @ tilted.rot.transpose(-1, -2), eye, atol=1e-5)

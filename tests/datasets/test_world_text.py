"""The embedded world's text modality (datasets/world/text.py) and the sequence student
(benchmark/sequence.py): determinism, prefix stability, vocabulary bounds, the
abstraction knob's effect on a bag-of-words classifier, and the student's shapes and
gradients."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from benchmark.backbones import Backbone, build_backbone, is_sequence
from benchmark.datasets.world import WorldConfig, cache_key, generate
from benchmark.datasets.world.text import PAD, TEXT_LENGTH, VOCAB, VOCAB_SIZE, decode
from benchmark.errors import UserError
from benchmark.sequence import SEQUENCE_BACKBONES, SequenceBackbone

SMALL = WorldConfig(image_size=16)


def test_text_is_deterministic_and_prefix_stable() -> None:
    full = generate(SMALL, 300, seed=3, modalities=("text",))
    assert torch.equal(full["text"], generate(SMALL, 300, seed=3, modalities=("text",))["text"])
    assert torch.equal(full["text"][:40], generate(SMALL, 40, 3, ("text",))["text"])
    assert torch.equal(full["text"][123:200], generate(SMALL, 77, 3, ("text",), 123)["text"])
    with_audio = generate(SMALL, 300, seed=3, modalities=("audio", "text"))
    assert torch.equal(full["text"], with_audio["text"])  # other modalities draw elsewhere
    other = generate(SMALL, 300, seed=4, modalities=("text",))["text"]
    assert not torch.equal(full["text"], other)


def test_tokens_lie_in_the_vocabulary_and_describe_the_label() -> None:
    out = generate(WorldConfig(image_size=16, text_abstraction=0.0), 400, 1, ("text",))
    text, label = out["text"], out["label"]
    assert text.dtype == torch.int64 and text.shape == (400, TEXT_LENGTH)
    assert int(text.min()) >= 0 and int(text.max()) < VOCAB_SIZE == len(VOCAB)
    assert len(set(VOCAB)) == VOCAB_SIZE and VOCAB[PAD] == "<pad>"
    lengths = (text != PAD).sum(1)
    assert int(lengths.min()) >= 3  # the name and at least two distractors
    # Left-aligned: no word after a padding slot.
    assert torch.equal(text != PAD, torch.arange(TEXT_LENGTH)[None] < lengths[:, None])
    # At abstraction 0 the shape's name (one of its synonyms) is always written.
    from benchmark.datasets.world.text import _NAMES

    names = _NAMES[label]  # [n, 3]
    assert (text[:, :, None] == names[:, None, :]).any(dim=(1, 2)).all()
    assert decode(text[0]).split() and "<pad>" not in decode(text[0])


def _bow_accuracy(abstraction: float) -> float:
    """Test accuracy of a multinomial logistic regression on word counts (train 1,200,
    test 800), fitted the same way at every knob value."""
    config = WorldConfig(image_size=16, text_abstraction=abstraction)
    out = generate(config, 2000, seed=5, modalities=("text",))
    x = torch.zeros(2000, VOCAB_SIZE).scatter_add_(1, out["text"], torch.ones(2000, TEXT_LENGTH))
    x[:, PAD] = 0
    y = out["label"]
    torch.manual_seed(0)
    weights = torch.zeros(VOCAB_SIZE, config.num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([weights], max_iter=100)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x[:1200] @ weights, y[:1200]) + 1e-3 * weights.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return float(((x[1200:] @ weights).argmax(1) == y[1200:]).float().mean())


def test_abstraction_lowers_a_bag_of_words_accuracy_monotonically() -> None:
    accuracy = [_bow_accuracy(a) for a in (0.0, 0.5, 1.0)]
    assert accuracy[0] > accuracy[1] > accuracy[2], accuracy
    assert accuracy[0] > 0.9 and accuracy[2] > 0.2, accuracy  # cues stay above chance


def test_abstraction_keeps_cache_keys_at_its_default() -> None:
    """The knob enters a world cache key only away from its default, so files written
    before it existed are still found. (That it changes the text only, every other
    modality bit-identical, is tests/datasets/test_world.py's.)"""
    changed = WorldConfig(text_abstraction=1.0)
    assert cache_key(WorldConfig(), 10, 0, ["rgb"]) != cache_key(changed, 10, 0, ["rgb"])
    default = dataclasses.replace(changed, text_abstraction=0.5)
    assert cache_key(default, 10, 0, ["rgb"]) == cache_key(WorldConfig(), 10, 0, ["rgb"])


@pytest.mark.parametrize("name", sorted(SEQUENCE_BACKBONES))
def test_sequence_student_shapes_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    model = SequenceBackbone(name, vocab_size=VOCAB_SIZE)
    tokens = generate(SMALL, 8, 0, ("text",))["text"]
    tokens[0] = PAD  # an empty description still gives a finite embedding
    out = model(tokens)
    assert out.embedding.shape == (8, model.dim) and torch.isfinite(out.embedding).all()
    assert len(out.feature_maps) == len(model.channels) == 3
    for c, fmap in zip(model.channels, out.feature_maps, strict=True):
        assert fmap.shape == (8, c, TEXT_LENGTH, 1)
    (out.embedding.square().mean() + out.feature_maps[1].mean()).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["tokens.weight"][tokens[1]].abs().sum() > 0
    assert grads["tokens.weight"][PAD].abs().sum() == 0  # padding never learns
    with pytest.raises(ValueError, match="outside"):
        model(torch.full((1, 4), VOCAB_SIZE))


def test_the_backbone_is_chosen_by_the_input() -> None:
    tokens = torch.zeros(2, 5, dtype=torch.long)
    assert is_sequence(tokens) and not is_sequence(torch.zeros(2, 1, 8, 8))
    student = build_backbone("test_resnet", VOCAB_SIZE, sequence=True)
    assert isinstance(student, SequenceBackbone) and student.name == "text-transformer"
    assert build_backbone("text-cnn", VOCAB_SIZE, sequence=True).name == "text-cnn"
    assert isinstance(build_backbone("test_resnet", 1), Backbone)
    with pytest.raises(UserError, match="reads token sequences"):
        build_backbone("text-cnn", 3)


def test_the_knob_enters_only_text_tasks_hashes_and_not_at_its_default() -> None:
    from benchmark.config import resolve
    from benchmark.execution.plan import Cell, plan_cell

    def digest(task: str, **world: float) -> str:
        cfg = resolve("quick")
        cfg.world.update(world)
        return plan_cell(Cell(task, "kd", 0), cfg).hash

    for task in ("sketch-cls", "audio-cls"):
        assert digest(task) == digest(task, text_abstraction=0.9)
    assert digest("text-cls") != digest("text-cls", text_abstraction=0.9)
    assert digest("text-cls") == digest("text-cls", text_abstraction=0.5)
    assert digest("sketch-cls") != digest("sketch-cls", sketch_abstraction=0.9)


def test_a_sequence_backbone_for_an_image_task_stops_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmark.cli.main import main

    out = tmp_path / "out"
    argv = ["run", "--profile", "smoke", "--methods", "kd", "--out", str(out)]
    argv += ["--tasks", "sketch-cls,text-cls", "--set", "student.backbone=text-cnn"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sketch-cls's input is an image" in err
    assert not out.exists()

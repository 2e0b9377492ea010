"""Every registered method against the `Method` contract, on a tiny synthetic rig.

Parametrized over `list_methods()` × task kind, so a contributed method is checked
without editing this file. The rig is real code at toy size: a `test_resnet` student on
random 1-channel 32×32 inputs and a small `TaskModel` teacher on 3-channel inputs whose
outputs are computed *with* gradient tracking, so a method that forgets to treat the
teacher as a constant (or trains the teacher's head) shows up as teacher gradients.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import Tensor

from benchmark.backbones import Backbone, TaskModel
from benchmark.errors import UserError
from benchmark.method import (
    METHODS,
    Batch,
    Context,
    Method,
    Outputs,
    create_method,
    list_methods,
)

KINDS = ("classification", "segmentation")
NUM_CLASSES = 4  # segmentation: background included
NUM_PAIRS = 32
BATCH = 8
SIZE = 32
TEACHER_SHARPNESS = 5.0


@dataclass
class Rig:
    student: Backbone
    teacher: TaskModel
    method: Method
    ctx: Context
    x_source: Tensor
    x_target: Tensor
    index: Tensor

    def teacher_outputs(self) -> Outputs:
        """A live teacher forward with grad tracking; maps kept only if asked for, as the
        runner does."""
        out = self.teacher(self.x_source)
        if not type(self.method).uses_feature_maps:
            out.feature_maps = []
        return out

    def losses(self, method: Method | None = None) -> dict[str, Tensor]:
        method = method or self.method
        return method.losses(
            self.student(self.x_target), self.teacher_outputs(), Batch(index=self.index)
        )

    def optimiser(self) -> torch.optim.Optimizer:
        params = [*self.student.parameters(), *self.method.parameters()]
        return torch.optim.SGD([p for p in params if p.requires_grad], lr=0.02, momentum=0.9)

    def step(self, opt: torch.optim.Optimizer) -> dict[str, float]:
        terms = self.losses()
        opt.zero_grad(set_to_none=True)
        torch.stack(list(terms.values())).sum().backward()
        opt.step()
        return {k: v.item() for k, v in terms.items()}


def build(name: str, kind: str, seed: int = 0) -> Rig:
    torch.manual_seed(seed)
    teacher = TaskModel(Backbone("test_resnet", in_chans=3), NUM_CLASSES, kind).eval()
    with torch.no_grad():  # confident logits, as a trained teacher has, not near-uniform
        classify = teacher.head if kind == "classification" else teacher.head.classify
        classify.weight.mul_(TEACHER_SHARPNESS)
    student = Backbone("test_resnet", in_chans=1)
    ctx = Context(
        student_dim=student.dim,
        teacher_dim=teacher.backbone.dim,
        student_channels=student.channels,
        teacher_channels=teacher.backbone.channels,
        num_classes=NUM_CLASSES,
        num_pairs=NUM_PAIRS,
        task_kind=kind,
        teacher_head=teacher.head,
    )
    method = create_method(name)
    method.setup(ctx)
    student.train()
    method.train()
    data = torch.Generator().manual_seed(1234)
    return Rig(
        student=student,
        teacher=teacher,
        method=method,
        ctx=ctx,
        x_source=torch.randn(BATCH, 3, SIZE, SIZE, generator=data),
        x_target=torch.randn(BATCH, 1, SIZE, SIZE, generator=data),
        index=torch.randperm(NUM_PAIRS, generator=data)[:BATCH],
    )


def distilling(name: str) -> None:
    if not METHODS.get(name).distills:
        pytest.skip(f"'{name}' does not distill (no loss terms)")


methods = pytest.mark.parametrize("name", list_methods())
kinds = pytest.mark.parametrize("kind", KINDS)


@methods
@kinds
def test_losses_are_named_finite_scalars(name: str, kind: str) -> None:
    distilling(name)
    terms = build(name, kind).losses()
    assert terms, "a distilling method must return at least one loss term"
    for term, value in terms.items():
        assert isinstance(term, str) and isinstance(value, Tensor)
        assert value.dim() == 0, f"'{term}' must be a scalar, got shape {tuple(value.shape)}"
        assert math.isfinite(value.item()), f"'{term}' is {value.item()}"


@methods
@kinds
def test_gradients_reach_student_and_method_never_teacher(name: str, kind: str) -> None:
    distilling(name)
    rig = build(name, kind)
    head_before = {k: v.clone() for k, v in rig.teacher.head.state_dict().items()}
    torch.stack(list(rig.losses().values())).sum().backward()

    leaked = [n for n, p in rig.teacher.named_parameters() if p.grad is not None]
    assert not leaked, f"gradients reached the teacher: {leaked[:5]}"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in rig.student.parameters())
    missing = [n for n, p in rig.method.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"method parameters without gradients: {missing}"

    # The teacher's head is used, never owned: not in the method's parameters or state,
    # never switched to train mode, its batch-norm statistics untouched.
    teacher_storage = {t.data_ptr() for t in rig.teacher.state_dict().values()}
    owned = [k for k, t in rig.method.state_dict().items() if t.data_ptr() in teacher_storage]
    assert not owned, f"teacher tensors inside the method's state: {owned[:5]}"
    rig.method.train()
    assert not rig.teacher.head.training
    for key, value in rig.teacher.head.state_dict().items():
        assert torch.equal(value, head_before[key]), f"teacher head '{key}' changed"


def _frozen_state_loss(rig: Rig, buffers: dict[str, Tensor]) -> float:
    """The summed loss with the method's buffers (banks, queues, normalisers, sampler
    state) reset to `buffers`: the loss as a function of the trainable weights alone."""
    rig.method.load_state_dict(buffers, strict=False)
    torch.manual_seed(77)  # methods sampling from the global RNG draw the same numbers
    with torch.no_grad():
        return sum(v.item() for v in rig.losses().values())


@methods
@kinds
def test_loss_decreases_on_a_fixed_batch(name: str, kind: str) -> None:
    """Gradient steps on one batch lower the loss. Stateful methods change their own
    objective as they go (a memory bank follows the embeddings, a queue fills with the
    batch), so the state is held at its value after a first step (which lets methods
    initialise it, e.g. CRD's normaliser Z) and reset before every step: the objective is
    then stationary and must go down."""
    distilling(name)
    rig = build(name, kind)
    opt = rig.optimiser()
    rig.step(opt)
    buffers = {k: v.clone() for k, v in rig.method.named_buffers()}
    before = _frozen_state_loss(rig, buffers)
    for _ in range(8):
        rig.method.load_state_dict(buffers, strict=False)
        torch.manual_seed(77)
        rig.step(opt)
    after = _frozen_state_loss(rig, buffers)
    assert after < before, f"loss did not decrease: {before:.5f} → {after:.5f}"


@methods
@kinds
def test_same_seed_gives_identical_losses(name: str, kind: str) -> None:
    distilling(name)
    runs = []
    for _ in range(2):
        rig = build(name, kind, seed=3)
        opt = rig.optimiser()
        runs.append([rig.step(opt) for _ in range(3)])
    assert runs[0] == runs[1]


@methods
@kinds
def test_state_round_trips_through_a_checkpoint(name: str, kind: str, tmp_path: Path) -> None:
    distilling(name)
    rig = build(name, kind)
    opt = rig.optimiser()
    for _ in range(2):
        rig.step(opt)
    path = tmp_path / "method.pt"
    torch.save(rig.method.state_dict(), path)

    torch.manual_seed(999)  # a fresh instance with different random initial state
    fresh = create_method(name)
    fresh.setup(rig.ctx)
    fresh.train()
    fresh.load_state_dict(torch.load(path, weights_only=True))

    student_out, teacher_out = rig.student(rig.x_target), rig.teacher_outputs()
    batch = Batch(index=rig.index)
    torch.manual_seed(5)
    resumed = fresh.losses(student_out, teacher_out, batch)
    torch.manual_seed(5)
    original = rig.method.losses(student_out, teacher_out, batch)
    assert resumed.keys() == original.keys()
    for term in original:
        assert torch.equal(resumed[term], original[term]), term


def _out_of_range(name: str) -> list[tuple[str, object]]:
    """One rejected value per declared bound or choice list."""
    cases: list[tuple[str, object]] = []
    for pname, spec in METHODS.get(name).params.items():
        if spec.choices is not None:
            bad: object = "no-such-choice" if spec.kind is str else max(spec.choices, default=0) + 1
            cases.append((pname, bad))
            continue
        if spec.low is not None:
            cases.append((pname, spec.kind(spec.low - 1)))
        if spec.high is not None:
            cases.append((pname, spec.kind(spec.high + 1)))
    return cases


@methods
def test_hyperparameters_validate_and_reject_bad_values(name: str) -> None:
    cls = METHODS.get(name)
    method = create_method(name)
    assert set(method.hparams) == set(cls.params)
    for pname, spec in cls.params.items():
        assert spec.help, f"{name}.{pname} needs a help line"
        assert method.hparams[pname] == spec.default
    for pname, bad in _out_of_range(name):
        with pytest.raises(UserError, match=re.escape(f"{name}.{pname}=")):
            create_method(name, **{pname: bad})
    with pytest.raises(UserError, match=f"{re.escape(name)} has no parameter 'no_such_param'"):
        create_method(name, no_such_param=1)

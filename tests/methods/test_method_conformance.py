"""Every registered method against the `Method` contract, on a tiny synthetic rig.

Parametrized over the method registry × task kind, so a contributed method is checked
without editing this file (`XMD_TEST_METHODS=name` checks only that one:
tests/method_selection.py). The rig is real code at toy size: a `test_resnet` student on
random 1-channel 32×32 inputs and a small `TaskModel` teacher on 3-channel inputs whose
outputs are computed *with* gradient tracking, so a method that forgets to treat the
teacher as a constant (or trains the teacher's head) shows up as teacher gradients.

Each check is a function of (method name, task kind) that raises AssertionError with a
message naming the method, the loss term and what was expected; the tests at the bottom
call them on deliberately broken toy methods to show that they fail, and how. A NaN or
infinite loss fails as "non-finite loss term X of method Y" wherever it appears, before
any comparison (NaN == NaN is false, so it would otherwise read as nondeterminism).
"""

from __future__ import annotations

import math
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
)
from benchmark.params import param, unbounded
from benchmark.protocol.labelled import CE_TERM, labelled_params
from tests.method_selection import selected_methods

# One torch thread (conftest's `one_thread`): on a shared 2-core machine toy-sized steps
# run several times faster on one thread than on two; no check depends on the count.
pytestmark = pytest.mark.usefixtures("one_thread")

KINDS = ("classification", "segmentation")
NUM_CLASSES = 4  # segmentation: background included
NUM_PAIRS = 32
BATCH = 8
SIZE = 32
TEACHER_SHARPNESS = 5.0
DECREASE_STEPS = 8
SAME_SEED_STEPS = 3


@dataclass
class Rig:
    name: str
    kind: str
    student: Backbone
    teacher: TaskModel
    method: Method
    ctx: Context
    x_source: Tensor
    x_target: Tensor
    index: Tensor
    label: Tensor | None = None  # the labelled track's `Batch.label`

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
            self.student(self.x_target),
            self.teacher_outputs(),
            Batch(index=self.index, label=self.label),
        )

    def optimiser(self) -> torch.optim.Optimizer:
        params = [*self.student.parameters(), *self.method.parameters()]
        return torch.optim.SGD([p for p in params if p.requires_grad], lr=0.02, momentum=0.9)

    def step(self, opt: torch.optim.Optimizer, where: str) -> dict[str, float]:
        """One SGD step on the summed terms; their values, checked finite first."""
        terms = self.losses()
        values = {k: v.item() for k, v in terms.items()}
        assert_finite(self.name, self.kind, values, where)
        opt.zero_grad(set_to_none=True)
        torch.stack(list(terms.values())).sum().backward()
        opt.step()
        return values


def build(name: str, kind: str, seed: int = 0, labelled: bool = False) -> Rig:
    """The rig; `labelled` gives the batch labels and the method its labelled-track
    parameters, as the labelled track does (`benchmark.protocol.labelled`)."""
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
    cls = METHODS.get(name)
    method = cls(**labelled_params(cls, {})) if labelled else create_method(name)
    method.setup(ctx)
    student.train()
    method.train()
    data = torch.Generator().manual_seed(1234)
    shape = (BATCH,) if kind == "classification" else (BATCH, SIZE, SIZE)
    label = torch.randint(NUM_CLASSES, shape, generator=data) if labelled else None
    return Rig(
        name=name,
        kind=kind,
        student=student,
        teacher=teacher,
        method=method,
        ctx=ctx,
        x_source=torch.randn(BATCH, 3, SIZE, SIZE, generator=data),
        x_target=torch.randn(BATCH, 1, SIZE, SIZE, generator=data),
        index=torch.randperm(NUM_PAIRS, generator=data)[:BATCH],
        label=label,
    )


def assert_finite(name: str, kind: str, values: dict[str, float], where: str) -> None:
    """Every loss term is a finite number; the first one that is not, named."""
    for term, value in values.items():
        assert math.isfinite(value), (
            f"non-finite loss term '{term}' of method '{name}' ({kind}, {where}): {value}; "
            "expected a finite number"
        )


def _terms(terms: dict[str, Tensor]) -> str:
    return ", ".join(f"'{t}'" for t in terms) or "none"


def _terms_reaching(terms: dict[str, Tensor], params: list[tuple[str, Tensor]]) -> list[str]:
    """The loss terms whose gradient reaches any of `params` (a failure's diagnosis)."""
    tensors = [p for _, p in params if p.requires_grad]
    reaching = []
    for term, value in terms.items():
        if not value.requires_grad or not tensors:
            continue
        grads = torch.autograd.grad(value, tensors, retain_graph=True, allow_unused=True)
        if any(g is not None and bool(g.abs().sum() > 0) for g in grads):
            reaching.append(term)
    return reaching


def distilling(name: str) -> None:
    if not METHODS.get(name).distills:
        pytest.skip(f"'{name}' does not distill (no loss terms)")


# --- the checks -----------------------------------------------------------------------


def check_losses_are_named_finite_scalars(name: str, kind: str) -> None:
    terms = build(name, kind).losses()
    assert terms, f"method '{name}' ({kind}) returned no loss term; a distilling method needs one"
    for term, value in terms.items():
        assert isinstance(term, str) and isinstance(value, Tensor), (
            f"loss term {term!r} of method '{name}' ({kind}): expected a str name and a "
            f"Tensor, got {type(term).__name__} and {type(value).__name__}"
        )
        assert value.dim() == 0, (
            f"loss term '{term}' of method '{name}' ({kind}): expected a scalar, got shape "
            f"{tuple(value.shape)}"
        )
    assert_finite(name, kind, {t: v.item() for t, v in terms.items()}, "first batch")


def check_gradients_reach_student_and_method_never_teacher(name: str, kind: str) -> None:
    rig = build(name, kind)
    head_before = {k: v.clone() for k, v in rig.teacher.head.state_dict().items()}
    terms = rig.losses()
    assert_finite(name, kind, {t: v.item() for t, v in terms.items()}, "first batch")
    torch.stack(list(terms.values())).sum().backward(retain_graph=True)

    teacher = list(rig.teacher.named_parameters())
    leaked = [n for n, p in teacher if p.grad is not None]
    assert not leaked, (
        f"method '{name}' ({kind}): gradients reached the teacher's parameters {leaked[:5]} "
        f"through loss term(s) {_terms_reaching(terms, teacher) or _terms(terms)}; expected "
        "none (treat teacher outputs as constants: .detach())"
    )
    student = list(rig.student.named_parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for _, p in student), (
        f"method '{name}' ({kind}): no loss term ({_terms(terms)}) sends a nonzero gradient "
        "to the student; expected at least one"
    )
    missing = [n for n, p in rig.method.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, (
        f"method '{name}' ({kind}): its parameters {missing} get no gradient from any loss "
        f"term ({_terms(terms)}); expected every trainable parameter of the method to be "
        "used (else make it a buffer or requires_grad=False)"
    )

    # The teacher's head is used, never owned: not in the method's parameters or state,
    # never switched to train mode, its batch-norm statistics untouched.
    teacher_storage = {t.data_ptr() for t in rig.teacher.state_dict().values()}
    owned = [k for k, t in rig.method.state_dict().items() if t.data_ptr() in teacher_storage]
    assert not owned, (
        f"method '{name}' ({kind}) holds teacher tensors in its state: {owned[:5]}; expected "
        "teacher_head kept as a plain reference, not a submodule"
    )
    rig.method.train()
    assert not rig.teacher.head.training, (
        f"method '{name}' ({kind}): method.train() put the teacher's head in train mode; "
        "expected it left in eval mode (keep teacher_head outside the module tree)"
    )
    for key, value in rig.teacher.head.state_dict().items():
        assert torch.equal(value, head_before[key]), (
            f"method '{name}' ({kind}) changed the teacher head's '{key}'; expected it untouched"
        )


def _frozen_state_losses(rig: Rig, buffers: dict[str, Tensor]) -> dict[str, float]:
    """The loss terms with the method's buffers (banks, queues, normalisers, sampler
    state) reset to `buffers`: the loss as a function of the trainable weights alone."""
    rig.method.load_state_dict(buffers, strict=False)
    torch.manual_seed(77)  # methods sampling from the global RNG draw the same numbers
    with torch.no_grad():
        return {k: v.item() for k, v in rig.losses().items()}


def check_loss_decreases_on_a_fixed_batch(name: str, kind: str) -> None:
    rig = build(name, kind)
    opt = rig.optimiser()
    rig.step(opt, "first SGD step")
    buffers = {k: v.clone() for k, v in rig.method.named_buffers()}
    before = _frozen_state_losses(rig, buffers)
    assert_finite(name, kind, before, "after the first SGD step")
    for step in range(DECREASE_STEPS):
        rig.method.load_state_dict(buffers, strict=False)
        torch.manual_seed(77)
        rig.step(opt, f"SGD step {step + 2} on a fixed batch")
    after = _frozen_state_losses(rig, buffers)
    assert_finite(name, kind, after, f"after {DECREASE_STEPS} more SGD steps")
    total_before, total_after = sum(before.values()), sum(after.values())
    per_term = ", ".join(f"'{t}' {before[t]:.5f} → {after.get(t, math.nan):.5f}" for t in before)
    assert total_after < total_before, (
        f"summed loss of method '{name}' ({kind}) did not decrease in {DECREASE_STEPS} SGD "
        f"steps on a fixed batch: {total_before:.5f} → {total_after:.5f} ({per_term}); "
        "expected it lower"
    )


def check_same_seed_gives_identical_losses(name: str, kind: str) -> None:
    runs: list[list[dict[str, float]]] = []
    for run in range(2):
        rig = build(name, kind, seed=3)
        opt = rig.optimiser()
        runs.append(
            [rig.step(opt, f"seed 3, run {run + 1}, step {i}") for i in range(SAME_SEED_STEPS)]
        )
    for step, (first, second) in enumerate(zip(*runs, strict=True)):
        assert first.keys() == second.keys(), (
            f"method '{name}' ({kind}) returned loss terms {list(first)} and then "
            f"{list(second)} at step {step} of two runs with seed 3; expected the same terms"
        )
        for term in first:
            assert first[term] == second[term], (
                f"loss term '{term}' of method '{name}' ({kind}) is not reproducible: "
                f"{first[term]!r} and {second[term]!r} at step {step} of two runs with seed 3; "
                "expected identical values (draw randomness from torch's RNG, or a generator "
                "whose state is in a buffer)"
            )


def check_state_round_trips_through_a_checkpoint(name: str, kind: str, tmp_path: Path) -> None:
    rig = build(name, kind)
    opt = rig.optimiser()
    for step in range(2):
        rig.step(opt, f"step {step} before the checkpoint")
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
    assert_finite(name, kind, {t: v.item() for t, v in original.items()}, "after 2 steps")
    assert_finite(name, kind, {t: v.item() for t, v in resumed.items()}, "after a reload")
    assert resumed.keys() == original.keys(), (
        f"method '{name}' ({kind}) returned loss terms {list(resumed)} after a checkpoint "
        f"round trip and {list(original)} without one; expected the same terms"
    )
    for term in original:
        assert torch.equal(resumed[term], original[term]), (
            f"loss term '{term}' of method '{name}' ({kind}) differs after a checkpoint round "
            f"trip: {resumed[term].item()!r} vs {original[term].item()!r}; expected identical "
            "(keep state that must survive, banks, queues, running estimates, in registered "
            "buffers)"
        )


def check_labelled_batch(name: str, kind: str) -> None:
    """With `Batch.label` set (the labelled track, at the method's labelled parameters):
    finite scalar terms, none named as the track's own cross-entropy, gradients to the
    student and never to the teacher, and the same terms from the same seed."""
    values = []
    for _ in range(2):
        rig = build(name, kind, seed=3, labelled=True)
        terms = rig.losses()
        values.append({t: v.item() for t, v in terms.items()})
    assert_finite(name, kind, values[0], "labelled batch")
    assert terms and all(v.dim() == 0 for v in terms.values()), (
        f"method '{name}' ({kind}) with labels: expected scalar loss terms, got {_terms(terms)}"
    )
    assert CE_TERM not in terms, (
        f"method '{name}' ({kind}) returned a '{CE_TERM}' term with labels given; expected "
        "none (the labelled track adds the cross-entropy on the student's head itself)"
    )
    assert values[0] == values[1], (
        f"method '{name}' ({kind}) with labels: two runs with seed 3 gave {values[0]} and "
        f"{values[1]}; expected identical terms"
    )
    torch.stack(list(terms.values())).sum().backward()
    leaked = [n for n, p in rig.teacher.named_parameters() if p.grad is not None]
    assert not leaked, f"method '{name}' ({kind}) with labels: teacher gradients {leaked[:5]}"
    assert any(p.grad is not None for p in rig.student.parameters()), (
        f"method '{name}' ({kind}) with labels: no gradient reaches the student"
    )


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


def _rejects(name: str, values: dict[str, object], expected: str) -> None:
    """`create_method(name, **values)` raises a UserError whose message holds `expected`."""
    shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
    try:
        create_method(name, **values)
    except UserError as err:
        assert expected in str(err), (
            f"method '{name}' rejected {shown} with {str(err)!r}; expected a message naming "
            f"{expected!r}"
        )
    else:
        raise AssertionError(f"method '{name}' accepted {shown}; expected a UserError")


def check_hyperparameters_validate_and_reject_bad_values(name: str) -> None:
    cls = METHODS.get(name)
    method = create_method(name)
    assert set(method.hparams) == set(cls.params), (
        f"method '{name}' resolved hyperparameters {sorted(method.hparams)}; expected its "
        f"declared {sorted(cls.params)}"
    )
    for pname, spec in cls.params.items():
        assert spec.help, f"{name}.{pname} needs a help line"
        assert method.hparams[pname] == spec.default, (
            f"{name}.{pname} resolved to {method.hparams[pname]!r}; expected its default "
            f"{spec.default!r}"
        )
    for pname, bad in _out_of_range(name):
        _rejects(name, {pname: bad}, f"{name}.{pname}=")
    _rejects(name, {"no_such_param": 1}, f"{name} has no parameter 'no_such_param'")


def check_numeric_hyperparameters_are_bounded(cls: type[Method]) -> None:
    """Every int or float `param(...)` declares `low`, `high` or `choices`: else any value
    passes validation (a negative loss weight would train and exit 0)."""
    problems = unbounded(cls.params, cls.name or cls.__name__)
    assert not problems, f"method '{cls.name}': " + "; ".join(problems)


# --- every registered method ----------------------------------------------------------

methods = pytest.mark.parametrize("name", selected_methods())
kinds = pytest.mark.parametrize("kind", KINDS)


@methods
@kinds
def test_losses_are_named_finite_scalars(name: str, kind: str) -> None:
    distilling(name)
    check_losses_are_named_finite_scalars(name, kind)


@methods
@kinds
def test_gradients_reach_student_and_method_never_teacher(name: str, kind: str) -> None:
    distilling(name)
    check_gradients_reach_student_and_method_never_teacher(name, kind)


@methods
@kinds
def test_loss_decreases_on_a_fixed_batch(name: str, kind: str) -> None:
    """Gradient steps on one batch lower the loss. Stateful methods change their own
    objective as they go (a memory bank follows the embeddings, a queue fills with the
    batch), so the state is held at its value after a first step (which lets methods
    initialise it, e.g. CRD's normaliser Z) and reset before every step: the objective is
    then stationary and must go down."""
    distilling(name)
    check_loss_decreases_on_a_fixed_batch(name, kind)


@methods
@kinds
def test_same_seed_gives_identical_losses(name: str, kind: str) -> None:
    distilling(name)
    check_same_seed_gives_identical_losses(name, kind)


@methods
@kinds
def test_state_round_trips_through_a_checkpoint(name: str, kind: str, tmp_path: Path) -> None:
    distilling(name)
    check_state_round_trips_through_a_checkpoint(name, kind, tmp_path)


@methods
@kinds
def test_a_labelled_batch_keeps_the_contract(name: str, kind: str) -> None:
    distilling(name)
    check_labelled_batch(name, kind)


@methods
def test_hyperparameters_validate_and_reject_bad_values(name: str) -> None:
    check_hyperparameters_validate_and_reject_bad_values(name)


@methods
def test_numeric_hyperparameters_declare_bounds(name: str) -> None:
    check_numeric_hyperparameters_are_bounded(METHODS.get(name))


# --- the checks bite: deliberately broken toy methods ---------------------------------


class _Unbounded(Method):
    """A weight with no bounds: `--set unbounded-toy.weight=-1` would be accepted."""

    name = "unbounded-toy"
    weight: float = param(1.0, help="scale of the loss")
    steps: int = param(3, help="an int with no bounds either")
    bounded: float = param(0.5, low=0.0, help="this one is fine")
    flag: bool = param(False, help="bools need no bounds")

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        return {"toy": self.weight * student.embedding.pow(2).mean()}


def test_an_unbounded_numeric_parameter_fails_the_bound_check() -> None:
    with pytest.raises(AssertionError) as failure:
        check_numeric_hyperparameters_are_bounded(_Unbounded)
    message = str(failure.value)
    assert "unbounded-toy.weight (float, default 1.0) declares no bounds" in message
    assert "unbounded-toy.steps (int, default 3) declares no bounds" in message
    assert "unbounded-toy.bounded" not in message and "unbounded-toy.flag" not in message
    assert _Unbounded(weight=-1.0).weight == -1.0  # what the check exists to prevent


class _LateNaN(Method):
    """Finite on its first two calls in training, NaN from the third on: the first-batch
    check passes it, and two same-seed runs then agree on everything except NaN == NaN."""

    name = "late-nan"

    def setup(self, ctx: Context) -> None:
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        value = student.embedding.pow(2).mean()
        if self.training:
            self.calls += 1
        if self.calls > 2:
            value = value * math.nan
        return {"boom": value, "fine": student.embedding.abs().mean()}


@pytest.fixture
def late_nan(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(METHODS._entries, _LateNaN.name, _LateNaN)
    return _LateNaN.name


def test_a_late_nan_fails_as_non_finite_not_as_nondeterminism(late_nan: str) -> None:
    check_losses_are_named_finite_scalars(late_nan, "classification")  # finite at first
    expected = r"non-finite loss term 'boom' of method 'late-nan' \(classification, seed 3"
    with pytest.raises(AssertionError, match=expected):
        check_same_seed_gives_identical_losses(late_nan, "classification")


def _nan_at_once(self: Method, ctx: Context) -> None:
    self.register_buffer("calls", torch.full((), 10, dtype=torch.long))


def test_a_nan_from_the_start_fails_every_loss_check(
    late_nan: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_LateNaN, "setup", _nan_at_once)
    expected = "non-finite loss term 'boom' of method 'late-nan'"
    for check in (
        check_losses_are_named_finite_scalars,
        check_gradients_reach_student_and_method_never_teacher,
        check_loss_decreases_on_a_fixed_batch,
        check_same_seed_gives_identical_losses,
    ):
        with pytest.raises(AssertionError, match=expected):
            check(late_nan, "segmentation")
    with pytest.raises(AssertionError, match=expected):
        check_state_round_trips_through_a_checkpoint(late_nan, "segmentation", tmp_path)


class _LeaksIntoTeacher(Method):
    """Pulls the student towards a teacher embedding it forgot to detach."""

    name = "leaky-toy"

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        gap = student.embedding.mean() - teacher.embedding.mean()
        return {"honest": student.embedding.pow(2).mean(), "leak": gap.pow(2)}


class _IgnoresStudent(Method):
    """A loss of its own head alone: nothing reaches the student."""

    name = "deaf-toy"

    def setup(self, ctx: Context) -> None:
        self.head = torch.nn.Linear(ctx.teacher_dim, 1)

    def losses(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        return {"own": self.head(teacher.embedding.detach()).pow(2).mean()}


def test_the_gradient_check_names_the_method_and_the_term(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for cls in (_LeaksIntoTeacher, _IgnoresStudent):
        monkeypatch.setitem(METHODS._entries, cls.name, cls)
    with pytest.raises(AssertionError) as leak:
        check_gradients_reach_student_and_method_never_teacher("leaky-toy", "classification")
    assert "method 'leaky-toy' (classification): gradients reached the teacher" in str(leak.value)
    assert "through loss term(s) ['leak']" in str(leak.value)
    with pytest.raises(AssertionError, match=r"method 'deaf-toy' \(classification\): no loss"):
        check_gradients_reach_student_and_method_never_teacher("deaf-toy", "classification")

"""The labelled track: cross-entropy plus distillation on the labelled pairs, the ground
truth in dkd/dist/c2kd's reference forms, labels kept out of the other two tracks, every
method run (or not applicable) in it, and its cells, hashes and board section."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from benchmark.backbones import Backbone, TaskModel, class_head
from benchmark.cli.main import main
from benchmark.config import DistillConfig, RunConfig
from benchmark.execution.plan import Cell, plan_cell
from benchmark.execution.runner import CellRunner
from benchmark.method import METHODS, Batch, Context, Method, Outputs, create_method
from benchmark.methods.c2kd import c2kd_terms
from benchmark.methods.kd import kd_loss
from benchmark.protocol.labelled import (
    CE_TERM,
    ce_weight,
    labelled_params,
    labelled_terms,
    share_head,
    train_labelled,
)
from benchmark.protocol.loop import LoopSettings
from benchmark.protocol.training import fit
from benchmark.results.leaderboard import render
from benchmark.results.records import NOT_APPLICABLE, REFERENCE, read_records
from benchmark.tracks import LABEL_FREE, LABELLED, SUPERVISED
from tests.execution.test_runner import check_curves
from tests.method_selection import selected_methods
from tests.methods.test_equations_logit import (
    K,
    c2kd_rows,
    close,
    context,
    hunto_kd_loss_total,
    huo_c2kd_frozen_teacher,
    logits_pair,
    mdistiller_forward_train,
)
from tests.protocol.test_checkpoint_resume import _KillAfter, _Killed

pytestmark = pytest.mark.usefixtures("one_thread")

# Ground truth that disagrees with the teacher's argmax on most rows of logits_pair's z_t.
LABELS = torch.tensor([0, 1, 2, 3, 4, 0])


def labelled(name: str, **values: object) -> Method:
    cls = METHODS.get(name)
    return cls(**labelled_params(cls, dict(values)))


def toy(kind: str = "classification") -> tuple[Backbone, Context]:
    torch.manual_seed(0)
    student = Backbone("test_resnet", in_chans=1)
    ctx = Context(
        student_dim=student.dim,
        teacher_dim=student.dim,
        student_channels=student.channels,
        teacher_channels=student.channels,
        num_classes=4,
        num_pairs=16,
        task_kind=kind,
    )
    return student, ctx


# --- CE + distillation ------------------------------------------------------------------


def test_the_loss_is_the_cross_entropy_when_the_method_weight_is_zero() -> None:
    """kd at weight 0: the terms add up to γ·CE on the head; at its labelled weight the kd
    term is 0.9·T²·KL on the same head's logits (RepDistiller's -r 0.1 -a 0.9)."""
    student, ctx = toy()
    x, y = torch.randn(8, 1, 32, 32), torch.randint(4, (8,))
    t_logits = 3.0 * torch.randn(8, 4)
    for weight in (0.0, 0.9):
        method = labelled("kd", weight=weight)
        method.setup(ctx)
        head = class_head(ctx)
        share_head(method, head)
        assert method.head is head
        out = student(x)
        gamma = ce_weight(type(method), method.hparams)
        terms = labelled_terms(
            out, head, method, Outputs(out.embedding, logits=t_logits), Batch(None, label=y), gamma
        )
        ce = F.cross_entropy(head(out.embedding), y)
        assert gamma == 0.1 and set(terms) == {CE_TERM, "kd"}
        assert torch.allclose(terms[CE_TERM], 0.1 * ce)
        kd = weight * kd_loss(head(out.embedding), t_logits, 4.0)
        assert torch.allclose(terms["kd"], kd) and (weight > 0 or terms["kd"] == 0)
        total = sum(terms.values())
        assert torch.allclose(total, 0.1 * ce + kd)


@pytest.mark.parametrize("kind", ["classification", "segmentation"])
def test_scratch_is_a_plain_supervised_run(kind: str) -> None:
    """`scratch` in the track trains backbone and head exactly as `fit` trains a TaskModel
    on the pairs with the distillation schedule and stream: the same weights, bit for bit."""
    student, ctx = toy(kind)
    shape = (16,) if kind == "classification" else (16, 32, 32)
    x, y = torch.randn(16, 1, 32, 32), torch.randint(4, shape)
    head = class_head(ctx)
    model = TaskModel(copy.deepcopy(student), 4, kind)
    assert model.head is not None
    model.head.load_state_dict(head.state_dict())
    cfg = DistillConfig(epochs=2, batch_size=8)
    losses = train_labelled(student, head, create_method("scratch"), None, x, y, cfg, 3, 1.0)
    assert set(losses) == {CE_TERM}
    loop = LoopSettings(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay)
    fit(model, x, y, loop, seed=3, stream="distill")
    mine = {**student.state_dict(), **{f"head.{k}": v for k, v in head.state_dict().items()}}
    plain = {**model.backbone.state_dict()}
    plain.update({f"head.{k}": v for k, v in model.head.state_dict().items()})
    assert mine.keys() == plain.keys()
    assert all(torch.equal(mine[k], plain[k]) for k in mine)


# --- ground truth in the reference forms --------------------------------------------------


def _logit_method(name: str) -> tuple[Method, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    method = labelled(name)
    method.setup(context())
    method.double()
    return method, torch.randn(6, 6, dtype=torch.float64), logits_pair(1)[1]


def test_dkd_with_labels_is_mdistillers_forward_train() -> None:
    method, e_s, z_t = _logit_method("dkd")
    assert bool((z_t.argmax(1) != LABELS).any())
    batch = Batch(None, label=LABELS)
    terms = labelled_terms(Outputs(e_s), method.head, method, Outputs(e_s, logits=z_t), batch, 1.0)
    assert set(terms) == {CE_TERM, "tckd", "nckd"}
    assert close(sum(terms.values()), mdistiller_forward_train(method.head(e_s), z_t, LABELS, 1, 1))
    argmax = mdistiller_forward_train(method.head(e_s), z_t, z_t.argmax(1), 1, 1)
    assert not close(sum(terms.values()), argmax)


def test_dist_with_labels_is_the_references_kd_loss() -> None:
    method, e_s, z_t = _logit_method("dist")
    batch = Batch(None, label=LABELS)
    gamma = ce_weight(type(method), method.hparams)
    terms = labelled_terms(
        Outputs(e_s), method.head, method, Outputs(e_s, logits=z_t), batch, gamma
    )
    assert gamma == 1.0 and set(terms) == {CE_TERM, "inter", "intra"}
    assert close(sum(terms.values()), hunto_kd_loss_total(method.head(e_s), z_t, LABELS))


@pytest.mark.parametrize("krc", [0.0, 0.3])
def test_c2kd_with_labels_is_the_references_loop(krc: float) -> None:
    """The label in the cross-entropy and in OFSD's non-target softmax (huofushuo/C2KD,
    `train_network_distill` with its `labels`), not the teacher's argmax."""
    z_s, r_s, r_t, z_t = c2kd_rows(12)
    labels = torch.arange(len(z_s)) % K
    assert bool((z_t.argmax(1) != labels).any())
    total = sum(c2kd_terms(z_s, r_s, r_t, z_t, krc, "zeroed", labels).values())
    expected = huo_c2kd_frozen_teacher(z_s, r_t, r_s, z_t, labels, krc)
    assert close(total, expected)
    argmax = huo_c2kd_frozen_teacher(z_s, r_t, r_s, z_t, z_t.detach().argmax(1), krc)
    assert not close(total, argmax)


def test_c2kd_method_leaves_the_cross_entropy_to_the_track() -> None:
    torch.manual_seed(0)
    method = labelled("c2kd")
    method.setup(context())
    g = torch.Generator().manual_seed(2)
    student = Outputs(torch.randn(6, 6), [torch.randn(6, 3, 4, 4, generator=g)])
    teacher = Outputs(torch.randn(6, 7), [torch.randn(6, 4, 4, 4, generator=g)], logits_pair(3)[1])
    teacher.logits = teacher.logits.float()  # type: ignore[union-attr]
    assert "ce" in method.losses(student, teacher, Batch(None))
    assert "ce" not in method.losses(student, teacher, Batch(None, label=LABELS))


# --- the track in the harness ------------------------------------------------------------


def test_labelled_cells_hash_apart_and_leave_the_others_as_they_were(smoke: RunConfig) -> None:
    plain = plan_cell(Cell("sketch-cls", "kd", 0), smoke).payload
    assert "track" not in plain and "labelled" not in plain
    labelled = plan_cell(Cell("sketch-cls", "kd", 0, LABELLED), smoke).payload
    assert labelled["track"] == LABELLED and labelled["labelled"] == {"ce_weight": 0.1}
    assert labelled["method"]["params"]["weight"] == 0.9
    assert plain["method"]["params"]["weight"] == 1.0
    assert set(labelled["eval"]) == {"probe_steps", "probe_weight_decay"}
    assert labelled["teacher"] == plain["teacher"]  # the supervised teacher
    ref = plan_cell(Cell("sketch-cls", REFERENCE, 0, LABELLED), smoke).payload
    assert ref["track"] == LABELLED
    user = dataclasses.replace(smoke, methods={"kd": {"weight": 0.5}})
    assert plan_cell(Cell("sketch-cls", "kd", 0, LABELLED), user).payload["method"]["params"] == {
        "weight": 0.5,
        "temperature": 4.0,
    }


class _Spy:
    """Wraps every registered method's `losses` to note whether a label arrived."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[bool] = []
        for cls in {METHODS.get(n) for n in METHODS.names()}:
            original = cls.losses

            def spy(self_: Method, s: Outputs, t: Outputs, b: Batch, _f=original) -> dict:
                self.seen.append(b.label is not None)
                return _f(self_, s, t, b)

            monkeypatch.setattr(cls, "losses", spy)


def test_labels_never_reach_a_method_in_the_other_tracks(
    smoke: RunConfig, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Poisoned paired labels leave every supervised and label-free method record as it
    was, and no method's `losses` is handed a label there; the labelled track hands them."""
    spy = _Spy(monkeypatch)
    cells = [plan_cell(Cell("sketch-cls", m, 0), smoke) for m in ("dkd", "l2")] + [
        plan_cell(Cell("sketch-cls", "l2", 0, LABEL_FREE), smoke)
    ]
    runner = CellRunner(smoke, cache_dir, torch.device("cpu"))
    clean = [runner.run(c) for c in cells]
    data = runner.data(cells[0])
    assert data.paired.labels is not None
    poisoned = dataclasses.replace(
        data,
        paired=dataclasses.replace(
            data.paired, labels=torch.randint(0, 50, data.paired.labels.shape)
        ),
    )
    again = CellRunner(smoke, cache_dir, torch.device("cpu"))
    again._data = (("sketch-cls", 0), poisoned)
    dirty = [again.run(c) for c in cells]
    assert spy.seen and not any(spy.seen)
    for a, b in zip(clean, dirty, strict=True):
        assert a.ok and b.ok, (a.reason, b.reason)
        assert (a.metrics, a.losses, a.outcomes) == (b.metrics, b.losses, b.outcomes)
    # The labelled track does read them: out-of-range labels fail its cross-entropy.
    labelled_l2 = plan_cell(Cell("sketch-cls", "l2", 0, LABELLED), smoke)
    assert "IndexError" in again.run(labelled_l2).reason
    assert runner.run(labelled_l2).ok and all(spy.seen[-3:])


@pytest.mark.parametrize("method", selected_methods())
@pytest.mark.parametrize("task", ["sketch-cls", "depth-seg"])
def test_every_method_runs_in_the_labelled_track(
    method: str, task: str, smoke: RunConfig, cache_dir: Path
) -> None:
    """Every method runs on both task kinds, or is not applicable with its reason."""
    cell = plan_cell(Cell(task, method, 0, LABELLED), smoke)
    record = CellRunner(smoke, cache_dir, torch.device("cpu")).run(cell)
    assert record.track == LABELLED
    if record.status == NOT_APPLICABLE:
        assert record.reason
        return
    assert record.status == "ok", record.reason
    primary = "acc" if task == "sketch-cls" else "miou"
    assert 0.0 <= record.metrics[f"head_{primary}"] <= 1.0
    assert 0.0 <= record.metrics[f"probe_{primary}"] <= 1.0
    assert not any(k.startswith("finetune") for k in record.metrics)
    assert set(record.outcomes) == {"head", "probe"}
    assert CE_TERM in record.losses
    check_curves(record, f"method '{method}' on {task}, labelled")


def test_bench_run_tracks_labelled(tmp_path: Path) -> None:
    """`bench run --tracks labelled` end to end: its records, the board's section, the
    student's own head ranked, and a re-run that runs nothing."""
    out = tmp_path / "out"
    argv = ["run", "--methods", "scratch,kd", "--tasks", "sketch-cls", "--seeds", "1"]
    argv += ["--profile", "smoke", "--tracks", LABELLED, "--out", str(out)]
    assert main(argv) == 0
    records = read_records(out)
    assert {(r.track, r.method) for r in records} == {
        (LABELLED, m) for m in (REFERENCE, "scratch", "kd")
    }
    assert all(r.ok for r in records)
    board = render(records, "x")
    assert "# Labelled track" in board and "## sketch-cls · labelled" in board
    assert "| head_acc (%) |" in board and "scratch (labelled pairs)" in board
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")}
    assert main(argv) == 0
    assert before == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")}
    assert SUPERVISED not in {r.track for r in read_records(out)}


def test_a_killed_labelled_cell_resumes_to_the_same_record(
    smoke: RunConfig, cache_dir: Path, tmp_path: Path
) -> None:
    """kd's head is the track's head (in the checkpoint under both names): killed after 2
    of 4 epochs, the cell resumes in a fresh runner to the uninterrupted record."""
    longer = dataclasses.replace(smoke, distill=dataclasses.replace(smoke.distill, epochs=4))
    cell = plan_cell(Cell("sketch-cls", "kd", 0, LABELLED), longer)
    whole = CellRunner(longer, cache_dir, torch.device("cpu"), out=tmp_path / "whole").run(cell)
    assert whole.ok, whole.reason
    out = tmp_path / "killed"
    with pytest.raises(_Killed):
        CellRunner(longer, cache_dir, torch.device("cpu"), _KillAfter("train", 2), out=out).run(
            cell
        )
    torch.manual_seed(12345)
    resumed = CellRunner(longer, cache_dir, torch.device("cpu"), out=out).run(cell)
    assert resumed.config["run"]["resumed_epoch"] == 2
    assert (resumed.metrics, resumed.losses) == (whole.metrics, whole.losses)
    assert resumed.curves == whole.curves and len(whole.curves["distill"]["lr"]) == 4

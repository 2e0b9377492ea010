"""CPU hours per real-data cell at the `paper` profile, from rates measured here.

    python scripts/paper_estimate.py [--steps N]

The paper profile is meant for GPUs; these figures size `--slurm-time` on a CPU-only
cluster and show which cells are heavy. For each real task, at that task's paper settings
(`resolve("paper").for_task(task)`: image size, backbones, batch sizes, epochs), it
measures on this machine, with random inputs of the task's shapes (speed does not depend
on pixel values):

- training samples/s (forward, cross-entropy, backward, SGD step) of the teacher on the
  source and of the student on the target, at the recipe's batch sizes;
- inference samples/s (batched forward, no gradients) of both;

then multiplies by what a cell processes, with each split at the paper profile's cap or
the published dataset's size when smaller (`RELEASED`):

- reference cell: teacher training (source pool × teacher epochs), the all-labels
  reference (the student, as many steps as the teacher), test-set forwards;
- method cell: one teacher pass over the paired set (cached, shared by methods),
  distillation (paired × distill epochs, the student's training rate: the bare loop, as
  `bench perf` shows the harness runs at), the probe's feature pass, fine-tuning
  (few labels × fine-tune epochs), test-set forwards and the gap estimates' passes.

Methods' own heads (projections, memory banks) are left out, so contrastive methods cost
somewhat more than the method column says (CRD: ~1.8× the l2 step in `bench perf`).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.backbones import Backbone, TaskModel
from benchmark.config import RunConfig, resolve
from benchmark.datasets.tasks import CLASSIFICATION, SEGMENTATION

MAX_BATCH = 32


@dataclass(frozen=True)
class Released:
    """A real task's split sizes in the published dataset and its input shapes."""

    kind: str
    classes: int
    source_pool: int  # labelled source images available for the teacher
    paired: int  # (source, target) pairs available
    test: int
    target_shape: tuple[int, ...] | None = None  # None: 1 × image_size × image_size


RELEASED = {
    # 12,500 photos, 1,250 listed as test; ~90% of the 75,471 sketches are of train photos.
    "sketchy-sketch-cls": Released(CLASSIFICATION, 125, 11_250, 67_900, 7_500),
    # The standard split: 795 train and 654 test frames.
    "nyuv2-depth-seg": Released(SEGMENTATION, 40, 795, 795, 654),
    "nyuv2-depth-seg13": Released(SEGMENTATION, 13, 795, 795, 654),
    "nyuv2-depth-cls": Released(CLASSIFICATION, 10, 795, 795, 654),
    # AV-MNIST's arrays: 55,000 training rows (5,000 more are validation), 10,000 test; the
    # 112 × 112 spectrogram is resized to the 32 × 32 audio layout (world n_mels, frames).
    "avmnist-audio-cls": Released(CLASSIFICATION, 10, 55_000, 55_000, 10_000, (1, 32, 32)),
    # MNIST 60,000 / 10,000 digits; audio is a 32 × 32 log-mel (world n_mels, audio_frames).
    "mnist-fsdd-audio-cls": Released(CLASSIFICATION, 10, 60_000, 60_000, 10_000, (1, 32, 32)),
}


def train_rate(
    model: TaskModel, shape: tuple[int, ...], batch: int, classes: int, steps: int
) -> float:
    """Samples/s of supervised training steps after two warm-up steps, at the recipe's
    batch or `MAX_BATCH` if smaller (on a CPU the rate per sample barely changes past a
    few dozen samples, and resnet50 at 224×224 and batch 128 would need ~12 GB)."""
    batch = min(batch, MAX_BATCH)
    x = torch.randn(batch, *shape).contiguous(memory_format=torch.channels_last)
    kind = model.kind
    y_shape = (batch,) if kind == CLASSIFICATION else (batch, *shape[-2:])
    y = torch.randint(0, classes, y_shape)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        loss = F.cross_entropy(model(x).logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - start)


@torch.no_grad()
def infer_rate(model: TaskModel, shape: tuple[int, ...], steps: int, batch: int = 64) -> float:
    x = torch.randn(batch, *shape).contiguous(memory_format=torch.channels_last)
    model.eval()
    model(x)
    start = time.perf_counter()
    for _ in range(steps):
        model(x)
    return batch * steps / (time.perf_counter() - start)


def estimate(task: str, cfg: RunConfig, steps: int) -> dict[str, float]:
    rel = RELEASED[task]
    d, t = cfg.data, cfg.teacher
    size = d.image_size
    src_shape = (3, size, size)
    tgt_shape = rel.target_shape or (1, size, size)
    pool, paired = min(d.source_pool, rel.source_pool), min(d.paired, rel.paired)
    test = min(d.test, rel.test)
    few = d.labels_per_class * rel.classes

    torch.manual_seed(0)
    teacher = TaskModel(Backbone(t.backbone, 3), rel.classes, rel.kind)
    student = TaskModel(Backbone(cfg.student.backbone, 1), rel.classes, rel.kind)
    teach_train = train_rate(teacher, src_shape, t.batch_size, rel.classes, steps)
    teach_infer = infer_rate(teacher, src_shape, steps)
    stud_train_ref = train_rate(student, tgt_shape, t.batch_size, rel.classes, steps)
    stud_train = train_rate(student, tgt_shape, cfg.distill.batch_size, rel.classes, steps)
    stud_tune = train_rate(student, tgt_shape, cfg.eval.finetune_batch_size, rel.classes, steps)
    stud_infer = infer_rate(student, tgt_shape, steps)

    teacher_samples = pool * t.epochs
    reference = (
        teacher_samples / teach_train
        + teacher_samples / stud_train_ref  # as many steps as the teacher, same batch
        + test / teach_infer
        + 2 * test / stud_infer
    )
    method = (
        paired / teach_infer
        + paired * cfg.distill.epochs / stud_train
        + (few + test) / stud_infer
        + few * cfg.eval.finetune_epochs / stud_tune
        + 3 * test / stud_infer  # fine-tuned test pass and the gap estimates' two passes
        + test / teach_infer
    )
    return {
        "size": size,
        "teacher": t.backbone,
        "teacher img/s": teach_train,
        "student img/s": stud_train,
        "reference h": reference / 3600,
        "method h": method / 3600,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per rate")
    parser.add_argument("--tasks", default=",".join(RELEASED))
    args = parser.parse_args()
    cfg = resolve("paper")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        "| task | image size | teacher | teacher train img/s | student train img/s "
        "| reference cell | method cell |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for task in args.tasks.split(","):
        e = estimate(task, cfg.for_task(task), args.steps)
        print(
            f"| `{task}` | {e['size']} | {e['teacher']} | {e['teacher img/s']:.1f} "
            f"| {e['student img/s']:.1f} | {e['reference h']:.1f} h | {e['method h']:.1f} h |",
            flush=True,
        )


if __name__ == "__main__":
    main()

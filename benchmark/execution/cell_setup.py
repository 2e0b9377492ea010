"""What every method cell builds the same way from its task and seed, before any method
runs: the seed-fixed initial student, the context a method sizes its modules by, and the
facts a record keeps about its data.

Free functions of the task data, apart from the runner's state (`benchmark.execution.runner`
holds the per-plan caches and the stages), so the tools that rebuild a cell's student and
method outside a run (`bench perf`, the identity tests) build them exactly as a cell does.
"""

from __future__ import annotations

from typing import Any

import torch

from benchmark.backbones import Backbone, TaskModel, build_backbone, is_sequence
from benchmark.datasets.tasks import TaskData
from benchmark.method import Context
from benchmark.protocol.training import seeded


def initial_student(backbone: str, data: TaskData, seed: int) -> Backbone:
    """The student before distillation. Its weights depend on the seed only, not on the
    method, so every method of a (task, seed) starts from the same network."""
    torch.manual_seed(int(torch.randint(2**31, (1,), generator=seeded(seed, "student"))))
    target = data.test.target
    sequence = target is not None and is_sequence(target)
    return build_backbone(backbone, data.target_channels, sequence)  # type: ignore[return-value]


def stage_sizes(model: Backbone, inputs: torch.Tensor | None) -> tuple[tuple[int, int], ...] | None:
    """Each stage's feature-map (height, width) for inputs shaped like `inputs`: one zero
    input through the model in eval mode without gradients (no statistics move, no random
    number is drawn), then the model's mode restored. None without inputs."""
    if inputs is None:
        return None
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x = torch.zeros(1, *inputs.shape[1:], device=next(model.parameters()).device)
        maps = model(x).feature_maps
    model.train(was_training)
    return tuple((int(m.shape[-2]), int(m.shape[-1])) for m in maps)


def method_context(student: Backbone, teacher: TaskModel, data: TaskData) -> Context:
    """What a method sizes its modules by, for this student, teacher and task."""
    return Context(
        student_dim=student.dim,
        teacher_dim=teacher.backbone.dim,
        student_channels=student.channels,
        teacher_channels=teacher.backbone.channels,
        num_classes=data.num_classes,
        num_pairs=len(data.paired),
        task_kind=data.kind,
        teacher_head=teacher.head,
        source_ids=data.paired.source_ids,
        student_sizes=stage_sizes(student, data.paired.target),
        teacher_sizes=stage_sizes(teacher.backbone, data.paired.source),
    )


def data_facts(data: TaskData) -> dict[str, Any]:
    """The facts a record keeps about its data: the sizes every split actually had (a
    real dataset gives all it has when it holds fewer than asked), the class count, and
    what the loader reports (its test split's origin, warnings, the world's knobs)."""
    splits = ("source_pool", "paired", "few", "test")
    facts: dict[str, Any] = {
        "kind": data.kind,
        "num_classes": data.num_classes,
        "sizes": {name: len(getattr(data, name)) for name in splits},
    }
    facts.update({k: v for k, v in data.info.items() if k != "sizes"})
    facts.setdefault("test_split", "seeded draw of the embedded world")
    facts.setdefault("warnings", [])
    return facts

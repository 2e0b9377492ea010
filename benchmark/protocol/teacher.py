"""The source teacher and the all-labels target reference: trained once, cached on disk.

A teacher depends only on its training data, its recipe and the seed, never on the
method, so every method of a (task, seed) distills from the very same network. The cache
is content-addressed by a digest of exactly those inputs — the tensors themselves, not
the task's name — so tasks that share a source pool (the embedded classification tasks
all see the same RGB scenes) share one teacher, and any change to the data retrains it.
A record says whether its teacher was trained for it or loaded, so "no teacher
retrained" is checkable.

The all-labels reference is the student backbone trained with the teacher's recipe on
every labelled target sample the task has (the paired set's labels plus the few labels):
the ceiling that tells how much room the few-label protocol leaves for distillation. It is
always supervised, whatever `teacher.pretrain` says, and gets the teacher's optimisation
budget in *steps* (its epochs scaled by the size ratio of the two training sets): with the
teacher's epochs on its smaller set it would be undertrained, and the ceiling would look
lower than it is.

With `teacher.pretrain: simclr` the teacher's backbone never sees a source label: it is
pre-trained with SimCLR on the source pool, frozen, and only its task head is fitted on
the labels (see `benchmark.protocol.pretrain`). With `teacher.pretrain: label-free` (the label-free
track, `benchmark.tracks`) it stops there: no head, no logits, no source score, and the
source labels are neither read nor part of its cache key, so a teacher trained on shuffled
labels is the same teacher. With `teacher.weights` other than `scratch` the
backbone starts from pretrained weights and is fine-tuned, or frozen under a fitted head
(`teacher.adapt: probe`); see `benchmark.weights`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmark.backbones import TaskModel, is_sequence
from benchmark.config import RunConfig, TrainConfig
from benchmark.datasets.tasks import TaskData
from benchmark.hashing import PROTOCOL_VERSION, config_hash
from benchmark.locks import file_lock
from benchmark.protocol.checkpoint import EpochCheckpoint, fingerprint
from benchmark.protocol.loop import LoopSettings, steps_per_epoch
from benchmark.protocol.pretrain import simclr_pretrain
from benchmark.protocol.training import Progress, fit, predict, score
from benchmark.storage import disk_full, file_digest, quarantine, save_tensors, write_json
from benchmark.tracks import LABEL_FREE_PRETRAIN
from benchmark.weights import SCRATCH, key_settings, probing, teacher_backbone

log = logging.getLogger(__name__)


@dataclass
class Trained:
    """A cached supervised model and what is known about it."""

    model: TaskModel
    key: str
    trained_now: bool
    seconds: float
    metrics: dict[str, float]


def digest(*tensors: torch.Tensor) -> str:
    """A content hash of tensors: dtype, shape and bytes."""
    h = hashlib.sha256()
    for tensor in tensors:
        t = tensor.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def recipe_key(recipe: TrainConfig) -> dict[str, Any]:
    """The recipe as it enters the cache key: SimCLR-only settings count only under SimCLR,
    so changing them never retrains a supervised model; `weights`/`adapt` only when the
    teacher is pretrained (a file by its content digest), so scratch keys never changed."""
    values = key_settings(recipe)
    if not recipe.self_supervised:
        values.pop("simclr_temperature")
    if recipe.pretrain != "simclr":  # only a SimCLR teacher of the supervised track has a head
        values.pop("head_epochs")
    return values


def _key(
    role: str,
    data: TaskData,
    recipe: dict[str, Any],
    seed: int,
    flip: bool,
    tensors: tuple[torch.Tensor, ...],
) -> str:
    return config_hash(
        {
            "protocol": PROTOCOL_VERSION,
            "role": role,
            "kind": data.kind,
            "num_classes": data.num_classes,
            "recipe": recipe,
            "seed": seed,
            "flip": flip,
            "data": digest(*tensors),  # train inputs, train labels, test inputs and labels
        }
    )


def _input_size(role: str, data: TaskData, x: torch.Tensor) -> tuple[int, bool]:
    """(channels, is a token sequence) of a model trained on `x`: a sequence's channel
    count is its vocabulary size, which the task data carry."""
    if not is_sequence(x):
        return int(x.shape[1]), False
    return (data.source_channels if role == "teacher" else data.target_channels), True


def _get_or_train(
    role: str,
    data: TaskData,
    recipe: TrainConfig,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    seed: int,
    cache_dir: Path | None,
    device: torch.device,
    progress: Progress | None,
    flip: bool,
) -> Trained:
    """The cached model, or a newly trained one, trained exactly once per cache entry.

    Why a file lock rather than job ordering: the entry's lock is held from "is it
    cached?" to "metadata written", so of any number of processes asking for the same
    entry at once (local workers, SLURM array tasks, two users' runs sharing a cache) one
    trains and the others wait, then load. Ordering jobs (a teacher array that the cell
    array depends on) would only make this likely; the lock makes it hold however jobs
    are scheduled, requeued or re-run. The executors still start reference cells first
    so few jobs sit waiting. If the trainer dies, the kernel drops its lock and the next
    waiter finds no entry and trains it.
    """
    assert data.test.labels is not None
    labelled = recipe.pretrain != LABEL_FREE_PRETRAIN
    # A label-free teacher's entry depends on images only: labels never enter it.
    tensors = (x_train, y_train, x_test, data.test.labels) if labelled else (x_train, x_test)
    key = _key(role, data, recipe_key(recipe), seed, flip, tensors)
    weights = cache_dir / f"{role}s" / f"{role}-{key}.pt" if cache_dir else None
    lock = (
        file_lock(
            weights.with_suffix(".lock"), holder={"role": role, "task": data.name, "seed": seed}
        )
        if weights is not None
        else contextlib.nullcontext()
    )
    with lock:
        torch.manual_seed(seed)
        backbone = teacher_backbone(recipe, *_input_size(role, data, x_train))
        model = TaskModel(backbone, data.num_classes, data.kind, head=labelled).to(device)
        meta = weights.with_suffix(".json") if weights else None
        healed: dict[str, Any] = {}
        if weights is not None and meta is not None and weights.is_file() and meta.is_file():
            info, problem = _load_entry(model, weights, meta, device)
            if info is not None:
                model.eval()
                return Trained(model, key, False, info["seconds"], info["metrics"])
            # A bad entry never heals by itself: move it aside, say which file and why,
            # and rebuild it now, under its lock (so once), noting that in trained.jsonl.
            healed = {"healed": problem, "moved": [str(quarantine(p)) for p in (weights, meta)]}
            log.warning("cache entry %s is bad (%s): moved aside, rebuilding it", weights, problem)
            torch.manual_seed(seed)  # the rebuilt model starts where a fresh one does
            backbone = teacher_backbone(recipe, *_input_size(role, data, x_train))
            model = TaskModel(backbone, data.num_classes, data.kind, head=labelled).to(device)

        start = time.perf_counter()
        # Epoch checkpoints of a training in progress, next to the entry it will become:
        # whoever holds the lock next (a requeued job, a re-run) resumes from them.
        partial = weights.with_suffix(".partial") if weights is not None else None
        try:
            _train(model, recipe, role, x_train, y_train, seed, flip, progress, partial, key)
        except Exception as err:
            if partial is not None and disk_full(err):  # else the next attempt has no space
                shutil.rmtree(partial, ignore_errors=True)
            raise
        metrics = (  # a label-free teacher has no head, hence no score
            score(predict(model, x_test), data.test.labels, data.kind, data.num_classes)
            if labelled
            else {}
        )
        seconds = time.perf_counter() - start
        if weights is not None and meta is not None:
            # Weights first, metadata last: the metadata file marks the entry complete.
            save_tensors(weights, {k: v.cpu() for k, v in model.state_dict().items()})
            write_json(
                meta,
                {
                    "key": key,
                    "task": data.name,
                    "role": role,
                    "seconds": seconds,
                    "metrics": metrics,
                    "recipe": dataclasses.asdict(recipe),
                    "digest": file_digest(weights),  # checked on every load
                },
            )
            entry = {"key": key, "task": data.name, **healed}
            _log_training(weights.parent / "trained.jsonl", entry)
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)
        return Trained(model, key, True, seconds, metrics)


def _load_entry(
    model: TaskModel, weights: Path, meta: Path, device: torch.device
) -> tuple[dict[str, Any] | None, str]:
    """Load a cache entry into `model`: (its metadata, "") or (None, what is wrong with
    it). The weights must match the digest their metadata was written with (an entry
    whose metadata has no digest is checked by loading alone)."""
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError, RecursionError) as err:
        return None, f"{meta.name} unreadable: {type(err).__name__}: {err}"
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("seconds"), int | float)
        or not isinstance(info.get("metrics"), dict)
    ):
        return None, f"{meta.name} lacks its seconds and metrics"
    try:
        if "digest" in info and file_digest(weights) != info["digest"]:
            return None, f"{weights.name} does not match its digest (truncated or corrupted)"
        state = torch.load(weights, map_location=device, weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # truncated, corrupted, foreign: all mean "rebuild"
        return None, f"{weights.name} unreadable: {type(err).__name__}: {err}"
    return info, ""


def _train(
    model: TaskModel,
    recipe: TrainConfig,
    role: str,
    x: torch.Tensor,
    y: torch.Tensor,
    seed: int,
    flip: bool,
    progress: Progress | None,
    partial: Path | None = None,
    key: str = "",
) -> None:
    """Supervised training, or SimCLR on the images then (except label-free) the head on
    frozen features; with a `partial` folder, each loop checkpoints every epoch there and
    resumes. A label-free recipe never reads `y`."""
    simclr = recipe.self_supervised
    device = next(model.parameters()).device

    def checkpoint(stage: str) -> EpochCheckpoint | None:
        if partial is None:
            return None
        return EpochCheckpoint(partial / f"{stage}.pt", fingerprint(key, device))

    if simclr:
        simclr_pretrain(
            model.backbone,
            x,
            LoopSettings(recipe.epochs, recipe.batch_size, recipe.lr, recipe.weight_decay),
            temperature=recipe.simclr_temperature,
            seed=seed,
            progress=progress,
            checkpoint=checkpoint("simclr"),
        )
    if model.head is None:  # the label-free track: SimCLR is the whole training
        return
    fit(
        model,
        x,
        y,
        LoopSettings(
            epochs=recipe.head_epochs if simclr else recipe.epochs,
            batch_size=recipe.batch_size,
            lr=recipe.lr,
            weight_decay=recipe.weight_decay,
        ),
        seed=seed,
        stream=f"{role}-head" if simclr else role,
        flip=flip,
        progress=progress,
        frozen=model.backbone if simclr or probing(recipe) else None,
        checkpoint=checkpoint("fit"),
    )


def _log_training(log: Path, entry: dict[str, Any]) -> None:
    """Append one line per completed training to `<role>s/trained.jsonl`: an audit trail
    that shows each entry was trained once (a single O_APPEND write, so lines from
    concurrent processes never interleave on a local filesystem)."""
    line = json.dumps({**entry, "host": socket.gethostname(), "pid": os.getpid()}) + "\n"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def get_teacher(
    data: TaskData,
    cfg: RunConfig,
    seed: int,
    cache_dir: Path | None,
    device: torch.device,
    progress: Progress | None = None,
) -> Trained:
    """The frozen source teacher of (task, seed); its metrics are on the test set's source
    view."""
    pool, test = data.source_pool, data.test
    assert pool.source is not None and pool.labels is not None and test.source is not None
    trained = _get_or_train(
        "teacher",
        data,
        cfg.teacher,
        pool.source,
        pool.labels,
        test.source,
        seed,
        cache_dir,
        device,
        progress,
        flip=True,
    )
    trained.model.requires_grad_(False)
    return trained


def reference_recipe(data: TaskData, cfg: RunConfig) -> TrainConfig:
    """The teacher's recipe on the student backbone, supervised, with as many optimisation
    steps as the teacher takes on the source pool."""
    teacher_steps = cfg.teacher.epochs * steps_per_epoch(
        len(data.source_pool), cfg.teacher.batch_size
    )
    n = len(data.paired) + len(data.few)
    epochs = max(1, round(teacher_steps / steps_per_epoch(n, cfg.teacher.batch_size)))
    return dataclasses.replace(
        cfg.teacher,
        backbone=cfg.student.backbone,
        pretrain="supervised",
        epochs=epochs,
        weights=SCRATCH,  # the student backbone from scratch, whatever the teacher starts from
        adapt="finetune",
    )


def get_all_labels_reference(
    data: TaskData,
    cfg: RunConfig,
    seed: int,
    cache_dir: Path | None,
    device: torch.device,
    progress: Progress | None = None,
) -> Trained:
    """The student backbone trained on every labelled target sample (the ceiling)."""
    paired, few, test = data.paired, data.few, data.test
    assert paired.target is not None and paired.labels is not None
    assert few.target is not None and few.labels is not None and test.target is not None
    x = torch.cat([paired.target, few.target])
    y = torch.cat([paired.labels, few.labels])
    recipe = reference_recipe(data, cfg)
    return _get_or_train(
        "reference",
        data,
        recipe,
        x,
        y,
        test.target,
        seed,
        cache_dir,
        device,
        progress,
        flip=False,
    )

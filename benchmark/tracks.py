"""Tracks: the three protocols a method is compared under.

- `supervised` (the default): the source teacher is trained with the source labels, or
  pre-trained with SimCLR and then given a task head fitted on those labels
  (`teacher.pretrain: supervised | simclr`). Methods get the teacher's logits.
- `label-free`: CMCD's own protocol (Lin et al., arXiv 2405.03355, Sec. 4): the source
  encoder is pre-trained with SimCLR on the source images alone, and no label of any
  kind is seen before the few-label target step. The teacher has no task head, so it has
  no logits and no source score. A method that needs teacher logits (`kd`, `soft-proj`'s
  classifier level or confidence weights) cannot run in it: its cells get a record with
  status `not_applicable` and the reason, which counts as done and shows on the
  leaderboard as such (neither a failure nor a silent skip).

- `labelled`: the literature's setting (RepDistiller, mdistiller, C2KD, Zhao et al.,
  MST-Distill's CMKD benchmark): the teacher is the supervised track's, the paired set
  carries the target modality's labels, and the student (backbone and a fresh head) is
  trained on it with cross-entropy plus the method's distillation loss, each method at
  the weights its reference runs use (`benchmark.protocol.labelled`). The label budget
  is therefore the whole paired set, not the few-label split: every pair is labelled.
  `scratch` is cross-entropy alone on the same pairs. Evaluation reads the student's
  own head on the test set (and the linear probe, for comparison with the other
  tracks); there is no few-label fine-tune (`benchmark.protocol.evaluate_labelled`).
  Only here does a method see labels (`Batch.label`, None in the other two tracks).

The all-labels target reference is the same in every track (it never uses the teacher).

The label-free track is a setting of the teacher (`teacher.pretrain: label-free`) that the
plan puts on each of its cells; the labelled track keeps the supervised teacher and
enters a cell's hashed config as `track: labelled` (`benchmark.execution.plan`). So one
run can cover every track and a record's config says which it belongs to. A supervised
record's path and hash carry no track (`benchmark.hashing`: supervised-paths,
track-via-teacher); the other tracks' records sit next to them with the track in their
file name.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from benchmark.errors import UserError, did_you_mean
from benchmark.params import Param, validate

if TYPE_CHECKING:  # records import this module: it stays a leaf
    from benchmark.config import RunConfig
    from benchmark.method import Method

SUPERVISED = "supervised"
LABEL_FREE = "label-free"
LABELLED = "labelled"
TRACKS = (SUPERVISED, LABEL_FREE, LABELLED)
# The `teacher.pretrain` value of the label-free track: SimCLR, and no head.
LABEL_FREE_PRETRAIN = "label-free"


def parse_tracks(text: str) -> list[str]:
    """`--tracks`: comma-separated track names, or `all`."""
    if text.strip() == "all":
        return list(TRACKS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UserError(f"--tracks '{text}' names no track: give {', '.join(TRACKS)} or all")
    for name in names:
        if name not in TRACKS:
            raise UserError(f"unknown track '{name}' in --tracks: {did_you_mean(name, TRACKS)}")
    return list(dict.fromkeys(names))


def with_track(cfg: RunConfig, track: str) -> RunConfig:
    """`cfg` (already one task's settings) as the cells of `track` run it. The labelled
    track's settings are the supervised track's (its teacher included): what differs is
    the cell's training, which the plan and the runner read from the cell's track."""
    if track == LABEL_FREE:
        return dataclasses.replace(
            cfg, teacher=dataclasses.replace(cfg.teacher, pretrain=LABEL_FREE_PRETRAIN)
        )
    if cfg.teacher.pretrain == LABEL_FREE_PRETRAIN:
        raise UserError(
            f"teacher.pretrain={LABEL_FREE_PRETRAIN} is the label-free track: "
            f"run it with --tracks {LABEL_FREE} instead of setting it"
        )
    return cfg


# `methods.<name>.ce_weight` for a method that declares no `ce_weight` of its own: the
# labelled track's cross-entropy weight γ for that method (benchmark.protocol.labelled),
# not a parameter of the method; the other tracks never read it.
GAMMA = "ce_weight"
GAMMA_SPEC = Param(
    1.0, help="the labelled track's cross-entropy weight", low=0.0, high=1000.0, value_type=float
)


def method_values(declared: Any, values: dict[str, Any], owner: str) -> dict[str, Any]:
    """The user's `values` for a method whose parameters are `declared`, without a
    `ce_weight` it does not declare (that one is the labelled track's γ, checked here)."""
    if GAMMA in declared or GAMMA not in values:
        return values
    validate({GAMMA: GAMMA_SPEC}, {GAMMA: values[GAMMA]}, owner)
    return {k: v for k, v in values.items() if k != GAMMA}


def is_labelled(track: str) -> bool:
    return track == LABELLED


def is_label_free(cfg: RunConfig) -> bool:
    return cfg.teacher.pretrain == LABEL_FREE_PRETRAIN


def file_suffix(track: str) -> str:
    """What a track adds to a cell's file names ("" for the supervised track, so its
    records keep their paths: `benchmark.hashing`, supervised-paths)."""
    return "" if track == SUPERVISED else f".{track}"


def not_applicable(method: Method, *, sequence_target: bool, label_free: bool) -> str | None:
    """Why `method`, at its settings, cannot run on a task whose target is (or is not) a
    token sequence, in the label-free track (or another); None when it can. The runner
    records the reason as a `not_applicable` cell; the methods reference page
    (`benchmark.docs`) states it per track."""
    if sequence_target and method.needs_spatial_maps():
        return (
            f"{method.name} compares the backbones' feature maps position by position, "
            "and a sequence student's positions are token slots, not places in the image"
        )
    if label_free and method.needs_teacher_logits():
        return (
            f"{method.name} needs the teacher's logits, and the label-free track's "
            "teacher has no head (it never saw a label)"
        )
    return None

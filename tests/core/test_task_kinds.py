"""Task kinds are registered objects: the leaderboard, the power analysis and the models
ask the registry, so a new kind with its own metrics is one registration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.kinds import (
    CLASSIFICATION,
    KINDS,
    SEGMENTATION,
    Metric,
    TaskKind,
    get_kind,
    kind_of_columns,
    register_kind,
)
from benchmark.protocol import outcomes
from benchmark.results.leaderboard import PRIMARY, primary_metrics


def test_the_two_kinds_and_their_ranking_columns() -> None:
    assert get_kind(CLASSIFICATION).ranking() == ("finetune_acc", "probe_acc")
    assert get_kind(SEGMENTATION).ranking() == ("finetune_miou", "probe_miou")
    assert get_kind(SEGMENTATION).dense and not get_kind(CLASSIFICATION).dense
    assert all(m.higher_is_better for k in KINDS.names() for m in get_kind(k).metrics)
    assert PRIMARY[SEGMENTATION] == ("finetune_miou", "probe_miou")


def test_records_without_a_kind_are_read_by_their_columns() -> None:
    assert kind_of_columns(["probe_miou", "probe_pixel_acc"]).name == SEGMENTATION
    assert kind_of_columns(["finetune_acc"]).name == CLASSIFICATION
    old = pd.DataFrame({"finetune_miou": [0.2], "probe_miou": [0.1]})
    assert primary_metrics(old) == ("finetune_miou", "probe_miou")


def test_a_new_kind_is_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    """A regression kind (mean absolute error per sample, lower is better) registered in
    one call: outcomes, metrics and the leaderboard's columns follow from it."""
    monkeypatch.setattr(KINDS, "_entries", dict(KINDS._entries))

    def errors(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> np.ndarray:
        return (pred - target).abs().float().numpy()

    register_kind(
        TaskKind(
            name="regression",
            metrics=(Metric("mae", "mean absolute error", higher_is_better=False),),
            primary="mae",
            dense=False,
            per_sample=errors,
            scores=lambda o: {"mae": float(o.mean())},
            outcome_ndim=1,
        )
    )
    got = outcomes.per_sample(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 3.0]), "regression", 0)
    assert outcomes.scores(got, "regression") == {"mae": 0.5}
    frame = pd.DataFrame({"kind": ["regression"], "finetune_mae": [0.5], "probe_mae": [0.7]})
    assert primary_metrics(frame) == ("finetune_mae", "probe_mae")
    assert not get_kind("regression").metric("mae").higher_is_better

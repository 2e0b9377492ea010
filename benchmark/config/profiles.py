"""The named profiles a run starts from (`--profile`): smoke (tests), quick (the CPU
default) and paper (full sizes, for GPUs), each a nested mapping of config sections, with
a `tasks` section of per-task values where a dataset needs its own."""

from __future__ import annotations

from typing import Any

PROFILES: dict[str, dict[str, Any]] = {
    # Tests: every code path, in seconds.
    "smoke": {
        "data": {"source_pool": 120, "paired": 96, "labels_per_class": 2, "test": 64},
        "teacher": {"epochs": 1, "batch_size": 32},
        "distill": {"epochs": 1, "batch_size": 32},
        "eval": {"probe_steps": 10, "finetune_epochs": 1, "finetune_batch_size": 16},
    },
    # The default: CPU-sized (docs/statistics.md, "Resolution and seeds per task").
    "quick": {
        # The default and the floor of every task's seeds.
        "seeds": 8,
        "tasks": {
            # Per embedded task, the fewest seeds whose MDE is ≤ 2 points in every track
            # given the pooled SD of the committed records, at least the default: derived
            # by `bench power --out results --seeds-plan` (docs/statistics.md).
            "sketch-cls": {"seeds": 22},
            "depth-cls": {"seeds": 32},
            "audio-cls": {"seeds": 39},
            # 2,000 test scenes of ~1,000 labelled pixels each already make test sampling
            # a small part of a segmentation difference's variance (`bench power`), at
            # 2/5 of the probe's memory and time for 5,000.
            "depth-seg": {"seeds": 8, "data": {"test": 2000}},
        },
    },
    # Full sizes and schedules, for GPUs; real datasets at their own resolution.
    "paper": {
        "data": {
            "image_size": 64,
            "source_pool": 20000,
            "paired": 10000,
            "labels_per_class": 10,
            "test": 5000,
        },
        "teacher": {"backbone": "resnet18", "epochs": 60, "batch_size": 128},
        "student": {"backbone": "resnet18"},
        "distill": {"epochs": 100, "batch_size": 128},
        "eval": {"probe_steps": 500, "finetune_epochs": 100},
        # Real datasets at their own scale (docs/real-datasets.md, "The paper profile per dataset").
        "tasks": {
            # Photos and sketches rendered at 256×256, seen at the 224×224 of ImageNet
            # CNNs; 125 classes of ImageNet-like photos get an ImageNet-sized teacher.
            "sketchy-sketch-cls": {
                "data": {"image_size": 224},
                "teacher": {"backbone": "resnet50"},
            },
            # 640×480 frames squeezed to 224×224; 795 training frames would make 6 steps
            # an epoch at batch 128, so the small batch of segmentation practice.
            **{
                task: {
                    "data": {"image_size": 224},
                    "teacher": {"batch_size": 16},
                    "distill": {"batch_size": 16},
                    "eval": {"finetune_batch_size": 16},
                }
                for task in ("nyuv2-depth-seg", "nyuv2-depth-seg13")
            },
            "nyuv2-depth-cls": {
                "data": {"image_size": 224},
                "teacher": {"batch_size": 32},
                "distill": {"batch_size": 32},
            },
            # MNIST digits at their native 28×28 (the audio side is a 32×32 log-mel), in
            # both AV-MNIST pairings: MultiBench's published arrays and MNIST + FSDD.
            **{
                task: {"data": {"image_size": 28}}
                for task in ("avmnist-audio-cls", "mnist-fsdd-audio-cls")
            },
            # 1,251 speakers: budgets per class multiply (datasets/real/voxceleb.py). Two
            # labelled voices a speaker is the few-label regime (2,502 labels); some 20
            # pairs a speaker let the student hear every voice several times.
            "voxceleb-audio-cls": {
                "data": {"labels_per_class": 2, "paired": 25000, "source_pool": 100000}
            },
        },
    },
}

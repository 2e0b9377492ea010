"""Epoch checkpoints of a cell, so a killed, preempted or timed-out cell resumes where it
stopped instead of from zero.

What a checkpoint holds (everything the rest of the distillation depends on): the epoch
reached, the student's and the method's state dicts (weights and buffers: memory banks,
queues, queue pointers, sampler counters), the optimiser and the LR scheduler, the loop's
own batch generator, the global torch RNG (and CUDA's, where used), and the losses of the
last finished epoch. Restoring all of it makes a resumed cell compute exactly what an
uninterrupted one computes, bit for bit (tests/protocol/test_checkpoint_resume.py checks
it).

Format: one `torch.save` file of tensors and plain Python values, written atomically
(temp file + rename, so a kill mid-write leaves the previous epoch's file intact) and read
with `torch.load(weights_only=True)`, which never runs code from the file. A file whose
fingerprint (the cell's config hash, the torch thread count and the device) differs from
the running cell's is ignored, so a changed setting never resumes from a stale state.

When: after every epoch, unless the checkpoint has an interval (`every_s`): then after an
epoch only once that many seconds have passed since the loop started or last saved. The
runner gives the few-label fine-tunes one (`benchmark.execution.runner.FINETUNE_EVERY_S`):
a fine-tune shorter than the interval (every quick-profile one: 25 epochs of 3 steps, a
few seconds) writes no checkpoint, since writing 75 of them costs more than the little a
resume would save; a longer one (the paper profile's) saves at most once per interval, so
a kill loses at most the interval plus one epoch of it. Distillation and the cached
trainings save every epoch: their epochs are long, and a resume there pays.

Where: `<out>/checkpoints/<task>/<method>/seed<k>.pt` (and `seed<k>.finetune.pt`), next to
the records; the files are removed once the cell's record is written. Teacher and
all-labels reference trainings checkpoint inside the cache, next to the entry they will
become (`<cache>/teachers/teacher-<key>.partial/`), so whichever job takes the entry's lock
next resumes them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmark.storage import save_tensors
from benchmark.tracks import SUPERVISED, file_suffix

FORMAT = 2  # every loop saves one state (`benchmark.protocol.loop`); other formats: not resumed
log = logging.getLogger(__name__)


def checkpoint_path(
    out: Path, task: str, method: str, seed: int, stage: str = "distill", track: str = SUPERVISED
) -> Path:
    """A cell's checkpoint of one stage: distillation, or the few-label fine-tune that
    follows it (which resumes only on top of a finished distillation checkpoint). A track
    other than the supervised one has folders of its own (`<method>.<track>`)."""
    name = f"seed{seed}.pt" if stage == "distill" else f"seed{seed}.{stage}.pt"
    return out / "checkpoints" / task / f"{method}{file_suffix(track)}" / name


def remove_cell_checkpoints(
    out: Path, task: str, method: str, seed: int, track: str = SUPERVISED
) -> None:
    """The cell's checkpoints, and the temp files of checkpoint writes a kill cut short
    (`.seed<k>.pt.<random>.tmp`: only this cell, which holds its lock, writes them)."""
    folder = checkpoint_path(out, task, method, seed, track=track).parent
    for pattern in (f"seed{seed}.pt", f"seed{seed}.*.pt", f".seed{seed}.pt.*.tmp"):
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)
    for path in folder.glob(f".seed{seed}.*.pt.*.tmp"):
        path.unlink(missing_ok=True)


def fingerprint(config_hash: str, device: torch.device) -> str:
    """What must match for a checkpoint to be resumed: the cell's settings, and the thread
    count and device, which change floating-point results."""
    return f"{config_hash}/threads{torch.get_num_threads()}/{device.type}"


def training_checkpoint(
    out: Path | None,
    task: str,
    method: str,
    seed: int,
    track: str,
    config_hash: str,
    device: torch.device,
) -> EpochCheckpoint | None:
    """A cell's distillation (or joint training) checkpoint, None without an output
    folder: one place builds it for every track, so each resumes under the same rule."""
    if out is None:
        return None
    path = checkpoint_path(out, task, method, seed, track=track)
    return EpochCheckpoint(path, fingerprint(config_hash, device))


def note_resume(run_config: dict[str, Any], ckpt: EpochCheckpoint | None) -> None:
    """Write the epoch a resumed training started from into the record's `run` section
    (absent when it started from scratch), so a reader can tell a resumed cell."""
    if ckpt is not None and ckpt.resumed_epoch:
        run_config.setdefault("run", {})["resumed_epoch"] = ckpt.resumed_epoch


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """The loop's generator, the global CPU RNG and, once CUDA is in use, every GPU's RNG."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {"generator": generator.get_state(), "torch": torch.get_rng_state(), "cuda": cuda}


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class EpochCheckpoint:
    """The checkpoint file of one cell and the fingerprint it must carry to be resumed."""

    path: Path
    fingerprint: str
    resumed_epoch: int = 0  # set by `load`: the epoch a resumed run started from
    every_s: float = 0.0  # save only once this many seconds passed since the last save
    last_save: float = field(default_factory=time.monotonic)  # or since the loop started

    def due(self) -> bool:
        """Whether the epoch that just ended should be saved (see the module's "When")."""
        return time.monotonic() - self.last_save >= self.every_s

    def save(self, state: dict[str, Any]) -> None:
        save_tensors(self.path, {"format": FORMAT, "fingerprint": self.fingerprint, **state})
        self.last_save = time.monotonic()

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none to resume from. An unreadable or
        foreign file is reported and ignored (the cell then starts from zero)."""
        self.last_save = time.monotonic()  # a loop loads once, as it starts
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated, corrupt or foreign: start over
            log.warning("ignoring unreadable checkpoint %s: %s", self.path, err)
            return None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            log.warning("ignoring checkpoint %s of another format", self.path)
            return None
        if state.get("fingerprint") != self.fingerprint:
            log.warning(
                "ignoring checkpoint %s made with other settings (%s, now %s)",
                self.path,
                state.get("fingerprint"),
                self.fingerprint,
            )
            return None
        self.resumed_epoch = int(state.get("epoch", 0))
        return state

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

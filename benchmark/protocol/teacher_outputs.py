"""The frozen teacher's outputs on the paired set, computed once and cached with the teacher.

Reference codebases of the field (RepDistiller, MST-Distill, C2KD) run the teacher forward
on every step of every epoch, for every method. Here the teacher is frozen in eval mode and
the methods see the un-augmented source view, so its outputs on the paired set are a pure
function of (teacher weights, paired source tensor): they are computed once per (task,
teacher, seed), stored next to the teacher in the cache, and every method of that teacher
slices them per batch. A method cannot tell them from a live forward: they are the same
numbers, bit for bit (tests/protocol/test_teacher_output_cache.py).

What is stored, in fp32 (the bit-for-bit promise rules out fp16):
- `outputs-<key>.pt`: the pooled embedding [N, D] and the logits ([N, K], or [N, K, H, W]
  for segmentation);
- `maps-<key>.pt`: every backbone stage's feature map, written only once a method that
  reads maps (`Method.uses_feature_maps`) asks for them. Maps grow with pairs × channels ×
  resolution, to gigabytes at the paper profile (`bench perf`
  prints their sizes), which is why files are opened memory-mapped: a batch reads only its own rows
  from disk, and the process does not hold the whole tensor in RAM.

The key is a hash of the teacher's cache key, the paired inputs' content digest, the torch
thread count and the device type: thread count and device change floating-point results in
the last bits, and a cell must compute the same numbers whichever executor runs it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import Tensor

from benchmark.backbones import TaskModel, forward_all
from benchmark.hashing import config_hash
from benchmark.locks import file_lock
from benchmark.method import Outputs
from benchmark.protocol.teacher import Trained, _log_training, digest
from benchmark.storage import file_digest, quarantine, save_tensors, write_json

FORMAT = 1
log = logging.getLogger(__name__)


def teacher_outputs(
    teacher: TaskModel, x: Tensor, *, keep_maps: bool, batch_size: int = 256
) -> Outputs:
    """A live forward of the frozen teacher over all of `x`, batch by batch, on CPU."""
    return forward_all(teacher, x, keep_maps=keep_maps, on_cpu=True, batch_size=batch_size)


def outputs_key(teacher_key: str, x: Tensor, device: torch.device) -> str:
    return config_hash(
        {
            "format": FORMAT,
            "teacher": teacher_key,
            "inputs": digest(x),
            "threads": torch.get_num_threads(),
            "device": device.type,
        }
    )


def cached_teacher_outputs(
    teacher: Trained, x: Tensor, *, keep_maps: bool, cache_dir: Path | None
) -> Outputs:
    """The teacher's outputs on `x` from the cache, computing and storing them if absent.

    Without a cache folder this is a live forward. Concurrent jobs of one teacher compute
    the entry once: the first holds the entry's lock while the others wait, then load.
    """
    if cache_dir is None:
        return teacher_outputs(teacher.model, x, keep_maps=keep_maps)
    device = next(teacher.model.parameters()).device
    key = outputs_key(teacher.key, x, device)
    folder = cache_dir / "teachers" / "outputs"
    base, maps = folder / f"outputs-{key}.pt", folder / f"maps-{key}.pt"
    sums = folder / f"outputs-{key}.json"  # the files' digests, written after them
    stored, problem = _load(base, maps, sums, keep_maps)
    if stored is not None:
        return stored
    with file_lock(folder / f"outputs-{key}.lock"):
        stored, problem = _load(base, maps, sums, keep_maps)
        if stored is not None:
            return stored
        healed: dict[str, object] = {}
        if problem:  # a bad entry: move it aside, name it, rebuild it once, here
            moved = [str(quarantine(f)) for f in (base, maps, sums) if f.is_file()]
            healed = {"key": key, "role": "teacher-outputs", "healed": problem, "moved": moved}
            log.warning("cache entry %s is bad (%s): moved aside, rebuilding it", base, problem)
        live = teacher_outputs(teacher.model, x, keep_maps=keep_maps)
        if keep_maps:
            save_tensors(maps, {"feature_maps": live.feature_maps})
        # The base file last: a reader that finds it finds what it depends on.
        if not base.is_file():
            save_tensors(base, {"embedding": live.embedding, "logits": live.logits})
        digests = {f.name: file_digest(f) for f in (base, maps) if f.is_file()}
        write_json(sums, {"format": FORMAT, "digests": digests})
        if healed:
            _log_training(folder / "trained.jsonl", healed)
        return live


def _load(base: Path, maps: Path, sums: Path, keep_maps: bool) -> tuple[Outputs | None, str]:
    """The cached outputs, or (None, "") when absent, or (None, what is wrong with them):
    each file must match the digest written with it (a file written without a digest is
    checked by loading alone) and load as tensors."""
    if not _complete(base, maps, keep_maps):
        return None, ""
    wanted = [base, maps] if keep_maps else [base]
    try:
        digests = json.loads(sums.read_text())["digests"] if sums.is_file() else {}
        for path in wanted:
            if path.name in digests and file_digest(path) != digests[path.name]:
                return None, f"{path.name} does not match its digest (truncated or corrupted)"
        stored = torch.load(base, map_location="cpu", weights_only=True, mmap=True)
        feature_maps = (
            torch.load(maps, map_location="cpu", weights_only=True, mmap=True)["feature_maps"]
            if keep_maps
            else []
        )
        outputs = Outputs(
            embedding=stored["embedding"], feature_maps=feature_maps, logits=stored["logits"]
        )
    except Exception as err:  # truncated, corrupted, foreign: all mean "rebuild"
        return (
            None,
            f"{base.name if base.is_file() else maps.name} unreadable: {type(err).__name__}: {err}",
        )
    return outputs, ""


def _complete(base: Path, maps: Path, keep_maps: bool) -> bool:
    return base.is_file() and (maps.is_file() or not keep_maps)


def cache_size(cache_dir: Path) -> int:
    """Bytes of cached teacher outputs (for `bench perf`)."""
    folder = cache_dir / "teachers" / "outputs"
    return sum(p.stat().st_size for p in folder.glob("*.pt")) if folder.is_dir() else 0

"""Where a teacher's backbone starts: `teacher.weights` and `teacher.adapt`.

`teacher.weights` is one of

- `scratch` (the default): random initialisation, trained on the source pool. Its cache
  keys and record hashes are exactly those of a config without these two settings
  (`benchmark.hashing`, scratch-weights);
- `timm:<model-name>`: timm's pretrained weights for that model (e.g.
  `timm:resnet18.a1_in1k`, any name of `timm.list_pretrained()`); the teacher backbone
  becomes that model, whatever `teacher.backbone` says;
- a path to a file written by `torch.save(state_dict)` and read back with
  `torch.load(weights_only=True)`, for the architecture `teacher.backbone`. Accepted: the
  state dict of a whole timm model (`timm.create_model(name).state_dict()`; its classifier
  is dropped), of our `Backbone` (keys `body.*`) or of our `TaskModel` (keys
  `backbone.body.*` and `head.*`, e.g. a cached teacher from `$XMD_CACHE/teachers`; the
  head is dropped, since the task's head is always fitted anew).

A pretrained teacher is then adapted on the source pool: `teacher.adapt: finetune` trains
everything, `probe` freezes the backbone (batch-norm statistics included) and fits only
the task head. Both are cached like a trained teacher; the key holds the weights spec and,
for a file, the digest of its content (never its path), so a changed file retrains and a
moved one does not. Fetching timm's weights: `benchmark.timm_weights`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from benchmark.errors import UserError, did_you_mean
from benchmark.timm_weights import check_timm_name, download

if TYPE_CHECKING:  # torch on use: `bench validate` checks a scratch teacher without it
    import torch

    from benchmark.backbones import Backbone


class TrainConfig(Protocol):
    """The teacher's recipe as this module reads it (`benchmark.config.TrainConfig` is
    one). Typed structurally: the configuration layer calls this module to check its
    values, so this module does not import the configuration layer back."""

    @property
    def backbone(self) -> str: ...
    @property
    def weights(self) -> str: ...
    @property
    def adapt(self) -> str: ...
    @property
    def pretrain(self) -> str: ...


SCRATCH = "scratch"
TIMM_PREFIX = "timm:"
ADAPT_CHOICES = ("finetune", "probe")


@dataclass(frozen=True)
class WeightsSpec:
    """A parsed `teacher.weights`: kind is "scratch", "timm" or "file"."""

    kind: str
    name: str = ""  # the timm model name
    path: Path | None = None  # the checkpoint file


def parse(spec: str) -> WeightsSpec:
    """`scratch`, `timm:<name>` or a file path (`~` expanded, relative to the cwd)."""
    text = str(spec).strip()
    if text == SCRATCH:
        return WeightsSpec(SCRATCH)
    if text.startswith(TIMM_PREFIX):
        name = text[len(TIMM_PREFIX) :].strip()
        if not name:
            raise UserError(
                "teacher.weights=timm: names no model; write timm:<model-name>, "
                "e.g. timm:resnet18.a1_in1k"
            )
        return WeightsSpec("timm", name=name)
    if not text:
        raise UserError("teacher.weights is empty: use scratch, timm:<model-name> or a file path")
    return WeightsSpec("file", path=Path(text).expanduser())


# --- validation (config resolution: no network, no training) --------------------------------


def check(recipe: TrainConfig) -> dict[str, str]:
    """Reject a bad `teacher.weights` / `teacher.adapt` before anything runs: unknown
    model names, models without pretrained weights, missing, unreadable or ill-fitting
    checkpoint files, and combinations that mean nothing.

    Returns the settings a run must record in place of the written ones (empty when
    none): for `timm:<name>` the `backbone` is the model, so records name the network
    that really ran; a file's `weights` path is absolute, so a worker started in another
    folder (a SLURM job) finds it. The recipe itself is left as it is."""
    if recipe.adapt not in ADAPT_CHOICES:
        raise UserError(
            f"unknown teacher.adapt '{recipe.adapt}': {did_you_mean(recipe.adapt, ADAPT_CHOICES)}"
        )
    spec = parse(recipe.weights)
    if spec.kind == SCRATCH:
        if recipe.adapt == "probe":
            raise UserError(
                "teacher.adapt=probe needs pretrained teacher.weights (timm:<model-name> or a "
                "checkpoint file); a scratch teacher has nothing to probe"
            )
        return {}
    if recipe.pretrain != "supervised":
        raise UserError(
            f"teacher.pretrain={recipe.pretrain} trains the backbone from scratch; it cannot "
            f"start from teacher.weights={recipe.weights} (use teacher.weights=scratch)"
        )
    if spec.kind == "timm":
        return {"backbone": check_timm_name(spec.name)}
    assert spec.path is not None
    fit_checkpoint(spec.path, recipe.backbone)
    return {"weights": str(spec.path.resolve())}


# --- checkpoint files ----------------------------------------------------------------------

_LOADED: dict[tuple[Any, ...], dict[str, torch.Tensor]] = {}
_DIGESTS: dict[tuple[Any, ...], str] = {}


def _identity(path: Path) -> tuple[Any, ...]:
    """What tells a file's versions apart without reading it (for per-process caches)."""
    try:
        st = path.stat()
    except OSError as err:
        raise UserError(f"teacher.weights: cannot read '{path}': {err.strerror}") from None
    if not path.is_file():
        raise UserError(f"teacher.weights: '{path}' is not a file")
    return (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _need_file(path: Path) -> None:
    if not path.exists():
        raise UserError(
            f"teacher.weights: no file '{path}' (expected scratch, timm:<model-name> or a "
            "checkpoint saved with torch.save(state_dict))"
        )


def file_digest(path: Path) -> str:
    """The SHA-256 (first 16 hex digits) of the file's bytes, remembered per file version
    so a plan of many cells reads a large checkpoint once."""
    _need_file(path)
    ident = _identity(path)
    if ident not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[ident] = h.hexdigest()[:16]
    return _DIGESTS[ident]


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The file's state dict, read with `torch.load(weights_only=True)` (no code runs)."""
    import torch

    _need_file(path)
    ident = _identity(path)
    if ident in _LOADED:
        return _LOADED[ident]
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and weights_only errors all mean "unreadable"
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(
            f"teacher.weights: cannot read '{path}' with torch.load(weights_only=True): "
            f"{first[:200]}"
        ) from None
    if not isinstance(loaded, dict) or not loaded:
        raise UserError(
            f"teacher.weights: '{path}' holds {type(loaded).__name__ if loaded else 'nothing'}, "
            "not a state dict (a mapping of parameter names to tensors)"
        )
    bad = [k for k, v in loaded.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise UserError(
            f"teacher.weights: '{path}' is not a state dict: entry {bad[0]!r} is not a "
            "name → tensor pair"
        )
    _LOADED[ident] = loaded
    return loaded


def _split(state: dict[str, torch.Tensor]) -> tuple[str, dict[str, torch.Tensor]]:
    """("ours", body state dict) for a Backbone or TaskModel dict, else ("timm", state)."""
    for prefix in ("backbone.body.", "body."):
        if any(k.startswith(prefix) for k in state):
            return "ours", {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return "timm", state


def _mismatch(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], ignore: set[str]) -> str:
    """A one-line account of how `got` differs from `want` (empty when it fits)."""
    missing = [k for k in want if k not in got and k not in ignore]
    unexpected = [k for k in got if k not in want and k not in ignore]
    shapes = [k for k in want if k in got and got[k].shape != want[k].shape]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if shapes:
        k = shapes[0]
        parts.append(
            f"{len(shapes)} of another shape (e.g. {k}: {list(got[k].shape)} in the file, "
            f"{list(want[k].shape)} in the model)"
        )
    return ", ".join(parts)


def _classifier_keys(name: str, model: torch.nn.Module) -> set[str]:
    import timm

    cfg = timm.get_pretrained_cfg(name)
    heads = cfg.classifier if cfg is not None and cfg.classifier else ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    return {k for k in model.state_dict() if any(k.startswith(f"{h}.") for h in heads)}


def fit_checkpoint(path: Path, backbone: str, in_chans: int = 3) -> None:
    """Check that the file's weights fit `backbone` (names and shapes), or say how not."""
    import timm

    from benchmark.backbones import Backbone, check_backbone

    check_backbone(backbone)
    kind, state = _split(load_checkpoint(path))
    if kind == "ours":
        want = Backbone(backbone, in_chans=in_chans).body.state_dict()
        problem = _mismatch(state, want, set())
    else:
        model = timm.create_model(backbone, in_chans=in_chans)
        problem = _mismatch(state, model.state_dict(), _classifier_keys(backbone, model))
    if problem:
        raise UserError(
            f"teacher.weights: '{path}' does not fit teacher.backbone={backbone}: {problem}"
        )


# --- keys ----------------------------------------------------------------------------------


def key_settings(recipe: TrainConfig) -> dict[str, Any]:
    """The recipe as it enters cache keys and record hashes. `scratch` drops both
    settings (`benchmark.hashing`, scratch-weights); a file enters by the digest
    of its content, so moving it keeps the key and rewriting it changes the key."""
    values = dataclasses.asdict(recipe)
    spec = parse(values.pop("weights"))
    adapt = values.pop("adapt")
    if spec.kind == "file":
        assert spec.path is not None
        values["weights"] = f"file:sha256:{file_digest(spec.path)}"
        values["adapt"] = adapt
    elif spec.kind == "timm":
        values["weights"] = f"{TIMM_PREFIX}{spec.name}"
        values["adapt"] = adapt
    return values


def probing(recipe: TrainConfig) -> bool:
    """Whether training keeps the backbone frozen and fits only the head."""
    return recipe.adapt == "probe" and parse(recipe.weights).kind != SCRATCH


# --- building the teacher's backbone -------------------------------------------------------


def teacher_backbone(recipe: TrainConfig, in_chans: int, sequence: bool = False) -> Backbone:
    """The teacher's backbone, randomly initialised or holding the pretrained weights.

    Pretrained weights have 3 input channels; timm adapts the stem of a timm checkpoint
    to another count (summing or repeating its filters), while our own Backbone/TaskModel
    dicts must match the source's channels exactly. A token-sequence input (`sequence`,
    with `in_chans` its vocabulary size) gets a sequence backbone from scratch."""
    from benchmark.backbones import Backbone, build_backbone

    spec = parse(recipe.weights)
    if sequence:
        if spec.kind != SCRATCH:
            raise UserError(
                f"teacher.weights={recipe.weights}: pretrained weights are for image "
                "backbones; a token-sequence input trains from scratch"
            )
        return build_backbone(recipe.backbone, in_chans, sequence=True)  # type: ignore[return-value]
    if spec.kind == SCRATCH:
        return Backbone(recipe.backbone, in_chans=in_chans)
    if spec.kind == "timm":
        return download(spec.name, in_chans)
    assert spec.path is not None
    kind, state = _split(load_checkpoint(spec.path))
    if kind == "timm":
        fit_checkpoint(spec.path, recipe.backbone)
        overlay = {"state_dict": dict(state)}  # a copy: timm pops the classifier from it
        return Backbone(recipe.backbone, in_chans, pretrained=True, pretrained_cfg_overlay=overlay)
    fit_checkpoint(spec.path, recipe.backbone, in_chans)
    backbone = Backbone(recipe.backbone, in_chans=in_chans)
    backbone.body.load_state_dict(state)
    return backbone


def fetch(recipe: TrainConfig) -> None:
    """Download `timm:` weights into the Hugging Face cache now, so that `bench run` stops
    before its first cell, not inside every cell, when they cannot be had."""
    spec = parse(recipe.weights)
    if spec.kind == "timm":
        download(spec.name, 3)

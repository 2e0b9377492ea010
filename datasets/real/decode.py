"""Reading a real dataset's files into tensors: images (decoded, stacked, resized three
ways: bilinear, ink-preserving, label maps) and sound (mono samples, log-mel features,
standardised on the training features).

What the adapters share about file formats, apart from what they share about splits and
registration (`datasets/real/common.py`): these readers turn an unreadable or odd-sized
file into the same one-line `malformed` error naming it, and the deep check
(`datasets/real/deep.py`) decodes with the same readers the loaders use.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .common import malformed

# --- images --------------------------------------------------------------------------------


def resize(x: Tensor, size: int) -> Tensor:
    """Bilinear resize of [N,C,H,W] floats to size×size, antialiased when shrinking."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)


def resize_ink(x: Tensor, size: int) -> Tensor:
    """Resize line drawings (ink in [0,1], 1 = stroke) by max-pooling when shrinking, so a
    one-pixel stroke stays a full-strength line instead of fading to grey."""
    if x.shape[-2:] == (size, size):
        return x
    if x.shape[-1] >= size and x.shape[-2] >= size:
        return F.adaptive_max_pool2d(x, (size, size))
    return F.interpolate(x, size=(size, size), mode="bilinear")


def resize_labels(y: Tensor, size: int) -> Tensor:
    """Nearest-neighbour resize of [N,H,W] integer label maps (never mixes two classes)."""
    if y.shape[-2:] == (size, size):
        return y
    out = F.interpolate(y[:, None].float(), size=(size, size), mode="nearest-exact")
    return out[:, 0].round().long()


def read_image(path: Path, mode: str) -> np.ndarray:
    """An image file as a float32 [H,W,C] array in [0,1] in PIL `mode` ("RGB" or "L");
    16-bit and float single-channel images keep their precision (16-bit scaled by 1/65535)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if mode == "L" and img.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float32) / 65535.0
            elif mode == "L" and img.mode == "F":
                arr = np.asarray(img, dtype=np.float32)
            else:
                arr = np.asarray(img.convert(mode), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise malformed(path, f"not a readable image ({err.__class__.__name__})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def stack_images(arrays: Sequence[np.ndarray], paths: Sequence[Path]) -> Tensor:
    """[H,W,C] arrays of one size → a [N,C,H,W] tensor; a file of another size is named."""
    shape = arrays[0].shape
    for arr, path in zip(arrays, paths, strict=True):
        if arr.shape != shape:
            raise malformed(path, f"size {arr.shape[:2]} differs from {shape[:2]} of {paths[0]}")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def load_images(
    paths: Sequence[Path], mode: str, size: int, reduce: Callable[[Tensor, int], Tensor]
) -> Tensor:
    """Decode and resize image files in chunks, so only one chunk is ever at full size."""
    out = []
    for start in range(0, len(paths), 256):
        chunk = paths[start : start + 256]
        out.append(reduce(stack_images([read_image(p, mode) for p in chunk], chunk), size))
    return torch.cat(out) if out else torch.zeros(0, 1 if mode == "L" else 3, size, size)


# --- audio -----------------------------------------------------------------------------------


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A sound file as mono float32 samples and its sample rate (soundfile: torchaudio ≥ 2.9
    needs torchcodec to read files)."""
    import soundfile

    try:
        wave, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as err:
        raise malformed(path, f"not a readable sound file ({err})") from None
    if len(wave) == 0:
        raise malformed(path, "holds no samples")
    return wave.mean(axis=1), int(rate)


def log_mel(
    waves: Sequence[np.ndarray], sample_rate: int, n_mels: int, frames: int, seconds: float
) -> Tensor:
    """Natural-log mel power [N, 1, n_mels, frames] of clips cut or zero-padded to `seconds`.

    Each clip is scaled to unit RMS first, so recording level is not a cue. The transform
    is the embedded world's (torchaudio MelSpectrogram, power 2, Slaney mel) with a window
    of about 32 ms, widened when there are more mel bands than frequency bins can fill.
    """
    from benchmark.datasets.world.audio import mel_transform  # torchaudio: imported on use

    length = max(2 * frames, round(seconds * sample_rate))
    n_fft = 2 ** math.ceil(math.log2(0.032 * sample_rate))
    while n_fft // 2 + 1 < 2 * n_mels:
        n_fft *= 2
    hop = max(1, length // frames)
    batch = torch.zeros(len(waves), length)
    for i, wave in enumerate(waves):
        clip = torch.from_numpy(np.ascontiguousarray(wave[:length], dtype=np.float32))
        rms = clip.pow(2).mean().sqrt().clamp_min(1e-8)
        batch[i, : len(clip)] = clip / rms
    mel = mel_transform(n_mels, hop, sample_rate, n_fft)(batch)
    return torch.log(mel[:, :, :frames] + 1e-6)[:, None].contiguous()


def standardise(features: Tensor, reference: Tensor) -> Tensor:
    """Zero mean, unit variance with one mean and std taken from the training features."""
    return (features - reference.mean()) / reference.std().clamp_min(1e-6)

"""Audio modality: log-mel features of the impact sound of the scene's primary object.

Modal synthesis: a struck object rings as a sum of exponentially damped sinusoids. The *ratios*
of its partial frequencies are set by the shape class (ideal bar, membrane, string, closed pipe
and bell ratio sets, plus invented ones), the fundamental by the object's size (bigger is
lower) and material (stiffer is higher), decay and spectral tilt by the material. Amplitudes,
phases, onset and a little detuning are random, and white noise at ``audio_snr_db`` is added.
So class evidence is the *pattern* of partials on a log-frequency axis, which moves with size
and material -- learnable, but not a trivial lookup.
"""

from __future__ import annotations

import functools
import math

import torch
import torchaudio
from torch import Tensor

from .config import SAMPLE_RATE, WorldConfig
from .noise import bulk_uniform
from .scene import Scene

# Partial frequency ratios per shape class (0 = unused).
_RATIOS: tuple[tuple[float, ...], ...] = (
    (1.0, 1.414, 1.732, 2.0, 2.236, 2.449),  # sphere: square-root series (invented)
    (1.0, 2.756, 5.404, 8.933, 13.344, 0.0),  # box: free-free ideal bar
    (1.0, 2.0, 3.0, 4.0, 5.0, 6.0),  # cylinder: harmonic, string/tube-like
    (1.0, 3.0, 5.0, 7.0, 9.0, 11.0),  # cone: odd harmonics, closed pipe
    (1.0, 1.594, 2.136, 2.296, 2.653, 2.918),  # torus: circular membrane (Bessel zeros)
    (1.0, 6.267, 17.547, 0.0, 0.0, 0.0),  # capsule: clamped-free bar (cantilever)
    (1.0, 1.52, 1.94, 2.71, 3.17, 3.79),  # octahedron: plate-like (invented)
    (1.0, 2.0, 2.4, 3.0, 4.0, 5.33),  # hexagonal prism: church-bell partials (hum = 1)
    (1.0, 2.32, 4.25, 6.63, 9.38, 0.0),  # triangular prism: stretched series (invented)
    (1.0, 1.5, 2.25, 3.375, 5.063, 0.0),  # square pyramid: geometric 3/2 series (invented)
    (1.0, 1.18, 2.76, 3.21, 5.40, 6.11),  # tetrahedron: close doublets (invented)
    (1.0, 1.25, 1.5, 1.75, 2.0, 2.25),  # dome: quarter-harmonic comb (invented)
)
# Per material (order of scene.MATERIALS): pitch factor, base decay rate (1/s), spectral tilt
# exponent (amplitude ~ ratio^-tilt), strike click level.
_MATERIAL_SOUND: tuple[tuple[float, float, float, float], ...] = (
    (1.0, 10.0, 1.0, 0.3),  # plastic
    (1.25, 2.5, 0.5, 0.2),  # metal
    (0.85, 16.0, 1.5, 0.5),  # wood
    (1.15, 5.0, 0.6, 0.3),  # ceramic
    (0.75, 25.0, 2.0, 0.6),  # rubber
)
# Fundamental (Hz) of an object of bounding radius 0.75 made of a pitch-factor-1 material.
_F0_REF: float = 420.0
_SCALE_REF: float = 0.75
_MAX_FREQ: float = 7600.0  # partials above this (near Nyquist) are dropped
_BLOCK: int = 128  # fallback synthesis block length (samples), see ``_damped_sines``
_CLICK: int = 512  # samples that hold the strike click (onset <= 240, decay 2 ms)
# Fixed affine normalisation of natural-log mel power, set once from the default world's
# typical range so features are roughly zero-mean and unit-scale. Never data-dependent.
_LOG_CENTER: float = -1.25
_LOG_SCALE: float = 1.75
_LOG_FLOOR: float = 1e-6


def n_fft_for(n_mels: int) -> int:
    """FFT size: 16 ms windows resolve the partials; 32 ms ones keep >128-band filters non-empty."""
    return 256 if n_mels <= 64 else 512


@functools.lru_cache(maxsize=8)
def mel_transform(
    n_mels: int, hop: int, sample_rate: int = SAMPLE_RATE, n_fft: int | None = None
) -> torchaudio.transforms.MelSpectrogram:
    """The feature definition, shared with the real-audio adapters: a standard torchaudio
    mel spectrogram (power 2, Slaney mel, 30 Hz to Nyquist)."""
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate,
        n_fft=n_fft or n_fft_for(n_mels),
        hop_length=hop,
        f_min=30.0,
        f_max=sample_rate / 2,
        n_mels=n_mels,
        power=2.0,
        center=True,
        norm="slaney",
        mel_scale="slaney",
    )


def _damped_sines(
    freq: Tensor, alpha: Tensor, amp: Tensor, phase: Tensor, onset: Tensor, length: int
) -> Tensor:
    """sum_p amp_p exp(-alpha_p t) sin(2 pi freq_p t + phase_p), t = k / sr - onset, [n, length].

    With lambda = -alpha + i omega and t = tau_j + beta_b (block start + offset in block),
    exp(lambda t) = exp(lambda tau_j) exp(lambda beta_b), so the whole signal is one batched
    matrix product of per-block and per-offset complex factors: transcendental functions are
    evaluated on n * P * (blocks + block length) values instead of n * P * length. Values
    before the onset are garbage here and are masked by the caller.
    """
    block = _block_length(length)
    blocks = -(-length // block)
    omega = 2.0 * torch.pi * freq  # [n, P]
    tau = torch.arange(blocks, dtype=torch.float32) * (block / SAMPLE_RATE) - onset  # [n, J]
    beta = torch.arange(block, dtype=torch.float32) / SAMPLE_RATE  # [B]
    # Exponents are clamped at -60: underflow to denormals is very slow on CPU.
    mag_j = amp[:, :, None] * torch.exp((-alpha[:, :, None] * tau[:, None, :]).clamp_min(-60.0))
    arg_j = torch.addcmul(phase[:, :, None], omega[:, :, None], tau[:, None, :])
    mag_b = torch.exp(-alpha[:, :, None] * beta)
    arg_b = omega[:, :, None] * beta
    left = torch.cat([mag_j * torch.cos(arg_j), mag_j * torch.sin(arg_j)], dim=1)  # [n, 2P, J]
    right = torch.cat([mag_b * torch.sin(arg_b), mag_b * torch.cos(arg_b)], dim=1)  # [n, 2P, B]
    wave = torch.bmm(left.transpose(1, 2), right)  # [n, J, B]: Im(A_j E_b) summed over p
    wave = wave.reshape(freq.shape[0], blocks * block)
    return wave if blocks * block == length else wave[:, :length].contiguous()


def _block_length(length: int) -> int:
    """A block length near sqrt(length) that divides it (no cropping copy), else _BLOCK."""
    root = max(1, math.isqrt(length))
    for b in range(root, 2 * root + 1):
        if length % b == 0:
            return b
    return _BLOCK


def synthesise(
    scene: Scene, rows: Tensor, primary: Tensor, config: WorldConfig, gen: torch.Generator
) -> Tensor:
    """Waveforms [len(rows), T]: impact sounds of the primary objects of scenes ``rows``.

    ``primary`` [len(rows)] holds those scenes' primary slots. The waveform is scaled to unit
    RMS before the noise is added.
    """
    n = rows.shape[0]
    length = config.audio_samples
    num_partials = len(_RATIOS[0])
    # Draw everything first, in a fixed order, independent of knob values.
    amp_jitter = torch.randn(n, num_partials, generator=gen)
    phase = 2.0 * torch.pi * torch.rand(n, num_partials, generator=gen)
    detune = torch.randn(n, num_partials, generator=gen)
    jitter = torch.randn(n, 3, generator=gen)  # decay, pitch, onset
    # Uniform white noise with unit variance: the background noise and the strike's burst.
    noise = bulk_uniform(gen, n, length + _CLICK).sub_(0.5).mul_(12.0**0.5)
    noise, burst = noise[:, :length], noise[:, length:]  # (a view: no copy)

    cls = scene.cls[rows, primary]
    size = scene.scale[rows, primary]
    sound = torch.tensor(_MATERIAL_SOUND)[scene.material[rows, primary]]
    pitch, decay, tilt, click_level = sound.unbind(1)

    ratios = torch.tensor(_RATIOS)[cls] * (1.0 + 0.01 * detune)  # [n, P]
    f0 = _F0_REF * (_SCALE_REF / size) * pitch * (1.0 + 0.05 * jitter[:, 1])
    freq = f0[:, None] * ratios
    used = (ratios > 0.5) & (freq < _MAX_FREQ)
    amp = ratios.clamp_min(1.0) ** -tilt[:, None] * torch.exp(0.5 * amp_jitter) * used
    alpha = (decay * (1.0 + 0.2 * jitter[:, 0].clamp(-2.0, 2.0)))[:, None]
    alpha = alpha * ratios.clamp_min(1.0) ** 0.5
    onset = 0.0075 * (1.0 + jitter[:, 2:3].clamp(-1.0, 1.0))  # seconds, in [0, 15 ms]

    wave = _damped_sines(freq, alpha, amp, phase, onset, length)
    # Silence before the onset (<= 240 samples) and the strike click right after it.
    t = torch.arange(_CLICK, dtype=torch.float32) / SAMPLE_RATE - onset
    started = (t >= 0).float()
    strike = burst * torch.exp((-t / 0.002).clamp(-60.0, 0.0))
    head = wave[:, :_CLICK]
    head.mul_(started).addcmul_(strike, started * click_level[:, None])
    # In place from here on: these [n, T] passes are memory-bound.
    rms = torch.linalg.vector_norm(wave, dim=1, keepdim=True).mul_(length**-0.5)
    sigma = 10.0 ** (-config.audio_snr_db / 20.0)
    return wave.div_(rms.clamp_min_(1e-6)).add_(noise, alpha=sigma)


def log_mel(wave: Tensor, config: WorldConfig) -> Tensor:
    """Normalised log-mel features [n, 1, n_mels, audio_frames] of waveforms [n, T].

    Equals ``mel_transform(...)(wave)`` (checked in the tests); the power spectrum is computed
    here from the transform's own window and filterbank because its complex ``abs`` is the
    slowest step on CPU.
    """
    frames = config.audio_frames
    hop = max(1, wave.shape[1] // frames)
    transform = mel_transform(config.n_mels, hop)
    spec = torch.stft(
        wave,
        n_fft=transform.n_fft,
        hop_length=hop,
        win_length=transform.win_length,
        window=transform.spectrogram.window,
        center=True,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    ri = torch.view_as_real(spec)
    power = ri[..., 0] * ri[..., 0] + ri[..., 1] * ri[..., 1]
    mel = transform.mel_scale(power)  # [n, n_mels, T // hop + 1] >= audio_frames + 1
    feats = (torch.log(mel[:, :, :frames] + _LOG_FLOOR) - _LOG_CENTER) / _LOG_SCALE
    return feats[:, None].contiguous()


def render_audio(
    scene: Scene, primary: Tensor, config: WorldConfig, gen: torch.Generator
) -> Tensor:
    """Audio features [n, 1, n_mels, audio_frames] for the primary object of each scene."""
    wave = synthesise(scene, torch.arange(scene.n), primary, config, gen)
    return log_mel(wave, config)

"""Configuration of the procedural paired world.

Every knob lives on one frozen dataclass so that a configuration is hashable, can be written
into a cache key with ``dataclasses.asdict`` and cannot drift while a dataset is generated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

# Bump whenever any output tensor changes for an existing (config, seed, index); the cache key
# contains it, so stale cache files are simply never looked up again.
GENERATOR_VERSION: str = "world-3"

# All modalities the world can render, in a fixed canonical order. ``label`` is always returned
# in addition and is not a modality.
MODALITIES: tuple[str, ...] = ("rgb", "depth", "seg", "sketch", "audio", "text")

# Samples are produced in chunks, each with its own random streams; see ``chunk_size``. The
# chunking is part of the definition of the data (changing it changes every sample).
MAX_CHUNK: int = 1024
MIN_CHUNK: int = 64
RAYS_PER_CHUNK: int = MAX_CHUNK * 32 * 32

# Audio sample rate of the synthesised impact sounds (Hz).
SAMPLE_RATE: int = 16_000

# Number of shape classes implemented in ``shapes.py``; ``num_classes`` may use up to this many.
MAX_CLASSES: int = 12

# Upper bound on objects per scene: more would not fit the 32x32 view in a meaningful way.
MAX_OBJECTS: int = 6


def chunk_size(image_size: int) -> int:
    """Samples per chunk: 1024 up to 32x32 pixels, halved per doubling of the pixel count.

    A chunk is always computed in full, and rendering has a per-chunk cost (Python and
    dispatch overhead of the per-class tracing loops), so big chunks amortise it; capping the
    rays per chunk bounds the memory at large image sizes.
    """
    chunk = MAX_CHUNK
    while chunk > MIN_CHUNK and chunk * image_size * image_size > RAYS_PER_CHUNK:
        chunk //= 2
    return chunk


@dataclass(frozen=True)
class WorldConfig:
    """All knobs of the world. Defaults are the single-object classification world.

    The continuous knobs (sketch_abstraction, sketch_ruling, depth_noise, audio_snr_db,
    colour_class_correlation, clutter, text_abstraction) never change which random numbers
    are drawn, only how they are used, so two configs that differ only in those show the
    *same* scenes: knob sweeps are paired comparisons. The integer fields change the draws
    (image_size via the chunking).

    What the gap knobs move, for reading a sweep (docs/gap.md, "The theory
    test"): sketch_abstraction widens the RGB-to-sketch gap *by removing* shape evidence
    from the sketch, so its all-labels ceiling falls with it; sketch_ruling widens it with a
    class-independent nuisance that removes none (a learner pays a little to ignore it, far
    less than the abstraction takes); colour_class_correlation leaves every
    target modality untouched and adds, on top of the modality-general class evidence (shape,
    which the sketch, depth and sound share), a modality-specific one (colour, which only RGB
    has), so the teacher's decisions move from the first to the second at fixed shape
    evidence.
    """

    # Side length of every image modality (rgb, depth, seg, sketch), in pixels. Larger images
    # make shape cues (creases, silhouettes) easier to read in the target modalities.
    image_size: int = 32
    # Number of shape classes used (the first ``num_classes`` of ``shapes.SHAPE_NAMES``).
    num_classes: int = 10
    # Objects per scene are drawn uniformly from [min_objects, max_objects]. Classes within a
    # scene are distinct, so ``max_objects <= num_classes``. More objects add occlusion and make
    # the scene (and the label, the largest visible object) harder in every modality.
    min_objects: int = 1
    max_objects: int = 1
    # Object pose: 0 = upright with a free spin about the vertical axis; 1 = tilted up to
    # 180° about a random horizontal axis (any side may face the camera). Higher values make
    # outlines ambiguous (a cylinder end-on is a disc) in every modality alike.
    pose_variation: float = 0.1
    # Sketch: 0 = clean, faithful silhouette + crease edges; 1 = strong stroke jitter, many
    # dropped strokes and no crease lines. Higher values widen the RGB-to-sketch gap.
    sketch_abstraction: float = 0.5
    # Sketch: strength of ruled lines on the paper under the drawing, a class-independent
    # nuisance (0 = blank paper, the default). The lines are a vertical cosine grating of
    # period image_size / 8 whose phase is drawn per sample, superimposed linearly:
    # sketch = (ink + r * lines) / (1 + r). Nothing of the drawing is removed or occluded (the
    # ink is recoverable exactly given the lines, and a filter notching the lines' single
    # spatial frequency sees almost only ink), and the lines carry no class information, so
    # the sketch's class evidence is the same at every value while the sketch looks less
    # like a photo to an RGB network. Whether a learner with labels does ignore them is
    # measured, not assumed: the all-labels ceiling across a sweep (docs/results.md).
    sketch_ruling: float = 0.0
    # Depth: scales sensor noise and missing pixels (dropout at silhouettes, grazing angles and
    # random holes). 0 = perfect depth. Higher values widen the RGB-to-depth gap.
    depth_noise: float = 0.5
    # Audio: signal-to-noise ratio (dB) of white noise added to the impact sound. Lower values
    # bury the weak high partials that distinguish shape classes.
    audio_snr_db: float = 10.0
    # RGB only: probability that an object's base colour is its class's palette colour (else a
    # uniformly random colour). High values give the RGB teacher a shortcut cue that the target
    # modalities lack, i.e. knowledge that does not transfer. In the terms of the Modality
    # Focusing Hypothesis (Xue et al., ICLR 2023) it moves the source's decisive class
    # evidence from modality-general features (shape, seen by every modality) towards a
    # modality-specific one (colour, RGB only), at fixed shape evidence: the target data are
    # bit-identical at every value (only RGB draws use it), so the target's own ceiling is
    # too, and only the teacher, and what it has to give, changes. It does not make the label
    # depend on anything only RGB shows: the label is the shape class by construction, so a
    # teacher's correct colour-based prediction is still a label the target can learn to
    # predict from shape. That is the sweep at fixed shape evidence; moving evidence so that
    # the label itself needs the source would take a class defined partly by colour.
    colour_class_correlation: float = 0.6
    # RGB only: expected fraction of the background distractors (blobs, lines) that are drawn.
    clutter: float = 0.5
    # Text: probability that the description's shape name is replaced by a vague word or by
    # the name of another shape family's class (0 = the name always exact; 1 = always
    # replaced, only the ambiguous indirect cues left). Higher values widen the RGB-to-text
    # gap by removing class evidence, so the text's all-labels ceiling falls with it
    # (`text.py`). Only text draws use it, so every other modality is bit-identical at
    # every value.
    text_abstraction: float = 0.5
    # Audio feature size: mel bands and time frames of the log-mel spectrogram.
    n_mels: int = 32
    audio_frames: int = 32
    # Length of the synthesised impact sound in seconds (at 16 kHz).
    audio_seconds: float = 0.25

    def validate(self) -> None:
        """Raise ``ValueError`` (one line: field, bad value, allowed range) on a bad field."""
        int_ranges: dict[str, tuple[int, int]] = {
            "image_size": (8, 256),
            "num_classes": (2, MAX_CLASSES),
            "min_objects": (1, MAX_OBJECTS),
            "max_objects": (1, MAX_OBJECTS),
            "n_mels": (4, 128),
            "audio_frames": (2, 1024),
        }
        float_ranges: dict[str, tuple[float, float]] = {
            "pose_variation": (0.0, 1.0),
            "sketch_abstraction": (0.0, 1.0),
            "sketch_ruling": (0.0, 1.0),
            "depth_noise": (0.0, 1.0),
            "audio_snr_db": (-30.0, 100.0),
            "colour_class_correlation": (0.0, 1.0),
            "clutter": (0.0, 1.0),
            "audio_seconds": (0.05, 4.0),
            "text_abstraction": (0.0, 1.0),
        }
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in int_ranges:
                lo, hi = int_ranges[f.name]
                if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                    raise ValueError(
                        f"WorldConfig.{f.name}={value!r} is invalid: "
                        f"expected an int in [{lo}, {hi}]"
                    )
            else:
                lo_f, hi_f = float_ranges[f.name]
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                if not ok or not math.isfinite(value) or not lo_f <= value <= hi_f:
                    raise ValueError(
                        f"WorldConfig.{f.name}={value!r} is invalid: "
                        f"expected a number in [{lo_f}, {hi_f}]"
                    )
        if self.max_objects < self.min_objects:
            raise ValueError(
                f"WorldConfig.max_objects={self.max_objects!r} is invalid: "
                f"expected an int in [min_objects={self.min_objects}, {MAX_OBJECTS}]"
            )
        if self.max_objects > self.num_classes:
            raise ValueError(
                f"WorldConfig.max_objects={self.max_objects!r} is invalid: "
                f"expected an int in [{self.min_objects}, num_classes={self.num_classes}] "
                "(classes within a scene are distinct)"
            )
        if self.audio_samples < 2 * self.audio_frames:
            raise ValueError(
                f"WorldConfig.audio_seconds={self.audio_seconds!r} is invalid: expected a number "
                f"in [{2 * self.audio_frames / SAMPLE_RATE}, 4.0] for audio_frames="
                f"{self.audio_frames} (at least two waveform samples per frame)"
            )

    @property
    def audio_samples(self) -> int:
        """Waveform length in samples."""
        return round(self.audio_seconds * SAMPLE_RATE)

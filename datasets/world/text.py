"""The text modality: each latent scene described as a short token sequence.

A description names the attributes of the scene's primary object (the labelled one) with
words from a small fixed vocabulary (`VOCAB`), most attributes with synonyms: the shape's
name, two indirect shape cues (round, pointed, faceted, ...), its size, material, colour,
position and depth, the background clutter and, in multi-object scenes, how many other
objects there are. Each attribute word is kept with probability `KEEP`, two to five
distractor words (the, photo, of, ...) are added, the words are shuffled into a random
order and left-aligned in `TEXT_LENGTH` slots padded with `PAD`.

`WorldConfig.text_abstraction` (a) widens the RGB-to-text gap by removing class evidence:
with probability a the shape's name is replaced, half the time by a vague word (thing,
object, ...) and half the time by the name of a class of another shape family (a round
shape called a pyramid); the indirect cues stay, each the class's own with probability
`CUE_RELIABILITY` and any cue word otherwise, and several classes share cues, so at a = 1
only ambiguous evidence is left. The colour word names the object's hue coarsely, so
`colour_class_correlation` puts class evidence into the text as well as into RGB (in text
colour is not a modality-specific cue).

Determinism: the draws come from the chunk's own "text" stream in a fixed number and
order per sample whatever the knobs, so a description depends only on (config, seed,
index), and two configs that differ in `text_abstraction` (or any continuous knob)
describe the same scenes with the same random numbers: a sweep is paired.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import WorldConfig
from .scene import MATERIALS, NUM_CLUTTER, OBJECT_Z_RANGE, SCALE_RANGE, TAN_HALF_FOV, Scene
from .shapes import SHAPE_NAMES

TEXT_LENGTH: int = 16  # tokens per description (padded)
PAD: int = 0
KEEP: float = 0.85  # probability that an attribute word is written
CUE_RELIABILITY: float = 0.75  # probability that a cue word is one of the class's own
MAX_DISTRACTORS: int = 5

# Per class, in SHAPE_NAMES order: three exact names (synonyms), its family, three cues.
_CLASSES: tuple[tuple[tuple[str, str, str], str, tuple[str, str, str]], ...] = (
    (("sphere", "ball", "orb"), "round", ("round", "smooth", "rolling")),
    (("box", "cube", "crate"), "prism", ("flat", "edged", "square")),
    (("cylinder", "tube", "drum"), "prism", ("round", "flat", "tall")),
    (("cone", "funnel", "horn"), "pointed", ("round", "pointed", "tapering")),
    (("torus", "ring", "donut"), "round", ("round", "hollow", "smooth")),
    (("capsule", "pill", "lozenge"), "round", ("round", "smooth", "tall")),
    (("octahedron", "diamond", "bipyramid"), "pointed", ("pointed", "faceted", "sharp")),
    (("hexprism", "hexagon", "nut"), "prism", ("flat", "faceted", "six")),
    (("prism", "wedge", "ridge"), "prism", ("flat", "edged", "three")),
    (("pyramid", "tent", "spire"), "pointed", ("pointed", "square", "faceted")),
    (("tetrahedron", "tetra", "caltrop"), "pointed", ("pointed", "sharp", "three")),
    (("dome", "hemisphere", "cupola"), "round", ("round", "flat", "half")),
)
assert len(_CLASSES) == len(SHAPE_NAMES)

VAGUE = ("thing", "object", "shape", "item", "piece", "form", "solid", "figure")
CUES = tuple(sorted({c for _, _, cues in _CLASSES for c in cues}))
SIZES = (("small", "tiny"), ("medium", "average"), ("large", "big"))
MATERIAL_WORDS = (
    ("plastic", "synthetic"),
    ("metal", "steel"),
    ("wood", "wooden"),
    ("ceramic", "porcelain"),
    ("rubber", "rubbery"),
)
assert len(MATERIAL_WORDS) == len(MATERIALS)
HUES = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")
GREYS = ("white", "grey", "black")  # for unsaturated colours
X_POSITIONS = (("left",), ("middle", "centre"), ("right",))
Z_POSITIONS = (("near", "close"), ("far", "distant"))
CLUTTER_WORDS = (("bare", "plain"), ("clutter", "messy"), ("busy", "crowded"))
OTHERS = (("alone",), ("pair",), ("group", "several"))
DISTRACTORS = ("the", "a", "of", "in", "there", "is", "with", "and", "photo", "scene", "view")

_SYNONYM_SETS: tuple[tuple[tuple[str, ...], ...], ...] = (
    SIZES,
    MATERIAL_WORDS,
    tuple((h,) for h in (*HUES, *GREYS)),
    X_POSITIONS,
    Z_POSITIONS,
    CLUTTER_WORDS,
    OTHERS,
)


def _vocabulary() -> tuple[str, ...]:
    words: list[str] = ["<pad>"]
    groups = [[n for names, _, _ in _CLASSES for n in names], list(VAGUE), list(CUES)]
    groups += [[w for syn in s for w in syn] for s in _SYNONYM_SETS] + [list(DISTRACTORS)]
    for group in groups:
        words += [w for w in group if w not in words]
    return tuple(words)


VOCAB: tuple[str, ...] = _vocabulary()
VOCAB_SIZE: int = len(VOCAB)
_ID = {w: i for i, w in enumerate(VOCAB)}


def _table(groups: tuple[tuple[str, ...], ...]) -> Tensor:
    """[G, S] token ids: synonyms of each group, cycled to the widest group's width."""
    width = max(len(g) for g in groups)
    return torch.tensor([[_ID[g[i % len(g)]] for i in range(width)] for g in groups])


_NAMES = _table(tuple(names for names, _, _ in _CLASSES))  # [12, 3]
_CLASS_CUES = _table(tuple(cues for _, _, cues in _CLASSES))  # [12, 3]
_FAMILY = torch.tensor([("round", "prism", "pointed").index(f) for _, f, _ in _CLASSES])
_VAGUE = torch.tensor([_ID[w] for w in VAGUE])
_ALL_CUES = torch.tensor([_ID[w] for w in CUES])
_DISTRACTORS = torch.tensor([_ID[w] for w in DISTRACTORS])
_TABLES = tuple(_table(s) for s in _SYNONYM_SETS)

# Candidate words: name, two cues, one per synonym set, then the distractors.
_WORDS = 3 + len(_TABLES)
_SLOTS = _WORDS + MAX_DISTRACTORS
assert _SLOTS <= TEXT_LENGTH
# Fixed draw layout: columns of one uniform [n, _DRAWS] matrix, in the order `render_text`
# reads them (name 4, cues 6, synonyms, keep flags, distractor count and words, order).
_DRAWS = 4 + 6 + len(_TABLES) + _WORDS + 1 + MAX_DISTRACTORS + _SLOTS


def _pick(table: Tensor, row: Tensor, u: Tensor) -> Tensor:
    """table[row, j] with j uniform from u in [0, 1) over the row's width."""
    j = (u * table.shape[1]).long().clamp_max(table.shape[1] - 1)
    return table[row, j]


def _uniform(choices: Tensor, u: Tensor) -> Tensor:
    return choices[(u * len(choices)).long().clamp_max(len(choices) - 1)]


def _colour_group(colour: Tensor) -> Tensor:
    """Index into HUES + GREYS of RGB colours [n, 3] in [0, 1]: the hue's name (hue in
    eighths of the circle), or white/grey/black by value when saturation is below 0.2."""
    value, top = colour.max(dim=1)
    spread = value - colour.min(dim=1).values
    r, g, b = colour.unbind(1)
    safe = spread.clamp_min(1e-6)
    sector = torch.stack([(g - b) / safe, (b - r) / safe + 2.0, (r - g) / safe + 4.0], dim=1)
    hue = (sector.gather(1, top[:, None]).squeeze(1) / 6.0) % 1.0
    named = ((hue * len(HUES) + 0.5).long()) % len(HUES)
    grey = len(HUES) + 2 - torch.bucketize(value, torch.tensor([0.35, 0.7]))
    saturation = spread / value.clamp_min(1e-6)
    return torch.where(saturation < 0.2, grey, named)


def render_text(scene: Scene, primary: Tensor, config: WorldConfig, gen: torch.Generator) -> Tensor:
    """Token ids int64 [n, TEXT_LENGTH] describing each scene's primary object."""
    n = scene.n
    u = torch.rand(n, _DRAWS, generator=gen)
    used = 0

    def take(width: int = 0) -> Tensor:
        """The next `width` columns of draws ([n, width]; width 0: one column, [n])."""
        nonlocal used
        start, used = used, used + max(width, 1)
        return u[:, start] if width == 0 else u[:, start:used]

    rows = torch.arange(n)
    cls = scene.cls[rows, primary]

    # The name: exact (a synonym), or with probability a replaced by a vague word or by a
    # name of a class of another family.
    replace, vague, pick = take(), take(), take()
    exact = _pick(_NAMES, cls, pick)
    vague_word = _uniform(_VAGUE, pick)
    other = (_FAMILY[None, :] != _FAMILY[cls][:, None]).float()  # [n, C] other-family mask
    other = other[:, : config.num_classes] if config.num_classes < len(_FAMILY) else other
    if bool((other.sum(1) == 0).any()):  # a world whose classes are all one family
        other = torch.ones_like(other)
    cum = other.cumsum(1) / other.sum(1, keepdim=True)
    wrong_cls = torch.searchsorted(cum, pick[:, None].contiguous(), right=True).squeeze(1)
    wrong_cls = wrong_cls.clamp_max(other.shape[1] - 1)
    wrong = _pick(_NAMES, wrong_cls, take())
    name = torch.where(
        replace < config.text_abstraction, torch.where(vague < 0.5, vague_word, wrong), exact
    )

    # Two indirect cues: the class's own with probability CUE_RELIABILITY, else any cue.
    cues = []
    for _ in range(2):
        reliable, own, anyone = take(), take(), take()
        own_cue = _pick(_CLASS_CUES, cls, own)
        cues.append(torch.where(reliable < CUE_RELIABILITY, own_cue, _uniform(_ALL_CUES, anyone)))

    # The other attributes, each group's synonyms drawn uniformly.
    lo, hi = SCALE_RANGE
    scale = scene.scale[rows, primary]
    size = (torch.log(scale / lo) / torch.log(torch.tensor(hi / lo)) * 3).long().clamp(0, 2)
    if config.max_objects > 1:  # crowded scenes draw smaller objects: size relative to that
        size = torch.full_like(size, 1)
    material = scene.material[rows, primary]
    colour = _colour_group(scene.colour[rows, primary])
    pos = scene.pos[rows, primary]
    reach = TAN_HALF_FOV * pos[:, 2]
    x = ((pos[:, 0] / reach.clamp_min(1e-6) + 1.0) * 1.5).long().clamp(0, 2)
    z = (pos[:, 2] > sum(OBJECT_Z_RANGE) / 2).long()
    clutter_count = scene.clutter_on.sum(1)
    clutter = torch.bucketize(clutter_count, torch.tensor([0, NUM_CLUTTER // 2]), right=True)
    others = (scene.active.sum(1) - 1).clamp(0, 2)
    groups = (size, material, colour, x, z, clutter, others)
    attrs = [_pick(t, g, take()) for t, g in zip(_TABLES, groups, strict=True)]

    words = torch.stack([name, *cues, *attrs], dim=1)  # [n, 10]
    keep = take(words.shape[1]) < KEEP
    keep[:, 0] = True  # the name slot is always written (its word may be a replaced one)
    if config.max_objects == 1:
        keep[:, -1] = False  # "alone" says nothing in a single-object world
    count = 2 + (take() * (MAX_DISTRACTORS - 1)).long().clamp_max(MAX_DISTRACTORS - 2)
    fillers = _uniform(_DISTRACTORS, take(MAX_DISTRACTORS))
    keep_fill = torch.arange(MAX_DISTRACTORS)[None, :] < count[:, None]
    tokens = torch.cat([words, fillers], dim=1)
    valid = torch.cat([keep, keep_fill], dim=1)
    order = torch.where(valid, take(_SLOTS), 2.0).argsort(dim=1)
    tokens = torch.where(valid, tokens, PAD).gather(1, order)
    assert used == _DRAWS
    out = torch.full((n, TEXT_LENGTH), PAD, dtype=torch.int64)
    out[:, : tokens.shape[1]] = tokens
    return out


def decode(tokens: Tensor) -> str:
    """One description as words (padding dropped), for reading and debugging."""
    return " ".join(VOCAB[int(t)] for t in tokens if int(t) != PAD)

"""Sequence backbones: small `torch.nn` encoders over token embeddings, for students whose
modality is text (token ids, int64 [N, L], 0 = padding).

They return the same `Outputs` as the image backbones, so every method and the evaluation
read them unchanged: the embedding is the mean of the deepest stage over the non-padding
tokens, and each stage is a feature map laid out [B, C, L, 1] (channels, then the token
positions as the height, a width of one). Methods that compare the two backbones' maps
position by position declare themselves not applicable to a sequence student
(`Method.needs_spatial_maps`): a token slot of a shuffled description is no place in an
image. Methods that read the embedding, or pool the maps globally, run.

Two kinds, chosen by name (`student.backbone`):

- `text-transformer` (the default for token inputs): token plus learned position
  embeddings, then two pre-norm Transformer encoder layers (4 heads, width 64, feed-forward
  128), padding masked out of the attention; stages: the embedded tokens and each layer's
  output.
- `text-cnn`: token embeddings, then two 1-D convolutions (kernel 3) with batch norm and
  ReLU; stages: the embedded tokens and each convolution's output.

`channels` and `dim` are what methods size their modules by, as for the timm wrapper.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from benchmark.method import Outputs

WIDTH = 64
MAX_LENGTH = 512  # longest sequence the position embedding covers
SEQUENCE_BACKBONES: dict[str, str] = {
    "text-transformer": "two Transformer encoder layers over token embeddings (width 64)",
    "text-cnn": "two 1-D convolutions over token embeddings (width 64)",
}
DEFAULT_SEQUENCE_BACKBONE = "text-transformer"


class SequenceBackbone(nn.Module):
    """A token-sequence encoder returning `Outputs(embedding, [B, C, L, 1] stage maps)`."""

    def __init__(self, name: str, vocab_size: int, width: int = WIDTH) -> None:
        super().__init__()
        if name not in SEQUENCE_BACKBONES:
            raise ValueError(f"unknown sequence backbone {name!r}")
        if vocab_size < 2:
            raise ValueError(f"vocab_size={vocab_size} is invalid: expected an int >= 2")
        self.name = name
        self.vocab_size = vocab_size
        self.tokens = nn.Embedding(vocab_size, width, padding_idx=0)
        self.layers: nn.ModuleList
        if name == "text-transformer":
            self.positions = nn.Parameter(torch.randn(MAX_LENGTH, width) * 0.02)
            self.layers = nn.ModuleList(
                nn.TransformerEncoderLayer(
                    width,
                    nhead=4,
                    dim_feedforward=2 * width,
                    dropout=0.1,
                    batch_first=True,
                    norm_first=True,
                )
                for _ in range(2)
            )
            self.norm = nn.LayerNorm(width)
        else:
            self.layers = nn.ModuleList(
                nn.Sequential(
                    nn.Conv1d(width, width, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm1d(width),
                    nn.ReLU(inplace=True),
                )
                for _ in range(2)
            )
        self.channels: tuple[int, ...] = (width,) * (len(self.layers) + 1)
        self.dim = width

    def forward(self, x: Tensor) -> Outputs:
        tokens = x.long()
        if tokens.dim() != 2:
            raise ValueError(f"a sequence backbone reads token ids [B, L], got {tuple(x.shape)}")
        if tokens.shape[1] > MAX_LENGTH:
            raise ValueError(f"sequences of {tokens.shape[1]} tokens exceed {MAX_LENGTH}")
        if bool(((tokens < 0) | (tokens >= self.vocab_size)).any()):
            raise ValueError(f"token ids outside [0, {self.vocab_size})")
        pad = tokens == 0
        h = self.tokens(tokens)  # [B, L, C]
        stages = [h]
        if self.name == "text-transformer":
            h = h + self.positions[: tokens.shape[1]]
            # An all-padding row would leave attention nothing to attend to: let it see slot 0.
            mask = pad.clone()
            mask[:, 0] &= ~mask.all(dim=1)
            for layer in self.layers:
                h = layer(h, src_key_padding_mask=mask)
                stages.append(h)
            stages[-1] = h = self.norm(h)
        else:
            c = h.transpose(1, 2)
            for layer in self.layers:
                c = layer(c)
                stages.append(c.transpose(1, 2))
            h = stages[-1]
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        embedding = (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        maps = [s.transpose(1, 2).unsqueeze(-1) for s in stages]  # [B, C, L, 1]
        return Outputs(embedding=embedding, feature_maps=maps)

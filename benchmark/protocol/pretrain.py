"""Self-supervised pre-training of the source encoder with SimCLR.

CMCD's protocol (Lin et al., arXiv 2405.03355, Sec. 4) starts from a source encoder
pre-trained *without labels*, then distils it across modalities. `teacher.pretrain:
simclr` reproduces that step: the teacher backbone learns from the source pool's images
alone with SimCLR (Chen, Kornblith, Norouzi, Hinton, ICML 2020), and only afterwards is a
task head fitted on its frozen features with the source labels (the paper's linear
evaluation protocol), so that the teacher still has logits and a source score.

The loss is SimCLR's NT-Xent (their Eq. 1): for a batch of N images seen in two views,
each of the 2N projected embeddings z_i has one positive (the other view of its image)
and 2N − 2 negatives:

    ℓ(i, j) = −log  exp(sim(z_i, z_j)/τ) / Σ_{k ≠ i} exp(sim(z_i, z_k)/τ),

averaged over all 2N anchors, with sim the cosine similarity. The projection head g is
SimCLR's two-layer MLP (hidden width = encoder width, ReLU, output 128) and is discarded
after pre-training. The optimiser is the recipe's SGD with cosine decay rather than LARS:
LARS exists for batches of thousands, which these profiles do not use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.backbones import Backbone
from benchmark.protocol.augment import ViewRecipe, random_view
from benchmark.protocol.checkpoint import EpochCheckpoint
from benchmark.protocol.loop import LoopSettings, Progress, train_loop
from benchmark.streams import seeded

PROJECTION_DIM = 128


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """NT-Xent over the 2N embeddings of N positive pairs (row i of z1 ↔ row i of z2)."""
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), -torch.inf)
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positives)


def projection_head(dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, PROJECTION_DIM))


def simclr_pretrain(
    backbone: Backbone,
    x: Tensor,
    loop: LoopSettings,
    *,
    temperature: float,
    seed: int,
    progress: Progress | None = None,
    recipe: ViewRecipe | None = None,
    checkpoint: EpochCheckpoint | None = None,
) -> None:
    """Train `backbone` in place on unlabelled images `x` with NT-Xent; with a `checkpoint`,
    resumable epoch by epoch (the projection head is saved with the backbone)."""
    recipe = recipe or ViewRecipe()
    device = next(backbone.parameters()).device
    gen = seeded(seed, "simclr")
    torch.manual_seed(seed)
    head = projection_head(backbone.dim).to(device)
    params = [*backbone.parameters(), *head.parameters()]

    def step(idx: Tensor) -> dict[str, Tensor]:
        xb = x[idx]
        v1, v2 = random_view(xb, recipe, gen), random_view(xb, recipe, gen)
        z = head(backbone(torch.cat([v1, v2]).to(device)).embedding)
        return {"nt_xent": nt_xent(z[: len(idx)], z[len(idx) :], temperature)}

    both = nn.ModuleDict({"backbone": backbone, "head": head})
    both.train()
    train_loop(
        both,
        params,
        len(x),
        loop,
        gen,
        step,
        name="simclr",
        progress=progress,
        checkpoint=checkpoint,
    )
    backbone.eval()

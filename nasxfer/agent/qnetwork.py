"""The Q-network of the agent as a plain torch module (no Ray needed).

Architecture (Cassimon et al., "Scalable RL-based NAS", 2024): every candidate
cell's encoding goes through 3 Linear+ReLU layers to a ``embed_dim`` vector; a
transformer encoder (``n_layers`` layers, ``n_heads`` heads) lets the
candidates of one step attend to each other; a dueling head gives one Q-value
per candidate: ``Q_k = V + A_k - mean_valid(A)``, with V from a masked mean
pool of the set and A_k per candidate, each head 3 Linear layers.

Masked (padding) slots get ``-inf``: RLlib's DQN learner nan_to_num's -inf to
0 around its gathers, and argmax / random draws never pick them.

Nothing in the weights depends on the number of slots S, only on the encoding
size D, so a network moves between tasks (and benchmarks with the same D).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import NasxferError

NEG_INF = float("-inf")
# The constructor arguments that fix a network's shape (besides the encoding size): what a
# checkpoint records and what must agree for weights to move between agents.
NETWORK_KEYS = ("embed_dim", "n_heads", "n_layers", "ff_dim", "head_hidden", "dueling")


def _mlp(sizes: list[int], final_relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if final_relu or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class QNetwork(nn.Module):
    """Candidate-set Q-network.

    Args:
        encoding_dim: D, size of one candidate's encoding.
        embed_dim: width of the per-candidate embedding and of the transformer.
        n_heads, n_layers, ff_dim: transformer encoder shape (``ff_dim``: its
            feed-forward width; torch's default 2048 doubles update time on CPU).
        head_hidden: hidden width of the 3-layer value/advantage heads.
        dueling: value + advantage heads; else one 3-layer Q head.
    """

    def __init__(
        self,
        encoding_dim: int,
        embed_dim: int = 256,
        n_heads: int = 4,
        n_layers: int = 2,
        ff_dim: int = 512,
        head_hidden: int = 256,
        dueling: bool = True,
    ):
        super().__init__()
        if embed_dim % n_heads:
            raise NasxferError(f"embed_dim ({embed_dim}) must be divisible by n_heads ({n_heads}): change one of them")
        self.config = dict(
            encoding_dim=int(encoding_dim),
            embed_dim=int(embed_dim),
            n_heads=int(n_heads),
            n_layers=int(n_layers),
            ff_dim=int(ff_dim),
            head_hidden=int(head_hidden),
            dueling=bool(dueling),
        )
        self.embed = _mlp([encoding_dim, embed_dim, embed_dim, embed_dim], final_relu=True)
        layer = nn.TransformerEncoderLayer(embed_dim, n_heads, dim_feedforward=ff_dim, dropout=0.0, batch_first=True)
        # no nested-tensor fast path: it changes padded outputs between train/eval mode
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.advantage = _mlp([embed_dim, head_hidden, head_hidden, 1], final_relu=False)
        self.value = _mlp([embed_dim, head_hidden, head_hidden, 1], final_relu=False) if dueling else None

    def forward(self, candidates: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
        """(B, S, D) encodings and (B, S) mask -> (B, S) Q-values, -inf on masked slots."""
        valid = action_mask.bool()
        h = self.encoder(self.embed(candidates), src_key_padding_mask=~valid)
        a = self.advantage(h).squeeze(-1)
        if self.value is None:
            q = a
        else:
            w = valid.to(h.dtype)
            n = w.sum(-1, keepdim=True).clamp_min(1.0)
            pooled = (h * w.unsqueeze(-1)).sum(1) / n
            a_mean = (a * w).sum(-1, keepdim=True) / n
            q = self.value(pooled) + a - a_mean
        return q.masked_fill(~valid, NEG_INF)

    @torch.no_grad()
    def greedy(self, candidates, action_mask) -> torch.Tensor:
        return self(torch.as_tensor(candidates), torch.as_tensor(action_mask)).argmax(-1)

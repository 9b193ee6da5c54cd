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

Observations come compact from the env (candidate cells as indices of the shared
vocabulary's space, their diagonal offsets, the mask: 39 bytes per candidate slot
set instead of 28 kB of floats); :class:`CandidateEncoder` rebuilds exactly
:func:`nasxfer.encoding.encode`'s floats inside the network, from a table held as
a non-persistent buffer: it moves with the network to its device but is no part of
the state dict, so weights saved before compact observations still load.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..encoding import MAX_NODES, encoding_size, shared_positions
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


def _attention_backend(device: torch.device):
    """Attention over <= 50 candidates: on CPU torch's plain "math" kernel, not its default flash
    kernel (built for long sequences), which made a whole DQN update 1.6-2x slower at our sizes
    (19 candidates, batch 128, head width 16; benchmarks/bench_agent.py). GPUs keep torch's choice."""
    return sdpa_kernel([SDPBackend.MATH]) if device.type == "cpu" else contextlib.nullcontext()


def pad_of(encoding_dim: int) -> int | None:
    """The pad size whose encoding has `encoding_dim` features, or None if there is none."""
    for pad in range(MAX_NODES, 257):
        if encoding_size(pad) == encoding_dim:
            return pad
    return None


class CandidateEncoder(nn.Module):
    """Compact candidates (shared-space cell indices, diagonal offsets) -> :func:`~nasxfer.encoding.encode`'s floats.

    One scatter of ones at ``base[cell] + offset * step`` (see :func:`~nasxfer.encoding.shared_positions`);
    unused positions land in one extra column that is dropped.
    """

    def __init__(self, pad: int):
        super().__init__()
        base, step = shared_positions(pad)
        self.dim = encoding_size(pad)
        self.pad = pad
        self.register_buffer("base", torch.from_numpy(base.astype("int64")), persistent=False)
        self.register_buffer("step", torch.from_numpy(step.astype("int64")), persistent=False)

    def positions(self, cells: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """(..., S) cells and offsets -> (..., S, MAX_ARCS + MAX_NODES) positions of the ones
        (``dim`` = unused), each at most once per candidate."""
        base = self.base[cells.long()]
        return torch.where(base < self.dim, base + offsets.long().unsqueeze(-1) * self.step, base)

    def forward(self, cells: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """(..., S) cells and offsets -> (..., S, D) float32 encodings."""
        pos = self.positions(cells, offsets)
        out = torch.zeros(*pos.shape[:-1], self.dim + 1, dtype=torch.float32, device=pos.device)
        return out.scatter_(-1, pos, 1.0)[..., : self.dim]


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
        # decodes compact observations; only an encoding size some pad gives has a table
        pad = pad_of(encoding_dim)
        self.decoder = CandidateEncoder(pad) if pad is not None else None

    def inputs(self, obs: dict) -> torch.Tensor:
        """(B, S, D) float encodings of an observation batch: compact (``cells``, ``offsets``) or
        already encoded (``candidates``)."""
        if "cells" not in obs:
            return torch.as_tensor(obs["candidates"]).float()
        if self.decoder is None:
            raise NasxferError(
                f"this network's encoding size ({self.config['encoding_dim']}) is no pad size's: it cannot "
                "read compact observations (cells, offsets); pass encoded candidates"
            )
        return self.decoder(torch.as_tensor(obs["cells"]), torch.as_tensor(obs["offsets"]))

    def q(self, obs: dict) -> torch.Tensor:
        """(B, S) Q-values of an observation batch (dict of ``action_mask`` and the candidates)."""
        # the encodings are built dense: a first layer summing weight columns (embedding bag)
        # measured 8-20% slower forward + backward on CPU than the dense product
        return self(self.inputs(obs), torch.as_tensor(obs["action_mask"]))

    def forward(self, candidates: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
        """(B, S, D) encodings and (B, S) mask -> (B, S) Q-values, -inf on masked slots."""
        return self.scores(self.embed(candidates), action_mask)

    def scores(self, embedded: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
        """(B, S, embed_dim) candidate embeddings -> (B, S) Q-values, -inf on masked slots."""
        valid = action_mask.bool()
        # Both benchmarks' cells all have the same number of neighbours, so no slot is ever
        # padding (see NASEnv) and the pooling below can skip the mask (same values). The
        # attention keeps its (all-false) padding mask: without it 2-thread runs of one seed
        # parted now and then (MKL picks kernels by memory alignment), with it they never did.
        padded = not bool(valid.all())
        with _attention_backend(embedded.device):
            h = self.encoder(embedded, src_key_padding_mask=~valid)
        a = self.advantage(h).squeeze(-1)
        if self.value is None:
            q = a
        elif padded:
            w = valid.to(h.dtype)
            n = w.sum(-1, keepdim=True).clamp_min(1.0)
            pooled = (h * w.unsqueeze(-1)).sum(1) / n
            a_mean = (a * w).sum(-1, keepdim=True) / n
            q = self.value(pooled) + a - a_mean
        else:
            q = self.value(h.mean(1)) + a - a.mean(-1, keepdim=True)
        return q.masked_fill(~valid, NEG_INF) if padded else q

    @torch.no_grad()
    def greedy(self, candidates, action_mask) -> torch.Tensor:
        return self(torch.as_tensor(candidates), torch.as_tensor(action_mask)).argmax(-1)

    @torch.inference_mode()
    def greedy_obs(self, obs: dict) -> torch.Tensor:
        """Best valid slot of each observation in a batch (compact or encoded)."""
        return self.q(obs).argmax(-1)

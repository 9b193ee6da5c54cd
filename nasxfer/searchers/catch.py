"""CATCH: context-based meta-RL architecture search (Chen, Duan et al., ECCV 2020), behind ask/tell.

A CATCHer has three parts, trained end to end with one loss:

* a **context encoder** (PEARL's amortized variational inference): every (cell, normalised
  reward) pair of the search history gives a Gaussian factor over a latent context ``z``; the
  posterior is their product, sampled by reparameterisation, with a KL term to a unit Gaussian
  prior (weight :attr:`CatchParams.kl_weight`);
* a **controller**, an MLP policy that samples a cell one edge decision at a time, conditioned on
  ``z`` and the one-hot decisions taken so far, invalid ops masked; trained with PPO's clipped
  surrogate, every decision rewarded with its cell's normalised score;
* an **evaluator**, an MLP scoring a (cell, ``z``) pair, trained like a Q-network on the
  normalised scores of the queried cells (Huber loss, prioritized replay, a batch of 80% of the
  buffer). Of the controller's candidates, only the one it scores highest is queried
  (epsilon-greedy, epsilon reset on every task).

Meta-training (:func:`meta_train`) runs this loop on source tasks, one task per meta-epoch, a few
queries each; adaptation is the same loop on the target, starting from the meta-trained weights
(each search works on its own copy). The variants: ``meta`` (meta-trained), ``sfs`` (from scratch:
no meta-training), ``zero`` (meta-trained with ``z = 0``), ``random`` (meta-trained with ``z``
drawn from the prior).

The paper gives the latent size (10), the KL weight (0.1), 25 meta-epochs of 20 queried networks,
and the 80% replay batch; its appendix with the rest is lost from every copy we found. Every
other setting is ours, and each one is marked so in :class:`CatchParams`. One more choice of
ours is a behaviour, not a number: a meta-trained controller grows sure of a few cells, and
when every candidate it samples has been queried already (a repeat costs no query, so the
search would stall), the candidates are drawn from its distribution over the cells not yet
queried instead (:attr:`CatchSearcher.resampled` counts these queries).

Cells are encoded in the shared op vocabulary of both benchmarks (``none`` + the four ops of
:data:`nasxfer.search_space.KNOWN_OPS`), one-hot per edge; on TransNAS-Bench-101 the controller
masks ``avg_pool_3x3``, which that space lacks.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import nn

from ..encoding import SHARED_SPACE, shared_index
from ..errors import NasxferError, unknown
from ..search_space import N_EDGES
from .base import LoopSearcher

VARIANTS = ("meta", "sfs", "zero", "random")
N_OPS = SHARED_SPACE.n_ops  # 5: none + every op either benchmark has
MAX_LOG_RATIO = 20.0  # PPO's log-ratio is clamped here, so exp() stays finite


@dataclass(frozen=True)
class CatchParams:
    """Every setting of CATCH. (paper): given by Chen et al.; (ours): the paper is silent."""

    latent_dim: int = 10  # (paper) the context z
    kl_weight: float = 0.1  # (paper) weight of KL(q(z | history) || N(0, I))
    meta_epochs: int = 25  # (paper) one task each
    queries_per_meta_epoch: int = 20  # (paper) networks queried per meta-epoch
    batch_share: float = 0.8  # (paper) share of the replay buffer in an evaluator batch
    hidden: int = 64  # (ours) width of every MLP's two hidden layers
    lr: float = 1e-3  # (ours) Adam, one optimiser for all three parts
    initial_random: int = 5  # (ours) random cells that seed the history ("a few"); they count as queries
    candidates: int = 16  # (ours) cells the controller samples per query; the evaluator picks one
    ppo_clip: float = 0.2  # (ours) PPO's clipping range
    ppo_window: int = 16  # (ours) the last queried cells form PPO's batch
    ppo_dual_clip: float = 3.0  # (ours) bound of a negative advantage's ratio (dual-clip PPO, Ye et al. 2020)
    entropy_coef: float = 0.01  # (ours) entropy bonus of the controller
    updates_per_query: int = 2  # (ours) gradient steps after each query
    per_alpha: float = 0.6  # (ours) prioritized replay exponent
    huber_delta: float = 1.0  # (ours)
    eps_start: float = 0.5  # (ours) epsilon of the evaluator's choice on a new task ...
    eps_decay: float = 0.9  # (ours) ... times this per query ...
    eps_min: float = 0.05  # (ours) ... down to this

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise NasxferError(f"CatchParams.{f.name} = {v!r}: must be a number >= 0")
        if self.ppo_dual_clip <= 1:
            raise NasxferError(f"CatchParams.ppo_dual_clip = {self.ppo_dual_clip}: must be > 1 (dual-clip PPO)")
        if not 0 < self.batch_share <= 1:
            raise NasxferError(f"CatchParams.batch_share = {self.batch_share}: must lie in (0, 1]")

    def ours(self) -> dict:
        """The settings the paper does not give: our choices, listed for the record."""
        paper = {"latent_dim", "kl_weight", "meta_epochs", "queries_per_meta_epoch", "batch_share"}
        return {k: v for k, v in asdict(self).items() if k not in paper}


def _mlp(sizes) -> nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class CatchNet(nn.Module):
    """Encoder, controller and evaluator of one CATCHer (plain torch, a few thousand weights)."""

    def __init__(self, params: CatchParams):
        super().__init__()
        h, d, cell = params.hidden, params.latent_dim, N_EDGES * N_OPS
        self.params = params
        self.encoder = _mlp([cell + 1, h, h, 2 * d])  # -> mean and pre-softplus variance of one factor
        self.controller = _mlp([d + cell + N_EDGES, h, h, N_OPS])
        self.evaluator = _mlp([cell + d, h, h, 1])

    def posterior(self, onehots: torch.Tensor, rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of the product of the history's Gaussian factors."""
        out = self.encoder(torch.cat([onehots, rewards[:, None]], dim=1))
        mu, var = out.chunk(2, dim=1)
        var = nn.functional.softplus(var) + 1e-4
        post_var = 1.0 / (1.0 / var).sum(dim=0)
        return post_var * (mu / var).sum(dim=0), post_var

    def sample(self, z: torch.Tensor, n: int, op_mask: torch.Tensor, gen: torch.Generator):
        """`n` cells from the controller: (n, 6) op codes (shared vocabulary) and their log-probabilities."""
        taken = torch.zeros(n, N_EDGES, N_OPS)
        ops = torch.zeros(n, N_EDGES, dtype=torch.long)
        logp = torch.zeros(n)
        for t in range(N_EDGES):
            logits = self._logits(z.expand(n, -1), taken, t, op_mask)
            probs = torch.softmax(logits, dim=1)
            a = torch.multinomial(probs, 1, generator=gen)[:, 0]
            ops[:, t] = a
            logp += torch.log(probs.gather(1, a[:, None])[:, 0])
            taken[torch.arange(n), t, a] = 1.0
        return ops, logp

    def log_prob(self, z: torch.Tensor, ops: torch.Tensor, op_mask: torch.Tensor):
        """Log-probability (and mean entropy per decision) of given cells under the controller."""
        n = ops.shape[0]
        taken = torch.zeros(n, N_EDGES, N_OPS)
        logp, ent = torch.zeros(n), torch.zeros(n)
        for t in range(N_EDGES):
            logits = self._logits(z.expand(n, -1), taken, t, op_mask)
            logq = torch.log_softmax(logits, dim=1)
            logp = logp + logq.gather(1, ops[:, t : t + 1])[:, 0]
            ent = ent - (logq.exp() * torch.where(torch.isfinite(logq), logq, 0.0)).sum(dim=1) / N_EDGES
            taken = taken.clone()
            taken[torch.arange(n), t, ops[:, t]] = 1.0
        return logp, ent

    def log_prob_all(self, z: torch.Tensor, n_ops: int) -> torch.Tensor:
        """Log-probability of every cell over the first `n_ops` ops, in lexicographic order of
        its op codes (cell ``(a0, .., a5)`` at ``sum(a_t * n_ops ** (5 - t))``). Walks the tree of
        prefixes, so the controller runs once per prefix (3,906 rows for 5 ops), not per cell
        and decision (93,750)."""
        mask = torch.arange(N_OPS) < n_ops
        taken = torch.zeros(1, N_EDGES, N_OPS)
        logp = torch.zeros(1)
        for t in range(N_EDGES):
            m = taken.shape[0]
            logq = torch.log_softmax(self._logits(z.expand(m, -1), taken, t, mask), dim=1)[:, :n_ops]
            logp = (logp[:, None] + logq).reshape(-1)  # child k of prefix j at j * n_ops + k
            taken = taken.repeat_interleave(n_ops, dim=0)
            taken[torch.arange(m * n_ops), t, torch.arange(n_ops).repeat(m)] = 1.0
        return logp

    def _logits(self, z, taken, t, op_mask):
        step = torch.zeros(z.shape[0], N_EDGES)
        step[:, t] = 1.0
        logits = self.controller(torch.cat([z, taken.flatten(1), step], dim=1))
        return logits.masked_fill(~op_mask, float("-inf"))  # invalid ops get probability 0

    def score(self, onehots: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.evaluator(torch.cat([onehots, z.expand(onehots.shape[0], -1)], dim=1))[:, 0]


def _onehot(ops: torch.Tensor) -> torch.Tensor:
    return nn.functional.one_hot(ops, N_OPS).float().flatten(1)


class CatchSearcher(LoopSearcher):
    """One CATCH search on one task through ask/tell; its network learns as it searches.

    `net` is trained in place (meta-training passes the shared CATCHer); ``copy_net=True``
    (adaptation, the default) searches with a private copy, so trials never leak into one
    another. Without `net`, a fresh CATCHer (``sfs``) is built from `params`, seeded by `rng`.
    """

    name = "catch"

    def __init__(
        self,
        space,
        rng: np.random.Generator,
        budget: int | None = None,
        net: CatchNet | None = None,
        variant: str = "meta",
        params: CatchParams | None = None,
        copy_net: bool = True,
    ):
        if variant not in VARIANTS:
            raise unknown("CATCH variant", variant, VARIANTS)
        self.space, self.rng, self.variant = space, rng, variant
        self.gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        if net is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(rng.integers(2**31)))
                net = CatchNet(params or CatchParams())
        elif copy_net:
            net = copy.deepcopy(net)
        self.net, self.params = net, net.params
        self.opt = torch.optim.Adam(net.parameters(), lr=self.params.lr)
        # the space's cells as shared-vocabulary op codes; ops this space lacks are masked. Both
        # benchmarks' op lists are prefixes of the shared one, so a code means the same op in each.
        if SHARED_SPACE.ops[: space.n_ops] != space.ops:
            raise NasxferError(f"CATCH needs a space whose ops are a prefix of {SHARED_SPACE.ops}, got {space.ops}")
        self._shared_codes = torch.as_tensor(SHARED_SPACE.codes[shared_index(space)], dtype=torch.long)
        self.op_mask = torch.arange(N_OPS) < space.n_ops
        # each cell's row in CatchNet.log_prob_all (its op codes read as a number in base n_ops)
        self._lex = (self._shared_codes * space.n_ops ** torch.arange(N_EDGES - 1, -1, -1)).sum(dim=1)
        self.resampled = 0  # queries whose sampled candidates were all known (see loop)

    # ---- the search loop ----------------------------------------------------------------------
    def loop(self):
        p = self.params
        cells, values, logps = [], [], []
        for _ in range(p.initial_random):
            cell = int(self.rng.integers(self.space.size))
            values.append((yield cell))
            cells.append(cell)
            logps.append(None)  # not the controller's: no PPO sample
        eps = p.eps_start
        while True:
            known = set(cells)
            with torch.no_grad():
                z = self._context(cells, values)
                ops, logp = self.net.sample(z, p.candidates, self.op_mask, self.gen)
                picks = [int(c) for c in self.space.from_ops(ops.numpy())]
                fresh = [i for i, c in enumerate(picks) if c not in known]
                if not fresh:
                    # (ours) a controller sure of itself samples only cells it has queried; a repeat
                    # costs no query, so the search would never spend its budget. Draw the candidates
                    # from the controller's own distribution over the cells not yet queried instead.
                    picks, logp = self._sample_unqueried(z, known)
                    ops, fresh = self._shared_codes[picks], list(range(len(picks)))
                    self.resampled += 1
                scores = self.net.score(_onehot(ops), z)
            if self.rng.random() < eps:
                i = int(self.rng.choice(fresh))
            else:
                i = max(fresh, key=lambda j: float(scores[j]))
            eps = max(p.eps_min, eps * p.eps_decay)
            values.append((yield picks[i]))
            cells.append(picks[i])
            logps.append(float(logp[i]))
            self._learn(cells, values, logps)

    def _sample_unqueried(self, z: torch.Tensor, known: set) -> tuple[list, torch.Tensor]:
        """Up to ``candidates`` distinct cells not in `known`, drawn from the controller's
        distribution restricted to them (exact: every cell of the space is scored), with their
        log-probabilities under the unrestricted controller, as PPO's ratio needs."""
        if len(known) >= self.space.size:
            raise NasxferError(f"CATCH has queried all {self.space.size} cells of {self.space.name}")
        logp_all = self.net.log_prob_all(z, self.space.n_ops)[self._lex]
        masked = logp_all.clone()
        masked[sorted(known)] = float("-inf")
        probs = torch.softmax(masked, dim=0)
        k = min(self.params.candidates, int((probs > 0).sum()))
        picks = torch.multinomial(probs, k, replacement=False, generator=self.gen)
        return [int(c) for c in picks], logp_all[picks]

    def _context(self, cells, values, grad: bool = False) -> torch.Tensor:
        d = self.params.latent_dim
        if self.variant == "zero":
            return torch.zeros(d)
        if self.variant == "random":
            return torch.randn(d, generator=self.gen)
        mu, var = self.net.posterior(_onehot(self._shared_codes[cells]), torch.as_tensor(_normalise(values)))
        eps = torch.randn(d, generator=self.gen)
        return mu + var.sqrt() * eps

    def _learn(self, cells, values, logps) -> None:
        p = self.params
        onehots = _onehot(self._shared_codes[cells])
        target = torch.as_tensor(_normalise(values), dtype=torch.float32)
        # PPO's batch: the controller's own recent samples (the random seeds of the history have none)
        recent = [k for k in range(len(cells)) if logps[k] is not None][-p.ppo_window :]
        old_logp = torch.tensor([logps[k] for k in recent])
        ops = self._shared_codes[[cells[k] for k in recent]]
        n = len(cells)
        for _ in range(p.updates_per_query):
            if self.variant in ("meta", "sfs"):
                mu, var = self.net.posterior(onehots, target)
                z = mu + var.sqrt() * torch.randn(p.latent_dim, generator=self.gen)
                kl = 0.5 * (var + mu**2 - 1.0 - var.log()).sum()
            else:
                z, kl = self._context(cells, values), torch.zeros(())
            logp, ent = self.net.log_prob(z, ops, self.op_mask)
            adv = target[recent]
            # a resampled cell may have had probability e^-300 when queried: its ratio can leave
            # float range after a few updates, so the log-ratio is clamped (no gradient beyond)
            ratio = (logp - old_logp).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO).exp()
            clipped = ratio.clamp(1 - p.ppo_clip, 1 + p.ppo_clip)
            surrogate = torch.min(ratio * adv, clipped * adv)
            # dual clip (Ye et al., 2020): a bad cell's loss is bounded at dual_clip * advantage
            surrogate = torch.where(adv < 0, torch.max(surrogate, p.ppo_dual_clip * adv), surrogate)
            ppo = -surrogate.mean() - p.entropy_coef * ent.mean()
            # the evaluator's batch: 80% of the buffer, drawn by priority (|error| ** alpha)
            with torch.no_grad():
                err = (self.net.score(onehots, z) - target).abs().numpy() + 1e-3
            prio = err**p.per_alpha
            size = max(1, int(round(p.batch_share * n)))
            batch = self.rng.choice(n, size=size, replace=False, p=prio / prio.sum())
            pred = self.net.score(onehots[batch], z)
            evaluator = nn.functional.huber_loss(pred, target[batch], delta=p.huber_delta)
            loss = ppo + evaluator + p.kl_weight * kl
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()


def _normalise(values) -> np.ndarray:
    """A history's rewards as z-scores among themselves (ours: the paper's formula is lost), so
    one CATCHer reads top-1 in percent and SSIM alike."""
    v = np.asarray(values, dtype=np.float32)
    sd = v.std()
    return (v - v.mean()) / sd if sd > 0 else np.zeros_like(v)


def meta_train(bench, tasks, seed: int, variant: str = "meta", params: CatchParams | None = None):
    """A CATCHer meta-trained on `tasks` of `bench`: ``meta_epochs`` searches of
    ``queries_per_meta_epoch`` cells, each on a task drawn with `seed`. Returns (net, log):
    the log has one row per meta-epoch (task, best validation value found). The source tasks'
    queries are the meta-training's own; no target cell is read."""
    from ..oracle import QueryOracle
    from .base import drive

    params = params or CatchParams()
    if variant == "sfs":
        raise NasxferError("CATCH-sfs is the variant without meta-training: build CatchSearcher(net=None)")
    tasks = list(tasks)
    if not tasks:
        raise NasxferError("meta-training needs at least one source task")
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2**31)))
        net = CatchNet(params)
    log = []
    for epoch in range(params.meta_epochs):
        task = tasks[int(rng.integers(len(tasks)))]
        oracle = QueryOracle(bench, task, params.queries_per_meta_epoch)
        drive(CatchSearcher(bench.space, rng, net=net, variant=variant, copy_net=False), oracle)
        log.append({"meta_epoch": epoch, "task": task, "best_valid": oracle.best_at(oracle.n_unique)[1]})
    return net, log

"""Transfer NAS (Borsos, Khorlin, Gesmundo, 2019): a transformer policy trained jointly over
search spaces and tasks, transferred to a new space by reusing what it has seen by name.

**The chain.** A candidate is a chain of categorical decisions. The first state, ``S``, picks the
search space (in a drawn (space, task) pair only that space is available, so its action is the
space's embedding entering the sequence); then one state per edge of the cell, named by the
edge (``edge 0-1`` ... ``edge 2-3``), whose actions are the ops that space allows on it, named by
op. A state's embedding is shared by name across spaces, an action's by name across states, a
task's by name; all of size 8 (paper).

**The policy.** For each available action at a step, the sequence of the past decisions' input
embeddings plus the candidate's (each ``[action ; task ; state]``, 24 floats), with learned
positional encodings, goes through a transformer encoder (1 head, 2 layers; paper); its last
output, through a linear layer of that state, is the candidate's logit; a softmax over the
candidates is the policy.

**Learning.** REINFORCE with an exponential-moving-average baseline per (space, task), an
entropy bonus (0.15), and Priority Queue Training: the 25 best distinct candidates of each
(space, task) (weight 5); Adam, lr 5e-4 (all paper). One update after every sample: each sample
is a query, so the agent learns inside its budget. **Transfer** reloads every parameter and every
embedding the new space names, initialises new ones at random, and explores with a uniform
mixture over the available actions whose weight decays linearly from 0.1 to 0 over the first
100 samples (paper).

The rest is ours (:class:`TransferNASParams` marks which): the rewards are the validation metric
standardised by the values seen so far in that (space, task), since the paper's single
accuracy scale does not cover SSIM or negative losses and the table's range would leak what no
searcher may see; the EMA decay; the feed-forward width; the initial scale of new embeddings; the
mixture's gradient (the policy's own log-probability).

:class:`LSTMPolicy` is the double-XOR comparison's recurrent policy (Zoph & Le style), with the
same interface.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..errors import NasxferError
from ..search_space import EDGES
from .base import LoopSearcher

EMB = 8  # (paper) every embedding
EDGE_STATES = tuple(f"edge {a}-{b}" for a, b in EDGES)


@dataclass(frozen=True)
class TransferNASParams:
    """(paper): Borsos et al.; (ours): the paper is silent."""

    lr: float = 5e-4  # (paper) Adam
    entropy: float = 0.15  # (paper)
    pqt_weight: float = 5.0  # (paper)
    pqt_size: int = 25  # (paper) best distinct candidates kept per (space, task)
    layers: int = 2  # (paper)
    heads: int = 1  # (paper)
    mix_start: float = 0.1  # (paper) uniform mixture weight right after transfer ...
    mix_steps: int = 100  # (paper) ... decayed linearly to 0 over this many samples
    baseline_decay: float = 0.9  # (ours) EMA of the rewards, per (space, task)
    ff_dim: int = 64  # (ours) transformer feed-forward width
    init_scale: float = 0.1  # (ours) std of a new embedding
    # (ours) in a search, a sample that repeats a queried cell is learned from as usual (its value
    # costs no query), and the next sample is drawn from the policy restricted to the cells not
    # queried yet. On a space of 4,096 or 15,625 cells a transferred policy otherwise asks for
    # the same cells thousands of times per 200 queries (the paper's 423k-cell space hardly
    # repeats). Joint training, whose budget is in samples, draws plainly.
    fresh_after_repeat: bool = True

    def ours(self) -> dict:
        paper = {"lr", "entropy", "pqt_weight", "pqt_size", "layers", "heads", "mix_start", "mix_steps"}
        return {k: v for k, v in asdict(self).items() if k not in paper}


def _key(name: str) -> str:
    return name.replace(".", "_").replace("/", "|")  # ParameterDict keys may not hold "."


def extend(pasts: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """(P * k, m + 1, d): each of the P pasts (P, m, d) followed by each of the k candidates (k, d)."""
    (P, m, d), k = pasts.shape, cand.shape[0]
    return torch.cat([pasts[:, None].expand(P, k, m, d), cand[None, :, None].expand(P, k, 1, d)], dim=2).reshape(
        P * k, m + 1, d
    )


class NamedEmbeddings(nn.Module):
    """What every policy here shares: embeddings of states, actions and tasks and one linear head
    per state, keyed by name and grown as new names appear. A subclass adds its sequence model,
    whose output width is `head_in`, and ``logits``."""

    def __init__(self, params: TransferNASParams, head_in: int):
        super().__init__()
        self.params, self.head_in = params, head_in
        self.states, self.actions, self.tasks = nn.ParameterDict(), nn.ParameterDict(), nn.ParameterDict()
        self.heads = nn.ModuleDict()

    def ensure(self, chain, task: str, gen: torch.Generator) -> list[str]:
        """Create the embeddings and heads `chain` and `task` name that do not exist yet; returns them."""
        new = []

        def add(table, name, make):
            if _key(name) not in table:
                table[_key(name)] = make()
                new.append(name)

        rand = lambda: nn.Parameter(torch.randn(EMB, generator=gen) * self.params.init_scale)  # noqa: E731
        add(self.tasks, task, rand)
        for state, actions in chain:
            add(self.states, state, rand)
            add(self.heads, state, lambda: self._linear(gen))
            for a in actions:
                add(self.actions, a, rand)
        return new

    def _linear(self, gen: torch.Generator) -> nn.Linear:
        with torch.random.fork_rng(devices=[]):  # a new head's init from the agent's generator, not torch's
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=gen)))
            return nn.Linear(self.head_in, 1)

    def last_output(self, seq: torch.Tensor) -> torch.Tensor:
        """(n, head_in): the sequence model's output at the last position of each of `seq` (n, m, 24)."""
        raise NotImplementedError

    def logits(self, past: torch.Tensor, state: str, actions, task: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The candidates' logits given the past decisions' inputs (m, 24); and their inputs."""
        logits, cand = self.prefix_logits(past[None], state, actions, task)
        return logits[0], cand

    def prefix_logits(self, pasts: torch.Tensor, state: str, actions, task: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, k): the candidates' logits after each of P pasts (P, m, 24) at once; and their inputs (k, 24)."""
        cand = self.inputs(state, actions, task)
        out = self.last_output(extend(pasts, cand))
        return self.heads[_key(state)](out)[:, 0].view(pasts.shape[0], cand.shape[0]), cand

    def inputs(self, state: str, actions, task: str) -> torch.Tensor:
        """(k, 24): each candidate action's input embedding ``[action ; task ; state]``."""
        a = torch.stack([self.actions[_key(x)] for x in actions])
        k = len(actions)
        return torch.cat([a, self.tasks[_key(task)].expand(k, EMB), self.states[_key(state)].expand(k, EMB)], dim=1)


class TransformerPolicy(NamedEmbeddings):
    """The attention-based policy; its embeddings and state heads grow as new names appear."""

    def __init__(self, params: TransferNASParams, max_len: int = 16):
        d = 3 * EMB
        super().__init__(params, head_in=d)
        self.pos = nn.Parameter(torch.randn(max_len, d) * params.init_scale)
        layer = nn.TransformerEncoderLayer(d, params.heads, params.ff_dim, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, params.layers, enable_nested_tensor=False)

    def last_output(self, seq: torch.Tensor) -> torch.Tensor:
        return self.encoder(seq + self.pos[: seq.shape[1]])[:, -1]

    def chain_logits(self, chain, task: str, action_lists) -> list:
        """Every step's candidate logits for whole chains whose actions are known (one tuple per
        chain in `action_lists`), in one encoder call: step m's sequences are the chosen inputs of
        steps < m plus each candidate, padded to the chain's length (the padding masked). Equal to
        calling :meth:`logits` step by step; one list of per-step logits per tuple."""
        cands = [self.inputs(state, names, task) for state, names in chain]
        n = len(chain)
        seqs, masks, last = [], [], []
        for actions in action_lists:
            chosen = torch.stack([c[a] for c, a in zip(cands, actions)])  # (M, 24)
            for m, c in enumerate(cands):
                k = c.shape[0]
                seq = torch.zeros(k, n, c.shape[1])
                seq[:, :m] = chosen[:m]
                seq[:, m] = c
                pad = torch.ones(k, n, dtype=torch.bool)
                pad[:, : m + 1] = False
                seqs.append(seq)
                masks.append(pad)
                last += [m] * k
        out = self.encoder(torch.cat(seqs) + self.pos[:n], src_key_padding_mask=torch.cat(masks))
        picked = out[torch.arange(out.shape[0]), torch.tensor(last)]
        result, start = [], 0
        for _ in action_lists:
            logits = []
            for (state, _), c in zip(chain, cands):
                logits.append(self.heads[_key(state)](picked[start : start + c.shape[0]])[:, 0])
                start += c.shape[0]
            result.append(logits)
        return result


class LSTMPolicy(NamedEmbeddings):
    """A recurrent policy (Zoph & Le): an LSTM over the past decisions' embeddings, one linear
    head per state over its actions. Same interface as :class:`TransformerPolicy`."""

    def __init__(self, params: TransferNASParams, hidden: int = 40):  # 40: about the transformer's weight count
        super().__init__(params, head_in=hidden)
        self.lstm = nn.LSTM(3 * EMB, hidden, batch_first=True)

    def last_output(self, seq: torch.Tensor) -> torch.Tensor:
        return self.lstm(seq)[0][:, -1]


class TransferNASAgent:
    """The policy with what it learns by: per-(space, task) baselines and priority queues, one Adam."""

    def __init__(self, params: TransferNASParams | None = None, seed: int = 0, policy: str = "transformer"):
        self.params = params or TransferNASParams()
        self.gen = torch.Generator().manual_seed(int(seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.policy = TransformerPolicy(self.params) if policy == "transformer" else LSTMPolicy(self.params)
        self.baselines: dict = {}
        self.queues: dict = defaultdict(dict)  # (space, task) -> {actions: reward}
        self.values: dict = defaultdict(list)  # (space, task) -> rewards seen, for their scale
        self.samples_since_transfer = None  # None: never transferred (no mixture)
        self.queried: dict = defaultdict(set)  # (benchmark, task) -> cells its training read
        self._opt = None

    def transferred(self, seed: int) -> TransferNASAgent:
        """A copy to go on training on a new space: same parameters and embeddings, fresh optimiser
        and queues, the uniform mixture switched on, and its own random stream from `seed` (copies
        of one agent must not sample alike: each is a replica of its own)."""
        other = copy.deepcopy(self)
        other.gen = torch.Generator().manual_seed(int(seed))
        other.baselines, other.queues, other.values = {}, defaultdict(dict), defaultdict(list)
        other.samples_since_transfer, other._opt = 0, None
        return other

    def _optimiser(self):
        if self._opt is None or self._n_params != sum(1 for _ in self.policy.parameters()):
            self._opt = torch.optim.Adam(self.policy.parameters(), lr=self.params.lr, foreach=True)
            self._n_params = sum(1 for _ in self.policy.parameters())
        return self._opt

    def _mix(self) -> float:
        """The uniform mixture's weight now: 0 unless transferred, then decaying over `mix_steps`."""
        if self.samples_since_transfer is None:
            return 0.0
        p = self.params
        return p.mix_start * max(0.0, 1.0 - self.samples_since_transfer / p.mix_steps)

    def sample(self, chain, task: str, exclude: np.ndarray | None = None) -> tuple[int, ...]:
        """One candidate: an action index per state of `chain`. With `exclude` (a boolean per
        action tuple of the chain, in C order), one drawn from the policy restricted to the tuples
        not excluded (see :meth:`_sample_restricted`)."""
        self.policy.ensure(chain, task, self.gen)
        mix = self._mix()
        if exclude is not None:
            return self._sample_restricted(chain, task, mix, exclude)
        return tuple(int(a) for a in self.sample_many(chain, task, 1, mix)[0])

    def log_prob_all(self, chain, task: str, mix: float = 0.0) -> torch.Tensor:
        """The log-probability of every action tuple of `chain` (C order) under the policy mixed
        with `mix` of uniform: one batched call per level of the prefix tree."""
        pasts, logp = torch.zeros(1, 0, 3 * EMB), torch.zeros(1)
        with torch.no_grad():
            for i, (state, actions) in enumerate(chain):
                logits, cand = self.policy.prefix_logits(pasts, state, actions, task)
                probs = (1 - mix) * torch.softmax(logits, 1) + mix / len(actions)
                logp = (logp[:, None] + torch.log(probs)).reshape(-1)
                if i + 1 < len(chain):
                    pasts = extend(pasts, cand)
        return logp

    def sample_many(self, chain, task: str, n: int, mix: float = 0.0) -> np.ndarray:
        """(n, len(chain)): n independent samples of the policy mixed with `mix` of uniform, drawn
        level by level in one batched call per state."""
        pasts, out = torch.zeros(n, 0, 3 * EMB), []
        with torch.no_grad():
            for state, actions in chain:
                logits, cand = self.policy.prefix_logits(pasts, state, actions, task)
                probs = (1 - mix) * torch.softmax(logits, 1) + mix / len(actions)
                a = torch.multinomial(probs, 1, generator=self.gen)[:, 0]
                out.append(a)
                pasts = torch.cat([pasts, cand[a][:, None]], dim=1)
        return torch.stack(out, dim=1).numpy()

    # the batches of plain samples tried before scoring the whole prefix tree
    REJECTION_BATCHES = (64, 512)

    def _sample_restricted(self, chain, task, mix, exclude) -> tuple[int, ...]:
        # Rejection first: the first sample not excluded among independent plain samples is a draw
        # from the restricted policy, and a batch costs far less than scoring every cell. Only
        # when the cells left hold too little of the policy's mass is the whole tree scored;
        # either way the draw is exact.
        shape = tuple(len(actions) for _, actions in chain)
        flat = exclude.reshape(-1)
        if flat.all():
            raise NasxferError("every candidate of the chain is excluded: nothing left to sample")
        for n in self.REJECTION_BATCHES:
            batch = self.sample_many(chain, task, n, mix)
            ok = ~flat[np.ravel_multi_index(batch.T, shape)]
            if ok.any():
                return tuple(int(x) for x in batch[int(np.argmax(ok))])
        logp = self.log_prob_all(chain, task, mix).masked_fill(torch.as_tensor(flat), -torch.inf)
        i = int(torch.multinomial(torch.softmax(logp, 0), 1, generator=self.gen))
        return tuple(int(x) for x in np.unravel_index(i, shape))

    def _log_probs(self, chain, task, action_lists) -> list:
        """(log-probability, mean entropy per step) of each action tuple of `action_lists`."""
        if hasattr(self.policy, "chain_logits"):
            per_chain = self.policy.chain_logits(chain, task, action_lists)
        else:
            per_chain = []
            for actions in action_lists:
                past, steps = torch.zeros(0, 3 * EMB), []
                for (state, names), a in zip(chain, actions):
                    logits, cand = self.policy.logits(past, state, names, task)
                    steps.append(logits)
                    past = torch.cat([past, cand[a : a + 1]])
                per_chain.append(steps)
        out = []
        for steps, actions in zip(per_chain, action_lists):
            logp, ent = torch.zeros(()), torch.zeros(())
            for logits, a in zip(steps, actions):
                logq = torch.log_softmax(logits, 0)
                logp = logp + logq[a]
                ent = ent - (logq.exp() * logq).sum()
            out.append((logp, ent / len(chain)))
        return out

    def learn(self, chain, task: str, space: str, actions, value: float) -> None:
        """One update from one sample's validation value (REINFORCE + entropy + PQT)."""
        p, pair = self.params, (space, task)
        seen = self.values[pair]
        seen.append(float(value))
        scale = float(np.std(seen)) if len(seen) > 1 and np.std(seen) > 0 else 1.0
        b = self.baselines.get(pair, float(value))
        advantage = (float(value) - b) / scale
        self.baselines[pair] = p.baseline_decay * b + (1 - p.baseline_decay) * float(value)
        queue = self.queues[pair]
        queue[tuple(actions)] = float(value)
        if len(queue) > p.pqt_size:
            del queue[min(queue, key=queue.get)]
        best = list(queue)[int(torch.randint(len(queue), (1,), generator=self.gen))]
        (logp, ent), (logp_best, _) = self._log_probs(chain, task, [tuple(actions), best])
        loss = -advantage * logp - p.entropy * ent - p.pqt_weight * logp_best
        opt = self._optimiser()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if self.samples_since_transfer is not None:
            self.samples_since_transfer += 1


def cell_chain(space, ops=None) -> list:
    """The decision chain of a cell space (restricted to the op names `ops` if given): ``S`` with
    the space's name, then one state per edge with its op names."""
    allowed = tuple(space.ops) if ops is None else tuple(ops)
    bad = [o for o in allowed if o not in space.ops]
    if bad:
        raise NasxferError(f"ops {bad} are not ops of {space.name} ({space.ops})")
    name = space.name if ops is None else f"{space.name}[{','.join(allowed)}]"
    return [("S", [name])] + [(s, list(allowed)) for s in EDGE_STATES]


class TransferNASSearcher(LoopSearcher):
    """A Transfer NAS search on one (space, task): sample a chain, query its cell, learn from it.

    `agent` is trained in place (joint training passes the shared agent); ``copy_agent=True`` (the
    default for a search) works on :meth:`TransferNASAgent.transferred`, a copy with the mixture
    on, so trials never leak into one another. Without `agent`, a fresh one seeded from `rng`
    (the scratch arm). `ops` restricts the space to a subspace of its ops.
    """

    name = "transfer-nas"

    def __init__(
        self,
        space,
        rng,
        budget=None,
        agent=None,
        task: str = "task",
        ops=None,
        copy_agent: bool = True,
        fresh_after_repeat: bool | None = None,
    ):
        self.space, self.task = space, task
        self.chain = cell_chain(space, ops)
        if agent is None:
            agent = TransferNASAgent(seed=int(rng.integers(2**31)))
        elif copy_agent:
            agent = agent.transferred(seed=int(rng.integers(2**31)))
        self.agent = agent
        self.fresh = agent.params.fresh_after_repeat if fresh_after_repeat is None else fresh_after_repeat
        self._code = {op: space.ops.index(op) for op in self.chain[1][1]}

    def loop(self):
        names = [actions for _, actions in self.chain]
        # one flag per action tuple of the chain (C order): distinct tuples are distinct cells
        asked = np.zeros([len(a) for a in names], dtype=bool)
        repeat = False
        while True:
            # after a repeat, a new cell unless the whole (sub)space is queried
            exclude = asked if repeat and self.fresh and not asked.all() else None
            actions = self.agent.sample(self.chain, self.task, exclude)
            ops = [self._code[names[i + 1][a]] for i, a in enumerate(actions[1:])]
            repeat = bool(asked[actions])
            asked[actions] = True
            value = yield int(self.space.from_ops(ops))
            self.agent.learn(self.chain, self.task, self.chain[0][1][0], actions, value)


def joint_train(pairs, samples: int, seed: int, params: TransferNASParams | None = None) -> TransferNASAgent:
    """An agent trained on (benchmark, task, ops) `pairs` (``ops`` None: the whole space), one pair
    drawn uniformly per sample, `samples` samples in all (each a query of that source table)."""
    from ..oracle import QueryOracle

    if not pairs:
        raise NasxferError("joint training needs at least one (benchmark, task, ops) pair")
    rng = np.random.default_rng(seed)
    agent = TransferNASAgent(params, seed=int(rng.integers(2**31)))
    searchers = [
        (
            TransferNASSearcher(
                b.space, rng, agent=agent, task=f"{b.name}/{task}", ops=ops, copy_agent=False, fresh_after_repeat=False
            ),
            QueryOracle(b, task, b.space.size),
            (b.name, task),
        )
        for b, task, ops in pairs
    ]
    for _ in range(samples):
        s, oracle, key = searchers[int(rng.integers(len(searchers)))]
        cell = s.ask()
        s.tell(cell, oracle.query(cell))
        agent.queried[key].add(cell)
    return agent


# ---- the paper's toy check ----------------------------------------------------------------------

XOR_CHAIN = [(f"S{i}", ["0", "1"]) for i in range(1, 8)]


def double_xor(agent: TransferNASAgent, samples: int) -> np.ndarray:
    """Train `agent` on the double-XOR toy (7 binary decisions, reward 1 when a1 xor a5 and
    a3 xor a7, else 0: a policy must relate decisions 4 steps apart); returns the reward of every sample."""
    rewards = np.zeros(samples)
    for i in range(samples):
        a = agent.sample(XOR_CHAIN, "xor")
        rewards[i] = float((a[0] ^ a[4]) and (a[2] ^ a[6]))
        agent.learn(XOR_CHAIN, "xor", "xor", a, rewards[i])
    return rewards

"""Prioritized replay of n-step transitions with compact observations, in preallocated arrays.

What it stores and why (Ape-X, Horgan et al. 2018; prioritized replay, Schaul et al. 2016):

- **n-step transitions, built as they arrive.** Each actor (one env of the vector) keeps its
  last ``n_step`` steps; a transition ``(s_t, a_t, R = sum_j discount**j r_{t+j}, s_{t+k},
  terminated, k)`` is written once its k = n_step rewards are in, or when the episode ends.
  At the end of an episode the remaining steps are written with k < n_step, all ending at the
  final observation: a step that *terminated* (the "stop" action) carries ``terminated=True``
  and is not bootstrapped; a step cut by the time limit (*truncated*) is bootstrapped from the
  last observation (partial episode bootstrapping, the paper's).
- **Compact observations.** Candidate cells, diagonal offsets and the mask as small integers
  (the Q-network rebuilds the float encoding, see :class:`~.qnetwork.CandidateEncoder`):
  a few hundred bytes per transition (:attr:`bytes_per_transition`), not 2 x 28 kB of floats.
- **Proportional prioritization.** A sum tree gives sampling proportional to
  ``priority ** alpha``, stratified over the batch (one draw per equal slice of the total mass,
  as Schaul et al.); a min tree gives the smallest probability, which normalises the
  importance weights ``(N * P(i)) ** -beta`` to at most 1. New transitions enter with the
  largest priority seen so far; a trained batch's priorities become ``|TD error| + 1e-6``.
  Both trees are arrays walked level by level for the whole batch at once.

RLlib's prioritized *episode* buffer does the same sampling, but builds a one-step episode per
sampled transition and runs n-step in Python per draw: on 2 cores that was more time than the
network's update (benchmarks/bench_agent.py).
"""

from __future__ import annotations

import numpy as np

PRIORITY_EPS = 1e-6  # added to |TD| so no transition's priority drops to zero


class NStepPrioritizedReplay:
    """Prioritized replay of n-step transitions (see the module docstring).

    Args:
        capacity: transitions kept (oldest overwritten first).
        obs_spec: ``{key: (shape, dtype)}`` of one observation (a gymnasium Dict space's boxes).
        n_step, discount: the n-step return.
        alpha, beta: priority exponent, importance-sampling exponent.
        seed: the generator of the stratified draws.
    """

    def __init__(
        self,
        capacity: int,
        obs_spec: dict,
        *,
        n_step: int = 3,
        discount: float = 0.99,
        alpha: float = 0.6,
        beta: float = 0.4,
        seed=0,
    ):
        self.capacity = int(capacity)
        self.n_step, self.discount = int(n_step), float(discount)
        self.alpha, self.beta = float(alpha), float(beta)
        self._leaf0 = 1 << max(int(self.capacity - 1).bit_length(), 0)  # tree leaves: a power of two
        self._sum = np.zeros(2 * self._leaf0)
        self._min = np.full(2 * self._leaf0, np.inf)
        self.obs = {k: np.zeros((self.capacity, *shape), dtype) for k, (shape, dtype) in obs_spec.items()}
        self.next_obs = {k: np.zeros_like(v) for k, v in self.obs.items()}
        self.actions = np.zeros(self.capacity, np.int64)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.terminateds = np.zeros(self.capacity, np.bool_)
        self.n_steps = np.zeros(self.capacity, np.int8)
        self.size = 0
        self.added = 0  # transitions written over the buffer's life
        self._next = 0
        self._max_priority = 1.0
        self._pending: dict = {}  # actor -> its last < n_step (obs, action, reward)
        self._fresh: list[int] = []  # rows written since the last draw, not yet in the trees
        self.reseed(seed)

    @classmethod
    def for_space(cls, space, capacity: int, **kw) -> NStepPrioritizedReplay:
        """A buffer for observations of the gymnasium Dict `space` (every key a Box)."""
        return cls(capacity, {k: (s.shape, s.dtype) for k, s in space.spaces.items()}, **kw)

    def reseed(self, seed) -> None:
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    @property
    def bytes_per_transition(self) -> float:
        """Bytes held per stored transition: observations, the rest of the row, and both trees."""
        rows = sum(a.nbytes for a in (*self.obs.values(), *self.next_obs.values()))
        rows += sum(a.nbytes for a in (self.actions, self.rewards, self.terminateds, self.n_steps))
        return (rows + self._sum.nbytes + self._min.nbytes) / self.capacity

    # ---- writing --------------------------------------------------------------------------
    def add_step(self, actor, obs: dict, action: int, reward: float, next_obs: dict, terminated, truncated) -> None:
        """One env step of `actor` (any hashable: an env's index, an episode's id). The step's
        observations are kept by reference until written: pass arrays the caller will not change."""
        queue = self._pending.setdefault(actor, [])
        queue.append((obs, int(action), float(reward)))
        if terminated or truncated:
            while queue:
                self._write(queue, next_obs, bool(terminated))
                queue.pop(0)
            del self._pending[actor]
        elif len(queue) == self.n_step:
            self._write(queue, next_obs, False)
            queue.pop(0)

    def _write(self, queue: list, next_obs: dict, terminated: bool) -> None:
        obs, action, _ = queue[0]
        ret, scale = 0.0, 1.0
        for _, _, r in queue:
            ret += scale * r
            scale *= self.discount
        i = self._next
        for k, v in obs.items():
            self.obs[k][i] = v
            self.next_obs[k][i] = next_obs[k]
        self.actions[i], self.rewards[i] = action, ret
        self.terminateds[i], self.n_steps[i] = terminated, len(queue)
        self._fresh.append(i)  # its priority is set with the others' before the next draw
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        self.added += 1

    def drop_pending(self) -> None:
        """Forget unfinished episodes (their envs restart, e.g. after a restore)."""
        self._pending.clear()

    def _enter_fresh(self) -> None:
        # new rows enter with the largest priority so far, all in one walk up the trees (a walk
        # per row cost more than the network's acting); no update runs between a write and
        # this, so the priority is the one the row would have had at its write
        if self._fresh:
            idx = np.unique(np.asarray(self._fresh))
            self._set(idx, np.full(len(idx), self._max_priority**self.alpha))
            self._fresh.clear()

    # ---- trees ----------------------------------------------------------------------------
    def _set(self, idx: np.ndarray, p: np.ndarray) -> None:
        i = idx + self._leaf0
        self._sum[i], self._min[i] = p, p
        while i[0] > 1:
            i = i // 2
            self._sum[i] = self._sum[2 * i] + self._sum[2 * i + 1]
            self._min[i] = np.minimum(self._min[2 * i], self._min[2 * i + 1])

    def _find(self, mass: np.ndarray) -> np.ndarray:
        i = np.ones(len(mass), np.int64)
        while i[0] < self._leaf0:
            left = self._sum[2 * i]
            right = mass > left
            mass = np.where(right, mass - left, mass)
            i = 2 * i + right
        return np.minimum(i - self._leaf0, self.size - 1)  # float round-off at the right edge

    # ---- sampling -------------------------------------------------------------------------
    def sample(self, batch_size: int) -> dict:
        """A batch drawn proportionally to priority: ``obs``, ``next_obs`` (dicts of arrays),
        ``actions``, ``rewards`` (n-step returns), ``terminateds``, ``n_steps``, ``weights``
        (importance weights, max 1) and ``idx`` (for :meth:`update_priorities`)."""
        if self.size == 0:
            raise ValueError("sample() from an empty replay buffer")
        self._enter_fresh()
        total = self._sum[1]
        mass = (np.arange(batch_size) + self.rng.random(batch_size)) * (total / batch_size)
        idx = self._find(mass)
        p = self._sum[idx + self._leaf0] / total
        weights = (self.size * p) ** -self.beta / (self.size * self._min[1] / total) ** -self.beta
        return dict(
            obs={k: v[idx] for k, v in self.obs.items()},
            next_obs={k: v[idx] for k, v in self.next_obs.items()},
            actions=self.actions[idx],
            rewards=self.rewards[idx],
            terminateds=self.terminateds[idx],
            n_steps=self.n_steps[idx],
            weights=weights.astype(np.float32),
            idx=idx,
        )

    def update_priorities(self, idx: np.ndarray, td_errors: np.ndarray) -> None:
        self._enter_fresh()
        p = np.abs(np.asarray(td_errors, np.float64)) + PRIORITY_EPS
        self._max_priority = max(self._max_priority, float(p.max()))
        self._set(np.asarray(idx), p**self.alpha)

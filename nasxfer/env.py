"""The NAS MDP of incremental edits as a Gymnasium environment.

State: a cell. Each step the agent sees the current cell (slot 0) and its
one-edit neighbours (slots 1..K, at most ``max_neighbours``, sampled with the
env's seeded rng when there are more), each as a padded ops-on-nodes graph (see
:mod:`nasxfer.encoding`) placed at a random diagonal offset. The observation is
compact: per slot the candidate's index in the shared vocabulary's space
(``cells``, see :data:`nasxfer.encoding.SHARED_SPACE`) and its offset
(``offsets``), plus ``action_mask``; ``encode(SHARED_SPACE, cells, offsets)``
(what the Q-network computes inside, :class:`nasxfer.agent.qnetwork.CandidateEncoder`)
is the 368-float encoding of each candidate, 133 bytes per observation instead of
28 kB, which is what replay stores twice per transition. Action ``k > 0`` moves to candidate
``k``; action ``0`` keeps the current cell and ends the episode (terminated).
After ``max_steps`` steps the episode is *truncated*: the time limit is not a
terminal state, so a learner bootstraps from it (partial episode bootstrapping).

Reward (``reward=``), from the shaped validation metric ``R(cell)`` in [0, 1]
(:mod:`nasxfer.shaping`; the paper's shaping by default):

* ``"improvement"``: a move to cell ``c'`` from ``c`` gives ``R(c') - R(c)``; the stop
  action gives ``0``. It telescopes: an episode's undiscounted return is
  ``R(final cell) - R(start cell)``, so the return rewards *ending* on a good cell,
  not wandering past many good ones, and rewards stay centred near 0 on every task,
  which keeps Q-values on one scale when an agent is transferred between tasks.
* ``"level"``: every step gives the level of the cell the agent is on after it. A move
  to ``c'`` gives ``R(c')``; the stop action gives ``R(c)``, the cell it keeps, and ends
  the episode (terminated: nothing follows). Reaching the time limit gives that step's
  ``R(c')`` and truncates: no bonus, no penalty; the learner bootstraps from the last
  state, as if the walk went on. The return is the sum of the levels of the cells
  visited, so it rewards *staying among* good cells; since every ``R >= 0``, stopping
  early forfeits the rest of the walk, and an agent that has learnt this walks to the
  time limit, whose cell is then its final cell. This is the reading the paper's
  wording needs (shaping should "shift the reward values up"; a low mIoU gives "very
  small reward values"): under ``improvement`` a shift of ``R`` cancels out.

The test metric is never part of the reward; it is reported in ``info``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .benchmark import Benchmark, load_benchmark
from .encoding import DEFAULT_PAD, SHARED_SPACE, check_pad, encoding_parts, shared_index
from .errors import NasxferError, check_int, unknown
from .search_space import DEFAULT_MAX_NEIGHBOURS, check_max_neighbours
from .shaping import RewardShaper

DEFAULT_MAX_STEPS = 50
REWARDS = ("improvement", "level")


class NASEnv(gym.Env):
    """Incremental-edit NAS on one task of a benchmark.

    Args:
        task: benchmark task whose validation metric is the reward.
        benchmark: a loaded :class:`Benchmark` or its name.
        max_steps: time limit of an episode (truncation).
        max_neighbours: cap on candidate neighbours per step.
        pad: size of the padded adjacency matrix (>= 12).
        transform, param: reward shaping (see :class:`nasxfer.shaping.RewardShaper`); param
            "paper" (default) is the paper's per-task gamma, "auto" the spread sweep's.
        reward: "improvement" or "level" (see the module docstring).
        data_dir: where the benchmark tables are (see :mod:`nasxfer.data`).

    ``reset(options={"start_cell": cell})`` starts from a given cell (index, op
    tuple or string); otherwise the start cell is uniform at random.

    Queries: ``queried`` is the set of cells whose validation metric this env has
    read over its whole life (never cleared by ``reset``): every start cell and
    every cell moved to. Neighbours shown only as encodings are not read, and the
    stop action reads nothing new. It is what a learning searcher has seen of the
    task (see ``Agent.train``'s ``target_queries``).

    The action mask: every cell of both spaces (a product of 6 edges x ``n_ops``
    ops, no invalid cells) has exactly ``N_EDGES * (n_ops - 1)`` one-edit
    neighbours (18 on TransNAS-Bench-101, 24 on NAS-Bench-201), and
    ``n_slots = 1 + min(max_neighbours, that)``: with ``max_neighbours`` below it
    the env samples exactly ``max_neighbours`` of them, otherwise it shows all.
    Either way slot 0 plus the candidates fill all ``n_slots``, so a padding slot
    (mask 0) never occurs in these spaces; the mask exists for a space whose
    cells have fewer neighbours than its widest cell (one with invalid cells).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        task: str = "class_object",
        benchmark: Benchmark | str = "transnas-bench-101",
        *,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_neighbours: int = DEFAULT_MAX_NEIGHBOURS,
        pad: int = DEFAULT_PAD,
        transform: str = "gamma",
        param: float | str = "paper",
        reward: str = "improvement",
        data_dir=None,
    ):
        if isinstance(benchmark, str):
            benchmark = load_benchmark(benchmark, data_dir=data_dir)
        check_int(max_steps, "max_steps", 1)
        self.bench, self.task_name = benchmark, task
        self.space = benchmark.space
        table = benchmark.table(task)
        self.max_steps = int(max_steps)
        self.max_neighbours = check_max_neighbours(max_neighbours)
        self.pad = check_pad(pad)
        if reward not in REWARDS:
            raise unknown("reward definition (NASEnv reward=, AgentParams.reward)", reward, REWARDS)
        self.reward = reward
        self.shaper = RewardShaper.fit(benchmark, task, transform, param)
        self.rewards = self.shaper(table.valid)  # shaped reward of every cell, one lookup per step
        self.valid, self.test = table.valid, table.test
        self.n_slots = 1 + min(self.max_neighbours, self.space.n_neighbours)
        # per-step lookups, precomputed: an env step is a few array reads (evaluation runs 100 envs
        # in lockstep, so the env's Python overhead is a good part of its cost)
        self._shared = shared_index(self.space)  # benchmark cell -> shared-space cell
        self._free = (self.pad - encoding_parts(self.space)[2] + 1).astype(np.float64)  # offsets per cell
        self._sample_neighbours = self.max_neighbours < self.space.n_neighbours
        self.observation_space = gym.spaces.Dict(
            {
                "cells": gym.spaces.Box(0, SHARED_SPACE.size - 1, (self.n_slots,), np.int32),
                "offsets": gym.spaces.Box(0, self.pad - 1, (self.n_slots,), np.int16),
                "action_mask": gym.spaces.Box(0, 1, (self.n_slots,), np.int8),
            }
        )
        self.action_space = gym.spaces.Discrete(self.n_slots)
        self._cell = 0
        self._mask = np.zeros(self.n_slots, np.int8)
        self.queried: set[int] = set()  # cells whose validation metric was read, over the env's life

    # ---- gymnasium API ------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        start = (options or {}).get("start_cell")
        self._cell = int(self.np_random.integers(self.space.size)) if start is None else self.space.index(start)
        self._t = 0
        self._best = self._cell
        self._visited = {self._cell}
        self.queried.add(self._cell)
        return self._observe(), self._info()

    def step(self, action):
        action = int(action)
        if not hasattr(self, "_t"):
            raise NasxferError("step() before reset(): call env.reset(seed=...) to start an episode first")
        if not (0 <= action < self.n_slots and self._mask[action]):
            raise NasxferError(
                f"action {action} is not a valid candidate slot (mask {self._mask.tolist()}): "
                f"choose a slot whose action_mask is 1"
            )
        self._t += 1
        terminated = action == 0
        if terminated:
            reward = float(self.rewards[self._cell]) if self.reward == "level" else 0.0
        else:
            new = int(self._candidates[action])
            self.queried.add(new)
            level = self.rewards[new]
            reward = float(level if self.reward == "level" else level - self.rewards[self._cell])
            self._cell = new
            self._visited.add(new)
            if self.valid[new] > self.valid[self._best]:
                self._best = new
        truncated = not terminated and self._t >= self.max_steps
        return self._observe(), reward, terminated, truncated, self._info()

    # ---- helpers ------------------------------------------------------------------------
    def _observe(self):
        if self._sample_neighbours:
            nb = self.space.neighbours(self._cell, self.max_neighbours, self.np_random)
        else:
            nb = self.space.neighbour_table[self._cell]
        cands = np.empty(1 + len(nb), np.int64)
        cands[0], cands[1:] = self._cell, nb
        self._candidates = cands
        k = len(cands)
        self._mask = np.zeros(self.n_slots, np.int8)
        self._mask[:k] = 1
        cells = np.zeros(self.n_slots, np.int32)  # padding slots: shared cell 0, offset 0, masked
        offsets = np.zeros(self.n_slots, np.int16)
        cells[:k] = self._shared[cands]
        # random_offsets' draw (uniform over 0..pad - n_nodes), without its argument checks
        offsets[:k] = self.np_random.random(k) * self._free[cands]
        return {"cells": cells, "offsets": offsets, "action_mask": self._mask.copy()}

    def _info(self):
        c, b = self._cell, self._best
        return {
            "cell": c,
            "valid": float(self.valid[c]),
            "test": float(self.test[c]),
            "best_cell": b,
            "best_valid": float(self.valid[b]),
            "best_test": float(self.test[b]),
            "n_unique": len(self._visited),
            "candidates": self._candidates.copy(),
        }

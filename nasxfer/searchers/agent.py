"""A trained agent as a searcher: its greedy policy walking the incremental-edit env."""

from __future__ import annotations

import numpy as np

from ..errors import NasxferError
from .base import LoopSearcher


class AgentSearcher(LoopSearcher):
    """Run a greedy ``policy(obs) -> action`` in `env`, proposing every cell it visits.

    The agent ranks neighbours with its own model, so the benchmark is read only for rewards:
    the cells it starts on and moves to are its queries. Episodes restart from start cells
    drawn with ``np.random.default_rng(seed)``; the env's own rng (neighbour sampling, graph
    offsets) is seeded with `seed` on the first reset. A policy that keeps revisiting known
    cells stops after `max_episodes` episodes (default: 100 per budgeted cell) with an error.
    """

    name = "dqn agent"

    def __init__(self, env, policy, seed: int, budget: int | None = None, max_episodes: int | None = None):
        self.env, self.policy, self.seed = env, policy, int(seed)
        self.max_episodes = max_episodes if max_episodes is not None else 100 * (budget or 1000)

    def loop(self):
        env, rng, env_seed = self.env, np.random.default_rng(self.seed), self.seed
        for _ in range(self.max_episodes):
            obs, info = env.reset(seed=env_seed, options={"start_cell": int(rng.integers(env.space.size))})
            env_seed = None  # seed once; later resets continue the env's stream
            yield info["cell"]
            terminated = truncated = False
            while not (terminated or truncated):
                obs, _, terminated, truncated, info = env.step(self.policy(obs))
                yield info["cell"]
        raise NasxferError(
            f"the policy kept revisiting cells for {self.max_episodes} episodes: pass a larger max_episodes "
            f"or a smaller budget"
        )

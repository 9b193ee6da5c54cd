"""Where the agent's transitions come from: envs stepped in the driver, or RLlib's env runners.

``DriverSampler`` (the laptop layout, ``num_env_runners=0``): the envs of RLlib's local env
runner, stepped in lockstep, acting with the learner's own network (no weight copy), every
env an Ape-X actor with its own epsilon; each step goes straight into the replay buffer.
:func:`add_episodes` takes the episode chunks remote env runners return (the paper layout)
into the same buffer, one episode id per actor, so n-step returns continue across chunks.
"""

from __future__ import annotations

import numpy as np
import torch

from .replay import NStepPrioritizedReplay
from .rl_module import epsilon_greedy


def runner_envs(runner) -> list:
    """The NASEnvs of an RLlib env runner's vector env (SyncVectorEnv of gym.make'd envs)."""
    env = getattr(runner, "env", None)
    return [e.unwrapped for e in getattr(getattr(env, "unwrapped", None), "envs", ())]


class DriverSampler:
    """Steps `envs` in lockstep with a Q-network (see the module docstring).

    Args:
        envs: the NASEnvs (one Ape-X actor each).
        epsilons: one exploration epsilon per env.
        seed: seeds the envs' first resets (``seed * 1000 + i``) and the exploration draws.
    """

    def __init__(self, envs: list, epsilons, seed: int):
        if not envs:
            raise ValueError("DriverSampler needs at least one env")
        self.envs = list(envs)
        self.epsilons = torch.as_tensor(list(epsilons), dtype=torch.float32)
        self.reseed(seed)

    def reseed(self, seed, *more: int) -> None:
        """Restart every episode and the exploration draws from `seed` (and `more`, e.g. the env
        steps so far, so a resumed agent does not replay its first episodes)."""
        base = int(np.random.SeedSequence([int(seed), *map(int, more)]).generate_state(1)[0])
        self.rng = torch.Generator().manual_seed(base)
        self.obs = [e.reset(seed=base * 1000 + i if more else int(seed) * 1000 + i)[0] for i, e in enumerate(self.envs)]

    def sample(self, net, steps_per_env: int, replay: NStepPrioritizedReplay) -> int:
        """`steps_per_env` lockstep steps of every env, acting with `net` (a QNetwork) epsilon-greedily;
        every step goes to `replay`. Returns the env steps taken."""
        device = next(net.parameters()).device
        envs, obs = self.envs, self.obs
        for _ in range(steps_per_env):
            batch = {k: torch.from_numpy(np.stack([o[k] for o in obs])) for k in obs[0]}
            with torch.inference_mode():
                q = net.q({k: v.to(device) for k, v in batch.items()})
            actions = epsilon_greedy(q, batch["action_mask"], self.epsilons, self.rng).tolist()
            for i, env in enumerate(envs):
                nxt, reward, terminated, truncated, _ = env.step(actions[i])
                replay.add_step(i, obs[i], actions[i], reward, nxt, terminated, truncated)
                obs[i] = env.reset()[0] if terminated or truncated else nxt
        return steps_per_env * len(envs)


def add_episodes(replay: NStepPrioritizedReplay, episodes) -> int:
    """Every step of RLlib episode chunks (``SingleAgentEpisode``) into `replay`; returns the steps."""
    steps = 0
    for ep in episodes:
        n = len(ep)
        if n == 0:
            continue
        obs = ep.get_observations(slice(0, n + 1))
        actions, rewards = ep.get_actions(slice(0, n)), ep.get_rewards(slice(0, n))
        rows = [{k: v[t] for k, v in obs.items()} for t in range(n + 1)]
        for t in range(n):
            last = t == n - 1
            replay.add_step(
                ep.id_,
                rows[t],
                int(actions[t]),
                float(rewards[t]),
                rows[t + 1],
                last and ep.is_terminated,
                last and ep.is_truncated,
            )
        steps += n
    return steps

"""The driver's sampler (nasxfer.agent.sampler): lockstep envs, one Ape-X epsilon per env, every
step written to replay, seeded."""

import numpy as np
import torch

from nasxfer.agent.qnetwork import QNetwork
from nasxfer.agent.replay import NStepPrioritizedReplay
from nasxfer.agent.sampler import DriverSampler
from nasxfer.encoding import encoding_size
from nasxfer.env import NASEnv


class _Recorder(QNetwork):
    """A small Q-network that remembers the greedy action of every observation it scores."""

    def q(self, obs):
        out = super().q(obs)
        self.greedy_seen.append(out.argmax(-1).tolist())
        return out


def _setup(bench, seed=0, max_steps=5):
    torch.manual_seed(0)
    net = _Recorder(encoding_size(16), embed_dim=16, n_heads=2, n_layers=1, ff_dim=16, head_hidden=16)
    net.greedy_seen = []
    envs = [NASEnv("class_object", bench, max_steps=max_steps) for _ in range(2)]
    replay = NStepPrioritizedReplay.for_space(envs[0].observation_space, 1000, n_step=1)
    return net, DriverSampler(envs, [1.0, 0.0], seed=seed), replay


def test_each_env_explores_with_its_own_epsilon_and_every_step_is_written(bench):
    net, sampler, replay = _setup(bench)
    assert sampler.sample(net, 12, replay) == 24
    assert len(replay) == 24  # n_step 1: each step is a transition at once
    acts = replay.actions[:24].reshape(12, 2)  # lockstep: env 0 and env 1 alternate
    greedy = np.array(net.greedy_seen)
    assert np.array_equal(acts[:, 1], greedy[:, 1])  # epsilon 0: always the best slot
    assert not np.array_equal(acts[:, 0], greedy[:, 0])  # epsilon 1: random slots


def test_same_seed_same_steps(bench):
    def run(seed):
        net, sampler, replay = _setup(bench, seed=seed)
        sampler.sample(net, 10, replay)
        return replay.actions[: len(replay)].copy(), replay.obs["cells"][: len(replay)].copy()

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])

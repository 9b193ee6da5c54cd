"""Partial episode bootstrapping: a step cut by the time limit (truncated) bootstraps from
the next state's value; a "stop" step (terminated) does not. Checked at each link: the env's
flags, RLlib's replay buffer, and RLlib's DQN loss as our agent configures it."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nasxfer.env import NASEnv

pytestmark = pytest.mark.slow  # real Ray training, kernels or subprocesses: minutes


def test_env_truncates_at_time_limit_and_terminates_on_stop(bench):
    env = NASEnv("class_object", bench, max_steps=3)
    env.reset(seed=0)
    flags = [env.step(1)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]  # truncated, not terminated
    env.reset(seed=0)
    assert env.step(0)[2:4] == (True, False)


def _episode(env, actions, seed):
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    obs, info = env.reset(seed=seed)
    ep = SingleAgentEpisode(
        observations=[obs], infos=[info], observation_space=env.observation_space, action_space=env.action_space
    )
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        ep.add_env_step(obs, a, r, infos=info, terminated=term, truncated=trunc)
    return ep


def test_replay_buffer_keeps_truncation_distinct_from_termination(bench):
    from ray.rllib.utils.replay_buffers.prioritized_episode_buffer import PrioritizedEpisodeReplayBuffer

    env = NASEnv("class_object", bench, max_steps=4)
    buf = PrioritizedEpisodeReplayBuffer(capacity=1000, alpha=0.6)
    buf.add([_episode(env, [1, 2, 1, 2], seed=0), _episode(env, [1, 2, 0], seed=1)])
    seen = set()
    for ep in buf.sample(num_items=200, n_step=1, gamma=0.99, beta=0.4, sample_episodes=True):
        seen.add((int(ep.actions[-1]), bool(ep.is_terminated), bool(ep.is_truncated)))
    # the stop transition is terminal; the last step of the time-limited episode is not
    assert (0, True, False) in seen
    assert any(a != 0 and not term for a, term, _ in seen)
    assert not any(a != 0 and term for a, term, _ in seen)


@pytest.mark.parametrize("double_q", [True, False])
def test_dqn_loss_bootstraps_truncated_not_terminated(double_q):
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_NEXT_PREDS, QF_PREDS, QF_TARGET_NEXT_PREDS
    from ray.rllib.algorithms.dqn.torch.dqn_torch_learner import DQNTorchLearner
    from ray.rllib.core.columns import Columns
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    gamma = 0.9
    cfg = DQNConfig().training(gamma=gamma, double_q=double_q, n_step=3)
    ninf = float("-inf")
    q = torch.tensor([[1.0, 2.0, ninf], [1.0, 2.0, ninf]])
    q_next = torch.tensor([[0.0, 5.0, ninf], [0.0, 5.0, ninf]])
    q_target_next = torch.tensor([[3.0, 10.0, ninf], [3.0, 10.0, ninf]])
    batch = {
        Columns.ACTIONS: torch.tensor([1, 1]),
        Columns.REWARDS: torch.tensor([0.5, 0.5]),
        # row 0: truncated at the time limit (not terminated); row 1: terminated by "stop"
        Columns.TERMINATEDS: torch.tensor([False, True]),
        Columns.TRUNCATEDS: torch.tensor([True, False]),
        "n_step": torch.tensor([1.0, 1.0]),
        "weights": torch.ones(2),
    }
    stub = SimpleNamespace(metrics=MetricsLogger(), config=cfg)
    DQNTorchLearner.compute_loss_for_module(
        stub,
        module_id="m",
        config=cfg,
        batch=batch,
        fwd_out={QF_PREDS: q, QF_NEXT_PREDS: q_next, QF_TARGET_NEXT_PREDS: q_target_next},
    )
    td = np.asarray(stub.metrics.peek(("m", "td_error"))).reshape(-1)
    # truncated: target = r + gamma * Q_target(s', argmax) = 0.5 + 0.9 * 10; terminated: target = r
    assert td[0] == pytest.approx(abs(2.0 - (0.5 + gamma * 10.0)))
    assert td[1] == pytest.approx(abs(2.0 - 0.5))

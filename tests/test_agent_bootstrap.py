"""Partial episode bootstrapping: a step cut by the time limit (truncated) bootstraps from
the next state's value; a "stop" step (terminated) does not. Checked at each link: the env's
flags, the replay buffer's n-step rows, and the DQN loss."""

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


def test_replay_keeps_truncation_distinct_from_termination(bench):
    from nasxfer.agent.replay import NStepPrioritizedReplay

    env = NASEnv("class_object", bench, max_steps=4)
    buf = NStepPrioritizedReplay.for_space(env.observation_space, 100, n_step=1)
    for seed, actions in ((0, [1, 2, 1, 2]), (1, [1, 2, 0])):
        obs, _ = env.reset(seed=seed)
        for a in actions:
            nxt, r, term, trunc, _ = env.step(a)
            buf.add_step(seed, obs, a, r, nxt, term, trunc)
            obs = nxt
    seen = set(zip(buf.actions[: len(buf)].tolist(), buf.terminateds[: len(buf)].tolist()))
    # the stop transition is terminal; the last step of the time-limited episode is not
    assert (0, True) in seen and not any(a != 0 and term for a, term in seen)
    assert len(buf) == 7


class _Fixed(torch.nn.Module):
    """A stand-in network returning fixed Q-values for obs / next obs."""

    def __init__(self, q, q_next):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self._q, self._q_next = q, q_next

    def q(self, obs):
        return (self._q if obs["which"] == "obs" else self._q_next) + self.w


@pytest.mark.parametrize("double_q", [True, False])
def test_dqn_loss_bootstraps_truncated_not_terminated(double_q):
    from nasxfer.agent.learner import td_loss

    gamma, ninf = 0.9, float("-inf")
    q = torch.tensor([[1.0, 2.0, ninf], [1.0, 2.0, ninf]])
    online = _Fixed(q, torch.tensor([[0.0, 5.0, ninf], [0.0, 5.0, ninf]]))
    target = _Fixed(q, torch.tensor([[3.0, 10.0, ninf], [3.0, 10.0, ninf]]))
    batch = {
        "obs": {"which": "obs"},
        "next_obs": {"which": "next"},
        "actions": torch.tensor([1, 1]),
        "rewards": torch.tensor([0.5, 0.5]),
        # row 0: truncated at the time limit (not terminated); row 1: terminated by "stop"
        "terminateds": torch.tensor([False, True]),
        "n_steps": torch.tensor([1, 1], dtype=torch.int8),
        "weights": torch.ones(2),
    }
    _, td = td_loss(online, target, batch, discount=gamma, double_q=double_q)
    # truncated: target = r + gamma * Q_target(s', argmax) = 0.5 + 0.9 * 10; terminated: target = r
    assert td[0].item() == pytest.approx(abs(2.0 - (0.5 + gamma * 10.0)))
    assert td[1].item() == pytest.approx(abs(2.0 - 0.5))


def test_n_step_discount_uses_each_rows_own_k():
    from nasxfer.agent.learner import td_loss

    q = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    net = _Fixed(q, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    batch = {
        "obs": {"which": "obs"},
        "next_obs": {"which": "next"},
        "actions": torch.tensor([0, 0]),
        "rewards": torch.zeros(2),
        "terminateds": torch.tensor([False, False]),
        "n_steps": torch.tensor([3, 1], dtype=torch.int8),  # a full window; a tail cut by the time limit
        "weights": torch.ones(2),
    }
    _, td = td_loss(net, net, batch, discount=0.5)
    assert td.tolist() == pytest.approx([0.125, 0.5])

"""The agent's DQN update (nasxfer.agent.learner): RLlib's DQN loss, written out, and its schedule."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nasxfer.agent.learner import lr_at, sync_target, td_loss
from nasxfer.agent.params import AgentParams


class _Fixed(torch.nn.Module):
    """A stand-in network returning fixed Q-values for the observations "obs" and "next"."""

    def __init__(self, q, q_next):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self._q, self._q_next = q, q_next

    def q(self, obs):
        return (self._q if obs == "obs" else self._q_next) + self.w


@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize("loss", ["huber", "mse"])
def test_loss_and_td_errors_equal_rllibs_dqn_loss(double_q, loss):
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_NEXT_PREDS, QF_PREDS, QF_TARGET_NEXT_PREDS
    from ray.rllib.algorithms.dqn.torch.dqn_torch_learner import DQNTorchLearner
    from ray.rllib.core.columns import Columns
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    g = torch.Generator().manual_seed(0)
    b, s = 32, 7
    q, q_next, q_tnext = (torch.randn(b, s, generator=g) * 3 for _ in range(3))
    for t in (q, q_next, q_tnext):
        t[:, -1] = float("-inf")  # a masked slot
    actions = torch.randint(0, s - 1, (b,), generator=g)
    rewards, weights = torch.randn(b, generator=g), torch.rand(b, generator=g)
    term = torch.rand(b, generator=g) < 0.3
    n_steps = torch.randint(1, 4, (b,), generator=g)
    cfg = DQNConfig().training(gamma=0.97, double_q=double_q, n_step=3, td_error_loss_fn=loss)
    stub = SimpleNamespace(metrics=MetricsLogger(), config=cfg)
    rllib_loss = DQNTorchLearner.compute_loss_for_module(
        stub,
        module_id="m",
        config=cfg,
        batch={
            Columns.ACTIONS: actions,
            Columns.REWARDS: rewards,
            Columns.TERMINATEDS: term,
            "n_step": n_steps.float(),
            "weights": weights,
        },
        fwd_out={QF_PREDS: q, QF_NEXT_PREDS: q_next, QF_TARGET_NEXT_PREDS: q_tnext},
    )
    batch = dict(
        obs="obs", next_obs="next", actions=actions, rewards=rewards, terminateds=term, n_steps=n_steps, weights=weights
    )
    ours, td = td_loss(
        _Fixed(q, q_next), _Fixed(q, q_tnext), batch, discount=0.97, double_q=double_q, huber=loss == "huber"
    )
    assert ours.item() == pytest.approx(rllib_loss.item(), rel=1e-6)
    assert np.allclose(td.numpy(), np.asarray(stub.metrics.peek(("m", "td_error"))).reshape(-1), rtol=1e-6)


@pytest.mark.parametrize("double_q", [True, False])
def test_dqn_loss_bootstraps_truncated_not_terminated(double_q):
    gamma, ninf = 0.9, float("-inf")
    q = torch.tensor([[1.0, 2.0, ninf], [1.0, 2.0, ninf]])
    online = _Fixed(q, torch.tensor([[0.0, 5.0, ninf], [0.0, 5.0, ninf]]))
    target = _Fixed(q, torch.tensor([[3.0, 10.0, ninf], [3.0, 10.0, ninf]]))
    batch = {
        "obs": "obs",
        "next_obs": "next",
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
    q = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    net = _Fixed(q, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    batch = {
        "obs": "obs",
        "next_obs": "next",
        "actions": torch.tensor([0, 0]),
        "rewards": torch.zeros(2),
        "terminateds": torch.tensor([False, False]),
        "n_steps": torch.tensor([3, 1], dtype=torch.int8),  # a full window; a tail cut by the time limit
        "weights": torch.ones(2),
    }
    _, td = td_loss(net, net, batch, discount=0.5)
    assert td.tolist() == pytest.approx([0.125, 0.5])


def test_lr_decays_linearly_to_lr_final_then_stays():
    p = AgentParams.laptop(lr=1e-4, lr_final=1e-5, total_env_steps=1000)
    assert lr_at(p, 0) == 1e-4 and lr_at(p, 500) == pytest.approx(5.5e-5) and lr_at(p, 1000) == pytest.approx(1e-5)
    assert lr_at(p, 5000) == pytest.approx(1e-5)
    assert lr_at(p.replace(lr_final=None), 500) == 1e-4


def test_target_sync_hard_and_soft():
    online, target = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = target.weight.detach().clone()
    sync_target(online, target, 0.25)
    assert torch.allclose(target.weight, before + 0.25 * (online.weight - before))
    sync_target(online, target, 1.0)
    assert torch.equal(target.weight, online.weight)

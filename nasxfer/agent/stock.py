"""RLlib's stock DQN settings on our env and network: the baseline of ``benchmarks/bench_agent.py``.

1-step, batch 32, one runner, lr 5e-5, target every 500 steps: the stock DQNConfig values
except what the env and network force. Stock DQN anneals epsilon 1 -> 0.05; our module
explores with a fixed per-env epsilon, so one runner at a fixed 0.1 stands in for the
schedule (about its mean over a short run).
"""

from __future__ import annotations

from .apex import base_config
from .params import AgentParams

EPSILON = 0.1


def stock_config(params: AgentParams):
    """The RLlib ``DQNConfig`` of stock DQN for `params`' env, network and seed."""
    config = base_config(params, eps=EPSILON, alpha=0.0)
    config = config.env_runners(num_env_runners=0, num_envs_per_env_runner=1, rollout_fragment_length="auto")
    return config.training(
        train_batch_size_per_learner=32, lr=5e-5, n_step=1, grad_clip=40.0, grad_clip_by="global_norm"
    )

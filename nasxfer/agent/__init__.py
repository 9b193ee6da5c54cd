"""The RL agent: Ape-X-style DQN (on Ray RLlib's new API stack) with a transformer Q-network.

- :class:`AgentParams` (``params``): every hyperparameter, presets "ci", "laptop", "paper".
- :class:`QNetwork` (``qnetwork``): the Q-network in plain torch.
- :class:`Agent` (``agent``): train / evaluate / save / restore / load weights (imports Ray lazily).
- ``checkpoints``: weights-only checkpoints (write, verify, read); knows nothing of the Agent.
- ``evaluate``: the greedy policy, rollouts, the random-walk floor and episode means, no Ray needed.
- ``rl_module`` / ``apex`` / ``algorithm``: the RLlib module, the Ape-X config the Agent builds, and
  ``ApeX``, RLlib's DQN shell with our training step over ``replay`` (prioritized n-step replay),
  ``sampler`` (the driver's envs, or remote runners' episodes) and ``learner`` (the DQN update).

Transfer = ``Agent(target_params).load_weights(source_checkpoint)`` then train (see :mod:`.agent`).
"""

from .params import PRESETS, AgentParams, apex_epsilons

_LAZY = {  # Ray and torch load only when the agent is used
    "Agent": "agent",
    "QNetwork": "qnetwork",
    "write_checkpoint": "checkpoints",
    "read_weights": "checkpoints",
    "read_meta": "checkpoints",
    "load_qnetwork": "checkpoints",
    "greedy_policy": "evaluate",
    "rollout": "evaluate",
    "random_walk": "evaluate",
    "episode_means": "evaluate",
    "start_cells": "evaluate",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'nasxfer.agent' has no attribute {name!r}")


__all__ = ["AgentParams", "PRESETS", "apex_epsilons", *_LAZY]

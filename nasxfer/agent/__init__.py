"""The RL agent: Ape-X-style DQN (Ray RLlib, new API stack) with a transformer Q-network.

- :class:`AgentParams` (``params``): every hyperparameter, presets "ci", "laptop", "paper".
- :class:`QNetwork` (``qnetwork``): the Q-network in plain torch.
- :class:`Agent` (``train``): train / evaluate / save / restore (imports Ray lazily).
- ``evaluate``: greedy rollouts and the random-walk floor, no Ray needed.
- ``transfer``: weights-only checkpoints and the zero-shot / fine-tune / retrain regimes.
"""

from .params import PRESETS, AgentParams, apex_epsilons


def __getattr__(name):  # Ray and torch load only when the agent is used
    if name == "Agent":
        from .train import Agent

        return Agent
    if name == "QNetwork":
        from .qnetwork import QNetwork

        return QNetwork
    if name in ("transfer_agent", "save_weights", "load_weights", "read_weights", "load_qnetwork", "REGIMES"):
        # `transfer` / `evaluate` are submodule names: functions exported under other names
        if name == "transfer_agent":
            from .transfer import transfer

            return transfer
        from . import transfer as t

        return getattr(t, name)
    if name in ("rollout", "random_walk", "summarize", "start_cells"):
        from . import evaluate as e

        return getattr(e, name)
    raise AttributeError(f"module 'nasxfer.agent' has no attribute {name!r}")


__all__ = ["AgentParams", "PRESETS", "apex_epsilons", "Agent", "QNetwork", "transfer_agent", "save_weights",
           "load_weights", "read_weights", "load_qnetwork", "REGIMES", "rollout", "random_walk", "summarize",
           "start_cells"]

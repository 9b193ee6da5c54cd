"""Weights-only checkpoints and transfer between tasks.

A weights checkpoint is a directory with ``weights.pt`` (the Q-network's
``state_dict``) and ``meta.json`` (encoding size, network sizes, task,
benchmark, env steps trained, seed). Loading checks the metadata against the
receiving agent *before* touching any tensor and refuses a mismatch with a
message that says which field differs and what to do.

Transfer = a new agent for the target task whose RLModule (online and target
Q-network) starts from the source's weights. The optimizer state, the replay
buffer and all counters start fresh - so does the exploration (Ape-X epsilons are
constant per actor, so there is no schedule to carry over): the source's Adam
moments were fitted to another task's gradients, and its replay buffer holds
another task's rewards, which would be wrong targets for the new task.

Regimes (``transfer(source, target_task, regime)``):
- ``"zero-shot"``: no training on the target; evaluate the source network there.
- ``"fine-tune"``: train on the target for a short budget (``fine_tune_steps``,
  default a quarter of ``total_env_steps``).
- ``"retrain"``: train on the target for the full budget (``total_env_steps``),
  starting from the source weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import NasxferError, unknown
from .params import AgentParams

REGIMES = ("zero-shot", "fine-tune", "retrain")
FORMAT = "nasxfer-qnet-v1"


def _meta_of(agent) -> dict:
    net = agent._learner_module().qnet
    return dict(format=FORMAT, **net.config, task=agent.params.task, benchmark=agent.params.benchmark,
                env_steps=agent.env_steps, seed=agent.params.seed)


def save_weights(agent, path) -> Path:
    """Write ``weights.pt`` + ``meta.json`` of `agent`'s online Q-network to directory `path`."""
    import torch

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.save(agent.get_weights(), path / "weights.pt")
    (path / "meta.json").write_text(json.dumps(_meta_of(agent), indent=1))
    return path


def read_weights(path) -> tuple[dict, dict]:
    """(state_dict, meta) of a weights checkpoint; a clear error if it is not one."""
    import torch

    path = Path(path)
    if not (path / "weights.pt").is_file() or not (path / "meta.json").is_file():
        raise NasxferError(f"{path} is not a weights checkpoint (needs weights.pt and meta.json): "
                           f"pass a directory written by Agent.save_weights")
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise NasxferError(f"{path}/meta.json has format {meta.get('format')!r}, expected {FORMAT!r}: "
                           f"re-save the weights with this version of nasxfer")
    return torch.load(path / "weights.pt", map_location="cpu", weights_only=True), meta


def check_compatible(meta: dict, net_config: dict, where: str = "checkpoint") -> None:
    """Refuse weights whose encoding size or network shape differs from the receiver's."""
    if meta["encoding_dim"] != net_config["encoding_dim"]:
        raise NasxferError(
            f"incompatible {where}: its encoding size is {meta['encoding_dim']} (benchmark "
            f"{meta.get('benchmark')!r}) but this agent's env encodes candidates with "
            f"{net_config['encoding_dim']} features: transfer only between envs with the same encoding "
            f"(same benchmark and pad)"
        )
    diff = {k: (meta.get(k), v) for k, v in net_config.items() if meta.get(k) != v}
    if diff:
        shown = ", ".join(f"{k}: checkpoint {a!r} vs agent {b!r}" for k, (a, b) in diff.items())
        raise NasxferError(f"incompatible {where}: network sizes differ ({shown}); build the target agent "
                           f"with the source's network parameters")


def load_qnetwork(path):
    """A weights checkpoint as a plain-torch :class:`QNetwork` in eval mode, and its metadata.

    No Ray: for using a trained agent's greedy policy anywhere (rollouts, the search-efficiency
    comparison) without building an algorithm.
    """
    from .qnetwork import QNetwork

    state, meta = read_weights(path)
    net = QNetwork(**{k: meta[k] for k in ("encoding_dim", "embed_dim", "n_heads", "n_layers", "ff_dim",
                                           "head_hidden", "dueling")})
    net.load_state_dict(state)
    return net.eval(), meta


def load_weights(agent, path) -> None:
    """Initialise `agent`'s online and target Q-networks from a weights checkpoint."""
    state, meta = read_weights(path)
    check_compatible(meta, agent._learner_module().qnet.config, where=f"checkpoint {path}")
    agent.set_weights(state)
    agent.source = {k: meta.get(k) for k in ("task", "benchmark", "env_steps", "seed")} | {"path": str(path)}


def transfer(source, target_task: str, regime: str = "fine-tune", *, params: AgentParams | None = None,
             fine_tune_steps: int | None = None, train: bool = True, **overrides):
    """A new agent for `target_task` initialised from `source` (an Agent or a weights directory).

    `params` default to the source agent's params (or ``AgentParams`` of the metadata's network)
    with ``task=target_task``; `overrides` apply on top. Returns ``(agent, curve)``; ``curve`` is
    the target training curve (only the evaluation at step 0 for zero-shot). With ``train=False``
    the agent is returned untrained whatever the regime.
    """
    import tempfile

    if regime not in REGIMES:
        raise unknown("transfer regime", regime, REGIMES)
    from .train import Agent

    tmp = None
    if isinstance(source, Agent):
        base = params or source.params
        tmp = tempfile.TemporaryDirectory()
        src_path = save_weights(source, tmp.name)
    else:
        src_path = Path(source)
        _, meta = read_weights(src_path)
        base = params or AgentParams(**{k: meta[k] for k in ("embed_dim", "n_heads", "n_layers", "ff_dim",
                                                               "head_hidden", "dueling")})
    p = base.replace(task=target_task, **overrides)
    if fine_tune_steps is not None and (not isinstance(fine_tune_steps, int) or fine_tune_steps < 1):
        raise NasxferError(f"fine_tune_steps must be an integer >= 1, got {fine_tune_steps!r}")
    agent = Agent(p)
    try:
        agent.load_weights(src_path)
    except Exception:
        agent.stop()
        raise
    finally:
        if tmp is not None:
            tmp.cleanup()
    if not train or regime == "zero-shot":
        agent._record()
        return agent, agent.curve
    steps = p.total_env_steps if regime == "retrain" else (fine_tune_steps or max(p.total_env_steps // 4, 1))
    return agent, agent.train(steps)

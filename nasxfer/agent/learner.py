"""One DQN update of the agent, in plain torch: double Q, n-step targets, importance weights.

The loss is RLlib's ``DQNTorchLearner`` loss for one-atom DQN, written out:

    Q(s, a)                      online net, with gradient
    a* = argmax_a' Q(s', a')     online net (double Q; the target net without double Q)
    y  = R + discount**k * (1 - terminated) * Q_target(s', a*)
    loss = mean(w * huber(Q(s, a), y)),   TD error = |Q(s, a) - y|

with masked candidates' ``-inf`` Q-values set to 0 around the gathers (as RLlib does), then
backward, global-norm clipping and one Adam step at the learning rate of the env steps so far
(:func:`lr_at`). The module, its target copy and the Adam optimizer are RLlib's learner's
(so checkpoints, the GPU placement and resuming are RLlib's); the update itself is ours,
because RLlib's learner spent about as long on bookkeeping around each update (metrics,
batch conversion) as the update itself on a 2-core CPU (benchmarks/bench_agent.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .params import AgentParams


def lr_at(params: AgentParams, env_steps: int) -> float:
    """The learning rate after `env_steps` env steps: ``lr`` decaying linearly to ``lr_final`` at
    ``total_env_steps`` and constant after (or ``lr`` throughout when ``lr_final`` is None)."""
    if params.lr_final is None:
        return params.lr
    frac = min(env_steps / max(params.total_env_steps, 1), 1.0)
    return params.lr + frac * (params.lr_final - params.lr)


def to_tensors(batch: dict, device) -> dict:
    """A replay batch (:meth:`.replay.NStepPrioritizedReplay.sample`) as tensors on `device`."""

    def t(x):
        return torch.from_numpy(np.ascontiguousarray(x)).to(device, non_blocking=True)

    out = {k: t(v) for k, v in batch.items() if k not in ("obs", "next_obs", "idx")}
    out["obs"] = {k: t(v) for k, v in batch["obs"].items()}
    out["next_obs"] = {k: t(v) for k, v in batch["next_obs"].items()}
    return out


def td_loss(online, target, batch: dict, *, discount: float, double_q: bool = True, huber: bool = True):
    """(loss, TD errors) of one batch of tensors (see the module docstring)."""
    q = online.q(batch["obs"])
    with torch.no_grad():  # s' only picks and values the bootstrap action: no gradient through it
        q_target_next = target.q(batch["next_obs"])
        q_pick = online.q(batch["next_obs"]) if double_q else q_target_next
        best = q_pick.argmax(-1, keepdim=True)
        q_next = torch.nan_to_num(q_target_next.gather(-1, best), neginf=0.0).squeeze(-1)
        not_done = 1.0 - batch["terminateds"].float()
        y = batch["rewards"] + discount ** batch["n_steps"].float() * not_done * q_next
    q_sel = torch.nan_to_num(q.gather(-1, batch["actions"].long().unsqueeze(-1)), neginf=0.0).squeeze(-1)
    loss_fn = nn.functional.huber_loss if huber else nn.functional.mse_loss
    loss = (batch["weights"] * loss_fn(q_sel, y, reduction="none")).mean()
    return loss, (q_sel - y).detach().abs()


def dqn_update(online, target, optimizer, batch: dict, *, lr: float, params: AgentParams) -> np.ndarray:
    """One gradient step on `batch` (tensors); returns the batch's TD errors (for priorities)."""
    loss, td = td_loss(
        online,
        target,
        batch,
        discount=params.discount,
        double_q=params.double_q,
        huber=params.td_error_loss == "huber",
    )
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(online.parameters(), params.grad_clip)
    optimizer.step()
    return td.cpu().numpy()


@torch.no_grad()
def sync_target(online, target, tau: float = 1.0) -> None:
    """Target <- online (``tau`` 1, a hard copy as Ape-X) or a soft mix ``tau * online + (1 - tau) * target``."""
    for t, o in zip(target.parameters(), online.parameters()):
        if tau >= 1.0:
            t.copy_(o)
        else:
            t.lerp_(o, tau)

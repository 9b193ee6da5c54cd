"""Greedy evaluation of a Q-network, in-process with plain torch (no Ray).

Every policy is rolled out once from each of a fixed, seeded set of start cells
(``start_cells``); all episodes advance in lockstep so the Q-network sees one
batch per step. Per episode we report the test metric of the final cell (the
primary number), the best test / validation value seen, the number of unique
cells queried, and the rank percentile of the final cell's test metric in the
whole benchmark (100 = best cell). ``random_walk`` is the floor: a uniform
choice among the valid slots each step (stop included, as for the agent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..env import NASEnv
from .params import AgentParams

METRICS = ("final_test", "final_valid", "final_rank_pct", "best_test", "best_valid", "n_unique", "length", "ret")


def start_cells(n: int, seed: int, space_size: int) -> np.ndarray:
    """The fixed start cells of evaluation: `n` distinct cells drawn with `seed`."""
    return np.random.default_rng(seed).choice(space_size, size=min(n, space_size), replace=False)


def env_kwargs(params: AgentParams, bench=None, task: str | None = None) -> tuple:
    """(benchmark, NASEnv keyword arguments) of the env `params` train in, on `task` if given."""
    from ..benchmark import load_benchmark

    cfg = params.env_config()
    cfg.pop("data_dir")
    cfg["task"] = task or params.task
    if bench is None:
        bench = load_benchmark(cfg["benchmark"], data_dir=params.data_dir)
    cfg["benchmark"] = bench
    return bench, cfg


def greedy_policy(net):
    """``policy(obs) -> action`` of a :class:`~nasxfer.agent.QNetwork`: the best-scored valid slot.

    `obs` is one observation (returns an int) or a batch of them, every key stacked along a
    first axis (returns a list of ints, one forward pass); compact (``cells``, ``offsets``) or
    encoded (``candidates``) observations alike.
    """
    net.eval()

    def policy(obs):
        single = np.ndim(obs["action_mask"]) == 1
        batch = {k: torch.as_tensor(np.asarray(v)[None] if single else np.asarray(v)) for k, v in obs.items()}
        acts = net.greedy_obs(batch)
        return int(acts[0]) if single else acts.tolist()

    return policy


def rollout(
    policy,
    params: AgentParams,
    *,
    task: str | None = None,
    bench=None,
    n_episodes: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """One episode per start cell; `policy` is a :class:`QNetwork` (greedy), a batched
    ``policy(obs) -> actions`` (see :func:`greedy_policy`) or "random".

    Returns one row per episode with :data:`METRICS`, plus start cell and final cell.
    """
    bench, cfg = env_kwargs(params, bench, task)
    n = n_episodes or params.eval_episodes
    seed = params.eval_seed if seed is None else seed
    starts = start_cells(n, seed, bench.space.size)
    envs = [NASEnv(**cfg) for _ in starts]
    test_sorted = np.sort(envs[0].test)
    rng = np.random.default_rng(seed + 1)
    obs = [e.reset(seed=seed + i, options={"start_cell": int(c)})[0] for i, (e, c) in enumerate(zip(envs, starts))]
    infos = [None] * len(envs)
    done = np.zeros(len(envs), bool)
    ret = np.zeros(len(envs))
    length = np.zeros(len(envs), int)
    if isinstance(policy, torch.nn.Module):
        policy = greedy_policy(policy)
    while not done.all():
        live = np.flatnonzero(~done)
        masks = np.stack([obs[i]["action_mask"] for i in live])
        if policy == "random":
            acts = [int(rng.choice(np.flatnonzero(m))) for m in masks]
        else:
            acts = policy({k: np.stack([obs[i][k] for i in live]) for k in obs[live[0]]})
        for i, a in zip(live, acts):
            obs[i], r, term, trunc, infos[i] = envs[i].step(a)
            ret[i] += r
            length[i] += 1
            done[i] = term or trunc
    rows = []
    for i, info in enumerate(infos):
        ft = info["test"]
        rows.append(
            dict(
                start_cell=int(starts[i]),
                final_cell=info["cell"],
                final_test=ft,
                final_valid=info["valid"],
                final_rank_pct=100.0 * np.searchsorted(test_sorted, ft, side="left") / len(test_sorted),
                best_test=info["best_test"],
                best_valid=info["best_valid"],
                n_unique=info["n_unique"],
                length=int(length[i]),
                ret=float(ret[i]),
            )
        )
    return pd.DataFrame(rows)


def episode_means(df: pd.DataFrame) -> dict:
    """Mean of every metric over the episodes of :func:`rollout`, plus the standard error of the primary one."""
    out = {m: float(df[m].mean()) for m in METRICS}
    out["final_test_sem"] = float(df["final_test"].std(ddof=1) / np.sqrt(len(df))) if len(df) > 1 else 0.0
    return out


def evaluate(policy, params: AgentParams, **kw) -> dict:
    """:func:`rollout` summarised to one dict of means."""
    return episode_means(rollout(policy, params, **kw))


def random_walk(params: AgentParams, **kw) -> dict:
    """The random-walk floor on the same start cells."""
    return evaluate("random", params, **kw)

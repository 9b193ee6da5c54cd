"""The DQN agents of the search-efficiency comparison: trained here, with their target queries counted.

A transfer grid's scratch agent trains ``train_steps`` env steps on the very task it is
later compared on, reading the validation metric of thousands of that task's cells on
the way (``Agent.train``'s ``target_queries``). To compare searchers on equal
information, :func:`train_agents` retrains the grid's scratch agents with the grid's
exact settings (task x seed, from a params file) and keeps, per agent, its weights
(``checkpoints/seed<s>-<task>/``, git-ignored) and its training curve with the
cumulative ``target_queries`` (``parts/seed<s>-<task>.csv``, small, checked in).
The run is resumable: an agent whose weights and curve exist is skipped.

Their weights serve twice: on their own task (a *scratch* searcher, which has already
queried ``training_queries`` target cells before its search starts) and zero-shot on
every other task (a *transferred* searcher, which has seen no target cell).

As searchers they run greedily (:func:`agent_search`, :func:`checkpoint_trials`) and give
the rows of :func:`nasxfer.comparison.run_comparison`; ``python -m nasxfer.search_efficiency
DIR --add-agents AGENTS_DIR`` adds them to a saved comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .comparison import AGENT_NAME, BASE_SEED, BUDGETS, COLUMNS, DEFAULT_TRIALS, check_budgets, check_trials, trial_rows
from .errors import NasxferError
from .grid import GridConfig
from .oracle import QueryOracle
from .profiles import load_params
from .searchers import AgentSearcher, drive

CHECKPOINTS = "checkpoints"
PARTS = "parts"
AGENTS_FILE = "agents.csv"


def agent_grid(params_file) -> GridConfig:
    """The grid section of a params file (tasks, seeds, steps, agent preset); load_params
    already validates it into a GridConfig."""
    return load_params(params_file)["grid"]


def checkpoint_path(agents_dir, seed: int, task: str) -> Path:
    return Path(agents_dir) / CHECKPOINTS / f"seed{seed}-{task}"


def part_path(agents_dir, seed: int, task: str) -> Path:
    return Path(agents_dir) / PARTS / f"seed{seed}-{task}.csv"


def _done(agents_dir, seed: int, task: str) -> bool:
    return (checkpoint_path(agents_dir, seed, task) / "weights.pt").is_file() and part_path(
        agents_dir, seed, task
    ).is_file()


def train_agents(agents_dir, params_file, data_dir=None, progress: bool = True) -> pd.DataFrame:
    """Train every (seed, task) scratch agent of the params file's grid not yet in `agents_dir`.

    Each agent trains ``grid.train_steps`` env steps on its task with the grid's agent
    settings, evaluated every ``grid.eval_every`` steps, so its curve matches the grid's
    scratch run of that seed and task (up to RLlib's sampling, which is not bit-reproducible).
    Returns :func:`agents_table`.
    """
    from tqdm.auto import tqdm

    from .agent.agent import Agent
    from .io import write_atomic

    grid = agent_grid(params_file)
    tasks = list(dict.fromkeys(grid.source_tasks))
    todo = [(s, t) for s in grid.seeds for t in tasks if not _done(agents_dir, s, t)]
    for seed, task in tqdm(todo, desc="scratch agents", disable=not progress):
        params = grid.agent_params(task, seed)
        if data_dir is not None:
            params = params.replace(data_dir=str(data_dir))
        agent = Agent(params)
        try:
            curve = agent.train().copy()
            agent.save_weights(checkpoint_path(agents_dir, seed, task))
        finally:
            agent.stop()
        curve.insert(0, "seed", seed)
        curve.insert(1, "task", task)
        path = part_path(agents_dir, seed, task)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(curve, path)
    return agents_table(agents_dir, params_file)


def load_curves(agents_dir) -> pd.DataFrame:
    """Every agent's training curve (one row per evaluation) with its ``target_queries``."""
    parts = sorted((Path(agents_dir) / PARTS).glob("seed*-*.csv"))
    if not parts:
        raise NasxferError(
            f"no trained agents in {agents_dir}: run "
            f"`python -m nasxfer.search_agents {agents_dir} params/laptop.yaml` first"
        )
    return pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)


def missing_agents(agents_dir, params_file) -> list[str]:
    """The ``seed<s>-<task>`` agents the params file's grid names that `agents_dir` has not trained."""
    grid = agent_grid(params_file)
    return [
        f"seed{s}-{t}"
        for s in grid.seeds
        for t in dict.fromkeys(grid.source_tasks)
        if not part_path(agents_dir, s, t).is_file()
    ]


def agents_table(agents_dir, params_file=None, allow_missing: bool = False) -> pd.DataFrame:
    """One row per agent: training env steps, ``training_queries`` (unique target cells its
    training envs read) and its final greedy evaluation (mean over the evaluation start cells).

    With `params_file`, refuses a folder that lacks an agent the grid names (one line listing
    them) unless `allow_missing`.
    """
    curves = load_curves(agents_dir)
    if params_file is not None and not allow_missing:
        missing = missing_agents(agents_dir, params_file)
        if missing:
            raise NasxferError(
                f"{agents_dir} lacks agents {missing}: finish the training run "
                f"(python -m nasxfer.search_agents {agents_dir} {params_file})"
            )
    last = curves.sort_values("env_steps").groupby(["task", "seed"], sort=False).tail(1)
    out = last[
        [
            "task",
            "seed",
            "env_steps",
            "updates",
            "target_queries",
            "final_test",
            "final_rank_pct",
            "n_unique",
            "train_s",
        ]
    ].rename(columns={"target_queries": "training_queries"})
    return out.sort_values(["task", "seed"], ignore_index=True)


# ---- the agents as searchers ---------------------------------------------------------------


def agent_search(env, policy, budget: int, seed: int, max_episodes: int | None = None) -> QueryOracle:
    """Run a greedy `policy(obs) -> action` in `env` (:class:`~nasxfer.searchers.AgentSearcher`)
    until it has moved to `budget` unique cells; returns the spent oracle."""
    oracle = QueryOracle(env.bench, env.task_name, budget)
    return drive(AgentSearcher(env, policy, seed, oracle.budget, max_episodes), oracle)


def agent_trials(
    env,
    policy,
    name: str = "agent",
    budgets=BUDGETS,
    trials: int = DEFAULT_TRIALS,
    base_seed: int = BASE_SEED,
    progress: bool = True,
) -> pd.DataFrame:
    """The rows of :func:`run_comparison` for one agent on its env's task (seeds as there)."""
    seeds = base_seed + np.arange(check_trials(trials))
    return pd.DataFrame(_agent_rows(env, policy, name, seeds, budgets, progress), columns=COLUMNS)


def _agent_rows(
    env,
    policy,
    name: str,
    seeds,
    budgets,
    progress: bool,
    desc: str | None = None,
    source: str = "",
    prior_queries: int = 0,
) -> list[dict]:
    budgets = check_budgets(budgets, env.space.size)
    rows = []
    for seed in tqdm(seeds, desc=desc or name, disable=not progress):
        oracle = agent_search(env, policy, budgets[-1], int(seed))
        rows += trial_rows(oracle, env.bench, name, int(seed), budgets, source=source, prior_queries=prior_queries)
    return rows


def checkpoint_trials(
    paths,
    params,
    name: str = AGENT_NAME,
    budgets=BUDGETS,
    trials: int = DEFAULT_TRIALS,
    base_seed: int = BASE_SEED,
    bench=None,
    progress: bool = True,
    task: str | None = None,
    prior_queries=None,
) -> pd.DataFrame:
    """:func:`agent_trials` for trained agents of one task, loaded from weights checkpoints.

    `paths` are checkpoints of agents trained on the same task (one per training seed); trial
    ``t`` uses agent ``t % len(paths)``, so the spread over trials includes the spread over
    training seeds. `params` (:class:`~nasxfer.agent.AgentParams`) give the env the agents were
    trained in (time limit, neighbour cap, padding, shaping); trial seeds are as for the baselines.
    `task` searches another task than the one trained on (zero-shot; default: the same task);
    `prior_queries` (one per path) are the cells of the searched task each agent read before
    its search (its training queries when it trained there), recorded in ``prior_queries``
    and added to ``queries``. Rows carry the training task as ``source``.
    """
    from .agent.checkpoints import load_qnetwork
    from .agent.evaluate import env_kwargs, greedy_policy
    from .env import NASEnv

    paths = [Path(p) for p in paths]
    if not paths:
        raise NasxferError("checkpoint_trials needs at least one weights checkpoint")
    prior_queries = [0] * len(paths) if prior_queries is None else [int(q) for q in prior_queries]
    if len(prior_queries) != len(paths):
        raise NasxferError(
            f"prior_queries has {len(prior_queries)} entries for {len(paths)} checkpoints: give one per path"
        )
    nets = [load_qnetwork(p) for p in paths]
    tasks = {meta["task"] for _, meta in nets}
    if len(tasks) != 1:
        raise NasxferError(f"checkpoints of different tasks {sorted(tasks)}: compare one task at a time")
    source = tasks.pop()
    bench, cfg = env_kwargs(params, bench, task or source)
    task = cfg["task"]
    seeds = base_seed + np.arange(check_trials(trials))
    parts = []
    for k, (net, _) in enumerate(nets):
        parts += _agent_rows(
            NASEnv(**cfg),
            greedy_policy(net),
            name,
            seeds[k :: len(nets)],
            budgets,
            progress,
            desc=f"{name} {source}->{task} #{k}",
            source=source,
            prior_queries=prior_queries[k],
        )
    return pd.DataFrame(parts, columns=COLUMNS).sort_values(["seed", "budget"], ignore_index=True)


def main(argv=None) -> None:
    """``python -m nasxfer.search_agents AGENTS_DIR PARAMS_FILE``: train (resumably) and save the agents."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("agents_dir")
    ap.add_argument("params_file")
    ap.add_argument("--data-dir", default=None, help="folder holding the benchmark tables")
    args = ap.parse_args(argv)
    table = train_agents(args.agents_dir, args.params_file, data_dir=args.data_dir)
    from .io import write_atomic

    write_atomic(table, Path(args.agents_dir) / AGENTS_FILE)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()

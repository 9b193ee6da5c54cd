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
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import NasxferError
from .experiments import GridConfig
from .profiles import grid_config, load_params

CHECKPOINTS = "checkpoints"
PARTS = "parts"
AGENTS_FILE = "agents.csv"


def agent_grid(params_file) -> GridConfig:
    """The grid section of a params file (tasks, seeds, steps, agent preset)."""
    return grid_config(load_params(params_file)["grid"])


def checkpoint_path(agents_dir, seed: int, task: str) -> Path:
    return Path(agents_dir) / CHECKPOINTS / f"seed{seed}-{task}"


def part_path(agents_dir, seed: int, task: str) -> Path:
    return Path(agents_dir) / PARTS / f"seed{seed}-{task}.csv"


def _done(agents_dir, seed: int, task: str) -> bool:
    return (checkpoint_path(agents_dir, seed, task) / "weights.pt").is_file() and part_path(agents_dir, seed, task).is_file()


def train_agents(agents_dir, params_file, data_dir=None, progress: bool = True) -> pd.DataFrame:
    """Train every (seed, task) scratch agent of the params file's grid not yet in `agents_dir`.

    Each agent trains ``grid.train_steps`` env steps on its task with the grid's agent
    settings, evaluated every ``grid.eval_every`` steps, so its curve matches the grid's
    scratch run of that seed and task (up to RLlib's sampling, which is not bit-reproducible).
    Returns :func:`agents_table`.
    """
    from tqdm.auto import tqdm

    from .agent.agent import Agent
    from .experiments import write_atomic

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
        raise NasxferError(f"no trained agents in {agents_dir}: run "
                           f"`python -m nasxfer.search_agents {agents_dir} params/laptop.yaml` first")
    return pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)


def missing_agents(agents_dir, params_file) -> list[str]:
    """The ``seed<s>-<task>`` agents the params file's grid names that `agents_dir` has not trained."""
    grid = agent_grid(params_file)
    return [f"seed{s}-{t}" for s in grid.seeds for t in dict.fromkeys(grid.source_tasks)
            if not part_path(agents_dir, s, t).is_file()]


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
            raise NasxferError(f"{agents_dir} lacks agents {missing}: finish the training run "
                               f"(python -m nasxfer.search_agents {agents_dir} {params_file})")
    last = curves.sort_values("env_steps").groupby(["task", "seed"], sort=False).tail(1)
    out = last[["task", "seed", "env_steps", "updates", "target_queries", "final_test", "final_rank_pct",
                "n_unique", "train_s"]].rename(columns={"target_queries": "training_queries"})
    return out.sort_values(["task", "seed"], ignore_index=True)


def main(argv=None) -> None:
    """``python -m nasxfer.search_agents AGENTS_DIR PARAMS_FILE``: train (resumably) and save the agents."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("agents_dir")
    ap.add_argument("params_file")
    ap.add_argument("--data-dir", default=None, help="folder holding the benchmark tables")
    args = ap.parse_args(argv)
    table = train_agents(args.agents_dir, args.params_file, data_dir=args.data_dir)
    from .experiments import write_atomic

    write_atomic(table, Path(args.agents_dir) / AGENTS_FILE)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()

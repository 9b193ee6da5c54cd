"""A saved search comparison: its results folder, the trained agents added to it, and its command line.

A comparison lives in a folder as ``results.parquet`` (the table of
:func:`nasxfer.comparison.run_comparison`) beside ``config.json`` (what made it), written
atomically by :func:`save_comparison` and read by :func:`load_comparison`; :func:`add_agents`
adds the agents of :mod:`nasxfer.search_agents` to it. (A transfer grid's folder holds files
of the same names with other contents: :func:`nasxfer.experiments.load_results` reads those.)

``python -m nasxfer.search_efficiency RESULTS_DIR`` runs the baselines and saves them;
``--add-agents AGENTS_DIR --params PARAMS`` then adds the agents.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .benchmark import PAPER_TASKS, load_benchmark
from .comparison import (
    AGENT_SEARCHERS,
    BASE_SEED,
    BUDGETS,
    DEFAULT_TRIALS,
    SCRATCH_NAME,
    ZERO_SHOT_NAME,
    check_trials,
    comparison_config,
    run_comparison,
)
from .errors import NasxferError
from .io import write_atomic, write_json_atomic
from .profiles import portable
from .search_agents import agent_grid, agents_table, checkpoint_path, checkpoint_trials, missing_agents
from .searchers import SEARCHERS
from .stats import headline, search_summary

RESULTS_FILE = "results.parquet"
CONFIG_FILE = "config.json"


def save_comparison(results: pd.DataFrame, results_dir, config: dict | None = None) -> Path:
    """Write ``results.parquet`` and ``config.json`` (with the package version) into `results_dir`."""
    from . import __version__

    out = Path(results_dir)
    config = {"nasxfer_version": __version__, **(config or {})}
    write_atomic(results, out / RESULTS_FILE)
    write_json_atomic(config, out / CONFIG_FILE)
    return out


def load_comparison(results_dir) -> tuple[pd.DataFrame, dict]:
    """The table and configuration saved by :func:`save_comparison`."""
    out = Path(results_dir)
    path = out / RESULTS_FILE
    if not path.is_file():
        raise NasxferError(
            f"no search-efficiency results at {path}: run the comparison first "
            f"(python -m nasxfer.search_efficiency {out}, or run_fresh=True in the notebook)"
        )
    config_path = out / CONFIG_FILE
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return pd.read_parquet(path), config


def add_agents(
    results_dir, agents_dir, params_file, trials: int | None = None, progress: bool = True, allow_missing: bool = False
) -> pd.DataFrame:
    """Add the agents of :mod:`nasxfer.search_agents` to a saved comparison, as two searchers.

    For every task of the comparison: ``dqn scratch``, the agents trained on that task (one per
    seed, ``prior_queries`` = the target cells each read while training), and ``dqn zero-shot``,
    the agents trained on each other task (``source``), greedy on this one, which have read no
    cell of it. `trials` (default: the comparison's) are split over the training seeds as in
    :func:`checkpoint_trials`, per source. Their rows replace earlier agent rows; the agents'
    table and settings are recorded in the configuration. An agent the params file names but
    `agents_dir` lacks is an error, unless `allow_missing`: then the agents present are used and
    the missing ones are listed in ``config["agents"]["missing"]``.
    """
    results, config = load_comparison(results_dir)
    grid = agent_grid(params_file)
    table = agents_table(agents_dir, params_file, allow_missing=allow_missing)
    trials = config["trials"] if trials is None else check_trials(trials)
    bench = load_benchmark(config.get("benchmark", grid.benchmark), tasks=config["tasks"])
    sources = list(dict.fromkeys(grid.source_tasks))
    rows = []
    for task in config["tasks"]:
        for source in sources:
            agents = table[table["task"] == source].sort_values("seed")
            if agents.empty:  # only with allow_missing: recorded below
                continue
            paths = [checkpoint_path(agents_dir, s, source) for s in agents["seed"]]
            missing = [str(p) for p in paths if not (p / "weights.pt").is_file()]
            if missing:
                raise NasxferError(
                    f"agents {missing} have no weights (checkpoints are not in git): retrain them "
                    f"with python -m nasxfer.search_agents {agents_dir} {params_file}"
                )
            scratch = source == task
            params = grid.agent_params(source, 0)
            rows.append(
                checkpoint_trials(
                    paths,
                    params,
                    SCRATCH_NAME if scratch else ZERO_SHOT_NAME,
                    config["budgets"],
                    trials,
                    config["base_seed"],
                    bench=bench,
                    progress=progress,
                    task=task,
                    prior_queries=agents["training_queries"].tolist() if scratch else None,
                )
            )
    record = {
        "params_file": str(params_file),
        "agents_dir": str(agents_dir),
        "grid": grid.__dict__,
        "training": table.to_dict(orient="records"),
        "missing": missing_agents(agents_dir, params_file),
    }
    return _save_agents(results, config, rows, trials, record, results_dir)


def grid_agent_rows(grid_dir, bench, tasks, budgets, trials: int, base_seed: int, progress: bool = True):
    """A finished transfer grid's scratch agents as searchers on `tasks` of `bench`: on its own task
    an agent is ``dqn scratch`` (``prior_queries`` = the target cells its training read, from the
    grid's curves), on every other task ``dqn zero-shot``, whichever benchmark it trained on
    (``source`` is its grid task name, e.g. ``transnas-bench-101/class_object``). Trial ``t`` of a
    source uses its agent of seed ``t % seeds``. Returns (the rows, one table per source and task;
    each agent's training record; the grid the folder was made with)."""
    from .experiments import checkpoint_dir, load_results
    from .grid import canonical_task, grid_config

    curves, _, made = load_results(grid_dir)
    grid = grid_config(made["grid"])
    last = curves[curves.kind == "scratch"].sort_values("env_steps").groupby(["target", "seed"]).tail(1)
    rows = []
    for task in tasks:
        here = canonical_task(f"{bench.name}/{task}", grid.benchmark)
        for source in grid.tasks:
            agents = last[last.target == source].sort_values("seed")
            paths = [checkpoint_dir(grid_dir, s, source) for s in agents.seed]
            missing = [str(p) for p in paths if not (p / "weights.pt").is_file()]
            if agents.empty or missing:
                raise NasxferError(
                    f"{grid_dir} lacks the weights of its scratch agents on {source} ({missing or 'no runs'}; "
                    f"checkpoints are not in git): rerun the grid there to train them"
                )
            own = source == here
            rows.append(
                checkpoint_trials(
                    paths,
                    grid.agent_params(source, 0),
                    SCRATCH_NAME if own else ZERO_SHOT_NAME,
                    budgets,
                    trials,
                    base_seed,
                    bench=bench,
                    progress=progress,
                    task=task,
                    prior_queries=agents["target_queries"].tolist() if own else None,
                ).assign(source=source)
            )
    keep = ["task", "seed", "env_steps", "updates", "training_queries", "final_test", "final_rank_pct", "n_unique"]
    training = last.rename(columns={"target": "task", "target_queries": "training_queries"})[[*keep, "train_s"]]
    return rows, training, made["grid"]


def _save_agents(results, config: dict, rows: list, trials: int, record: dict, results_dir) -> pd.DataFrame:
    """`rows` (the agents' trials) in place of any earlier agent rows, `record` (where the agents
    come from) in the configuration, saved."""
    old = results["searcher"].isin(AGENT_SEARCHERS)
    results = pd.concat([results[~old], *rows], ignore_index=True)
    config["agents"] = {
        **record,
        "trials": int(trials),
        "policy": "greedy Q-network; trial t uses the agent of seed t % n_seeds",
        SCRATCH_NAME: "trained train_steps env steps on the target task itself: prior_queries = its unique "
        "training queries there, queries = prior_queries + search budget",
        ZERO_SHOT_NAME: "trained on another task (source), greedy on the target: no target cell seen before the "
        "search, queries = search budget",
    }
    config["searchers"] = [s for s in config["searchers"] if s not in AGENT_SEARCHERS]
    config["searchers"] += [SCRATCH_NAME, ZERO_SHOT_NAME]
    save_comparison(results, results_dir, config)
    return results


def add_grid_agents(results_dir, grid_dir, trials: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Add a finished transfer grid's scratch agents to a saved comparison, as :func:`add_agents`
    adds retrained ones (see :func:`grid_agent_rows`). No agent is trained: the grid's checkpoints are used."""
    results, config = load_comparison(results_dir)
    trials = config["trials"] if trials is None else check_trials(trials)
    bench = load_benchmark(config["benchmark"], tasks=config["tasks"])
    rows, training, made = grid_agent_rows(
        grid_dir, bench, config["tasks"], config["budgets"], trials, config["base_seed"], progress
    )
    record = {
        "grid_dir": portable(grid_dir),
        "grid": made,
        "training": training.to_dict(orient="records"),
        "missing": [],
    }
    return _save_agents(results, config, rows, trials, record, results_dir)


def main(argv=None) -> None:
    """``python -m nasxfer.search_efficiency RESULTS_DIR [--trials N] [--add-agents AGENTS_DIR]``: run and save
    the baselines' comparison, or add the trained agents to it."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("results_dir")
    ap.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    ap.add_argument("--base-seed", type=int, default=BASE_SEED)
    ap.add_argument("--tasks", nargs="+", default=list(PAPER_TASKS))
    ap.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    ap.add_argument("--benchmark", default="transnas-bench-101")
    ap.add_argument("--data-dir", default=None, help="folder holding the benchmark tables")
    ap.add_argument(
        "--add-agents",
        metavar="AGENTS_DIR",
        default=None,
        help="instead of running the baselines, add the agents trained by nasxfer.search_agents "
        "(scratch and zero-shot) to saved results",
    )
    ap.add_argument("--params", default="params/laptop.yaml", help="the params file the agents were trained with")
    ap.add_argument(
        "--agent-trials",
        type=int,
        default=None,
        help="trials per agent searcher and source task (default: the comparison's trials)",
    )
    ap.add_argument(
        "--allow-missing",
        action="store_true",
        help="add the agents trained so far, listing the missing ones in config.json",
    )
    args = ap.parse_args(argv)
    if args.add_agents:
        import torch

        torch.set_num_threads(1)  # batch-1 forwards: more threads only add overhead
        results = add_agents(
            args.results_dir, args.add_agents, args.params, trials=args.agent_trials, allow_missing=args.allow_missing
        )
        print(headline(search_summary(results)).to_string())
        return
    bench = load_benchmark(args.benchmark, tasks=args.tasks, data_dir=args.data_dir)
    results = run_comparison(bench, args.tasks, args.budgets, args.trials, base_seed=args.base_seed)
    config = comparison_config(bench, args.tasks, args.budgets, args.trials, tuple(SEARCHERS), args.base_seed)
    print(f"saved to {save_comparison(results, args.results_dir, config)}")
    print(headline(search_summary(results)).to_string())


if __name__ == "__main__":
    main()

"""Search efficiency: the test metric of the best-by-validation cell at equal query budgets.

:func:`run_comparison` runs every baseline for many seeded trials and returns a
tidy table (a row per task, searcher, seed and budget); :func:`agent_trials`
gives the same rows for a trained agent; :func:`summarize` adds the mean and a
95% t-interval over trials. :func:`save_results` / :func:`load_results` keep the
table and its configuration in a results folder, written atomically.

Each trial runs once up to the largest budget and is read at every smaller
budget (an anytime curve), which is exact because no searcher looks at its
budget.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

from .baselines import SEARCHERS, get_searcher, run_search
from .benchmark import PAPER_TASKS, Benchmark, load_benchmark
from .errors import NasxferError
from .oracle import QueryOracle, check_budget

BUDGETS = (10, 25, 50, 100, 200)
DEFAULT_TRIALS = 200
BASE_SEED = 0
RESULTS_FILE = "results.parquet"
CONFIG_FILE = "config.json"
AGENT_NAME = "dqn agent"
COLUMNS = ["benchmark", "task", "searcher", "seed", "budget", "best_cell", "best_valid", "best_test"]


def check_budgets(budgets, space_size: int) -> tuple[int, ...]:
    budgets = tuple(sorted({check_budget(b, space_size) for b in np.atleast_1d(budgets).tolist()}))
    if not budgets:
        raise NasxferError("budgets is empty: give at least one query budget, e.g. budgets=(10, 50, 200)")
    return budgets


def check_trials(trials) -> int:
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise NasxferError(f"trials must be an integer >= 1, got {trials!r}")
    return int(trials)


def _rows(oracle: QueryOracle, bench: Benchmark, searcher: str, seed: int, budgets) -> list[dict]:
    keep = {"benchmark": bench.name, "task": oracle.task, "searcher": searcher, "seed": seed}
    return [{**keep, **row} for row in oracle.anytime(budgets)]


def run_comparison(
    bench: Benchmark | str = "transnas-bench-101",
    tasks=PAPER_TASKS,
    budgets=BUDGETS,
    trials: int = DEFAULT_TRIALS,
    searchers=tuple(SEARCHERS),
    base_seed: int = BASE_SEED,
    progress: bool = True,
    data_dir=None,
) -> pd.DataFrame:
    """Tidy table of every baseline's best-by-validation cell at every budget.

    Trial ``i`` uses seed ``base_seed + i`` for every task and searcher, so a
    row can be reproduced with ``run_search(searcher, bench, task, max(budgets), seed)``.
    """
    bench = load_benchmark(bench, data_dir=data_dir) if isinstance(bench, str) else bench
    tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    for t in tasks:
        bench.task(t)  # fail before any work on an unknown task
    for s in searchers:
        get_searcher(s)
    budgets = check_budgets(budgets, bench.space.size)
    seeds = base_seed + np.arange(check_trials(trials))
    rows = []
    jobs = [(t, s) for t in tasks for s in searchers]
    for task, searcher in tqdm(jobs, desc="task x searcher", disable=not progress):
        for seed in seeds:
            oracle = run_search(searcher, bench, task, budgets[-1], int(seed))
            rows += _rows(oracle, bench, searcher, int(seed), budgets)
    return pd.DataFrame(rows, columns=COLUMNS)


# ---- trained agents ------------------------------------------------------------------------


def agent_search(env, policy, budget: int, seed: int, max_episodes: int | None = None) -> QueryOracle:
    """Run a greedy `policy(obs) -> action` in `env` until it has moved to `budget` unique cells.

    The agent ranks neighbours with its own model, so the benchmark is read only
    for rewards: the cells it starts on and moves to are its queries, counted
    once each by the returned oracle. Episodes restart from start cells drawn
    with ``np.random.default_rng(seed)``; the env's own rng (neighbour sampling,
    graph offsets) is seeded with `seed` on the first reset.
    """
    oracle = QueryOracle(env.bench, env.task_name, budget)
    rng = np.random.default_rng(seed)
    max_episodes = 100 * oracle.budget if max_episodes is None else max_episodes
    env_seed = int(seed)
    for _ in range(max_episodes):
        obs, info = env.reset(seed=env_seed, options={"start_cell": int(rng.integers(env.space.size))})
        env_seed = None  # seed once; later resets continue the env's stream
        oracle.query(info["cell"])
        if oracle.done:
            return oracle
        terminated = truncated = False
        while not (terminated or truncated):
            obs, _, terminated, truncated, info = env.step(policy(obs))
            oracle.query(info["cell"])
            if oracle.done:
                return oracle
    raise NasxferError(
        f"the policy reached only {oracle.n_unique} of {budget} unique cells in {max_episodes} episodes: "
        f"it keeps revisiting cells; pass a larger max_episodes or a smaller budget"
    )


def agent_trials(
    env, policy, name: str = "agent", budgets=BUDGETS, trials: int = DEFAULT_TRIALS, base_seed: int = BASE_SEED,
    progress: bool = True,
) -> pd.DataFrame:
    """The rows of :func:`run_comparison` for one agent on its env's task (seeds as there)."""
    seeds = base_seed + np.arange(check_trials(trials))
    return pd.DataFrame(_agent_rows(env, policy, name, seeds, budgets, progress), columns=COLUMNS)


def _agent_rows(env, policy, name: str, seeds, budgets, progress: bool, desc: str | None = None) -> list[dict]:
    budgets = check_budgets(budgets, env.space.size)
    rows = []
    for seed in tqdm(seeds, desc=desc or name, disable=not progress):
        oracle = agent_search(env, policy, budgets[-1], int(seed))
        rows += _rows(oracle, env.bench, name, int(seed), budgets)
    return rows


def greedy_policy(net):
    """``policy(obs) -> action`` of a :class:`~nasxfer.agent.QNetwork`: the best-scored valid slot."""
    import torch

    def policy(obs):
        with torch.no_grad():
            q = net(torch.from_numpy(obs["candidates"][None]), torch.from_numpy(obs["action_mask"][None]))
        return int(q.argmax())

    return policy


def checkpoint_trials(
    paths, params, name: str = AGENT_NAME, budgets=BUDGETS, trials: int = DEFAULT_TRIALS,
    base_seed: int = BASE_SEED, bench: Benchmark | None = None, progress: bool = True,
) -> pd.DataFrame:
    """:func:`agent_trials` for trained agents of one task, loaded from weights checkpoints.

    `paths` are checkpoints of agents trained on the same task (one per training seed); trial
    ``t`` uses agent ``t % len(paths)``, so the spread over trials includes the spread over
    training seeds. `params` (:class:`~nasxfer.agent.AgentParams`) give the env the agents were
    trained in (time limit, neighbour cap, padding, shaping); trial seeds are as for the baselines.
    """
    from .agent.evaluate import env_kwargs
    from .agent.transfer import load_qnetwork
    from .env import NASEnv

    paths = [Path(p) for p in paths]
    if not paths:
        raise NasxferError("checkpoint_trials needs at least one weights checkpoint")
    nets = [load_qnetwork(p) for p in paths]
    tasks = {meta["task"] for _, meta in nets}
    if len(tasks) != 1:
        raise NasxferError(f"checkpoints of different tasks {sorted(tasks)}: compare one task at a time")
    bench, cfg = env_kwargs(params, bench, tasks.pop())
    task = cfg["task"]
    seeds = base_seed + np.arange(check_trials(trials))
    parts = []
    for k, (net, _) in enumerate(nets):
        parts += _agent_rows(NASEnv(**cfg), greedy_policy(net), name, seeds[k :: len(nets)], budgets, progress,
                             desc=f"{name} {task} #{k}")
    return pd.DataFrame(parts, columns=COLUMNS).sort_values(["seed", "budget"], ignore_index=True)


def add_grid_agents(results_dir, grid_dir, name: str = AGENT_NAME, progress: bool = True) -> pd.DataFrame:
    """Add the scratch agents of a transfer-grid run (``nasxfer grid``) to a saved comparison.

    For every task of the comparison that the grid trained from scratch, the agents of all
    seeds (``<grid_dir>/checkpoints/seed<s>-<task>``) run the comparison's trials; their rows
    replace any earlier rows named `name`, and the grid's configuration is recorded.
    """
    from .agent.params import AgentParams
    from .experiments import checkpoint_dir

    results, config = load_results(results_dir)
    grid_dir = Path(grid_dir)
    grid_cfg_path = grid_dir / "config.json"
    if not grid_cfg_path.is_file():
        raise NasxferError(f"no grid run at {grid_dir} (config.json missing): run `nasxfer grid <params>` first")
    grid = json.loads(grid_cfg_path.read_text())["grid"]
    bench = load_benchmark(config.get("benchmark", grid["benchmark"]), tasks=config["tasks"])
    rows = []
    for task in config["tasks"]:
        paths = [checkpoint_dir(grid_dir, s, task) for s in grid["seeds"]]
        missing = [str(p) for p in paths if not (p / "weights.pt").is_file()]
        if task not in grid["source_tasks"] or missing:
            raise NasxferError(f"the grid at {grid_dir} has no trained {task} agent for every seed "
                               f"(missing {missing or 'the task'}): finish the grid run first")
        params = AgentParams.from_dict({**grid["agent"], "benchmark": grid["benchmark"], "task": task})
        rows.append(checkpoint_trials(paths, params, name, config["budgets"], config["trials"],
                                      config["base_seed"], bench=bench, progress=progress))
    results = pd.concat([results[results.searcher != name], *rows], ignore_index=True)
    config["agents"] = {name: {"grid": grid, "grid_dir": str(grid_dir),
                               "policy": "greedy Q-network, trial t uses the agent of seed t % n_seeds"}}
    config["searchers"] = [s for s in config["searchers"] if s != name] + [name]
    save_results(results, results_dir, config)
    return results


# ---- summary -------------------------------------------------------------------------------


def _t_interval(x: np.ndarray, confidence: float) -> tuple[float, float]:
    mean = float(np.mean(x))
    sem = stats.sem(x) if len(x) > 1 else 0.0
    if not sem > 0:  # one trial, or all trials equal: no spread to widen the interval
        return mean, mean
    lo, hi = stats.t.interval(confidence, len(x) - 1, loc=mean, scale=sem)
    return float(lo), float(hi)


def summarize(results: pd.DataFrame, value: str = "best_test", confidence: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval of `value` over trials, per task, searcher and budget."""
    missing = [c for c in ("task", "searcher", "budget", value) if c not in results.columns]
    if missing:
        raise NasxferError(f"results lack columns {missing}: pass the table from run_comparison or load_results")
    rows = []
    for (task, searcher, budget), g in results.groupby(["task", "searcher", "budget"], sort=False):
        x = g[value].to_numpy(np.float64)
        lo, hi = _t_interval(x, confidence)
        rows.append(
            {"task": task, "searcher": searcher, "budget": budget, "n": len(x),
             "mean": float(x.mean()), "ci_low": lo, "ci_high": hi}
        )
    return pd.DataFrame(rows).sort_values(["task", "searcher", "budget"], ignore_index=True)


def agent_vs_searcher(
    summary: pd.DataFrame, grid_results: pd.DataFrame, searcher: str = "evolution", budget: int | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per task: a transfer grid's fully trained scratch agents against `searcher` at `budget` queries.

    ``agent_final_test`` is what the RQ notebooks call agent performance: the test metric of
    the cell a greedy episode ends on (mean over the evaluation start cells, then a t-interval
    over training seeds); ``agent_cells_per_episode`` is how many unique cells such an episode
    queries. It is set against the searcher's best-by-validation cell after `budget` queries
    (default: the largest budget), and, when the table holds them, the agents' own rows at that
    budget (:data:`AGENT_NAME`: many episodes until `budget` unique cells).
    """
    budget = summary["budget"].max() if budget is None else budget
    scratch = grid_results[(grid_results["kind"] == "scratch") & (grid_results["regime"] == "retrain")]
    if scratch.empty:
        raise NasxferError("grid_results hold no scratch agents: pass the results table of a grid run")
    at = summary[summary["budget"] == budget].set_index(["task", "searcher"])
    rows = []
    for task, g in scratch.groupby("target", sort=False):
        if (task, searcher) not in at.index:
            continue
        x = g["final_test"].to_numpy(np.float64)
        lo, hi = _t_interval(x, confidence)
        s = at.loc[(task, searcher)]
        row = {"task": task, "agent_seeds": len(x), "agent_final_test": float(x.mean()), "agent_ci_low": lo,
               "agent_ci_high": hi, "agent_cells_per_episode": float(g["n_unique"].mean()),
               f"{searcher}_best_at_{budget}": float(s["mean"]), f"{searcher}_ci_low": float(s["ci_low"]),
               f"{searcher}_ci_high": float(s["ci_high"])}
        if (task, AGENT_NAME) in at.index:
            row[f"agent_search_best_at_{budget}"] = float(at.loc[(task, AGENT_NAME)]["mean"])
        row["agent_at_least_as_good"] = bool(row["agent_final_test"] >= row[f"{searcher}_best_at_{budget}"])
        rows.append(row)
    if not rows:
        raise NasxferError(f"no task has both grid agents and {searcher!r} results at budget {budget}")
    return pd.DataFrame(rows)


def headline(summary: pd.DataFrame, budget: int | None = None) -> pd.DataFrame:
    """Task x searcher table of the mean at one budget (the largest by default)."""
    budget = summary["budget"].max() if budget is None else budget
    if budget not in set(summary["budget"]):
        raise NasxferError(f"no results at budget {budget}: choose one of {sorted(set(summary['budget']))}")
    at = summary[summary["budget"] == budget]
    return at.pivot(index="task", columns="searcher", values="mean")


# ---- results on disk -----------------------------------------------------------------------


def _atomic_write(path: Path, write) -> None:
    """Write via a temp file in the same folder then rename, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_results(results: pd.DataFrame, results_dir, config: dict | None = None) -> Path:
    """Write ``results.parquet`` and ``config.json`` (with the package version) into `results_dir`."""
    from . import __version__

    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {"nasxfer_version": __version__, **(config or {})}
    _atomic_write(out / RESULTS_FILE, lambda p: results.to_parquet(p, index=False, compression="zstd"))
    _atomic_write(out / CONFIG_FILE, lambda p: Path(p).write_text(json.dumps(config, indent=2, default=str) + "\n"))
    return out


def load_results(results_dir) -> tuple[pd.DataFrame, dict]:
    """The table and configuration saved by :func:`save_results`."""
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


def comparison_config(bench: Benchmark, tasks, budgets, trials, searchers, base_seed) -> dict:
    """What a results table was made with: enough to re-run it."""
    return {
        "benchmark": bench.name,
        "tasks": list(tasks),
        "budgets": [int(b) for b in budgets],
        "trials": int(trials),
        "seeds": f"base_seed + trial for trial in 0..{int(trials) - 1}",
        "base_seed": int(base_seed),
        "searchers": list(searchers),
        "hyperparameters": {s: searcher_defaults(s) for s in searchers},
    }


def searcher_defaults(name: str) -> dict:
    """The keyword defaults of a searcher: its hyperparameters as run."""
    params = inspect.signature(get_searcher(name)).parameters.values()
    return {p.name: p.default for p in params if p.default not in (inspect.Parameter.empty, None)}


def main(argv=None) -> None:
    """``python -m nasxfer.search_efficiency RESULTS_DIR [--trials N]``: run and save the comparison."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("results_dir")
    ap.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    ap.add_argument("--base-seed", type=int, default=BASE_SEED)
    ap.add_argument("--tasks", nargs="+", default=list(PAPER_TASKS))
    ap.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    ap.add_argument("--benchmark", default="transnas-bench-101")
    ap.add_argument("--data-dir", default=None, help="folder holding the benchmark tables")
    ap.add_argument("--add-agents-from", metavar="GRID_DIR", default=None,
                    help="instead of running the baselines, add a grid run's trained agents to saved results")
    args = ap.parse_args(argv)
    if args.add_agents_from:
        results = add_grid_agents(args.results_dir, args.add_agents_from)
        print(headline(summarize(results)).to_string())
        return
    bench = load_benchmark(args.benchmark, tasks=args.tasks, data_dir=args.data_dir)
    results = run_comparison(bench, args.tasks, args.budgets, args.trials, base_seed=args.base_seed)
    config = comparison_config(bench, args.tasks, args.budgets, args.trials, tuple(SEARCHERS), args.base_seed)
    print(f"saved to {save_results(results, args.results_dir, config)}")
    print(headline(summarize(results)).to_string())


if __name__ == "__main__":
    main()

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
    budgets = check_budgets(budgets, env.space.size)
    rows = []
    for seed in tqdm(base_seed + np.arange(check_trials(trials)), desc=name, disable=not progress):
        oracle = agent_search(env, policy, budgets[-1], int(seed))
        rows += _rows(oracle, env.bench, name, int(seed), budgets)
    return pd.DataFrame(rows, columns=COLUMNS)


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
    args = ap.parse_args(argv)
    bench = load_benchmark(args.benchmark, tasks=args.tasks, data_dir=args.data_dir)
    results = run_comparison(bench, args.tasks, args.budgets, args.trials, base_seed=args.base_seed)
    config = comparison_config(bench, args.tasks, args.budgets, args.trials, tuple(SEARCHERS), args.base_seed)
    print(f"saved to {save_results(results, args.results_dir, config)}")
    print(headline(summarize(results)).to_string())


if __name__ == "__main__":
    main()

"""Search efficiency: the test metric of the best-by-validation cell at equal query budgets.

:func:`run_comparison` runs every baseline for many seeded trials and returns a
tidy table (a row per task, searcher, seed and budget); :func:`agent_trials`
gives the same rows for a trained agent; :func:`summarize` adds the mean and a
95% t-interval over trials. :func:`save_results` / :func:`load_results` keep the
table and its configuration in a results folder, written atomically.

Each trial of a searcher that never looks at its budget runs once up to the
largest budget and is read at every smaller budget (an anytime curve); a
searcher configured for its budget (:data:`~nasxfer.baselines.BUDGET_AWARE`:
regularized evolution) runs once per budget instead, read only at that budget.

Equal budgets mean equal information. ``queries`` is how many cells of the task
the searcher had read when it returned its best cell: ``prior_queries`` (cells
read before the search, e.g. by an agent training on that very task) plus the
search's own ``budget``. Baselines and zero-shot transferred agents have
``prior_queries = 0``; a scratch agent trained on the target has its training
queries there (see :mod:`nasxfer.search_agents`), so it enters the comparison at
``x = training queries + search queries``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

from .baselines import BUDGET_AWARE, EVOLUTION_RULE, SEARCHERS, evolution_config, get_searcher, run_search
from .benchmark import PAPER_TASKS, Benchmark, load_benchmark
from .errors import NasxferError
from .io import write_atomic, write_json_atomic
from .oracle import QueryOracle, check_budget

BUDGETS = (10, 25, 50, 100, 200)
DEFAULT_TRIALS = 200
BASE_SEED = 0
RESULTS_FILE = "results.parquet"
CONFIG_FILE = "config.json"
AGENT_NAME = "dqn agent"  # rows of an agent of unknown provenance (agent_trials / checkpoint_trials)
SCRATCH_NAME = "dqn scratch"  # trained on the target task itself: its training queries count
ZERO_SHOT_NAME = "dqn zero-shot"  # trained on another task, greedy on the target: no target query before search
COLUMNS = ["benchmark", "task", "searcher", "source", "seed", "budget", "prior_queries", "queries",
           "best_cell", "best_valid", "best_test"]


def check_budgets(budgets, space_size: int) -> tuple[int, ...]:
    budgets = tuple(sorted({check_budget(b, space_size) for b in np.atleast_1d(budgets).tolist()}))
    if not budgets:
        raise NasxferError("budgets is empty: give at least one query budget, e.g. budgets=(10, 50, 200)")
    return budgets


def check_trials(trials) -> int:
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise NasxferError(f"trials must be an integer >= 1, got {trials!r}")
    return int(trials)


def _rows(oracle: QueryOracle, bench: Benchmark, searcher: str, seed: int, budgets, source: str = "",
          prior_queries: int = 0) -> list[dict]:
    keep = {"benchmark": bench.name, "task": oracle.task, "searcher": searcher, "source": source, "seed": seed,
            "prior_queries": int(prior_queries)}
    return [{**keep, **row, "queries": int(prior_queries) + row["budget"]} for row in oracle.anytime(budgets)]


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
    row can be reproduced with ``run_search(searcher, bench, task, max(budgets), seed)``
    (with ``budget`` in place of ``max(budgets)`` for a searcher in ``BUDGET_AWARE``).
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
            if searcher in BUDGET_AWARE:  # configured for each budget: one run per budget
                for b in budgets:
                    rows += _rows(run_search(searcher, bench, task, b, int(seed)), bench, searcher, int(seed), (b,))
            else:
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


def _agent_rows(env, policy, name: str, seeds, budgets, progress: bool, desc: str | None = None, source: str = "",
                prior_queries: int = 0) -> list[dict]:
    budgets = check_budgets(budgets, env.space.size)
    rows = []
    for seed in tqdm(seeds, desc=desc or name, disable=not progress):
        oracle = agent_search(env, policy, budgets[-1], int(seed))
        rows += _rows(oracle, env.bench, name, int(seed), budgets, source=source, prior_queries=prior_queries)
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
    base_seed: int = BASE_SEED, bench: Benchmark | None = None, progress: bool = True, task: str | None = None,
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
    from .agent.evaluate import env_kwargs
    from .agent.transfer import load_qnetwork
    from .env import NASEnv

    paths = [Path(p) for p in paths]
    if not paths:
        raise NasxferError("checkpoint_trials needs at least one weights checkpoint")
    prior_queries = [0] * len(paths) if prior_queries is None else [int(q) for q in prior_queries]
    if len(prior_queries) != len(paths):
        raise NasxferError(f"prior_queries has {len(prior_queries)} entries for {len(paths)} checkpoints: give one per path")
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
        parts += _agent_rows(NASEnv(**cfg), greedy_policy(net), name, seeds[k :: len(nets)], budgets, progress,
                             desc=f"{name} {source}->{task} #{k}", source=source, prior_queries=prior_queries[k])
    return pd.DataFrame(parts, columns=COLUMNS).sort_values(["seed", "budget"], ignore_index=True)


def add_agents(results_dir, agents_dir, params_file, trials: int | None = None, progress: bool = True,
               allow_missing: bool = False) -> pd.DataFrame:
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
    from .search_agents import agent_grid, agents_table, checkpoint_path, missing_agents

    results, config = load_results(results_dir)
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
                raise NasxferError(f"agents {missing} have no weights (checkpoints are not in git): retrain them "
                                   f"with python -m nasxfer.search_agents {agents_dir} {params_file}")
            scratch = source == task
            params = grid.agent_params(source, 0)
            rows.append(checkpoint_trials(
                paths, params, SCRATCH_NAME if scratch else ZERO_SHOT_NAME, config["budgets"], trials,
                config["base_seed"], bench=bench, progress=progress, task=task,
                prior_queries=agents["training_queries"].tolist() if scratch else None))
    old = results["searcher"].isin([AGENT_NAME, SCRATCH_NAME, ZERO_SHOT_NAME])
    results = pd.concat([results[~old], *rows], ignore_index=True)
    config["agents"] = {
        "params_file": str(params_file), "agents_dir": str(agents_dir), "grid": grid.__dict__, "trials": int(trials),
        "policy": "greedy Q-network; trial t uses the agent of seed t % n_seeds",
        SCRATCH_NAME: "trained train_steps env steps on the target task itself: prior_queries = its unique "
                      "training queries there, queries = prior_queries + search budget",
        ZERO_SHOT_NAME: "trained on another task (source), greedy on the target: no target cell seen before the "
                        "search, queries = search budget",
        "training": table.to_dict(orient="records"),
        "missing": missing_agents(agents_dir, params_file),
    }
    config["searchers"] = [s for s in config["searchers"] if s not in (AGENT_NAME, SCRATCH_NAME, ZERO_SHOT_NAME)]
    config["searchers"] += [SCRATCH_NAME, ZERO_SHOT_NAME]
    save_results(results, results_dir, config)
    return results


def random_search_expected(bench: Benchmark, task: str, budgets) -> pd.DataFrame:
    """Random search's *expected* best-by-validation test metric at any budget, exactly.

    Among `b` distinct cells drawn uniformly from `N`, the best by validation is the cell of
    validation rank ``j`` (0 = best) with probability ``C(N-1-j, b-1) / C(N, b)``; a tie in
    validation is broken by query order, i.e. uniformly within the tie, so a tied group counts
    with its mean test metric. This reaches budgets no simulation here runs (up to the whole
    space), which is where a scratch agent's training queries put it.
    """
    from scipy.special import gammaln

    table = bench.task(task)
    n = bench.space.size
    budgets = check_budgets(budgets, n)
    order = np.argsort(-table.valid, kind="stable")
    valid, test = table.valid[order], table.test[order]
    groups = np.concatenate([[0], np.cumsum(valid[1:] != valid[:-1])])  # tie group of each rank
    group_test = np.bincount(groups, test) / np.bincount(groups)
    j = np.arange(n)

    def log_comb(a, k):
        return gammaln(a + 1) - gammaln(k + 1) - gammaln(a - k + 1)

    rows = []
    for b in budgets:
        ok = n - 1 - j >= b - 1
        p = np.zeros(n)
        p[ok] = np.exp(log_comb(n - 1 - j[ok], b - 1) - log_comb(n, b))
        rows.append({"task": task, "budget": int(b), "expected_best_test": float(p @ group_test[groups])})
    return pd.DataFrame(rows)


# ---- summary -------------------------------------------------------------------------------


def _t_interval(x: np.ndarray, confidence: float) -> tuple[float, float]:
    mean = float(np.mean(x))
    sem = stats.sem(x) if len(x) > 1 else 0.0
    if not sem > 0:  # one trial, or all trials equal: no spread to widen the interval
        return mean, mean
    lo, hi = stats.t.interval(confidence, len(x) - 1, loc=mean, scale=sem)
    return float(lo), float(hi)


def summarize(results: pd.DataFrame, value: str = "best_test", confidence: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval of `value` over trials, per task, searcher and budget.

    ``queries`` is the mean number of target cells read (search budget plus prior queries:
    the x at which a searcher is compared, see the module docstring)."""
    missing = [c for c in ("task", "searcher", "budget", value) if c not in results.columns]
    if missing:
        raise NasxferError(f"results lack columns {missing}: pass the table from run_comparison or load_results")
    rows = []
    for (task, searcher, budget), g in results.groupby(["task", "searcher", "budget"], sort=False):
        x = g[value].to_numpy(np.float64)
        lo, hi = _t_interval(x, confidence)
        queries = g["queries"] if "queries" in g else g["budget"]
        rows.append(
            {"task": task, "searcher": searcher, "budget": budget, "queries": float(queries.mean()), "n": len(x),
             "mean": float(x.mean()), "ci_low": lo, "ci_high": hi}
        )
    return pd.DataFrame(rows).sort_values(["task", "searcher", "budget"], ignore_index=True)


def _verdict(a_lo: float, a_hi: float, b_lo: float, b_hi: float) -> str:
    """"better" / "worse" when the two 95% intervals do not overlap, else "tie"."""
    return "better" if a_lo > b_hi else "worse" if a_hi < b_lo else "tie"


def equal_information(results: pd.DataFrame, bench: Benchmark, searcher: str = "evolution",
                      budget: int | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Per task, the agents against `searcher`, each at the number of target cells it had read.

    * zero-shot agents (``dqn zero-shot``, pooled over source tasks) and `searcher` both at
      `budget` queries (default: the largest): same information, a fair race;
    * scratch agents (``dqn scratch``) after `budget` search queries have read ``queries`` =
      training queries + `budget` target cells; they are set against random search's exact
      expected result at that many queries (:func:`random_search_expected`, capped at the space),
      the one baseline known at every budget.

    Verdicts compare 95% t-intervals (``tie`` when they overlap); random search's expectation
    is exact, so the scratch verdict compares the agent's interval with a point. A task that
    lacks scratch or zero-shot rows (agents not all trained) has no row.
    """
    need = {SCRATCH_NAME, ZERO_SHOT_NAME, searcher} - set(results["searcher"])
    if need:
        raise NasxferError(f"results lack searchers {sorted(need)}: run the baselines and add the agents "
                           f"(python -m nasxfer.search_efficiency DIR --add-agents AGENTS_DIR --params PARAMS)")
    summary = summarize(results, confidence=confidence)
    budget = int(summary["budget"].max()) if budget is None else int(budget)
    at = summary[summary["budget"] == budget].set_index(["task", "searcher"])
    rows = []
    for task in dict.fromkeys(results["task"]):
        if not all((task, n) in at.index for n in (searcher, ZERO_SHOT_NAME, SCRATCH_NAME)):
            continue  # a partial set of agents (add_agents(allow_missing=True)): no row rather than a guess
        s, z, a = (at.loc[(task, n)] for n in (searcher, ZERO_SHOT_NAME, SCRATCH_NAME))
        x = int(min(round(a["queries"]), bench.space.size))
        rand = float(random_search_expected(bench, task, (x,))["expected_best_test"].iloc[0])
        rows.append({
            "task": task, "budget": budget,
            f"{searcher}": s["mean"], f"{searcher}_ci_low": s["ci_low"], f"{searcher}_ci_high": s["ci_high"],
            "zero_shot": z["mean"], "zero_shot_ci_low": z["ci_low"], "zero_shot_ci_high": z["ci_high"],
            "zero_shot_vs_" + searcher: _verdict(z["ci_low"], z["ci_high"], s["ci_low"], s["ci_high"]),
            "scratch": a["mean"], "scratch_ci_low": a["ci_low"], "scratch_ci_high": a["ci_high"],
            "scratch_queries": float(a["queries"]), "random_at_scratch_queries": rand,
            "scratch_vs_random": _verdict(a["ci_low"], a["ci_high"], rand, rand),
        })
    if not rows:
        raise NasxferError("no task has scratch agents, zero-shot agents and the searcher at that budget")
    return pd.DataFrame(rows)


def zero_shot_by_source(results: pd.DataFrame, budget: int | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Target x source table of the zero-shot agents' mean best test metric at `budget`."""
    z = results[results["searcher"] == ZERO_SHOT_NAME]
    if z.empty:
        raise NasxferError("results hold no zero-shot agents: add them with add_agents")
    budget = int(z["budget"].max()) if budget is None else int(budget)
    z = z[z["budget"] == budget]
    return z.pivot_table(index="task", columns="source", values="best_test", aggfunc="mean")


def headline(summary: pd.DataFrame, budget: int | None = None) -> pd.DataFrame:
    """Task x searcher table of the mean at one budget (the largest by default)."""
    budget = summary["budget"].max() if budget is None else budget
    if budget not in set(summary["budget"]):
        raise NasxferError(f"no results at budget {budget}: choose one of {sorted(set(summary['budget']))}")
    at = summary[summary["budget"] == budget]
    return at.pivot(index="task", columns="searcher", values="mean")


# ---- results on disk -----------------------------------------------------------------------


def save_results(results: pd.DataFrame, results_dir, config: dict | None = None) -> Path:
    """Write ``results.parquet`` and ``config.json`` (with the package version) into `results_dir`."""
    from . import __version__

    out = Path(results_dir)
    config = {"nasxfer_version": __version__, **(config or {})}
    write_atomic(results, out / RESULTS_FILE)
    write_json_atomic(config, out / CONFIG_FILE)
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
        **({"evolution_rule": EVOLUTION_RULE, "evolution_per_budget": {int(b): evolution_config(int(b)) for b in budgets},
            "evolution_runs": "one run per budget, read only at that budget"} if "evolution" in searchers else {}),
    }


def searcher_defaults(name: str) -> dict:
    """The keyword defaults of a searcher: its hyperparameters as run."""
    params = inspect.signature(get_searcher(name)).parameters.values()
    return {p.name: p.default for p in params if p.default not in (inspect.Parameter.empty, None)}


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
    ap.add_argument("--add-agents", metavar="AGENTS_DIR", default=None,
                    help="instead of running the baselines, add the agents trained by nasxfer.search_agents "
                         "(scratch and zero-shot) to saved results")
    ap.add_argument("--params", default="params/laptop.yaml", help="the params file the agents were trained with")
    ap.add_argument("--agent-trials", type=int, default=None,
                    help="trials per agent searcher and source task (default: the comparison's trials)")
    ap.add_argument("--allow-missing", action="store_true",
                    help="add the agents trained so far, listing the missing ones in config.json")
    args = ap.parse_args(argv)
    if args.add_agents:
        import torch

        torch.set_num_threads(1)  # batch-1 forwards: more threads only add overhead
        results = add_agents(args.results_dir, args.add_agents, args.params, trials=args.agent_trials,
                             allow_missing=args.allow_missing)
        print(headline(summarize(results)).to_string())
        return
    bench = load_benchmark(args.benchmark, tasks=args.tasks, data_dir=args.data_dir)
    results = run_comparison(bench, args.tasks, args.budgets, args.trials, base_seed=args.base_seed)
    config = comparison_config(bench, args.tasks, args.budgets, args.trials, tuple(SEARCHERS), args.base_seed)
    print(f"saved to {save_results(results, args.results_dir, config)}")
    print(headline(summarize(results)).to_string())


if __name__ == "__main__":
    main()

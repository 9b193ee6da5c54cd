"""The search comparison's harness: every searcher for many seeded trials at equal query budgets.

:func:`run_comparison` runs every baseline of :mod:`nasxfer.searchers` and returns a tidy
table (a row per task, searcher, seed and budget, :data:`COLUMNS`), scored by the test
metric of the best-by-validation cell. The trained agents enter the same table through
:mod:`nasxfer.search_agents`; :mod:`nasxfer.stats` summarises it and
:mod:`nasxfer.search_efficiency` saves, loads and runs it from the command line.

Each trial of a searcher that never looks at its budget runs once up to the
largest budget and is read at every smaller budget (an anytime curve); a
searcher configured for its budget (:data:`~nasxfer.searchers.BUDGET_AWARE`:
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

import numpy as np
import pandas as pd
from tqdm import tqdm

from .benchmark import PAPER_TASKS, Benchmark, load_benchmark
from .errors import NasxferError, check_int
from .oracle import QueryOracle, check_budget
from .searchers import BUDGET_AWARE, EVOLUTION_RULE, SEARCHERS, evolution_config, get_searcher, run_search

BUDGETS = (10, 25, 50, 100, 200)
DEFAULT_TRIALS = 200
BASE_SEED = 0
AGENT_NAME = "dqn agent"  # rows of an agent of unknown provenance (agent_trials / checkpoint_trials)
SCRATCH_NAME = "dqn scratch"  # trained on the target task itself: its training queries count
ZERO_SHOT_NAME = "dqn zero-shot"  # trained on another task, greedy on the target: no target query before search
AGENT_SEARCHERS = (AGENT_NAME, SCRATCH_NAME, ZERO_SHOT_NAME)
COLUMNS = [
    "benchmark",
    "task",
    "searcher",
    "source",
    "seed",
    "budget",
    "prior_queries",
    "queries",
    "best_cell",
    "best_valid",
    "best_test",
    # unique queries of the trial until its first cell in the best 5% / 1% / 0.5% / 0.1% of the space
    # by validation (fixed validation thresholds: the space's quantiles); NaN: not within the row's budget
    "first_top5pct",
    "first_top1pct",
    "first_top05pct",
    "first_top01pct",
]
TOP_SHARES = {"first_top5pct": 0.05, "first_top1pct": 0.01, "first_top05pct": 0.005, "first_top01pct": 0.001}


def check_budgets(budgets, space_size: int) -> tuple[int, ...]:
    budgets = tuple(sorted({check_budget(b, space_size) for b in np.atleast_1d(budgets).tolist()}))
    if not budgets:
        raise NasxferError("budgets is empty: give at least one query budget, e.g. budgets=(10, 50, 200)")
    return budgets


def check_trials(trials) -> int:
    return check_int(trials, "trials", 1)


def trial_rows(
    oracle: QueryOracle, bench: Benchmark, searcher: str, seed: int, budgets, source: str = "", prior_queries: int = 0
) -> list[dict]:
    """The table rows of one trial: `oracle`'s best-by-validation cell at each of `budgets`."""
    keep = {
        "benchmark": bench.name,
        "task": oracle.task,
        "searcher": searcher,
        "source": source,
        "seed": seed,
        "prior_queries": int(prior_queries),
    }
    first = {col: oracle.first_top(share) for col, share in TOP_SHARES.items()}
    return [
        {
            **keep,
            **row,
            "queries": int(prior_queries) + row["budget"],
            **{col: q if q <= row["budget"] else np.nan for col, q in first.items()},
        }
        for row in oracle.anytime(budgets)
    ]


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
        bench.table(t)  # fail before any work on an unknown task
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
                    rows += trial_rows(
                        run_search(searcher, bench, task, b, int(seed)), bench, searcher, int(seed), (b,)
                    )
            else:
                oracle = run_search(searcher, bench, task, budgets[-1], int(seed))
                rows += trial_rows(oracle, bench, searcher, int(seed), budgets)
    return pd.DataFrame(rows, columns=COLUMNS)


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
        **(
            {
                "evolution_rule": EVOLUTION_RULE,
                "evolution_per_budget": {int(b): evolution_config(int(b)) for b in budgets},
                "evolution_runs": "one run per budget, read only at that budget",
            }
            if "evolution" in searchers
            else {}
        ),
    }


def searcher_defaults(name: str) -> dict:
    """The keyword defaults of a searcher: its hyperparameters as run."""
    params = inspect.signature(get_searcher(name)).parameters.values()
    return {p.name: p.default for p in params if p.default not in (inspect.Parameter.empty, None)}

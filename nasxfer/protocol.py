"""What a search comparison reports per query budget, for every searcher alike.

From a comparison table (:data:`nasxfer.comparison.COLUMNS`: one row per task, searcher, source,
seed and budget with the best-by-validation cell) and the benchmark, :func:`protocol_table` gives
per task, searcher and budget:

* the mean test metric of the best-by-validation cell, with its 95% bootstrap CI;
* how often that cell is the space's best by validation, among its best 3, and among its best
  0.1% (CATCH's headline measures: "finds the best cell in 280 of 500 trials"), each a share of
  trials with a 95% bootstrap CI;
* how many unique queries the trials took to query a top-1% cell (median over the trials that
  did, and the share that did within the budget).

Ranks are by the validation metric, the one every searcher optimises; the test metric is only
reported. A searcher never sees any of this: it is computed after the search from the cells it
chose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import NasxferError
from .stats import mean_ci, summarise

TOPS = (("best", 1), ("top-3", 3), ("top-0.1%", 0.001))  # (name, count, or share of the space)


def valid_rank(bench, task: str, cells) -> np.ndarray:
    """Rank of each cell by validation in its space: how many cells are strictly better (0 = best)."""
    desc = -np.sort(-bench.table(task).valid)
    values = bench.table(task).valid[np.asarray(cells, dtype=np.int64)]
    return np.searchsorted(-desc, -values, side="left")


def _top_count(top, size: int) -> int:
    return int(top) if top >= 1 else max(1, int(np.ceil(top * size)))


def protocol_table(results: pd.DataFrame, bench, seed: int = 0) -> pd.DataFrame:
    """One row per task, searcher and budget: the measures of the module doc, each with its CI."""
    missing = [c for c in ("task", "searcher", "budget", "best_cell", "best_test") if c not in results.columns]
    if missing:
        raise NasxferError(f"the table lacks columns {missing}: pass a comparison table (run_comparison)")
    res = results.copy()
    res["rank"] = 0
    for task, idx in res.groupby("task").groups.items():
        res.loc[idx, "rank"] = valid_rank(bench, task, res.loc[idx, "best_cell"])
    keys = ["task", "searcher", "budget"]
    out = summarise(res, keys, "best_test", seed=seed).rename(
        columns={"mean": "best_test", "ci_low": "best_test_low", "ci_high": "best_test_high"}
    )
    for name, top in TOPS:
        k = _top_count(top, bench.space.size)
        rates = [
            {**dict(zip(keys, key)), **_rate(g["rank"].to_numpy() < k, f"p_{name}", seed)}
            for key, g in res.groupby(keys, sort=False)
        ]
        out = out.merge(pd.DataFrame(rates), on=keys)
    if "first_top1pct" in res.columns:
        q = res.groupby(keys, sort=False)["first_top1pct"].agg(
            queries_to_top1pct="median", reached_top1pct=lambda s: s.notna().mean()
        )
        out = out.merge(q.reset_index(), on=keys)
    return out.drop(columns=["std"])


def _rate(hits: np.ndarray, name: str, seed: int) -> dict:
    ci = mean_ci(hits.astype(float), seed=seed)
    return {name: ci["mean"], f"{name}_low": ci["ci_low"], f"{name}_high": ci["ci_high"]}


def _reach(g: pd.DataFrame, threshold: str, count_prior: bool = True) -> np.ndarray:
    """Target queries (prior + search; the search's alone without `count_prior`) until a trial
    reached `threshold`; inf where it did not within the largest budget. One value per trial, read
    on its largest-budget row."""
    last = g[g.budget == g.budget.max()]
    prior = last.prior_queries if count_prior else 0
    return np.where(last[threshold].notna(), prior + last[threshold], np.inf)


def speedups(
    results: pd.DataFrame,
    reference: str,
    threshold: str = "first_top1pct",
    seed: int = 0,
    n_boot: int = 2000,
    count_prior: bool = True,
) -> pd.DataFrame:
    """Per task and searcher: how many times fewer target queries it needed than `reference` to
    reach `threshold` (a ``first_top*`` column: a fixed validation level), as the ratio of the
    medians over trials, with a 95% bootstrap CI (trials resampled within each searcher). A trial
    that never got there counts as beyond the budget, so a median (and a ratio) is finite only when
    more than half of the trials got there. Target queries include ``prior_queries``: cells of the
    target a searcher read before its search (Transfer NAS's subspace training, a scratch agent's
    training) count against it; ``count_prior=False`` counts the search's queries alone (a
    sensitivity view: what a paper that leaves its source phase off the axis would show)."""
    if threshold not in results.columns:
        raise NasxferError(f"the table has no {threshold} column: rerun the comparison with this package version")
    rng = np.random.default_rng(seed)
    rows = []
    for task, t in results.groupby("task", sort=False):
        if reference not in set(t.searcher):
            raise NasxferError(f"no {reference!r} trials on {task}: pick a reference among {sorted(set(t.searcher))}")
        ref = _reach(t[t.searcher == reference], threshold, count_prior)
        for searcher, g in t.groupby("searcher", sort=False):
            own = _reach(g, threshold, count_prior)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.median(ref) / np.median(own)
                boot = np.array(
                    [np.median(rng.choice(ref, len(ref))) / np.median(rng.choice(own, len(own))) for _ in range(n_boot)]
                )
            # order statistics, no interpolation: a bound may be infinite (more than half never got there)
            low, high = np.percentile(boot, 2.5, method="lower"), np.percentile(boot, 97.5, method="higher")
            rows.append(
                {
                    "task": task,
                    "searcher": searcher,
                    "reference": reference,
                    "threshold": threshold,
                    "median_queries": float(np.median(own)),
                    "reached": float(np.isfinite(own).mean()),
                    "speedup": float(ratio),
                    "ci_low": float(low),
                    "ci_high": float(high),
                }
            )
    return pd.DataFrame(rows)


def regret_curves(results: pd.DataFrame, bench, seed: int = 0) -> pd.DataFrame:
    """Per task, searcher and budget: regret = the space's best test metric minus the test metric
    of the searcher's best-by-validation cell (mean and 95% bootstrap CI), as the paper's Fig. 5."""
    best = {t: float(bench.table(t).test.max()) for t in results.task.unique()}
    reg = results.assign(regret=results.task.map(best) - results.best_test)
    return summarise(reg, ["task", "searcher", "budget"], "regret", seed=seed)

"""Statistics behind the notebooks: task correlations, confidence intervals, curves.

Confidence intervals are 95% percentile bootstraps from ``scipy.stats.bootstrap``
over seeds (or trials); with a single value the interval is that value.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from .shaping import RewardShaper

CONFIDENCE = 0.95


def task_correlations(bench, tasks, split: str = "valid") -> pd.DataFrame:
    """Kendall tau and Spearman rho between every pair of tasks over all cells (the paper's Fig. 1)."""
    rows = []
    for a, b in itertools.product(tasks, repeat=2):
        x, y = bench.task(a).split(split), bench.task(b).split(split)
        rows.append(
            {
                "task_a": a,
                "task_b": b,
                "kendall_tau": stats.kendalltau(x, y).statistic,
                "spearman_rho": stats.spearmanr(x, y).statistic,
            }
        )
    return pd.DataFrame(rows)


def reward_table(bench, tasks, transform: str = "none", param="auto") -> pd.DataFrame:
    """Tidy table of every cell's reward per task: columns task, cell, reward."""
    parts = []
    for t in tasks:
        r = RewardShaper.fit(bench, t, transform, param)(bench.task(t).valid)
        parts.append(pd.DataFrame({"task": t, "cell": np.arange(len(r)), "reward": r}))
    return pd.concat(parts, ignore_index=True)


def mean_ci(values, confidence: float = CONFIDENCE, seed: int = 0, n_resamples: int = 9999) -> dict:
    """Mean, std and a bootstrap CI of the mean of `values` (NaNs dropped)."""
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    out = {"n": len(v), "mean": np.nan, "std": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    if len(v) == 0:
        return out
    out.update(mean=v.mean(), std=v.std(ddof=1) if len(v) > 1 else 0.0)
    if len(v) == 1 or np.ptp(v) == 0:
        out.update(ci_low=v[0] if len(v) == 1 else v.mean(), ci_high=v[0] if len(v) == 1 else v.mean())
        return out
    res = stats.bootstrap(
        (v,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed)
    )
    out.update(ci_low=res.confidence_interval.low, ci_high=res.confidence_interval.high)
    return out


def summarise(df: pd.DataFrame, by, value: str, seed: int = 0) -> pd.DataFrame:
    """Group `df` by `by` and give n, mean, std, ci_low, ci_high of `value` per group."""
    rows = []
    for key, g in df.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip([by] if isinstance(by, str) else by, key)), **mean_ci(g[value], seed=seed)})
    return pd.DataFrame(rows)


def moving_average(values, window: int = 16) -> np.ndarray:
    """Trailing moving average; the first points average what exists so far."""
    s = pd.Series(np.asarray(values, np.float64))
    return s.rolling(window, min_periods=1).mean().to_numpy()


def first_reach(x, y, level) -> float:
    """First x at which y >= level (linear interpolation between points), NaN if never."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    hit = np.flatnonzero(y >= level)
    if len(hit) == 0:
        return np.nan
    i = hit[0]
    if i == 0:
        return float(x[0])
    frac = (level - y[i - 1]) / (y[i] - y[i - 1])
    return float(x[i - 1] + frac * (x[i] - x[i - 1]))


def crossover_points(transfer_runs, scratch_runs, x: str, y: str, window: int = 16) -> pd.DataFrame:
    """All-to-all cross-over points between transferred and scratch training curves.

    For each pair (transferred run a, scratch run b): the first `x` (env steps or
    wall-clock seconds) at which a's smoothed curve reaches b's final smoothed
    value, next to the `x` b itself needed for it. ``saving = 1 - crossover / scratch_x``
    is the fraction of target training that transfer saved (NaN if a never got there).
    Runs are DataFrames with columns `x` and `y`, sorted by `x`.
    """
    rows = []
    for i, a in enumerate(transfer_runs):
        ya = moving_average(a[y], window)
        for j, b in enumerate(scratch_runs):
            yb = moving_average(b[y], window)
            level = yb[-1]
            scratch_x = first_reach(b[x], yb, level)
            cross = first_reach(a[x], ya, level)
            rows.append({"transfer_run": i, "scratch_run": j, "level": level, "crossover": cross, "scratch_x": scratch_x, "saving": 1 - cross / scratch_x if scratch_x > 0 else np.nan})
    return pd.DataFrame(rows)

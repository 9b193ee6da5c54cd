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


# ---- the transfer grid (RQ1-RQ3) ------------------------------------------------------------


def transfer_matrix(results: pd.DataFrame, regime: str, value: str = "final_test", seed: int = 0) -> pd.DataFrame:
    """Mean, std and CI over seeds of every (source, target) cell of one regime's matrix.

    Each row also carries the target's scratch cell (the diagonal, same budget) and
    whether the transferred agent beats it (``better``: CI entirely above scratch's)
    or loses to it (``worse``: entirely below); overlapping CIs are ``tie``.
    """
    df = results[results.regime == regime]
    cells = summarise(df, ["source", "target"], value, seed=seed)
    scratch = cells[cells.source == cells.target].set_index("target")
    for col in ("mean", "ci_low", "ci_high"):
        cells[f"scratch_{col}"] = cells.target.map(scratch[col])
    cells["diff"] = cells["mean"] - cells["scratch_mean"]
    cells["verdict"] = np.select(
        [cells.source == cells.target, cells.ci_low > cells.scratch_ci_high, cells.ci_high < cells.scratch_ci_low],
        ["scratch", "better", "worse"],
        "tie",
    )
    cells.insert(0, "regime", regime)
    return cells


def smoothed_curves(curves: pd.DataFrame, value: str = "final_test", window: int = 16) -> pd.DataFrame:
    """Each run's curve smoothed with a trailing moving average of `window` evaluations."""
    out = curves.sort_values("env_steps").copy()
    out[f"{value}_smooth"] = out.groupby(["seed", "source", "target"], sort=False)[value].transform(
        lambda s: moving_average(s, window)
    )
    return out


def curve_bands(curves: pd.DataFrame, value: str = "final_test", window: int = 16, seed: int = 0) -> pd.DataFrame:
    """Mean and CI over seeds of the smoothed curves, per (source, target) and evaluation index."""
    sm = smoothed_curves(curves, value, window)
    sm["eval_index"] = sm.groupby(["seed", "source", "target"]).cumcount()
    bands = summarise(sm, ["source", "target", "eval_index"], f"{value}_smooth", seed=seed)
    steps = sm.groupby(["source", "target", "eval_index"])[["env_steps", "train_s"]].mean().reset_index()
    return bands.merge(steps, on=["source", "target", "eval_index"])


def crossovers(curves: pd.DataFrame, x: str = "env_steps", value: str = "final_test", window: int = 16) -> pd.DataFrame:
    """All-to-all cross-over points (see :func:`crossover_points`) for every source -> target pair.

    Scratch runs on the target are the reference; ``x`` is ``env_steps`` or ``train_s``.
    """
    parts = []
    for target, ct in curves.groupby("target", sort=False):
        runs = {k: [g.sort_values(x) for _, g in grp.groupby("seed")] for k, grp in ct.groupby("source", sort=False)}
        scratch = runs.get(target)
        if not scratch:
            continue
        for source, transfer in runs.items():
            if source == target:
                continue
            cp = crossover_points(transfer, scratch, x, value, window)
            parts.append(cp.assign(source=source, target=target, x=x))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# ---- the paper's findings, checked on our numbers ---------------------------------------------


def pretraining_benefit(results: pd.DataFrame, regime: str, value: str = "final_test") -> pd.DataFrame:
    """Per target: mean over sources of the transferred agents vs the scratch agent (RQ1).

    A target *benefits* when the transferred agents' mean beats scratch's mean;
    ``better``/``worse`` count the sources whose CI lies entirely above/below scratch's.
    """
    m = transfer_matrix(results, regime, value)
    off = m[m.source != m.target]
    per = off.groupby("target", sort=False).agg(
        transferred_mean=("mean", "mean"),
        scratch_mean=("scratch_mean", "first"),
        better=("verdict", lambda v: int((v == "better").sum())),
        worse=("verdict", lambda v: int((v == "worse").sum())),
        sources=("source", "count"),
    )
    per["benefits"] = per.transferred_mean > per.scratch_mean
    return per.reset_index()


def regime_ranking(results: pd.DataFrame, value: str = "final_rank_pct") -> pd.DataFrame:
    """RQ2: each regime's off-diagonal cells, mean and CI of `value` (rank percentile: one scale for all tasks)."""
    off = results[results.source != results.target]
    return summarise(off, "regime", value).sort_values("mean").reset_index(drop=True)


# ---- the paper's findings, as sentences computed from a run's numbers -----------------------


def rq1_finding(results: pd.DataFrame, regime: str = "retrain") -> str:
    """Paper: pretraining helps in all but one target task. Does it here (`regime`'s budget)?"""
    b = pretraining_benefit(results, regime)
    n, k = len(b), int(b.benefits.sum())
    holds = k >= n - 1
    return (f"{regime}: pretraining helps (mean over sources above scratch) in {k} of {n} target tasks; "
            f"{int(b.better.sum())} of {int(b.sources.sum())} transferred cells beat scratch with non-overlapping "
            f"CIs, {int(b.worse.sum())} lose -> the paper's finding (all but one) "
            f"{'holds' if holds else 'does not hold'} here")


def rq2_finding(results: pd.DataFrame) -> str:
    """Paper: zero-shot is the weakest regime. Is it here (rank percentile, off-diagonal cells)?"""
    r = regime_ranking(results)
    weakest, nxt = r.iloc[0], r.iloc[1]
    separated = weakest.ci_high < nxt.ci_low
    return (f"weakest regime: {weakest.regime} (mean rank percentile {weakest['mean']:.1f}, 95% CI "
            f"{weakest.ci_low:.1f}-{weakest.ci_high:.1f}; next {nxt.regime} {nxt['mean']:.1f}, CIs "
            f"{'apart' if separated else 'overlap'}) -> the paper's finding (zero-shot weakest) "
            f"{'holds' if weakest.regime == 'zero_shot' else 'does not hold'} here")


def rq3_finding(curves: pd.DataFrame, x: str = "env_steps", window: int = 16) -> str:
    """Paper: transferred agents reach the scratch agent's final level with less target training."""
    cp = crossovers(curves, x=x, window=window)
    pairs = pair_savings(cp)
    faster = pairs.saving_mean > 0
    unit = "env steps" if x == "env_steps" else "training seconds"
    saving = f"{pairs.saving_mean.mean():.0%}" if pairs.saving_mean.notna().any() else "n/a: never reached"
    return (f"in {x}: transferred agents reach the scratch agent's final level sooner in {int(faster.sum())} of "
            f"{len(pairs)} source -> target pairs (mean saving {saving} of the scratch "
            f"agent's {unit}; share of run pairs that reach it at all {cp.crossover.notna().mean():.0%}) -> the "
            f"paper's finding {'holds' if faster.sum() > len(pairs) / 2 else 'does not hold'} here (majority of pairs)")


def scratch_learning(curves: pd.DataFrame, value: str = "final_test") -> pd.DataFrame:
    """Did the scratch agents learn? Per task, means over seeds of the random-walk floor, the
    untrained network (evaluation at step 0) and the trained one (last evaluation)."""
    s = curves[curves.kind == "scratch"].sort_values("env_steps")
    runs = s.groupby(["target", "seed"], sort=False)
    per_run = pd.DataFrame({
        "random_walk": runs["random_walk_final_test"].first(),
        "untrained": runs[value].first(),
        "trained": runs[value].last(),
        "env_steps": runs["env_steps"].last(),
    })
    out = per_run.groupby("target", sort=False).mean()
    out.insert(0, "seeds", per_run.groupby("target", sort=False).size())
    return out.reset_index()


def crossover_table(curves: pd.DataFrame, x: str = "env_steps", window: int = 16) -> pd.DataFrame:
    """The paper's Fig. 12/13 as a table: per source -> target pair, the cross-over point (mean,
    std, CI over the all-to-all run pairs that reach it), where scratch got there, the share of
    run pairs that reach it at all, and the mean saving."""
    cp = crossovers(curves, x=x, window=window)
    table = summarise(cp, ["source", "target"], "crossover")
    return table.merge(pair_savings(cp), on=["source", "target"])


def pair_savings(cp: pd.DataFrame) -> pd.DataFrame:
    """Per source -> target pair of :func:`crossovers` rows: where scratch reached its final
    level (mean), the share of run pairs whose transferred run reaches it, and the mean saving."""
    return cp.groupby(["source", "target"], sort=False).agg(
        scratch_x=("scratch_x", "mean"), reached=("crossover", lambda c: c.notna().mean()), saving_mean=("saving", "mean")
    ).reset_index()

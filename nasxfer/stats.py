"""Statistics behind the notebooks: task correlations, confidence intervals, curves.

Confidence intervals are 95% percentile bootstraps from ``scipy.stats.bootstrap``
over seeds (or trials); with a single value the interval is that value.

The grid statistics (transfer matrices, regimes, curves, cross-overs and the findings)
first check that their table holds every run (*unit*) they are about: the units of the
``grid`` passed in, or, without one, every seed x (source, target) pair and every
target's scratch run that the table itself names. A gap stops them with one line that
names the missing units; ``allow_partial=True`` shows what is there instead, and every
finding then starts with ``partial: ...``. A cell with fewer than 2 seeds gets no CI and
the verdict ``n/a``, and a finding drawn from such cells gives no verdict.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .benchmark import PAPER_TASKS, Benchmark
from .comparison import SCRATCH_NAME, ZERO_SHOT_NAME, check_budgets
from .errors import NasxferError
from .grid import Unit
from .shaping import RewardShaper

CONFIDENCE = 0.95


def task_correlations(bench, tasks, split: str = "valid") -> pd.DataFrame:
    """Kendall tau and Spearman rho between every pair of tasks over all cells (the paper's Fig. 1)."""
    rows = []
    for a, b in itertools.product(tasks, repeat=2):
        x, y = bench.table(a).split(split), bench.table(b).split(split)
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
        r = RewardShaper.fit(bench, t, transform, param)(bench.table(t).valid)
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
        (v,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    out.update(ci_low=res.confidence_interval.low, ci_high=res.confidence_interval.high)
    return out


def summarise(df: pd.DataFrame, by, value: str, seed: int = 0, carry=()) -> pd.DataFrame:
    """Group `df` by `by` and give n, mean, std, ci_low, ci_high of `value` per group.

    `carry` names further columns whose per-group mean is kept beside the key (e.g. the
    search comparison's ``queries``, the x at which a searcher is compared)."""
    by = [by] if isinstance(by, str) else list(by)
    carry = [carry] if isinstance(carry, str) else list(carry)
    missing = [c for c in [*by, value, *carry] if c not in df.columns]
    if missing:
        raise NasxferError(
            f"the table lacks columns {missing}: pass a results table that has them "
            f"(e.g. from run_comparison or load_comparison)"
        )
    rows = []
    for key, g in df.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        means = {c: float(g[c].mean()) for c in carry}
        rows.append({**dict(zip(by, key)), **means, **mean_ci(g[value], seed=seed)})
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


def stays_above_from(xa, ya, xb, yb) -> float:
    """The x from which curve a stays strictly above curve b to the end of their common range.

    Both curves are piecewise linear between their points (sorted by x). They are compared
    on the union of their x values within the common range ``[max(xa[0], xb[0]),
    min(xa[-1], xb[-1])]``, where the difference ``a - b`` is linear between neighbouring
    points, so its last upward zero crossing is exact: the result is the last x at which
    ``a <= b``, or the start of the range if a is above b everywhere. NaN if a is not
    above b at the end of the range (it never *stays* above), or the ranges do not meet.
    """
    xa, ya, xb, yb = (np.asarray(v, np.float64) for v in (xa, ya, xb, yb))
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if hi < lo:
        return np.nan
    xs = np.union1d(np.concatenate([xa, xb]), [lo, hi])
    xs = xs[(xs >= lo) & (xs <= hi)]
    d = np.interp(xs, xa, ya) - np.interp(xs, xb, yb)
    if d[-1] <= 0:
        return np.nan
    below = np.flatnonzero(d <= 0)
    if len(below) == 0:
        return float(xs[0])
    k = below[-1]
    return float(xs[k] + (xs[k + 1] - xs[k]) * (-d[k]) / (d[k + 1] - d[k]))


def crossover_points(
    transfer_runs, scratch_runs, x: str, y: str, window: int = 16, *, reference: bool = False
) -> pd.DataFrame:
    """The paper's cross-over points (Fig. 10-13), all-to-all between two sets of runs.

    Every transferred run a (A -> B) is set against every scratch run b (on B). Both
    training curves are first smoothed with a trailing moving average of `window`
    evaluations (the paper's filter, kernel 16). The **cross-over** of the pair is the
    point, in `x` (``env_steps``: target env steps; ``train_s``: target training seconds),
    from which a's smoothed curve stays strictly above b's until the end of their common
    range: the point where a *starts outperforming* b for good (:func:`stays_above_from`,
    linear between evaluations). 0 (the first evaluation) means a was ahead from the start
    and stayed ahead. A pair where a does not end ahead of b has no cross-over within the
    run (``crossed`` False, ``crossover`` NaN); it is counted at the end of the common range
    (``end``) in ``crossover_censored``, which the bars and tables average: it is a lower bound
    for such a pair, and dropping those pairs instead would make a transfer that loses to
    scratch in most pairs look fast.

    ``reference=True`` (with the scratch runs as both lists) gives the scratch reference
    (the paper's hatched bars): every ordered pair of *different* scratch runs, i.e. where
    one scratch agent starts outperforming another by chance. Runs are DataFrames with
    columns `x`, `y` and ``seed``, sorted by `x`.
    """
    smooth_b = [moving_average(b[y], window) for b in scratch_runs]
    rows = []
    for i, a in enumerate(transfer_runs):
        ya = moving_average(a[y], window)
        for j, b in enumerate(scratch_runs):
            if reference and i == j:
                continue  # a run never outperforms itself
            cross = stays_above_from(a[x], ya, b[x], smooth_b[j])
            end = float(min(a[x].iloc[-1], b[x].iloc[-1]))
            rows.append(
                {
                    "transfer_seed": int(a["seed"].iloc[0]),
                    "scratch_seed": int(b["seed"].iloc[0]),
                    "crossover": cross,
                    "crossed": not np.isnan(cross),
                    "end": end,
                    "crossover_censored": end if np.isnan(cross) else cross,
                }
            )
    return pd.DataFrame(
        rows, columns=["transfer_seed", "scratch_seed", "crossover", "crossed", "end", "crossover_censored"]
    )


def catch_up_points(transfer_runs, scratch_runs, x: str, y: str, window: int = 16) -> pd.DataFrame:
    """All-to-all catch-up points: where a transferred run reaches a scratch run's final level.

    For each pair (transferred run a, scratch run b): the first `x` (env steps or
    wall-clock seconds) at which a's smoothed curve reaches b's final smoothed
    value, next to the `x` b itself needed for it. ``saving = 1 - catch_up / scratch_x``
    is the fraction of target training that transfer saved (NaN if a never got there).
    This is our measure of RQ3's saving (:func:`rq3_finding`); the paper's figures use the
    cross-over (:func:`crossover_points`). Runs are DataFrames with columns `x` and `y`,
    sorted by `x`.
    """
    rows = []
    for i, a in enumerate(transfer_runs):
        ya = moving_average(a[y], window)
        for j, b in enumerate(scratch_runs):
            yb = moving_average(b[y], window)
            level = yb[-1]
            scratch_x = first_reach(b[x], yb, level)
            reach = first_reach(a[x], ya, level)
            rows.append(
                {
                    "transfer_run": i,
                    "scratch_run": j,
                    "level": level,
                    "catch_up": reach,
                    "scratch_x": scratch_x,
                    "saving": 1 - reach / scratch_x if scratch_x > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows)


MIN_EVALUATIONS_SHARE = 0.15  # the smoothing window may span at most this share of a run's evaluations


def smoothing_span(curves: pd.DataFrame, window: int = 16) -> dict:
    """How much of a run the moving average spans: evaluations per run (the fewest of any
    run), the window's share of them, and a sentence saying whether that is at most
    :data:`MIN_EVALUATIONS_SHARE` (the paper's kernel of 16 needs >= 107 evaluations)."""
    per_run = curves.groupby(["seed", "source", "target"]).size()
    n = int(per_run.min()) if len(per_run) else 0
    share = window / n if n else np.nan
    need = int(np.ceil(window / MIN_EVALUATIONS_SHARE))
    ok = n >= need
    text = (
        f"smoothing: a moving average of {window} evaluations over runs of {n} evaluations spans {share:.0%} of a run"
    )
    if ok:
        text += f" (at most {MIN_EVALUATIONS_SHARE:.0%}: fine)"
    else:
        text += (
            f": too much (at most {MIN_EVALUATIONS_SHARE:.0%} needs >= {need} evaluations per run); the smoothed "
            f"curves and cross-over points of this run mostly show the window, not the run: re-run the grid with "
            f"a smaller grid.eval_every"
        )
    return {"evaluations": n, "window": window, "share": share, "needed": need, "ok": ok, "text": text}


# ---- is the grid complete? ----------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Which of the expected runs a table holds (see :func:`coverage`)."""

    expected: tuple  # Units, in the grid's order
    present: frozenset  # (seed, source, target) found in the table
    seeds: tuple  # the seeds asked for

    @property
    def missing(self) -> list:
        return [u for u in self.expected if (u.seed, u.source, u.target) not in self.present]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def complete_seeds(self) -> list:
        gone = {u.seed for u in self.missing}
        return [s for s in self.seeds if s not in gone]

    @property
    def min_seeds(self) -> int:
        """The fewest seeds any (source, target) cell that has runs at all has."""
        per = {}
        for seed, source, target in self.present:
            per.setdefault((source, target), set()).add(seed)
        return min((len(v) for v in per.values()), default=0)

    @property
    def label(self) -> str:
        """ "" for a complete grid, else ``partial: k of n seeds, r of R runs``."""
        if self.complete:
            return ""
        n = len(self.expected)
        return f"partial: {len(self.complete_seeds)} of {len(self.seeds)} seeds, {n - len(self.missing)} of {n} runs"

    def describe_missing(self) -> str:
        by_seed = {}
        for u in self.missing:
            by_seed.setdefault(u.seed, []).append(u.name)
        per_seed = {s: sum(u.seed == s for u in self.expected) for s in by_seed}
        return "; ".join(
            f"seed {s}: all {per_seed[s]} runs" if len(names) == per_seed[s] else ", ".join(names)
            for s, names in by_seed.items()
        )

    def require(self, allow_partial: bool = False) -> Coverage:
        """Refuse an incomplete grid in one line naming what is missing, unless `allow_partial`."""
        if not isinstance(allow_partial, bool):
            raise NasxferError(f"allow_partial must be True or False, got {allow_partial!r}")
        if not self.complete and not allow_partial:
            raise NasxferError(
                f"incomplete grid: {len(self.missing)} of {len(self.expected)} runs missing ({self.describe_missing()}); "
                f"finish the grid (nasxfer grid <params.yaml>, or run_fresh=True) or pass allow_partial=True for a partial view"
            )
        return self

    def prefix(self, sentence: str) -> str:
        return f"{self.label}: {sentence}" if self.label else sentence


def coverage(table: pd.DataFrame, grid=None) -> Coverage:
    """The runs of `grid` (a GridConfig: its seeds, tasks, scratch and transfer runs) that
    `table` (results or curves: columns seed, source, target) holds. Without a grid the
    expected runs are every seed in the table x every (source, target) pair in it, plus
    each target's scratch run."""
    present = frozenset(zip(table["seed"].astype(int), table["source"], table["target"]))
    if grid is not None:
        return Coverage(tuple(grid.units()), present, tuple(grid.seeds))
    seeds = sorted({s for s, _, _ in present})
    pairs = sorted({(a, b) for _, a, b in present} | {(b, b) for _, _, b in present}, key=lambda p: (p[0] != p[1], p))
    return Coverage(tuple(Unit(s, a, b) for s in seeds for a, b in pairs), present, tuple(seeds))


def _verdict_clause(cov: Coverage, claim: str, holds: bool, claim_last: bool = False) -> str:
    """The end of a finding's sentence: whether the paper's claim holds, or no verdict."""
    if cov.min_seeds < 2:
        return f"-> no verdict on the paper's finding ({claim}): a cell has fewer than 2 seeds"
    verdict = "holds" if holds else "does not hold"
    return (
        f"-> the paper's finding {verdict} here ({claim})"
        if claim_last
        else f"-> the paper's finding ({claim}) {verdict} here"
    )


# ---- the transfer grid (RQ1-RQ3) ------------------------------------------------------------


def transfer_matrix(
    results: pd.DataFrame, regime: str, value: str = "final_test", seed: int = 0, grid=None, allow_partial: bool = False
) -> pd.DataFrame:
    """Mean, std and CI over seeds of every (source, target) cell of one regime's matrix.

    Each row also carries the target's scratch cell (the diagonal, same budget) and
    whether the transferred agent beats it (``better``: CI entirely above scratch's)
    or loses to it (``worse``: entirely below); overlapping CIs are ``tie``. A cell
    or scratch cell with fewer than 2 seeds (or no scratch run) has no CI: ``n/a``.
    """
    coverage(results, grid).require(allow_partial)
    df = results[results.regime == regime]
    cells = summarise(df, ["source", "target"], value, seed=seed)
    cells.loc[cells.n < 2, ["ci_low", "ci_high"]] = np.nan  # one seed is no interval
    scratch = cells[cells.source == cells.target].set_index("target")
    for col in ("mean", "ci_low", "ci_high"):
        cells[f"scratch_{col}"] = cells.target.map(scratch[col])
    cells["diff"] = cells["mean"] - cells["scratch_mean"]
    no_ci = cells.ci_low.isna() | cells.scratch_ci_low.isna()
    cells["verdict"] = np.select(
        [
            cells.source == cells.target,
            no_ci,
            cells.ci_low > cells.scratch_ci_high,
            cells.ci_high < cells.scratch_ci_low,
        ],
        ["scratch", "n/a", "better", "worse"],
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


def curve_bands(
    curves: pd.DataFrame,
    value: str = "final_test",
    window: int = 16,
    seed: int = 0,
    grid=None,
    allow_partial: bool = False,
) -> pd.DataFrame:
    """Mean and CI over seeds of the smoothed curves, per (source, target) and evaluation index."""
    coverage(curves, grid).require(allow_partial)
    sm = smoothed_curves(curves, value, window)
    sm["eval_index"] = sm.groupby(["seed", "source", "target"]).cumcount()
    bands = summarise(sm, ["source", "target", "eval_index"], f"{value}_smooth", seed=seed)
    steps = sm.groupby(["source", "target", "eval_index"])[["env_steps", "train_s"]].mean().reset_index()
    return bands.merge(steps, on=["source", "target", "eval_index"])


def _runs_by_target(curves: pd.DataFrame, x: str):
    """(target, {source: [run DataFrame per seed, sorted by x]}) for every target of `curves`."""
    for target, ct in curves.groupby("target", sort=False):
        yield (
            target,
            {k: [g.sort_values(x) for _, g in grp.groupby("seed")] for k, grp in ct.groupby("source", sort=False)},
        )


def crossovers(
    curves: pd.DataFrame,
    x: str = "env_steps",
    value: str = "final_test",
    window: int = 16,
    grid=None,
    allow_partial: bool = False,
) -> pd.DataFrame:
    """The paper's all-to-all cross-over points (:func:`crossover_points`) for every source ->
    target pair, and the scratch reference of every target (rows with source == target:
    every ordered pair of different scratch runs). ``x`` is ``env_steps`` or ``train_s``.

    One row per run pair: source, target, transfer_seed, scratch_seed, crossover, crossed, end,
    crossover_censored, x.
    A target without scratch runs (a partial grid) gives no pairs.
    """
    if x not in ("env_steps", "train_s"):
        raise NasxferError(f"x must be 'env_steps' or 'train_s', got {x!r}")
    coverage(curves, grid).require(allow_partial)
    parts = []
    for target, runs in _runs_by_target(curves, x):
        scratch = runs.get(target)
        if not scratch:
            continue
        for source, transfer in runs.items():
            cp = crossover_points(transfer, scratch, x, value, window, reference=source == target)
            parts.append(cp.assign(source=source, target=target, x=x))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def catch_ups(
    curves: pd.DataFrame,
    x: str = "env_steps",
    value: str = "final_test",
    window: int = 16,
    grid=None,
    allow_partial: bool = False,
) -> pd.DataFrame:
    """All-to-all catch-up points (see :func:`catch_up_points`) for every source -> target pair.

    Scratch runs on the target are the reference; ``x`` is ``env_steps`` or ``train_s``.
    A target without scratch runs (a partial grid) gives no pairs.
    """
    coverage(curves, grid).require(allow_partial)
    parts = []
    for target, runs in _runs_by_target(curves, x):
        scratch = runs.get(target)
        if not scratch:
            continue
        for source, transfer in runs.items():
            if source == target:
                continue
            cp = catch_up_points(transfer, scratch, x, value, window)
            parts.append(cp.assign(source=source, target=target, x=x))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# ---- the paper's findings, checked on our numbers ---------------------------------------------


def gaps_to_scratch(results: pd.DataFrame, value: str = "final_rank_pct") -> pd.DataFrame:
    """The transferred rows of a results table, each with ``gap``: its `value` minus the scratch
    agent's of the same target and seed in the same regime (at the same target budget)."""
    scratch = results[results.source == results.target].set_index(["regime", "target", "seed"])[value]
    off = results[results.source != results.target].copy()
    same = pd.MultiIndex.from_arrays([off.regime, off.target, off.seed])
    off["gap"] = off[value].to_numpy() - scratch.reindex(same).to_numpy(dtype=float)
    return off


def pretraining_benefit(
    results: pd.DataFrame, regime: str, value: str = "final_test", grid=None, allow_partial: bool = False
) -> pd.DataFrame:
    """Per target: mean over sources of the transferred agents vs the scratch agent (RQ1).

    A target *benefits* when the transferred agents' mean beats scratch's mean;
    ``better``/``worse`` count the sources whose CI lies entirely above/below scratch's.
    """
    m = transfer_matrix(results, regime, value, grid=grid, allow_partial=allow_partial)
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


def regime_ranking(
    results: pd.DataFrame, value: str = "final_rank_pct", grid=None, allow_partial: bool = False
) -> pd.DataFrame:
    """RQ2: each regime's off-diagonal cells, mean and CI of `value` (rank percentile: one scale for all tasks)."""
    coverage(results, grid).require(allow_partial)
    off = results[results.source != results.target]
    return summarise(off, "regime", value).sort_values("mean").reset_index(drop=True)


# ---- the paper's findings, as sentences computed from a run's numbers -----------------------


def rq1_finding(results: pd.DataFrame, regime: str = "retrain", grid=None, allow_partial: bool = False) -> str:
    """Paper: pretraining helps in all but one target task. Does it here (`regime`'s budget)?"""
    cov = coverage(results, grid).require(allow_partial)
    b = pretraining_benefit(results, regime, grid=grid, allow_partial=allow_partial)
    lost = int(b.scratch_mean.isna().sum())
    b = b[b.scratch_mean.notna()]  # a target without its scratch run has nothing to beat
    m = transfer_matrix(results, regime, grid=grid, allow_partial=allow_partial)
    n_a = int(((m.source != m.target) & (m.verdict == "n/a") & m.scratch_mean.notna()).sum())
    n, k = len(b), int(b.benefits.sum())
    return cov.prefix(
        f"{regime}: pretraining helps (mean over sources above scratch) in {k} of {n} target tasks"
        f"{f' ({lost} without a scratch run not counted)' if lost else ''}; "
        f"{int(b.better.sum())} of {int(b.sources.sum())} transferred cells beat scratch with non-overlapping "
        f"CIs, {int(b.worse.sum())} lose{f', {n_a} have no CI (fewer than 2 seeds)' if n_a else ''} "
        + _verdict_clause(cov, "all but one", n > 0 and k >= n - 1)
    )


def rq2_finding(results: pd.DataFrame, grid=None, allow_partial: bool = False) -> str:
    """Paper: zero-shot is the weakest regime. Is it here (rank percentile, off-diagonal cells)?"""
    cov = coverage(results, grid).require(allow_partial)
    r = regime_ranking(results, grid=grid, allow_partial=allow_partial)
    weakest, nxt = r.iloc[0], r.iloc[1]
    separated = weakest.ci_high < nxt.ci_low
    return cov.prefix(
        f"weakest regime: {weakest.regime} (mean rank percentile {weakest['mean']:.1f}, 95% CI "
        f"{weakest.ci_low:.1f}-{weakest.ci_high:.1f}; next {nxt.regime} {nxt['mean']:.1f}, CIs "
        f"{'apart' if separated else 'overlap'}) "
        + _verdict_clause(cov, "zero-shot weakest", weakest.regime == "zero_shot")
    )


def rq3_finding(
    curves: pd.DataFrame, x: str = "env_steps", window: int = 16, grid=None, allow_partial: bool = False
) -> str:
    """Paper: transferred agents reach the scratch agent's final level with less target training
    (our catch-up measure, :func:`catch_up_points`; the paper's cross-over is
    :func:`crossover_finding`). Pairs whose target has no scratch run (a partial grid) are not counted."""
    cov = coverage(curves, grid).require(allow_partial)
    cp = catch_ups(curves, x=x, window=window, grid=grid, allow_partial=allow_partial)
    pairs = pair_savings(cp) if len(cp) else pd.DataFrame(columns=["source", "target", "saving_mean"])
    transfers = curves[curves.source != curves.target][["source", "target"]].drop_duplicates()
    lost = len(transfers) - len(pairs)
    faster = pairs.saving_mean > 0
    unit = "env steps" if x == "env_steps" else "training seconds"
    saving = f"{pairs.saving_mean.mean():.0%}" if pairs.saving_mean.notna().any() else "n/a: never reached"
    reached = f"{cp.catch_up.notna().mean():.0%}" if len(cp) else "n/a"
    return cov.prefix(
        f"in {x}: transferred agents reach the scratch agent's final level sooner in {int(faster.sum())} of "
        f"{len(pairs)} source -> target pairs{f' ({lost} without a scratch run not counted)' if lost else ''} "
        f"(mean saving {saving} of the scratch agent's {unit}; share of run pairs that reach it at all {reached}) "
        + _verdict_clause(cov, "majority of pairs", len(pairs) > 0 and faster.sum() > len(pairs) / 2, claim_last=True)
    )


def scratch_learning(curves: pd.DataFrame, value: str = "final_test") -> pd.DataFrame:
    """Did the scratch agents learn? Per task, means over seeds of the random-walk floor, the
    untrained network (evaluation at step 0) and the trained one (last evaluation)."""
    s = curves[curves.kind == "scratch"].sort_values("env_steps")
    runs = s.groupby(["target", "seed"], sort=False)
    per_run = pd.DataFrame(
        {
            "random_walk": runs["random_walk_final_test"].first(),
            "untrained": runs[value].first(),
            "trained": runs[value].last(),
            "env_steps": runs["env_steps"].last(),
        }
    )
    out = per_run.groupby("target", sort=False).mean()
    out.insert(0, "seeds", per_run.groupby("target", sort=False).size())
    return out.reset_index()


def crossover_table(
    curves: pd.DataFrame,
    x: str = "env_steps",
    window: int = 16,
    grid=None,
    allow_partial: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """The paper's Fig. 12 (``x="env_steps"``) / Fig. 13 (``x="train_s"``) as a tidy table.

    One row per source -> target pair and one scratch row per target (source == target, the
    hatched bar): ``pairs`` run pairs compared all-to-all (:func:`crossovers`), ``crossed``
    of them where the transferred run ends ahead, ``crossed_share``, and the sample mean,
    std and 95% bootstrap CI over all pairs of the cross-over point, a pair that never
    crossed counted at the end of the run (``crossover_censored``, see
    :func:`crossover_points`): the paper's bar and error bar. ``verdict`` sets each transferred pair against its target's
    scratch reference: ``sooner`` / ``later`` when the CIs do not overlap, ``tie`` when they
    do, ``n/a`` when either has fewer than 2 pairs; the scratch row says ``scratch``.
    """
    cp = crossovers(curves, x=x, window=window, grid=grid, allow_partial=allow_partial)
    cols = ["source", "target", "x", "pairs", "crossed", "crossed_share", "n", "mean", "std", "ci_low", "ci_high"]
    if cp.empty:
        return pd.DataFrame(columns=[*cols, "scratch_mean", "scratch_ci_low", "scratch_ci_high", "verdict"])
    rows = []
    for (source, target), g in cp.groupby(["source", "target"], sort=False):
        stats_ = mean_ci(g.crossover_censored, seed=seed)
        rows.append(
            {
                "source": source,
                "target": target,
                "x": x,
                "pairs": len(g),
                "crossed": int(g.crossed.sum()),
                "crossed_share": float(g.crossed.mean()),
                **stats_,
            }
        )
    table = pd.DataFrame(rows)
    table.loc[table.n < 2, ["ci_low", "ci_high"]] = np.nan  # one pair is no interval
    scratch = table[table.source == table.target].set_index("target")
    for col in ("mean", "ci_low", "ci_high"):
        table[f"scratch_{col}"] = table.target.map(scratch[col])
    table["verdict"] = np.select(
        [
            table.source == table.target,
            table.ci_low.isna() | table.scratch_ci_low.isna(),
            table.ci_high < table.scratch_ci_low,
            table.ci_low > table.scratch_ci_high,
        ],
        ["scratch", "n/a", "sooner", "later"],
        "tie",
    )
    # scratch row first in each target, then the sources in the table's order
    table["_scratch"] = table.source != table.target
    return table.sort_values(["target", "_scratch"], kind="stable").drop(columns="_scratch").reset_index(drop=True)


#: the paper's significant training-time savings (text 4.3): (source, target) pairs whose
#: cross-over CI lies entirely below scratch's. Used only to say whether our run agrees.
PAPER_SIGNIFICANT_SAVINGS = frozenset(
    [
        ("class_object", "autoencoder"),
        ("room_layout", "autoencoder"),
        ("segmentsemantic", "autoencoder"),
        ("class_object", "room_layout"),
        ("autoencoder", "room_layout"),
        ("segmentsemantic", "room_layout"),
        ("segmentsemantic", "class_object"),
        ("autoencoder", "segmentsemantic"),
        ("class_object", "segmentsemantic"),
    ]
)


def crossover_finding(
    curves: pd.DataFrame, x: str = "env_steps", window: int = 16, grid=None, allow_partial: bool = False
) -> str:
    """Paper (RQ3, Fig. 10-13): transfer saves target training time significantly on 9 of the 12
    pairs of its four tasks (:data:`PAPER_SIGNIFICANT_SAVINGS`). Here: the pairs whose cross-over
    CI lies entirely below the scratch reference's, how many of the paper's 9 stay significant
    (the finding holds when all do) and how many of its 12 verdicts this run repeats."""
    cov = coverage(curves, grid).require(allow_partial)
    t = crossover_table(curves, x=x, window=window, grid=grid, allow_partial=allow_partial)
    pairs = t[t.source != t.target]
    sooner = pairs[pairs.verdict == "sooner"]
    n_a = int((pairs.verdict == "n/a").sum())
    unit = "target env steps" if x == "env_steps" else "target training seconds"
    text = (
        f"cross-over in {unit}: transfer starts outperforming scratch significantly sooner than one scratch run "
        f"does another (CIs apart) in {len(sooner)} of {len(pairs)} source -> target pairs"
        f"{': ' + ', '.join(f'{s} -> {g}' for s, g in zip(sooner.source, sooner.target)) if len(sooner) else ''}; "
        f"later in {int((pairs.verdict == 'later').sum())}"
        f"{f', {n_a} without a CI (fewer than 2 run pairs)' if n_a else ''}"
    )
    on_paper = pairs[[(s, g) in _PAPER_PAIRS for s, g in zip(pairs.source, pairs.target)]]
    if len(on_paper) == 0:
        return cov.prefix(text + " (none of these pairs is in the paper)")
    here = {(s, g): v == "sooner" for s, g, v in zip(on_paper.source, on_paper.target, on_paper.verdict)}
    agree = sum(sig == ((s, g) in PAPER_SIGNIFICANT_SAVINGS) for (s, g), sig in here.items())
    paper_sig = [p for p in here if p in PAPER_SIGNIFICANT_SAVINGS]
    kept = sum(here[p] for p in paper_sig)
    claim = "its significant savings stay significant"
    return cov.prefix(
        text + f"; significant here: {kept} of the paper's {len(paper_sig)} significant pairs; the verdicts "
        f"agree on {agree} of its {len(here)} pairs "
        + _verdict_clause(cov, claim, len(paper_sig) > 0 and kept == len(paper_sig), claim_last=True)
    )


_PAPER_PAIRS = frozenset((s, t) for s in PAPER_TASKS for t in PAPER_TASKS if s != t)


def pair_savings(cp: pd.DataFrame) -> pd.DataFrame:
    """Per source -> target pair of :func:`catch_ups` rows: where scratch reached its final
    level (mean), the share of run pairs whose transferred run reaches it, and the mean saving."""
    return (
        cp.groupby(["source", "target"], sort=False)
        .agg(
            scratch_x=("scratch_x", "mean"),
            reached=("catch_up", lambda c: c.notna().mean()),
            saving_mean=("saving", "mean"),
        )
        .reset_index()
    )


# ---- the search comparison (nasxfer.comparison) --------------------------------------------

SEARCH_KEYS = ["task", "searcher", "budget"]


def search_summary(results: pd.DataFrame, value: str = "best_test", seed: int = 0) -> pd.DataFrame:
    """:func:`summarise` of a search comparison over trials, per task, searcher and budget.

    ``queries`` is the mean number of target cells read (search budget plus prior queries:
    the x at which a searcher is compared, see :mod:`nasxfer.comparison`)."""
    return summarise(results, SEARCH_KEYS, value, seed=seed, carry=("queries",)).sort_values(
        SEARCH_KEYS, ignore_index=True
    )


def random_search_expected(bench: Benchmark, task: str, budgets) -> pd.DataFrame:
    """Random search's *expected* best-by-validation test metric at any budget, exactly.

    Among `b` distinct cells drawn uniformly from `N`, the best by validation is the cell of
    validation rank ``j`` (0 = best) with probability ``C(N-1-j, b-1) / C(N, b)``; a tie in
    validation is broken by query order, i.e. uniformly within the tie, so a tied group counts
    with its mean test metric. This reaches budgets no simulation here runs (up to the whole
    space), which is where a scratch agent's training queries put it.
    """
    from scipy.special import gammaln

    table = bench.table(task)
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


def _verdict(a_lo: float, a_hi: float, b_lo: float, b_hi: float) -> str:
    """ "better" / "worse" when the two 95% intervals do not overlap, else "tie"."""
    return "better" if a_lo > b_hi else "worse" if a_hi < b_lo else "tie"


def equal_information(
    results: pd.DataFrame, bench: Benchmark, searcher: str = "evolution", budget: int | None = None
) -> pd.DataFrame:
    """Per task, the agents against `searcher`, each at the number of target cells it had read.

    * zero-shot agents (``dqn zero-shot``, pooled over source tasks) and `searcher` both at
      `budget` queries (default: the largest): same information, a fair race;
    * scratch agents (``dqn scratch``) after `budget` search queries have read ``queries`` =
      training queries + `budget` target cells; they are set against random search's exact
      expected result at that many queries (:func:`random_search_expected`, capped at the space),
      the one baseline known at every budget.

    Verdicts compare 95% bootstrap intervals (:func:`summarise`) (``tie`` when they overlap); random search's expectation
    is exact, so the scratch verdict compares the agent's interval with a point. A task that
    lacks scratch or zero-shot rows (agents not all trained) has no row.
    """
    need = {SCRATCH_NAME, ZERO_SHOT_NAME, searcher} - set(results["searcher"])
    if need:
        raise NasxferError(
            f"results lack searchers {sorted(need)}: run the baselines and add the agents "
            f"(python -m nasxfer.search_efficiency DIR --add-agents AGENTS_DIR --params PARAMS)"
        )
    summary = search_summary(results)
    budget = int(summary["budget"].max()) if budget is None else int(budget)
    at = summary[summary["budget"] == budget].set_index(["task", "searcher"])
    rows = []
    for task in dict.fromkeys(results["task"]):
        if not all((task, n) in at.index for n in (searcher, ZERO_SHOT_NAME, SCRATCH_NAME)):
            continue  # a partial set of agents (add_agents(allow_missing=True)): no row rather than a guess
        s, z, a = (at.loc[(task, n)] for n in (searcher, ZERO_SHOT_NAME, SCRATCH_NAME))
        x = int(min(round(a["queries"]), bench.space.size))
        rand = float(random_search_expected(bench, task, (x,))["expected_best_test"].iloc[0])
        rows.append(
            {
                "task": task,
                "budget": budget,
                f"{searcher}": s["mean"],
                f"{searcher}_ci_low": s["ci_low"],
                f"{searcher}_ci_high": s["ci_high"],
                "zero_shot": z["mean"],
                "zero_shot_ci_low": z["ci_low"],
                "zero_shot_ci_high": z["ci_high"],
                "zero_shot_vs_" + searcher: _verdict(z["ci_low"], z["ci_high"], s["ci_low"], s["ci_high"]),
                "scratch": a["mean"],
                "scratch_ci_low": a["ci_low"],
                "scratch_ci_high": a["ci_high"],
                "scratch_queries": float(a["queries"]),
                "random_at_scratch_queries": rand,
                "scratch_vs_random": _verdict(a["ci_low"], a["ci_high"], rand, rand),
            }
        )
    if not rows:
        raise NasxferError("no task has scratch agents, zero-shot agents and the searcher at that budget")
    return pd.DataFrame(rows)


def zero_shot_by_source(results: pd.DataFrame, budget: int | None = None) -> pd.DataFrame:
    """Target x source table of the zero-shot agents' mean best test metric at `budget`."""
    z = results[results["searcher"] == ZERO_SHOT_NAME]
    if z.empty:
        raise NasxferError("results hold no zero-shot agents: add them with add_agents")
    budget = int(z["budget"].max()) if budget is None else int(budget)
    z = z[z["budget"] == budget]
    return z.pivot_table(index="task", columns="source", values="best_test", aggfunc="mean")


def headline(summary: pd.DataFrame, budget: int | None = None) -> pd.DataFrame:
    """Task x searcher table of the mean at one budget (the largest by default) of :func:`search_summary`."""
    budget = summary["budget"].max() if budget is None else budget
    if budget not in set(summary["budget"]):
        raise NasxferError(f"no results at budget {budget}: choose one of {sorted(set(summary['budget']))}")
    at = summary[summary["budget"] == budget]
    return at.pivot(index="task", columns="searcher", values="mean")

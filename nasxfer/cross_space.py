"""Transfer across search spaces: TransNAS-Bench-101 agents on NAS-Bench-201, and back.

Both benchmarks use the 4-node, 6-edge cell and the agent sees every cell through one node
vocabulary (:mod:`nasxfer.encoding`), so an agent trained on a TransNAS-Bench-101 task can
start a NAS-Bench-201 search, and the other way round. A params file's ``cross_space:``
section names such a grid: its ``grid`` keys are laid over the profile's grid (the agent and
its layout stay the profile's), its tasks mix benchmarks (``transnas-bench-101/class_object``
beside ``cifar100``, see :mod:`nasxfer.grid`), and it runs resumably into ``results_dir``
like any grid (``nasxfer cross-space params/laptop.yaml``). The notebook reads it with
:func:`open_cross_space` and the RQ notebooks' statistics.

What is new here is one question: does a source from the *other* space help as much as one
from the target's own space? :func:`space_gains` answers it per target and regime, in rank
percentile (one scale for every task): transferred minus scratch, the sources of each space
pooled, one sample per target and seed, with a 95% bootstrap CI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import NasxferError
from .profiles import section

SECTION = "cross_space"
SAME, ACROSS = "same space", "across spaces"
SEARCH_DIR = "search"  # <results_dir>/search/: the search comparison on the grid's own benchmark
_KEYS = ("results_dir", "grid", "search_budgets", "search_trials", "agent_trials")


@dataclass(frozen=True)
class CrossSpaceConfig:
    """A params file's ``cross_space:`` section: the grid's overrides and where it runs, and the
    search comparison on the grid's own benchmark (:func:`run_search_comparison`)."""

    results_dir: Path
    grid: dict  # GridConfig keys laid over the profile's grid
    search_budgets: tuple = (10, 25, 50, 100, 200)  # unique cells queried
    search_trials: int = 200  # seeded trials per baseline, task and budget
    agent_trials: int = 60  # per agent searcher, source and task

    @property
    def search_dir(self) -> Path:
        return self.results_dir / SEARCH_DIR


def cross_space_config(section, base, where: str = SECTION) -> CrossSpaceConfig:
    """Validate a ``cross_space:`` section against its profile's grid `base`: known keys, a grid
    that builds, and at least one source -> target pair across benchmarks."""
    from .grid import task_ref
    from .profiles import merge_grid, resolve

    if not isinstance(section, dict):
        raise NasxferError(f"{where} must be a mapping with keys {list(_KEYS)}, got {type(section).__name__}")
    bad = [k for k in section if k not in _KEYS]
    if bad or "grid" not in section:
        raise NasxferError(f"{where}: keys must be {list(_KEYS)} (grid required), got {list(section)}")
    overrides = section["grid"]
    if not isinstance(overrides, dict):
        raise NasxferError(f"{where}.grid must be a mapping of grid keys, got {overrides!r}")
    grid = merge_grid(base, overrides, where=f"{where}.grid")
    bench_of = {t: task_ref(t, grid.benchmark)[0] for t in grid.tasks}
    if not any(bench_of[s] != bench_of[t] for s in grid.source_tasks for t in grid.target_tasks):
        raise NasxferError(
            f"{where}.grid pairs no source with a target of another benchmark ({grid.source_tasks} -> "
            f"{grid.target_tasks}): name a task of the other benchmark as <benchmark>/<task>, "
            f"e.g. transnas-bench-101/class_object"
        )
    from .comparison import check_budgets, check_trials
    from .search_space import NB201Space, TransNASMicroSpace

    results_dir = resolve(section.get("results_dir") or f"outputs/{grid.run_name}")
    search = {}
    try:
        if "search_budgets" in section:
            space = NB201Space() if grid.benchmark == "nas-bench-201" else TransNASMicroSpace()
            search["search_budgets"] = tuple(check_budgets(section["search_budgets"], space.size))
        for key in ("search_trials", "agent_trials"):
            if key in section:
                search[key] = check_trials(section[key])
    except NasxferError as e:
        raise NasxferError(f"{where}: {e}") from None
    return CrossSpaceConfig(results_dir, dict(overrides), **search)


def cross_space_grid(params: dict):
    """The GridConfig the section describes (the profile's grid with the section's keys)."""
    from .profiles import merge_grid

    return merge_grid(params["grid"], params[SECTION].grid, where=SECTION)


def run_cross_space(params: dict, data_dir=None, progress: bool = True) -> Path:
    """Run (or resume) the section's grid into its results folder, then the search comparison
    (:func:`run_search_comparison`); returns the folder."""
    from .experiments import run_grid

    cfg = section(params, SECTION)
    out = run_grid(cross_space_grid(params), cfg.results_dir, data_dir=data_dir, progress=progress)
    run_search_comparison(params, data_dir=data_dir, progress=progress)
    return out


def search_tasks(grid) -> list:
    """The tasks of the comparison: the grid's targets on its own benchmark."""
    return [t for t in grid.target_tasks if grid.task_ref(t)[0] == grid.benchmark]


def run_search_comparison(params: dict, data_dir=None, progress: bool = True) -> Path:
    """The search comparison on the grid's own benchmark (:mod:`nasxfer.search_efficiency`): the
    baselines on its target tasks, then the grid's scratch agents as searchers, on their own task
    (``dqn scratch``) and zero-shot on the others, sources from both spaces included. Skipped when
    ``<results_dir>/search/`` already holds it; the agents are added when only the baselines are."""
    from .benchmark import load_benchmark
    from .comparison import comparison_config, run_comparison
    from .search_efficiency import RESULTS_FILE, add_grid_agents, load_comparison, save_comparison
    from .searchers import SEARCHERS

    cfg = section(params, SECTION)
    grid = cross_space_grid(params)
    out = cfg.search_dir
    if not (out / RESULTS_FILE).is_file():
        tasks = search_tasks(grid)
        bench = load_benchmark(grid.benchmark, tasks=tasks, data_dir=data_dir)
        budgets, trials = cfg.search_budgets, cfg.search_trials
        results = run_comparison(bench, tasks, budgets, trials, progress=progress)
        save_comparison(results, out, comparison_config(bench, tasks, budgets, trials, tuple(SEARCHERS), 0))
    if "agents" not in load_comparison(out)[1]:
        add_grid_agents(out, cfg.results_dir, trials=cfg.agent_trials, progress=progress)
    return out


def open_cross_space(
    profile=None,
    *,
    run_fresh=None,
    overwrite=None,
    allow_partial=None,
    figures_dir=None,
    data_dir=None,
    progress: bool = True,
):
    """The cross-space grid of a profile as a :class:`nasxfer.notebook.Run` (trained first when
    ``run_fresh``, as :func:`nasxfer.notebook.open_run` decides)."""
    from .notebook import default_profile, open_run
    from .profiles import check_parameter, load_params, params_path

    profile = default_profile() if profile is None else check_parameter("profile", profile)
    cfg = section(load_params(params_path(profile)), SECTION, params_path(profile))
    return open_run(
        profile,
        run_fresh=run_fresh,
        overwrite=overwrite,
        allow_partial=allow_partial,
        results_dir=str(cfg.results_dir),
        figures_dir=figures_dir,
        data_dir=data_dir,
        grid=cfg.grid,
        progress=progress,
    )


# ---- does the other space help? ------------------------------------------------------------------


def space_of(task: str, grid) -> str:
    """The benchmark a grid task name is on."""
    return grid.task_ref(task)[0]


def gap_samples(curves: pd.DataFrame, results: pd.DataFrame, grid, value: str = "final_rank_pct") -> pd.DataFrame:
    """One row per transferred run and regime: its `value` minus the scratch agent's of the
    same target and seed at the same budget, and whether its source is on the target's space.

    Zero-shot is held against the scratch run's first evaluation, an untrained network: does
    the source's training carry anything to the target before any target step? Fine-tune and
    retrain are held against scratch at the same target budget."""
    from .stats import gaps_to_scratch

    start = curves[curves.source == curves.target].sort_values("env_steps").groupby(["target", "seed"]).first()
    off = gaps_to_scratch(results, value)
    zero = off.regime == "zero_shot"
    untrained = start[value].reindex(pd.MultiIndex.from_arrays([off.target[zero], off.seed[zero]])).to_numpy()
    off.loc[zero, "gap"] = off.loc[zero, value].to_numpy() - untrained
    off["source_space"] = [space_of(t, grid) for t in off.source]
    off["target_space"] = [space_of(t, grid) for t in off.target]
    off["relation"] = np.where(off.source_space == off.target_space, SAME, ACROSS)
    return off


def space_gains(curves: pd.DataFrame, results: pd.DataFrame, grid, seed: int = 0) -> pd.DataFrame:
    """Per target, regime and relation (same space / across spaces): the mean gap over scratch
    in rank percentile with its 95% bootstrap CI. A sample is one (target, seed): the mean over
    that relation's sources, since the transfers into one target share its scratch agent."""
    from .stats import mean_ci

    gaps = gap_samples(curves, results, grid)
    per = gaps.groupby(["target", "target_space", "regime", "relation", "seed"], sort=False).agg(
        gap=("gap", "mean"), sources=("source", "nunique")
    )
    rows = []
    for (target, tspace, regime, relation), g in per.groupby(level=[0, 1, 2, 3], sort=False):
        ci = mean_ci(g.gap.to_numpy(), seed=seed)
        verdict = "helps" if ci["ci_low"] > 0 else "hurts" if ci["ci_high"] < 0 else "no clear effect"
        rows.append(
            {
                "target": target,
                "target_space": tspace,
                "regime": regime,
                "relation": relation,
                "sources": int(g.sources.max()),
                **ci,
                "verdict": verdict,
            }
        )
    order = {"zero_shot": 0, "fine_tune": 1, "retrain": 2}
    out = pd.DataFrame(rows)
    return out.sort_values(["target", "regime", "relation"], key=lambda s: s.map(order) if s.name == "regime" else s)


def cross_space_finding(gains: pd.DataFrame) -> str:
    """In words, from :func:`space_gains`: per regime, on how many targets a source from the other
    space beats scratch (significantly), and how it compares with sources from the target's own space."""
    lines = []
    for regime in ("zero_shot", "fine_tune", "retrain"):
        g = gains[gains.regime == regime]
        across, same = g[g.relation == ACROSS], g[g.relation == SAME].set_index("target")
        if across.empty:
            continue
        vs = "an untrained agent" if regime == "zero_shot" else "scratch at the same budget"
        text = (
            f"{regime}: sources from the other space beat {vs} on {int((across['mean'] > 0).sum())} of "
            f"{len(across)} targets ({int((across.verdict == 'helps').sum())} with the CI above 0, "
            f"{int((across.verdict == 'hurts').sum())} below)"
        )
        both = across[across.target.isin(same.index)]
        if len(both):
            closer = int((both["mean"].to_numpy() >= same.loc[both.target, "mean"].to_numpy()).sum())
            text += (
                f"; they do at least as well as sources from the target's own space on {closer} of {len(both)} "
                f"targets (mean gap {both['mean'].mean():+.1f} vs {same.loc[both.target, 'mean'].mean():+.1f} "
                f"rank percentile points)"
            )
        lines.append(text)
    return "\n".join(lines) if lines else "no transfer across spaces in these tables"


def open_search_comparison(profile=None, *, run_fresh=None, data_dir=None, progress: bool = True):
    """(results, config, benchmark) of the profile's search comparison on the grid's own benchmark,
    run first when ``run_fresh`` (default: the profile's ``run_fresh``); the grid must be finished."""
    from .benchmark import load_benchmark
    from .notebook import open_section
    from .search_efficiency import load_comparison

    _, where, params, cfg, data_dir, fresh = open_section(SECTION, profile, run_fresh, data_dir)
    if fresh:
        run_search_comparison(params, data_dir=data_dir, progress=progress)
    if not (cfg.search_dir / "results.parquet").is_file():
        raise NasxferError(
            f"{cfg.search_dir} has no search comparison yet: run nasxfer cross-space {where} "
            f"(or the notebook with -p run_fresh True)"
        )
    results, config = load_comparison(cfg.search_dir)
    return results, config, load_benchmark(config["benchmark"], tasks=config["tasks"], data_dir=data_dir)

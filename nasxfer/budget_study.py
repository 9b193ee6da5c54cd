"""The budget study: do the paper's findings move with the training budget?

Our laptop agents train a few 10^4 env steps where the paper's train 10^7. Before reading a
disagreement with the paper as one about transfer, a replicator wants to know whether it is one
about budget. The study runs one transfer grid (a few tasks, every seed of the profile) at
several budgets and computes each finding's statistic, with a 95% bootstrap CI, at each.

**The grids.** A params file's ``budget_study:`` section names the study's source and target
tasks and its budgets; every other grid key (seeds, agent, evaluation episodes) is the
profile's ``grid:``. A budget is ``{train_steps, finetune_steps, eval_every}``, run into
``<results_dir>/<train_steps>/``, or ``main``: the profile's own grid, read on the study's tasks
(so the laptop grid is one of the budgets and is not trained twice).

**The statistics** (:data:`FINDINGS`), all on the rank percentile of the final cell (one
scale for every task; higher is better), one value per target task and seed, averaged over
that target's sources first, so that runs sharing a scratch agent are not counted as
independent samples:

* ``rq1_fine_tune`` / ``rq1_retrain``: transferred minus scratch at the fine-tune / retrain
  budget (the paper: pretraining helps, > 0);
* ``rq2``: zero-shot minus fine-tune (the paper: zero-shot is the weakest regime, < 0);
* ``rq3``: the share of (transferred run, scratch run) pairs in which the transferred run
  reaches the scratch run's final level (smoothed, :func:`nasxfer.stats.catch_up_points`) in
  fewer target env steps than the scratch run took (the paper: most do, > 0.5).

A finding is *significant* at a budget when its CI excludes the no-effect value (0, or 0.5
for ``rq3``), and *agrees* with the paper when its mean lies on the paper's side of it.
:func:`shifts` says in words which findings change sign or significance across budgets;
:func:`extrapolate` draws a straight line in log budget through the measured means to the
paper's budget, with a bootstrap interval for the measurement noise (a guess, labelled as one); :func:`paper_cost` prices that budget from the
measured speed of the paper's network (:func:`measure_speed`, saved by :func:`run_study`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import NasxferError, check_int

MAIN = "main"  # a budget that is the profile's own grid
SPEED_FILE = "speed.json"

#: finding -> (what its number is, the no-effect value, the sign the paper reports)
FINDINGS = {
    "rq1_fine_tune": ("fine-tune: transferred - scratch (rank percentile points)", 0.0, +1),
    "rq1_retrain": ("retrain: transferred - scratch (rank percentile points)", 0.0, +1),
    "rq2": ("zero-shot - fine-tune (rank percentile points)", 0.0, -1),
    "rq3": ("share of transferred runs reaching scratch's final level sooner", 0.5, +1),
}
CLAIMS = {
    "rq1_fine_tune": "RQ1 (fine-tune): pretraining helps",
    "rq1_retrain": "RQ1 (retrain): pretraining helps",
    "rq2": "RQ2: zero-shot is the weakest regime",
    "rq3": "RQ3: transfer reaches scratch's level with less target training",
}


@dataclass(frozen=True)
class Budget:
    """One budget of the study; ``main`` budgets take their numbers from the profile's grid."""

    train_steps: int
    finetune_steps: int
    eval_every: int
    main: bool = False

    @property
    def label(self) -> str:
        return f"{self.train_steps:,}"


@dataclass
class BudgetStudyConfig:
    """A params file's ``budget_study:`` section (see the module doc)."""

    source_tasks: list
    target_tasks: list
    budgets: list = field(default_factory=list)  # of Budget, ascending train_steps
    results_dir: str = "outputs/budget_study"
    speed_probe_steps: int = 4000  # env steps of the paper's network timed by measure_speed


def study_config(section, base, where: str = "budget_study") -> BudgetStudyConfig:
    """Validate a ``budget_study:`` mapping against the profile's grid `base` (a GridConfig)."""
    if not isinstance(section, dict):
        raise NasxferError(f"{where} must be a mapping (see params/laptop.yaml), got {section!r}")
    known = {"source_tasks", "target_tasks", "budgets", "results_dir", "speed_probe_steps"}
    bad = [k for k in section if k not in known]
    if bad:
        raise NasxferError(f"{where}: unknown key(s) {bad}; valid keys: {sorted(known)}")
    for key in ("source_tasks", "target_tasks", "budgets"):
        if key not in section:
            raise NasxferError(f"{where} needs {key} (see params/laptop.yaml)")
    raw = section["budgets"]
    if not isinstance(raw, list) or len(raw) < 2:
        raise NasxferError(f"{where}.budgets must list at least two budgets, got {raw!r}")
    budgets = []
    for i, b in enumerate(raw):
        w = f"{where}.budgets[{i}]"
        if b == MAIN:
            budgets.append(Budget(base.train_steps, base.finetune_steps, base.eval_every, main=True))
            continue
        if not isinstance(b, dict) or set(b) != {"train_steps", "finetune_steps", "eval_every"}:
            raise NasxferError(
                f"{w} must be '{MAIN}' (the profile's grid) or a mapping of exactly train_steps, finetune_steps "
                f"and eval_every, got {b!r}"
            )
        budgets.append(
            Budget(*(check_int(b[k], f"{w}.{k}", 1) for k in ("train_steps", "finetune_steps", "eval_every")))
        )
    steps = [b.train_steps for b in budgets]
    if len(set(steps)) != len(steps):
        raise NasxferError(f"{where}.budgets: two budgets have the same train_steps ({steps})")
    cfg = BudgetStudyConfig(
        list(section["source_tasks"]),
        list(section["target_tasks"]),
        sorted(budgets, key=lambda b: b.train_steps),
        str(section.get("results_dir", "outputs/budget_study")),
        check_int(section.get("speed_probe_steps", 4000), f"{where}.speed_probe_steps", 1),
    )
    for b in cfg.budgets:  # every budget must make a valid grid (tasks, fine-tune divisible, ...)
        budget_grid(cfg, b, base, where=f"{where} budget {b.label}")
    if any(b.main for b in cfg.budgets):
        missing = [t for t in {*cfg.source_tasks, *cfg.target_tasks} if t not in base.tasks]
        if missing:
            raise NasxferError(f"{where}: the '{MAIN}' budget reads the profile's grid, which has no task {missing}")
    return cfg


def grid_overrides(cfg: BudgetStudyConfig, budget: Budget) -> dict:
    """The grid keys a budget lays over the profile's grid (what :func:`nasxfer.notebook.open_run` takes)."""
    out = {"source_tasks": cfg.source_tasks, "target_tasks": cfg.target_tasks}
    if not budget.main:
        out.update(train_steps=budget.train_steps, finetune_steps=budget.finetune_steps, eval_every=budget.eval_every)
    return out


def budget_grid(cfg: BudgetStudyConfig, budget: Budget, base, where: str = "budget_study"):
    """The GridConfig one budget trains: the profile's grid, or the study's tasks at this budget."""
    import warnings

    from .grid import EvalFrequencyWarning
    from .profiles import merge_grid

    if budget.main:
        return base
    with warnings.catch_warnings():  # the notebook reports each budget's smoothing span instead
        warnings.simplefilter("ignore", EvalFrequencyWarning)
        name = {"run_name": f"{base.run_name}-budget-{budget.train_steps}"}
        return merge_grid(base, {**grid_overrides(cfg, budget), **name}, where=where)


def budget_dir(params: dict, cfg: BudgetStudyConfig, budget: Budget) -> Path:
    from .profiles import resolve

    return params["results_dir"] if budget.main else resolve(cfg.results_dir) / str(budget.train_steps)


# ---- running it ------------------------------------------------------------------------------


def budgets_done(params: dict, cfg: BudgetStudyConfig) -> list:
    """The study's budgets whose grid has its results table."""
    return [b for b in cfg.budgets if (budget_dir(params, cfg, b) / "results.parquet").is_file()]


def run_study(params: dict, data_dir=None, progress: bool = True, only=None) -> None:
    """Run (or resume) every budget's grid of a loaded params file (or those whose train_steps
    are in `only`), then time the paper's network once (:func:`measure_speed`) unless that was
    done already."""
    from .experiments import run_grid
    from .io import write_json_atomic
    from .profiles import resolve, section

    cfg = section(params, "budget_study")
    steps = [b.train_steps for b in cfg.budgets]
    unknown = [n for n in only or () if n not in steps]
    if unknown:
        raise NasxferError(f"no budget of {unknown} env steps in this budget study; its budgets are {steps}")
    for b in cfg.budgets:
        if only and b.train_steps not in only:
            continue
        run_grid(budget_grid(cfg, b, params["grid"]), budget_dir(params, cfg, b), data_dir=data_dir, progress=progress)
    speed = resolve(cfg.results_dir) / SPEED_FILE
    if not speed.is_file():
        write_json_atomic(measure_speed(params["grid"], cfg.speed_probe_steps, data_dir), speed)


def measure_speed(grid, steps: int, data_dir=None) -> dict:
    """Env steps per second of the paper's network (256-d, batch 512) in the profile's layout,
    trained `steps` env steps from scratch on the grid's first task: what one paper-budget agent
    would train at on this machine."""
    import platform
    import time

    from .agent.agent import Agent
    from .agent.params import AgentParams

    p = grid.agent_params(grid.tasks[0], grid.seeds[0]).with_network_of(AgentParams.paper())
    p = p.replace(learning_starts=min(p.learning_starts, steps // 4))
    if data_dir is not None:
        p = p.replace(data_dir=str(data_dir))
    agent = Agent(p)
    try:
        t = time.perf_counter()
        curve = agent.train(steps, eval_every=steps, progress=False)
        wall = time.perf_counter() - t
    finally:
        agent.stop()
    last = curve.iloc[-1]
    return {
        "network": "paper (AgentParams.paper(): embed_dim 256, batch 512)",
        "task": grid.tasks[0],
        "env_steps": int(last["env_steps"]),
        "train_s": float(last["train_s"]),
        "env_steps_per_s": float(last["env_steps"] / last["train_s"]),
        "wall_s": wall,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }


# ---- reading it --------------------------------------------------------------------------------


@dataclass
class Study:
    """The study as the notebook uses it: one :class:`nasxfer.notebook.Run` per budget."""

    config: BudgetStudyConfig
    budgets: list  # of Budget
    runs: list  # of notebook.Run, one per budget
    speed: dict | None  # measure_speed's record, None if never measured
    not_run: list = field(default_factory=list)  # budgets of the config with no results yet
    params_file: str = ""  # the profile or params file as given, for the command that runs a budget

    @cached_property
    def samples(self) -> dict:
        """train_steps -> :func:`finding_samples` of that budget's run, computed once (the
        statistics and the extrapolation both read them)."""
        return {b.train_steps: finding_samples(run) for b, run in zip(self.budgets, self.runs)}

    def __str__(self) -> str:
        c = self.config
        lines = [
            f"budget study: sources {c.source_tasks}, targets {c.target_tasks}, seeds {self.runs[0].grid.seeds}",
        ]
        for b, r in zip(self.budgets, self.runs):
            g = r.grid
            where = f"{r.results_dir.name}/" + (" (the profile's grid)" if b.main else "")
            lines.append(
                f"  {g.train_steps:>9,} env steps (fine-tune {g.finetune_steps:,}, an evaluation every "
                f"{g.eval_every}): {len(r.results.drop_duplicates(['seed', 'source', 'target']))} runs in {where}"
            )
        for b in self.not_run:
            lines.append(
                f"  {b.train_steps:>9,} env steps: NOT RUN YET, left out of every number below "
                f"(nasxfer budget-study {self.params_file} runs it)"
            )
        return "\n".join(lines)


def open_study(profile=None, *, run_fresh=None, data_dir=None, progress: bool = True) -> Study:
    """Load (after running, with ``run_fresh``) the budget study of a profile."""
    from .notebook import open_run, open_section
    from .profiles import resolve

    profile, where, params, cfg, data_dir, fresh = open_section("budget_study", profile, run_fresh, data_dir)
    if fresh:
        run_study(params, data_dir=data_dir, progress=progress)
    # a budget never started is left out and named (the study grows budget by budget); one
    # started but unfinished is refused by open_run, naming its missing runs
    done = budgets_done(params, cfg)
    not_run = [b for b in cfg.budgets if b not in done]
    if len(done) < 2:
        raise NasxferError(
            f"the budget study of {where} has results for {len(done)} of its {len(cfg.budgets)} budgets; at least "
            f"two are needed: run nasxfer budget-study {where} (or the notebook with -p run_fresh True)"
        )
    runs = [
        open_run(profile, run_fresh=False, results_dir=budget_dir(params, cfg, b), grid=grid_overrides(cfg, b))
        for b in done
    ]
    speed_file = resolve(cfg.results_dir) / SPEED_FILE
    speed = json.loads(speed_file.read_text()) if speed_file.is_file() else None
    return Study(cfg, done, runs, speed, not_run, profile)


# ---- the statistics ----------------------------------------------------------------------------


def _per_target_seed(frame: pd.DataFrame, value: str) -> pd.Series:
    """Mean of `value` over sources, per (target, seed): one sample per scratch agent."""
    return frame.groupby(["target", "seed"])[value].mean()


def finding_samples(run) -> dict:
    """finding -> the samples its statistic is the mean of, for one budget's run."""
    from .stats import catch_ups, gaps_to_scratch

    off = gaps_to_scratch(run.results)
    out = {}
    for regime in ("fine_tune", "retrain"):
        out[f"rq1_{regime}"] = _per_target_seed(off[off.regime == regime], "gap").to_numpy()
    wide = off.pivot_table(index=["source", "target", "seed"], columns="regime", values="final_rank_pct")
    out["rq2"] = _per_target_seed((wide.zero_shot - wide.fine_tune).rename("d").reset_index(), "d").to_numpy()
    cp = catch_ups(run.curves, x="env_steps", **run.scope)
    seeds = {k: sorted(g.seed.unique()) for k, g in run.curves.groupby(["source", "target"])}
    if len(cp):
        # catch_ups numbers a pair's transferred runs in seed order: map each back to its seed
        cp["seed"] = [seeds[(s, t)][i] for s, t, i in zip(cp.source, cp.target, cp.transfer_run)]
        cp["sooner"] = (cp.catch_up.notna() & (cp.catch_up < cp.scratch_x)).astype(float)
        out["rq3"] = _per_target_seed(cp, "sooner").to_numpy()
    else:
        out["rq3"] = np.array([])
    return out


def finding_statistics(study: Study, seed: int = 0) -> pd.DataFrame:
    """Tidy: one row per budget and finding, with mean, CI, n, no-effect value, whether it is
    significant and whether it agrees with the paper (see the module doc)."""
    from .stats import mean_ci

    rows = []
    for b, run in zip(study.budgets, study.runs):
        for name, samples in study.samples[b.train_steps].items():
            label, null, sign = FINDINGS[name]
            s = mean_ci(samples, seed=seed)
            significant = bool(s["n"] >= 2 and (s["ci_low"] > null or s["ci_high"] < null))
            rows.append(
                {
                    "train_steps": b.train_steps,
                    "finetune_steps": run.grid.finetune_steps,
                    "finding": name,
                    "statistic": label,
                    **s,
                    "null": null,
                    "paper_sign": sign,
                    "agrees": bool(np.sign(s["mean"] - null) == sign),
                    "significant": significant,
                    "seeds": len(run.grid.seeds),
                }
            )
    return pd.DataFrame(rows)


def finding_sentences(study: Study) -> pd.DataFrame:
    """The RQ notebooks' own sentences (:mod:`nasxfer.stats`) at every budget, on the study's grid."""
    from .stats import rq1_finding, rq2_finding, rq3_finding

    rows = []
    for b, run in zip(study.budgets, study.runs):
        for name, text in (
            ("rq1_fine_tune", rq1_finding(run.results, "fine_tune", **run.scope)),
            ("rq1_retrain", rq1_finding(run.results, "retrain", **run.scope)),
            ("rq2", rq2_finding(run.results, **run.scope)),
            ("rq3", rq3_finding(run.curves, **run.scope)),
        ):
            rows.append({"train_steps": b.train_steps, "finding": name, "sentence": text})
    return pd.DataFrame(rows)


def _interval(finding: str, mean: float, low: float, high: float) -> str:
    """``mean [low, high]`` in the finding's precision (shares to 2 decimals, points to 1)."""
    fmt = ".2f" if finding == "rq3" else ".1f"
    return f"{mean:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def _state(row) -> str:
    side = "agrees with the paper" if row.agrees else "against the paper"
    return f"{side}, {'significant' if row.significant else 'not significant'}"


def shifts(stats: pd.DataFrame) -> pd.DataFrame:
    """Per finding: its state at each budget and whether its sign or significance changes."""
    rows = []
    for name, g in stats.groupby("finding", sort=False):
        g = g.sort_values("train_steps")
        path = "; ".join(
            f"{r.train_steps:,}: {_interval(name, r['mean'], r.ci_low, r.ci_high)} ({_state(r)})"
            for _, r in g.iterrows()
        )
        sign_changes = g.agrees.nunique() > 1
        sig_changes = g.significant.nunique() > 1
        change = (
            "changes sign and significance"
            if sign_changes and sig_changes
            else "changes sign"
            if sign_changes
            else "changes significance"
            if sig_changes
            else "does not change sign or significance"
        )
        rows.append(
            {
                "finding": name,
                "claim": CLAIMS[name],
                "changes": change,
                "sign_changes": bool(sign_changes),
                "significance_changes": bool(sig_changes),
                "sentence": f"{CLAIMS[name]}: {change} across budgets ({path})",
            }
        )
    return pd.DataFrame(rows)


def study_samples(study: Study) -> dict:
    """train_steps -> :func:`finding_samples` of that budget's run (:attr:`Study.samples`)."""
    return study.samples


def extrapolate(samples: dict, to_steps: int, seed: int = 0, n_boot: int = 2000) -> pd.DataFrame:
    """Per finding: the least-squares line of its mean against log10 of the budget, read at
    `to_steps`, with a 95% percentile interval from refitting the line to bootstrap means
    (each budget's samples resampled, seeded). `samples` is :func:`study_samples`'.

    The interval covers the measurement noise only, not the choice of a straight line: far
    beyond the last budget (``decades_beyond``) the line is a guess. Shares are clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    steps = sorted(samples)
    rows = []
    for name in FINDINGS:
        have = [(n, np.asarray(samples[n][name], float)) for n in steps if len(samples[n].get(name, ()))]
        if len(have) < 2:
            continue
        x = np.log10([n for n, _ in have])
        at = np.log10(to_steps)
        means = np.array([v.mean() for _, v in have])
        slope, icpt = np.polyfit(x, means, 1)
        boot = np.stack([rng.choice(v, (n_boot, len(v))).mean(axis=1) for _, v in have], axis=1)
        fits = np.polynomial.polynomial.polyfit(x, boot.T, 1)  # (2, n_boot): intercepts, slopes
        pred = fits[0] + fits[1] * at
        point = slope * at + icpt
        if name == "rq3":
            pred, point = np.clip(pred, 0, 1), float(np.clip(point, 0, 1))
        _, null, sign = FINDINGS[name]
        rows.append(
            {
                "finding": name,
                "claim": CLAIMS[name],
                "slope_per_decade": float(slope),
                "at_steps": to_steps,
                "decades_beyond": float(at - x.max()),
                "mean": float(point),
                "ci_low": float(np.percentile(pred, 2.5)),
                "ci_high": float(np.percentile(pred, 97.5)),
                "agrees": bool(np.sign(point - null) == sign),
                "points": len(have),
            }
        )
    return pd.DataFrame(rows)


def paper_cost(study: Study, paper_grid, nodes=(1, 4, 16, 64), cpus_per_node: int = 32) -> pd.DataFrame:
    """What the paper's grid (`paper_grid`, e.g. params/paper.yaml's) costs at the paper
    network's measured speed (:func:`measure_speed`): agent-hours and wall time on clusters of
    `nodes` nodes (:func:`nasxfer.grid_cluster.wall_time`)."""
    from .grid_cluster import wall_time

    if study.speed is None:
        raise NasxferError(
            f"no measured speed in {study.config.results_dir}/{SPEED_FILE}: run the study (nasxfer budget-study "
            f"<params>, or the notebook with -p run_fresh True)"
        )
    rate = study.speed["env_steps_per_s"]
    return pd.DataFrame([wall_time(paper_grid, rate, n, cpus_per_node) for n in nodes]).assign(env_steps_per_s=rate)


def laptop_speed(study: Study) -> pd.DataFrame:
    """Each budget's measured training speed (env steps per training second, over its runs)."""
    rows = []
    for b, run in zip(study.budgets, study.runs):
        last = run.curves.sort_values("env_steps").groupby(["seed", "source", "target"]).last()
        rows.append(
            {
                "train_steps": b.train_steps,
                "runs": len(last),
                "env_steps_per_s": float(last.env_steps.sum() / last.train_s.sum()),
                "train_hours": float(last.train_s.sum() / 3600),
            }
        )
    return pd.DataFrame(rows)


PAPER_SAYS = {
    "rq1_fine_tune": "helps in all but one target",
    "rq1_retrain": "helps in all but one target",
    "rq2": "zero-shot weakest",
    "rq3": "most pairs save target training",
}


def findings_table(stats: pd.DataFrame) -> pd.DataFrame:
    """The README's table: one row per finding, the paper's claim, then one column per budget
    with ``mean [CI]`` and a mark: ``+`` agrees with the paper and significant, ``(+)`` agrees,
    not significant, ``(-)`` against, not significant, ``-`` against and significant."""

    def cell(r) -> str:
        mark = ("+" if r.agrees else "-") if r.significant else ("(+)" if r.agrees else "(-)")
        return f"{_interval(r.finding, r['mean'], r.ci_low, r.ci_high)} {mark}"

    wide = stats.assign(cell=stats.apply(cell, axis=1)).pivot(index="finding", columns="train_steps", values="cell")
    wide.columns = [f"{c:,} steps" for c in wide.columns]
    order = [f for f in FINDINGS if f in wide.index]
    out = wide.loc[order].reset_index()
    out.insert(1, "statistic", out.finding.map(lambda f: FINDINGS[f][0]))
    out.insert(2, "paper", out.finding.map(PAPER_SAYS))
    return out

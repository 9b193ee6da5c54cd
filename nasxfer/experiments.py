"""The transfer grid: source tasks x target tasks x seeds, from one params file.

Per seed, one *scratch* agent is trained on every task for ``train_steps`` env
steps; its weights seed a *transfer* agent for every other task, trained on the
target for ``train_steps`` too. One transfer run gives all three regimes, as in
the paper: its evaluation before any target training is **zero-shot**, its
evaluation after ``finetune_steps`` is **fine-tune** (the same run truncated)
and its final one is **retrain**. The diagonal of each matrix is plain training
on the task (the scratch run, at the same budget), never trained twice.

Every run ("unit") writes its training curve to ``parts/<unit>.parquet``
atomically when it finishes; a killed grid resumes at the first unit without a
part and never recomputes a finished agent. :func:`assemble` turns the parts
into the tidy tables ``curves.parquet`` and ``results.parquet`` (plus CSV copies)
next to ``config.json`` (the params, the package version).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from .benchmark import NB201_TASKS, PAPER_TASKS, TRANSNAS_TASKS, canonical_name
from .errors import NasxferError, unknown
from .profiles import grid_config

REGIMES = ("zero_shot", "fine_tune", "retrain")


@dataclass
class GridConfig:
    """The grid to run; ``agent`` holds AgentParams overrides (e.g. ``preset: laptop``)."""

    run_name: str = "laptop"
    benchmark: str = "transnas-bench-101"
    source_tasks: list = field(default_factory=lambda: list(PAPER_TASKS))
    target_tasks: list = field(default_factory=lambda: list(PAPER_TASKS))
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    train_steps: int = 20_000
    finetune_steps: int = 5_000
    eval_every: int = 1_000
    eval_episodes: int = 100
    agent: dict = field(default_factory=lambda: {"preset": "laptop"})

    def __post_init__(self):
        try:
            bench = canonical_name(self.benchmark)
        except NasxferError as e:
            raise NasxferError(f"grid.benchmark: {e}") from None
        known = TRANSNAS_TASKS if bench == "transnas-bench-101" else NB201_TASKS
        for key in ("source_tasks", "target_tasks"):
            tasks = getattr(self, key)
            if not isinstance(tasks, list) or not tasks:
                raise NasxferError(f"grid.{key} must be a non-empty list of task names, got {tasks!r}")
            for t in tasks:
                if t not in known:
                    raise unknown(f"task in grid.{key}", t, known)
        if not isinstance(self.seeds, list) or not self.seeds or not all(isinstance(s, int) and s >= 0 for s in self.seeds):
            raise NasxferError(f"grid.seeds must be a non-empty list of integers >= 0, got {self.seeds!r}")
        for key in ("train_steps", "finetune_steps", "eval_every", "eval_episodes"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise NasxferError(f"grid.{key} must be an integer >= 1, got {v!r}")
        if self.finetune_steps > self.train_steps:
            raise NasxferError(
                f"grid.finetune_steps ({self.finetune_steps}) exceeds grid.train_steps ({self.train_steps}): "
                f"fine-tuning is the transfer run truncated, so it must be shorter"
            )
        if self.finetune_steps % self.eval_every:
            raise NasxferError(
                f"grid.finetune_steps ({self.finetune_steps}) must be a multiple of grid.eval_every "
                f"({self.eval_every}) so that the run is evaluated at the fine-tune budget"
            )
        if not isinstance(self.agent, dict):
            raise NasxferError(f"grid.agent must be a mapping of agent parameters, got {self.agent!r}")
        self.agent_params("class_object" if bench == "transnas-bench-101" else "cifar10", 0)  # validates agent keys

    @property
    def tasks(self) -> list:
        return list(dict.fromkeys([*self.source_tasks, *self.target_tasks]))

    def agent_params(self, task: str, seed: int):
        from .agent.params import AgentParams

        return AgentParams.from_dict(
            {
                **self.agent,
                "benchmark": self.benchmark,
                "task": task,
                "seed": seed,
                "total_env_steps": self.train_steps,
                "eval_every": self.eval_every,
                "eval_episodes": self.eval_episodes,
                "progress": False,
            }
        )

    def units(self) -> list["Unit"]:
        """Scratch runs first (their weights feed the transfers), seed by seed."""
        out = []
        for seed in self.seeds:
            out += [Unit(seed, t, t) for t in self.tasks]
            out += [Unit(seed, s, t) for s in self.source_tasks for t in self.target_tasks if s != t]
        return out


@dataclass(frozen=True)
class Unit:
    seed: int
    source: str
    target: str

    @property
    def scratch(self) -> bool:
        return self.source == self.target

    @property
    def name(self) -> str:
        return f"seed{self.seed}-scratch-{self.target}" if self.scratch else f"seed{self.seed}-{self.source}-to-{self.target}"


# ---- atomic writes ---------------------------------------------------------------------------


def write_atomic(df: pd.DataFrame, path: Path) -> Path:
    """Write parquet or CSV (by suffix) to a temp file in the same folder, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False) if path.suffix == ".parquet" else df.to_csv(tmp, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json_atomic(obj, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)
    return path


# ---- running ---------------------------------------------------------------------------------


def run_grid(grid, results_dir, data_dir=None, progress: bool = True) -> Path:
    """Run every unit of `grid` not yet finished in `results_dir`, then :func:`assemble`."""
    from tqdm.auto import tqdm

    from . import __version__

    grid = grid_config(grid)
    results_dir = Path(results_dir)
    config = {"grid": asdict(grid), "nasxfer_version": __version__}
    cfg_path = results_dir / "config.json"
    if cfg_path.is_file():
        old = json.loads(cfg_path.read_text())
        if old.get("grid") != config["grid"]:
            raise NasxferError(
                f"{results_dir} holds a grid run with another configuration: resume it with the same params "
                f"file, or pick a new results directory (run_name)"
            )
    write_json_atomic(config, cfg_path)
    todo = [u for u in grid.units() if not (results_dir / "parts" / f"{u.name}.parquet").is_file()]
    units = grid.units()
    bar = tqdm(total=len(units), initial=len(units) - len(todo), desc=f"grid {grid.run_name}", unit="agent", disable=not progress)
    for unit in todo:
        bar.set_postfix_str(unit.name)
        run_unit(grid, unit, results_dir, data_dir)
        bar.update(1)
    bar.close()
    assemble(results_dir)
    return results_dir


def checkpoint_dir(results_dir: Path, seed: int, task: str) -> Path:
    return Path(results_dir) / "checkpoints" / f"seed{seed}-{task}"


def run_unit(grid: GridConfig, unit: Unit, results_dir, data_dir=None) -> pd.DataFrame:
    """Train one agent (scratch, or transferred from its source's checkpoint) and save its curve."""
    from .agent.train import Agent

    params = grid.agent_params(unit.target, unit.seed)
    if data_dir is not None:
        params = params.replace(data_dir=str(data_dir))
    agent = Agent(params)
    try:
        if not unit.scratch:
            agent.load_weights(checkpoint_dir(results_dir, unit.seed, unit.source))
        curve = agent.train().copy()
        floor = agent.random_walk() if unit.scratch else None
        if unit.scratch:
            agent.save_weights(checkpoint_dir(results_dir, unit.seed, unit.target))
    finally:
        agent.stop()
    curve.insert(0, "run_name", grid.run_name)
    curve.insert(1, "seed", unit.seed)
    curve.insert(2, "source", unit.source)
    curve.insert(3, "target", unit.target)
    curve.insert(4, "kind", "scratch" if unit.scratch else "transfer")
    if floor is not None:
        curve["random_walk_final_test"] = floor["final_test"]
    write_atomic(curve, Path(results_dir) / "parts" / f"{unit.name}.parquet")
    return curve


# ---- the tidy tables -------------------------------------------------------------------------


def assemble(results_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate the parts into ``curves`` and derive ``results`` (one row per regime)."""
    results_dir = Path(results_dir)
    grid = grid_config(json.loads((results_dir / "config.json").read_text())["grid"])
    parts = sorted((results_dir / "parts").glob("*.parquet"))
    if not parts:
        raise NasxferError(f"{results_dir} has no finished runs yet: run the grid first")
    curves = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    results = regime_table(curves, grid)
    for name, df in (("curves", curves), ("results", results)):
        write_atomic(df, results_dir / f"{name}.parquet")
        write_atomic(df, results_dir / f"{name}.csv")
    return curves, results


def _at(curve: pd.DataFrame, steps: int) -> pd.Series:
    """The first evaluation at or after `steps` env steps (RLlib overshoots by a sampling round)."""
    hit = curve[curve.env_steps >= steps]
    return hit.iloc[0] if len(hit) else curve.iloc[-1]


METRIC_COLUMNS = ("final_test", "final_rank_pct", "best_test", "n_unique", "ret")


def regime_table(curves: pd.DataFrame, grid: GridConfig) -> pd.DataFrame:
    """One row per (seed, source, target, regime) with the evaluation at that regime's budget.

    Off the diagonal: zero_shot = transfer run before target training, fine_tune = at
    ``finetune_steps``, retrain = at ``train_steps``. On the diagonal (source == target):
    the scratch run at the same budgets (zero_shot: the fully trained agent on its own task).
    """
    rows = []
    for (seed, source, target, kind), c in curves.groupby(["seed", "source", "target", "kind"], sort=False):
        c = c.sort_values("env_steps")
        picks = {
            "zero_shot": c.iloc[0] if kind == "transfer" else c.iloc[-1],
            "fine_tune": _at(c, grid.finetune_steps),
            "retrain": c.iloc[-1],
        }
        for regime, r in picks.items():
            rows.append(
                {
                    "run_name": grid.run_name,
                    "seed": seed,
                    "source": source,
                    "target": target,
                    "regime": regime,
                    "kind": kind,
                    "env_steps": int(r.env_steps),
                    "train_s": float(r.train_s),
                    **{m: float(r[m]) for m in METRIC_COLUMNS if m in r},
                }
            )
    return pd.DataFrame(rows)


def load_results(results_dir) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(curves, results, config) of a finished grid."""
    results_dir = Path(results_dir)
    if not (results_dir / "results.parquet").is_file():
        raise NasxferError(f"{results_dir} has no results.parquet: run the grid (nasxfer grid <params.yaml>) first")
    config = json.loads((results_dir / "config.json").read_text())
    return pd.read_parquet(results_dir / "curves.parquet"), pd.read_parquet(results_dir / "results.parquet"), config

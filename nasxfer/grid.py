"""The grid to run: which source and target tasks, seeds and budgets (:class:`GridConfig`),
and its units of work (:class:`Unit`: one agent trained from scratch or transferred).

A params file's ``grid:`` section becomes a GridConfig through :func:`grid_config`;
:mod:`nasxfer.experiments` runs it.

**How often a run is evaluated.** The paper smooths every training curve with a moving
average of :data:`SMOOTHING_WINDOW` (16) evaluations. For that window to be a small part of
a run (at most :data:`MAX_WINDOW_SHARE`, 15%), a run needs at least :data:`MIN_EVALUATIONS`
(107) evaluations. An agent is evaluated after the first sampling round that ends at least
``eval_every`` env steps after the previous evaluation. A round asks each runner for
``num_envs_per_env_runner x rollout_fragment_length`` env steps; RLlib steps all of a runner's
envs at once (slots that reset a finished episode do not count) until it has them, so a round
counts between ``round = max(num_env_runners, 1) x num_envs_per_env_runner x
rollout_fragment_length`` and ``round + max(num_env_runners, 1) x (num_envs_per_env_runner - 1)``
env steps (measured: 64 to 71 in the laptop preset's rounds of 8 envs x 8 steps). Two
evaluations are therefore at most ``eval_every - 1 +`` that maximum apart, or only the maximum
when no round is shorter than ``eval_every`` (then every round ends with one), and a run of
``train_steps`` has at least ``1 + train_steps //`` that gap evaluations: the count checked
here. A grid with fewer is allowed (a run made before this rule must still render) but warned
about (:class:`EvalFrequencyWarning`), with the ``eval_every`` that would do.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields

from .benchmark import BENCHMARKS, PAPER_TASKS, canonical_name, task_names
from .errors import NasxferError, check_int, is_int, unknown

REGIMES = ("zero_shot", "fine_tune", "retrain")
TASK_SEP = "/"  # between a benchmark and its task: "nas-bench-201/cifar100"

SMOOTHING_WINDOW = 16  # the paper's moving average, in evaluations
MAX_WINDOW_SHARE = 0.15  # of a run's evaluations the window may span
MIN_EVALUATIONS = math.ceil(SMOOTHING_WINDOW / MAX_WINDOW_SHARE)  # 107


class EvalFrequencyWarning(UserWarning):
    """A grid evaluates its runs too rarely for the paper's smoothing window (see the module doc)."""


@dataclass
class GridConfig:
    """The grid to run; ``agent`` holds AgentParams overrides (e.g. ``preset: laptop``)."""

    run_name: str = "laptop"
    benchmark: str = "transnas-bench-101"
    source_tasks: list = field(default_factory=lambda: list(PAPER_TASKS))
    target_tasks: list = field(default_factory=lambda: list(PAPER_TASKS))
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    train_steps: int = 60_000
    finetune_steps: int = 6_000  # the paper's ratio: 1e6 of fine-tuning after 1e7
    eval_every: int = 400  # >= 128 evaluations per run with the laptop preset's rounds of 64-71 env steps
    eval_episodes: int = 100
    agent: dict = field(default_factory=lambda: {"preset": "laptop"})

    def __post_init__(self):
        try:
            bench = canonical_name(self.benchmark)
        except NasxferError as e:
            raise NasxferError(f"grid.benchmark: {e}") from None
        self.benchmark = bench
        for key in ("source_tasks", "target_tasks"):
            tasks = getattr(self, key)
            if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
                raise NasxferError(f"grid.{key} must be a non-empty list of task names, got {tasks!r}")
            setattr(self, key, [canonical_task(t, bench, where=f"task in grid.{key}") for t in tasks])
        if not isinstance(self.seeds, list) or not self.seeds or not all(is_int(s, 0) for s in self.seeds):
            raise NasxferError(f"grid.seeds must be a non-empty list of integers >= 0, got {self.seeds!r}")
        for key in ("train_steps", "finetune_steps", "eval_every", "eval_episodes"):
            check_int(getattr(self, key), f"grid.{key}", 1)
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
        self.agent_params(self.tasks[0], 0)  # validates agent keys
        problem = self.eval_frequency_problem()
        if problem:
            warnings.warn(problem, EvalFrequencyWarning, stacklevel=3)

    @property
    def sampling_round(self) -> int:
        """Env steps one sampling round of the agent asks for: the finest step evaluations can take."""
        p = self._layout()
        return max(p.num_env_runners, 1) * p.num_envs_per_env_runner * p.rollout_fragment_length

    @property
    def max_sampling_round(self) -> int:
        """The most env steps one sampling round can count (see the module doc)."""
        p = self._layout()
        return self.sampling_round + max(p.num_env_runners, 1) * (p.num_envs_per_env_runner - 1)

    def _layout(self):
        return self.agent_params(self.tasks[0], 0)

    def evaluations_per_run(self, eval_every: int | None = None) -> int:
        """The fewest evaluations one run of ``train_steps`` can have (the one before training
        included), with evaluations at most ``eval_every - 1 + max_sampling_round`` env steps apart,
        or ``max_sampling_round`` when every round ends with one (see the module doc)."""
        every = self.eval_every if eval_every is None else eval_every
        gap = self.max_sampling_round if every <= self.sampling_round else every - 1 + self.max_sampling_round
        return 1 + self.train_steps // gap

    def eval_frequency_problem(self) -> str | None:
        """Why this grid's runs are evaluated too rarely for the smoothing window, and the fix; None if they are not."""
        n = self.evaluations_per_run()
        if n >= MIN_EVALUATIONS:
            return None
        r = self.max_sampling_round
        head = (
            f"grid.eval_every {self.eval_every} gives as few as {n} evaluations per run of {self.train_steps} env "
            f"steps (sampling rounds of up to {r} env steps), so the moving average of {SMOOTHING_WINDOW} evaluations spans "
            f"{SMOOTHING_WINDOW / n:.0%} of a run; at most {MAX_WINDOW_SHARE:.0%} needs >= {MIN_EVALUATIONS} evaluations"
        )
        fits = [d for d in range(self.finetune_steps, 0, -1) if self.finetune_steps % d == 0]
        fits = [d for d in fits if self.evaluations_per_run(d) >= MIN_EVALUATIONS]
        if fits:
            return f"{head}: set grid.eval_every to {fits[0]} or less (a divisor of grid.finetune_steps {self.finetune_steps})"
        return (
            f"{head}: no eval_every gets there with rounds of {r} env steps; raise grid.train_steps to >= "
            f"{(MIN_EVALUATIONS - 1) * r} or shrink the round (agent num_env_runners x num_envs_per_env_runner "
            f"x rollout_fragment_length)"
        )

    @property
    def tasks(self) -> list:
        return list(dict.fromkeys([*self.source_tasks, *self.target_tasks]))

    @property
    def benchmarks(self) -> list:
        """Every benchmark the grid's tasks are on, its own first."""
        return list(dict.fromkeys([self.benchmark, *(task_ref(t, self.benchmark)[0] for t in self.tasks)]))

    def task_ref(self, task: str) -> tuple[str, str]:
        """(benchmark, task) of one of this grid's task names."""
        return task_ref(task, self.benchmark)

    def agent_params(self, task: str, seed: int):
        """The AgentParams of one agent: `task` (a grid task name) on its own benchmark."""
        from .agent.params import AgentParams

        bench, name = self.task_ref(task)
        return AgentParams.from_dict(
            {
                **self.agent,
                "benchmark": bench,
                "task": name,
                "seed": seed,
                "total_env_steps": self.train_steps,
                "eval_every": self.eval_every,
                "eval_episodes": self.eval_episodes,
                "progress": False,
            }
        )

    def units(self) -> list[Unit]:
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
        source, target = file_name(self.source), file_name(self.target)
        return f"seed{self.seed}-scratch-{target}" if self.scratch else f"seed{self.seed}-{source}-to-{target}"


def task_ref(task: str, default_benchmark: str) -> tuple[str, str]:
    """(canonical benchmark, task) of a grid task name: ``"cifar100"`` is a task of
    `default_benchmark`, ``"nas-bench-201/cifar100"`` (any accepted benchmark spelling) of the
    benchmark it names. Unknown benchmarks raise with the list; the task itself is not checked
    here (:func:`canonical_task` does)."""
    if TASK_SEP in task:
        bench, name = task.split(TASK_SEP, 1)
        return canonical_name(bench), name
    return canonical_name(default_benchmark), task


def canonical_task(task: str, default_benchmark: str, where: str = "task") -> str:
    """`task` as a grid names it: bare on `default_benchmark`, ``<benchmark>/<task>`` on another;
    an unknown benchmark or task raises, naming what there is."""
    try:
        bench, name = task_ref(task, default_benchmark)
    except NasxferError as e:
        raise NasxferError(f"{where} {task!r}: {e}") from None
    known = task_names(bench)
    if name not in known:
        others = (
            []
            if bench != canonical_name(default_benchmark)
            else [f"{b}{TASK_SEP}{t}" for b in BENCHMARKS if b != bench for t in task_names(b)]
        )
        raise unknown(where, task, [*known, *others])
    return name if bench == canonical_name(default_benchmark) else f"{bench}{TASK_SEP}{name}"


def file_name(task: str) -> str:
    """A grid task name as part of a file name: the benchmark's ``/`` becomes ``.``."""
    return task.replace(TASK_SEP, ".")


def grid_config(d, where: str = "grid"):
    """A :class:`GridConfig` from a mapping, refusing unknown keys by name."""
    if isinstance(d, GridConfig):
        return d
    if not isinstance(d, dict):
        raise NasxferError(f"{where}: grid must be a mapping, got {type(d).__name__}")
    names = {f.name for f in fields(GridConfig)}
    bad = [k for k in d if k not in names]
    if bad:
        raise NasxferError(f"{where}: unknown grid key(s) {bad}; valid keys: {sorted(names)}")
    return GridConfig(**d)


def recorded_eval_every(profile=None, grid=None, results_dir=None):
    """The `grid` overrides to read a results folder with: `grid` plus the ``eval_every`` the
    folder's run was made with, when that differs from the profile's and `grid` does not set it.

    A run made before the profile's evaluation frequency changed (the checked-in ``laptop``
    run: an evaluation every 1,000 env steps) stays readable: it is read as it was made, and
    its smoothing is reported as too coarse (:func:`nasxfer.stats.smoothing_span`) instead of
    the run being refused as another grid. Arguments as :func:`nasxfer.notebook.open_run`'s.
    """
    import json

    from .notebook import default_profile
    from .profiles import check_parameter, load_params, params_path, resolve

    check_parameter("grid", grid)
    if grid is not None and "eval_every" in grid:
        return grid
    profile = default_profile() if profile is None else check_parameter("profile", profile)
    params = load_params(params_path(profile))
    folder = resolve(check_parameter("results_dir", results_dir)) if results_dir is not None else params["results_dir"]
    try:
        made = json.loads((folder / "config.json").read_text())["grid"]["eval_every"]
    except (OSError, ValueError, KeyError, TypeError):
        return grid  # no run there yet (or not one of ours): nothing to match
    if made == params["grid"].eval_every:
        return grid
    return {**(grid or {}), "eval_every": made}

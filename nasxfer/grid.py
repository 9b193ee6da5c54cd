"""The grid to run: which source and target tasks, seeds and budgets (:class:`GridConfig`),
and its units of work (:class:`Unit`: one agent trained from scratch or transferred).

A params file's ``grid:`` section becomes a GridConfig through :func:`grid_config`;
:mod:`nasxfer.experiments` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .benchmark import PAPER_TASKS, canonical_name, task_names
from .errors import NasxferError, check_int, is_int, unknown

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
        known = task_names(bench)
        for key in ("source_tasks", "target_tasks"):
            tasks = getattr(self, key)
            if not isinstance(tasks, list) or not tasks:
                raise NasxferError(f"grid.{key} must be a non-empty list of task names, got {tasks!r}")
            for t in tasks:
                if t not in known:
                    raise unknown(f"task in grid.{key}", t, known)
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
        return (
            f"seed{self.seed}-scratch-{self.target}"
            if self.scratch
            else f"seed{self.seed}-{self.source}-to-{self.target}"
        )


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

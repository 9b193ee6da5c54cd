"""The reward-definition study: ``improvement`` against ``level`` (see :mod:`nasxfer.env`).

Trains one agent per (seed, task, reward) from scratch, every other setting as the params
file's agent preset (the laptop profile by default), and keeps each run's training curve:
greedy evaluations from the same fixed start cells, with the test metric of the final cell
(``final_test``), its rank percentile, the best cell seen and the episode length. The
question it answers: does the agent end its episodes on better cells when each step pays
the level of the cell reached, as the paper's wording implies, or its improvement?

A study lives in a folder: ``parts/<run>.parquet`` (one per run, written atomically when the
run finishes, recording the settings it was made with), ``curves.csv`` (all finished runs,
tidy: one row per run and evaluation) and ``config.json``. Running again resumes: finished
runs whose record matches are kept; a folder made with other settings is refused, naming
them. Runs go seed by seed, so a study stopped early holds whole seeds of every arm first.

``python -m nasxfer.reward_study outputs/reward_definition`` runs the checked-in study
(2 tasks x 2 rewards x 3 seeds, laptop profile: about 12 laptop agents).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from .env import REWARDS
from .errors import NasxferError, check_int, is_int

STUDY_TASKS = ("segmentsemantic", "room_layout")
"""the shaped task (mIoU, the paper's gamma 0.478) and the negative-loss one (min-max, unshaped)"""
CURVE_COLUMNS = ("env_steps", "updates", "train_s", "final_test", "final_rank_pct", "best_test", "length", "ret")
RECORD_KEY = "nasxfer"


@dataclass
class StudyConfig:
    """What a study runs; `agent` holds AgentParams overrides (a preset and any fields)."""

    tasks: list = field(default_factory=lambda: list(STUDY_TASKS))
    rewards: list = field(default_factory=lambda: list(REWARDS))
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    train_steps: int = 20_000
    eval_every: int = 1_000
    eval_episodes: int = 100
    agent: dict = field(default_factory=lambda: {"preset": "laptop"})

    def __post_init__(self):
        for r in self.rewards:
            if r not in REWARDS:
                raise NasxferError(f"unknown reward {r!r} in the study: choose from {list(REWARDS)}")
        if not self.seeds or not all(is_int(s, 0) for s in self.seeds):
            raise NasxferError(f"study seeds must be a non-empty list of integers >= 0, got {self.seeds!r}")
        for key in ("train_steps", "eval_every", "eval_episodes"):
            check_int(getattr(self, key), f"study {key}", 1)
        for t in self.tasks:
            self.params(t, self.rewards[0], self.seeds[0])  # validates tasks and agent keys

    def params(self, task: str, reward: str, seed: int):
        from .agent.params import AgentParams

        return AgentParams.from_dict(
            {
                **self.agent,
                "task": task,
                "reward": reward,
                "seed": seed,
                "total_env_steps": self.train_steps,
                "eval_every": self.eval_every,
                "eval_episodes": self.eval_episodes,
                "progress": False,
            }
        )

    def runs(self) -> list[tuple[int, str, str]]:
        """(seed, task, reward), seed by seed."""
        return [(s, t, r) for s in self.seeds for t in self.tasks for r in self.rewards]


def run_name(seed: int, task: str, reward: str) -> str:
    return f"seed{seed}-{task}-{reward}"


def _record(config: StudyConfig, params) -> dict:
    from . import __version__
    from .experiments import RUNTIME_KEYS

    agent = {k: v for k, v in params.to_dict().items() if k not in RUNTIME_KEYS}
    return {"study": asdict(config), "agent": agent, "nasxfer_version": __version__}


def _read_part(path: Path) -> tuple[pd.DataFrame, dict]:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
        return pd.read_parquet(path), json.loads(meta[RECORD_KEY.encode()])
    except Exception as e:  # noqa: BLE001 - pyarrow's errors do not name the file
        raise NasxferError(
            f"{path} does not read back ({type(e).__name__}): delete it and run the study again"
        ) from None


def _check_config(config: StudyConfig, results_dir: Path) -> None:
    path = results_dir / "config.json"
    if not path.is_file():
        return
    old = json.loads(path.read_text()).get("study", {})
    now = asdict(config)
    diffs = [f"{k}: folder {old.get(k)!r}, asked {now[k]!r}" for k in now if old.get(k) != now[k]]
    if diffs:
        raise NasxferError(
            f"{results_dir} holds a reward study with other settings ({'; '.join(diffs)}): run it with its own "
            f"settings to resume, or pick another folder"
        )


def run_study(
    config: StudyConfig, results_dir, data_dir=None, ray_temp_dir=None, progress: bool = True
) -> pd.DataFrame:
    """Train every run of `config` that `results_dir` lacks, then write ``curves.csv``; returns the curves.

    `data_dir` and `ray_temp_dir` say where the run happens (not recorded as settings)."""
    from tqdm.auto import tqdm

    from .agent.agent import Agent
    from .interrupt import reinstall
    from .io import remove_stale_temps, write_atomic, write_json_atomic
    from .runlock import RunLock

    results_dir = Path(results_dir)
    with RunLock(results_dir):
        _check_config(config, results_dir)
        parts = results_dir / "parts"
        parts.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(parts)
        write_json_atomic(study_record(config), results_dir / "config.json")
        todo = []
        for seed, task, reward in config.runs():
            path = parts / f"{run_name(seed, task, reward)}.parquet"
            params = config.params(task, reward, seed)
            if path.is_file():
                _, record = _read_part(path)
                if record["agent"] == _record(config, params)["agent"]:
                    continue
            todo.append((seed, task, reward))
        for seed, task, reward in tqdm(todo, desc="reward study", unit="agent", disable=not progress):
            params = config.params(task, reward, seed)
            if data_dir is not None or ray_temp_dir is not None:
                params = params.replace(
                    data_dir=data_dir and str(data_dir), ray_temp_dir=ray_temp_dir and str(ray_temp_dir)
                )
            agent = Agent(params)
            reinstall()
            try:
                curve = agent.train().copy()
            finally:
                agent.stop()
            curve = curve[list(CURVE_COLUMNS)]
            curve.insert(0, "seed", seed)
            curve.insert(1, "task", task)
            curve.insert(2, "reward", reward)
            write_atomic(
                curve,
                parts / f"{run_name(seed, task, reward)}.parquet",
                metadata={RECORD_KEY: json.dumps(_record(config, params), default=str)},
            )
            assemble(config, results_dir)  # the table holds every finished run, should the study stop
        return assemble(config, results_dir)


def study_record(config: StudyConfig) -> dict:
    from . import __version__

    return {"study": asdict(config), "nasxfer_version": __version__}


def assemble(config: StudyConfig, results_dir) -> pd.DataFrame:
    """``curves.csv`` from the finished parts of `config`'s runs (atomically)."""
    from .io import write_atomic

    results_dir = Path(results_dir)
    frames = []
    for seed, task, reward in config.runs():
        path = results_dir / "parts" / f"{run_name(seed, task, reward)}.parquet"
        if path.is_file():
            frames.append(_read_part(path)[0])
    if not frames:
        raise NasxferError(f"{results_dir} holds no finished run: run python -m nasxfer.reward_study {results_dir}")
    curves = pd.concat(frames, ignore_index=True)
    write_atomic(curves, results_dir / "curves.csv")
    return curves


def load_study(results_dir) -> tuple[pd.DataFrame, StudyConfig]:
    """(curves, config) of a saved study."""
    results_dir = Path(results_dir)
    path = results_dir / "curves.csv"
    if not path.is_file():
        raise NasxferError(
            f"no reward study at {path}: run python -m nasxfer.reward_study {results_dir} (or run_fresh=True)"
        )
    config = StudyConfig(**json.loads((results_dir / "config.json").read_text())["study"])
    return pd.read_csv(path), config


def missing_runs(curves: pd.DataFrame, config: StudyConfig) -> list[str]:
    """The runs of `config` that `curves` lacks or holds only in part (not to ``train_steps``)."""
    last = curves.groupby(["seed", "task", "reward"])["env_steps"].max()
    return [
        run_name(s, t, r)
        for s, t, r in config.runs()
        if (s, t, r) not in last.index or last[(s, t, r)] < config.train_steps
    ]


def final_quality(curves: pd.DataFrame, value: str = "final_test") -> pd.DataFrame:
    """Per task and reward: mean, std and 95% bootstrap CI over seeds of `value` at the end of
    training, beside the untrained network's and the best evaluation's (mean over seeds)."""
    from .stats import summarise

    g = curves.sort_values("env_steps").groupby(["task", "reward", "seed"])
    per_run = pd.DataFrame(
        {
            "untrained": g[value].first(),
            "final": g[value].last(),
            "best_eval": g[value].max(),
            "final_length": g["length"].last(),
        }
    ).reset_index()
    table = summarise(per_run, ["task", "reward"], "final")
    extra = per_run.groupby(["task", "reward"])[["untrained", "best_eval", "final_length"]].mean().reset_index()
    return table.merge(extra, on=["task", "reward"])


def learning_curves(curves: pd.DataFrame, value: str = "final_test") -> pd.DataFrame:
    """Mean and 95% bootstrap CI over seeds of `value` at each evaluation, per task and reward."""
    from .stats import summarise

    df = curves.sort_values("env_steps").copy()
    df["eval_index"] = df.groupby(["task", "reward", "seed"]).cumcount()
    bands = summarise(df, ["task", "reward", "eval_index"], value)
    steps = df.groupby(["task", "reward", "eval_index"])["env_steps"].mean().reset_index()
    return bands.merge(steps, on=["task", "reward", "eval_index"])


def verdicts(quality: pd.DataFrame) -> list[str]:
    """One sentence per task from :func:`final_quality`: which reward's agents end on better
    cells, and whether the 95% intervals of the two means overlap."""
    out = []
    for task, g in quality.groupby("task", sort=False):
        g = g.set_index("reward")
        if not set(REWARDS) <= set(g.index):
            out.append(f"{task}: only {sorted(g.index)} finished, no comparison")
            continue
        a, b = g.loc["level"], g.loc["improvement"]
        better = "level" if a["mean"] > b["mean"] else "improvement"
        apart = a.ci_low > b.ci_high or b.ci_low > a.ci_high
        if min(a.n, b.n) < 2:  # one seed has no interval: a difference of one run is no finding
            said = "fewer than 2 seeds, no interval and no verdict"
        else:
            said = f"{better} higher, " + ("95% CIs apart" if apart else "95% CIs overlap (no difference shown)")
        out.append(
            f"{task}: final cell {a['mean']:.4g} (level) vs {b['mean']:.4g} (improvement), n = {int(a.n)} / "
            f"{int(b.n)} seeds: {said}; episodes end after {a.final_length:.1f} vs {b.final_length:.1f} steps"
        )
    return out


def config_from_params(params_file, tasks=STUDY_TASKS, seeds=(0, 1, 2), train_steps=None) -> StudyConfig:
    """A study of `tasks` x both rewards x `seeds` with the agent, budget and evaluation of a params file."""
    from .profiles import load_params, resolve

    grid = load_params(resolve(params_file))["grid"]
    return StudyConfig(
        tasks=list(tasks),
        seeds=list(seeds),
        train_steps=train_steps or grid.train_steps,
        eval_every=grid.eval_every,
        eval_episodes=grid.eval_episodes,
        agent=dict(grid.agent),
    )


def main(argv=None) -> None:
    """``python -m nasxfer.reward_study RESULTS_DIR [--params PARAMS] [--seeds ...] [--tasks ...]``."""
    import argparse

    from .profiles import resolve

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results_dir")
    ap.add_argument("--params", default="params/laptop.yaml", help="params file whose grid.agent the agents use")
    ap.add_argument("--tasks", nargs="+", default=list(STUDY_TASKS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--train-steps", type=int, default=None, help="default: the params file's train_steps")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--ray-temp-dir", default=None, help="local Ray's session folder (default: see AgentParams)")
    args = ap.parse_args(argv)
    config = config_from_params(args.params, args.tasks, args.seeds, args.train_steps)
    curves = run_study(config, resolve(args.results_dir), data_dir=args.data_dir, ray_temp_dir=args.ray_temp_dir)
    print(final_quality(curves).to_string(index=False))
    print("\n".join(verdicts(final_quality(curves))))


if __name__ == "__main__":
    main()

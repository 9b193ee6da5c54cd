"""Stability benchmark: does a laptop agent keep what it learns, on every TransNAS-Bench-101 task?

Trains one ``laptop`` agent per task and seed (default: all 7 tasks x seeds 0 1 2, 20,000 env
steps, a greedy evaluation every 1,000) and reads its training curve. The score is the mean
final test metric of the greedy episodes from the 100 fixed start cells (``final_test``, the
task's own unit). Per agent:

* ``untrained``: the score before any update (the curve's first row);
* ``best``: the best score of any evaluation; ``final``: the score of the last one;
* ``kept``: ``(final - untrained) / (best - untrained)``, the share of the best gain kept at the end;
* ``max_drop``: the largest fall between two consecutive evaluations.

A task passes when, over its seeds, the mean final score is not below the mean untrained score
and the seeds together keep at least ``--min-kept`` (default 50%) of their best gain:
``sum(final - untrained) / sum(best - untrained) >= min_kept``.

Reward shaping is the paper's (every profile's default): segmentsemantic gamma 0.478, no shaping on
the other tasks; ``--shaping preset`` takes the preset's own instead. ``--set key=value``
overrides any agent parameter (e.g. the values before the fix:
``--set lr=5e-4 target_update_freq=1000``).

    nice -n 10 python benchmarks/bench_stability.py                         # 21 agents, ~1.5 min each
    python benchmarks/bench_stability.py --tasks jigsaw --seeds 0 --steps 5000   # a smoke run

Results go to ``--out`` (default ``outputs/stability/``): ``curves.csv`` (one row per
evaluation) and ``summary.csv`` (one row per agent), each rewritten atomically after every
agent. A rerun with the same settings keeps the agents already in ``curves.csv`` and trains
only the missing ones; other settings in the same folder are refused (use another ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# the three tasks outside the paper first: an interrupted run has covered them
TASKS = ("class_scene", "jigsaw", "normal", "class_object", "room_layout", "segmentsemantic", "autoencoder")
PAPER_SHAPING = {"segmentsemantic": dict(shaping="gamma", shaping_param=0.478)}
NO_SHAPING = dict(shaping="none")
CURVE_COLS = ("env_steps", "updates", "train_s", "final_test", "final_rank_pct", "length", "ret")


def agent_params(task: str, seed: int, steps: int, eval_every: int, shaping: str, overrides: dict, data_dir=None):
    """The laptop AgentParams of one agent of the benchmark."""
    from nasxfer.agent.params import AgentParams

    kw = dict(PAPER_SHAPING.get(task, NO_SHAPING)) if shaping == "paper" else {}
    kw.update(overrides)
    return AgentParams.laptop(
        task=task, seed=seed, total_env_steps=steps, eval_every=eval_every, progress=False, data_dir=data_dir, **kw
    )


def start_ray(params, tries: int = 5):
    """Start the local Ray the agents share, retrying: on a loaded machine Ray's node can miss
    its fixed 30 s start-up window ("The current node timed out during startup")."""
    import ray

    from nasxfer.agent.ray_runtime import init_ray

    for i in range(tries):
        try:
            return init_ray(params)
        except Exception as e:  # noqa: BLE001 - Ray raises a bare Exception for this
            if "timed out during startup" not in str(e) or i == tries - 1:
                raise
            ray.shutdown()
            print(f"Ray did not start in time (try {i + 1} of {tries}); retrying", file=sys.stderr, flush=True)
            time.sleep(10)


def train_curve(params):
    """Train one agent for ``params.total_env_steps`` and return its curve (CURVE_COLS)."""
    from nasxfer.agent.agent import Agent

    start_ray(params)
    with Agent(params) as agent:
        curve = agent.train()
    return curve[list(CURVE_COLS)].copy()


def agent_summary(curve):
    """untrained, best, final, kept, max_drop of one agent's curve (rows in env-step order)."""
    s = curve.sort_values("env_steps")["final_test"].to_numpy()
    untrained, best, final = float(s[0]), float(s.max()), float(s[-1])
    gain = best - untrained
    return dict(
        untrained=untrained,
        best=best,
        final=final,
        kept=(final - untrained) / gain if gain > 0 else float("nan"),
        max_drop=float(max(0.0, (s[:-1] - s[1:]).max())) if len(s) > 1 else 0.0,
    )


def task_verdicts(summary, min_kept: float = 0.5):
    """One row per task from the per-agent summary: means over seeds, kept share of the seeds'
    summed best gain, and pass = (mean final >= mean untrained) and kept >= min_kept."""
    import pandas as pd

    rows = []
    for task, g in summary.groupby("task", sort=False):
        gain = (g.best - g.untrained).sum()
        kept = (g.final - g.untrained).sum() / gain if gain > 0 else float("nan")
        rows.append(
            dict(
                task=task,
                seeds=len(g),
                untrained=g.untrained.mean(),
                best=g.best.mean(),
                final=g.final.mean(),
                kept=kept,
                max_drop=g.max_drop.max(),
                seeds_below_untrained=int((g.final < g.untrained).sum()),
                passed=bool(g.final.mean() >= g.untrained.mean() and kept >= min_kept),
            )
        )
    return pd.DataFrame(rows)


def _parse_set(items) -> dict:
    out = {}
    for it in items or ():
        if "=" not in it:
            sys.exit(f"--set {it!r}: expected key=value, e.g. --set lr=1e-4")
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v  # a plain string, e.g. td_error_loss=mse
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20_000, help="env steps per agent (default 20000)")
    ap.add_argument("--eval-every", type=int, default=1_000, help="env steps between evaluations (default 1000)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--shaping", choices=("paper", "preset"), default="paper")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="agent parameter overrides")
    ap.add_argument("--min-kept", type=float, default=0.5, help="share of the best gain a task must keep")
    ap.add_argument("--out", default="outputs/stability", help="results folder (default outputs/stability)")
    ap.add_argument("--data-dir", default=None, help="benchmark tables (default: $NASXFER_DATA or the cache)")
    ap.add_argument("--report", action="store_true", help="only summarise the agents already in --out")
    ap.add_argument("--ray-temp-dir", default=None, help="local Ray's session folder (default: the preset's)")
    a = ap.parse_args(argv)

    import pandas as pd

    from nasxfer.errors import NasxferError
    from nasxfer.io import write_atomic, write_json_atomic

    if a.steps < 1 or a.eval_every < 1:
        sys.exit("--steps and --eval-every must be >= 1")
    overrides = _parse_set(a.set)
    out = Path(a.out)
    settings = dict(steps=a.steps, eval_every=a.eval_every, shaping=a.shaping, overrides=overrides)
    try:  # fails on an unknown parameter or a bad value before any training
        p0 = agent_params(a.tasks[0], a.seeds[0], a.steps, a.eval_every, a.shaping, overrides, a.data_dir)
    except NasxferError as e:
        sys.exit(f"bad agent settings: {e}")
    # every resolved agent value (the preset's too: a changed preset must not mix with agents
    # trained under the old one), less the task and seed each agent sets and where it runs
    from nasxfer.experiments import shared_settings

    settings["agent"] = shared_settings(p0)
    cfg_path, curves_path = out / "config.json", out / "curves.csv"
    if cfg_path.is_file():
        old = json.loads(cfg_path.read_text())
        diff = sorted(k for k in SAME if old.get(k) != settings[k])
        diff += sorted(
            f"agent.{k}" for k in settings["agent"] if (old.get("agent") or {}).get(k) != settings["agent"][k]
        )
        if diff:
            sys.exit(f"{out} holds agents made with other settings ({', '.join(diff)}): use another --out")
    if not a.report:  # rewritten: `overrides` says how the settings are spelled now (e.g. a value
        write_json_atomic(settings, cfg_path)  # that became the preset's own); results depend on SAME only
    curves = pd.read_csv(curves_path) if curves_path.is_file() else pd.DataFrame()
    done = set(map(tuple, curves[["task", "seed"]].drop_duplicates().to_numpy().tolist())) if len(curves) else set()
    if a.report and not len(curves):
        sys.exit(f"--report: no results in {out}")

    # seeds outer: an interrupted run has covered every task with the first seeds
    for seed in [] if a.report else a.seeds:
        for task in a.tasks:
            if (task, seed) in done:
                continue
            p = agent_params(task, seed, a.steps, a.eval_every, a.shaping, overrides, a.data_dir)
            if a.ray_temp_dir:
                p = p.replace(ray_temp_dir=a.ray_temp_dir)
            t = time.perf_counter()
            c = train_curve(p)
            c.insert(0, "seed", seed)
            c.insert(0, "task", task)
            curves = pd.concat([curves, c], ignore_index=True)
            write_atomic(curves, curves_path)
            s = agent_summary(c)
            print(
                f"{task} seed {seed}: untrained {s['untrained']:.4g} best {s['best']:.4g} "
                f"final {s['final']:.4g} kept {s['kept']:.2f} ({time.perf_counter() - t:.0f} s)",
                flush=True,
            )

    summary = pd.DataFrame(
        [dict(task=t, seed=sd, **agent_summary(g)) for (t, sd), g in curves.groupby(["task", "seed"], sort=False)]
    )
    write_atomic(summary, out / "summary.csv")
    missing = [
        f"{t} seed {sd}" for sd in a.seeds for t in a.tasks if (t, sd) not in set(zip(summary.task, summary.seed))
    ]
    if missing:
        print(f"partial: {len(missing)} agent(s) not run yet: {', '.join(missing)}")
    verdicts = task_verdicts(summary, a.min_kept)
    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print(verdicts.to_string(index=False))
    failed = verdicts.loc[~verdicts.passed, "task"].tolist()
    print(f"{len(verdicts) - len(failed)} of {len(verdicts)} tasks pass" + (f"; failing: {failed}" if failed else ""))
    return 1 if failed else 0


SAME = ("steps", "eval_every", "shaping", "agent")  # what an agent's results depend on
if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # the raylet's own wait for its agents (30 s by default), longer on a loaded machine
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")
    sys.exit(main())

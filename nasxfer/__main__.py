"""Command line: ``nasxfer`` (or ``python -m nasxfer``).

``nasxfer summary`` (the default) loads the benchmark, prints a per-task
summary with the reward-shaping gamma each task gets (the paper's choice, the
default: only segmentsemantic, 0.478; beside it what our spread sweep picks), and rolls out a random
agent in the env of each task as a floor for every agent that follows.

``nasxfer grid params/laptop.yaml`` runs the transfer grid of a params file
into its ``results_dir`` (relative to the repository root, e.g. ``outputs/laptop/``),
resuming a killed run where it stopped.

``nasxfer budget-study params/laptop.yaml`` runs the budget study of a params file (its
``budget_study:`` section: the same grid at several training budgets), resumable like the grid.

``nasxfer cross-space params/laptop.yaml`` runs the grid of a params file's ``cross_space:``
section (tasks of both benchmarks; notebook 09), resumable like the grid.

``nasxfer methods params/laptop.yaml`` runs the transfer-methods comparison of a params file
(its ``methods:`` section: baselines, CATCH and our DQN agents on one protocol), resumable.

``nasxfer report laptop`` writes ``outputs/laptop/report/index.html``: the run's
executed notebooks as pages that open offline, linked from one page.
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

from .benchmark import PAPER_TASKS, load_benchmark
from .errors import NasxferError
from .shaping import RewardShaper


def report(args) -> None:
    from pathlib import Path

    from .profiles import resolve
    from .report import build_report

    run = Path(args.run)
    # a run name is a folder of the repository's outputs/, wherever the command runs
    run_dir = run if run.is_dir() or len(run.parts) > 1 else resolve(Path("outputs") / run)
    index = build_report(run_dir, notebooks=args.notebooks, out_dir=args.out)
    print(f"report: {index}")


def summary(args) -> None:
    from .agent import AgentParams
    from .agent.evaluate import rollout  # the agents' random-walk floor: same env, same start cells

    bench = load_benchmark(args.benchmark, data_dir=args.data_dir)
    tasks = args.tasks or (PAPER_TASKS if bench.name == "transnas-bench-101" else tuple(bench.tasks))
    for t in tasks:
        bench.table(t)  # unknown names fail here, with the list of known ones
    table = bench.summary().set_index("task").loc[list(tasks)]
    paper = [RewardShaper.fit(bench, t, "gamma", "paper") for t in tasks]
    table["gamma (paper, default)"] = [s.param if s.transform == "gamma" else "none" for s in paper]
    table["gamma (sweep, auto)"] = [RewardShaper.fit(bench, t, "gamma", "auto").param for t in tasks]
    print(f"{bench.name}: {bench.space.size} cells\n")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 4):
        print(table.to_string())
        print(
            f"\nrandom agent, {args.episodes} episodes of at most {args.max_steps} steps per task (seed {args.seed}):"
        )
        rows = []
        for t in tasks:
            start = time.perf_counter()
            params = AgentParams(task=t, benchmark=bench.name, data_dir=args.data_dir, max_steps=args.max_steps)
            df = rollout("random", params, bench=bench, n_episodes=args.episodes, seed=args.seed)
            rows.append(
                {
                    "task": t,
                    "final_test_mean": df.final_test.mean(),
                    "best_test_mean": df.best_test.mean(),
                    "benchmark_best_test": bench.table(t).test.max(),
                    "unique_cells_mean": df.n_unique.mean(),
                    "seconds": time.perf_counter() - start,
                }
            )
        print(pd.DataFrame(rows).set_index("task").to_string())


def _opt(flag: str, value) -> list[str]:
    """`flag` and `value` for a command line, or nothing when `value` is unset."""
    return [flag, str(value)] if value else []


def _until_stopped(again: list[str], fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with SIGTERM / SIGINT turned into a clean stop. Returns (its value,
    None), or (None, the exit code) after a stop, having said how far it got and that `again`
    resumes it."""
    from .interrupt import GridStopped, stop_on_signals

    with stop_on_signals():
        try:
            return fn(*args, **kwargs), None
        except GridStopped as e:
            return None, _stopped(e, again)


def _stopped(e, again: list[str]) -> int:
    """Shut Ray down after a stop signal, say how far the grid got and the command that resumes it."""
    import shlex

    import ray

    ray.shutdown()  # the driver's local cluster: no Ray process outlives the run
    print(
        f"nasxfer: stopped by {e.name} after {e.done}/{e.total} {e.unit}; resume with: {shlex.join(again)}",
        file=sys.stderr,
        flush=True,
    )
    return 128 + e.signum


def grid(args) -> int:
    """Run the grid; SIGTERM / SIGINT drop the unit in flight, keep the finished, and say how to resume."""
    import warnings
    from dataclasses import asdict

    from .experiments import run_grid
    from .grid import grid_config
    from .profiles import load_params

    params = load_params(args.params)
    g = params["grid"]
    if args.ray_address:
        g = grid_config({**asdict(g), "agent": {**g.agent, "ray_address": args.ray_address}})
    out = args.results_dir or params["results_dir"]  # the params file's, from the repository root
    print(f"grid {g.run_name}: {len(g.units())} agents ({len(g.seeds)} seeds) -> {out}", flush=True)
    again = ["nasxfer", "grid", args.params, *_opt("--results-dir", args.results_dir)]
    again += [*_opt("--data-dir", args.data_dir), *_opt("--ray-address", args.ray_address)]
    with warnings.catch_warnings():
        # one line per artifact resume does not trust, not warnings' two-line format
        warnings.showwarning = lambda m, *a, **k: print(f"nasxfer: warning: {m}", file=sys.stderr, flush=True)
        _, stopped = _until_stopped(again, run_grid, g, out, data_dir=args.data_dir)
    if stopped is not None:
        return stopped
    print(f"results: {out}/results.parquet, curves: {out}/curves.parquet")
    return 0


def budget_study(args) -> int:
    """Run (or resume) every budget of a params file's budget study; stoppable like the grid."""
    from .budget_study import run_study
    from .profiles import load_params, params_path

    params = load_params(params_path(args.params))
    again = ["nasxfer", "budget-study", args.params, *_opt("--data-dir", args.data_dir)]
    again += ["--budgets", *map(str, args.budgets)] if args.budgets else []
    _, stopped = _until_stopped(again, run_study, params, data_dir=args.data_dir, only=args.budgets)
    if stopped is not None:
        return stopped
    print(f"budget study: {params['budget_study'].results_dir}/ (notebook 08 renders it)")
    return 0


def cross_space(args) -> int:
    """Run (or resume) the cross-space grid of a params file; stoppable like the grid."""
    from .cross_space import SECTION, run_cross_space
    from .profiles import load_params, params_path, section

    params = load_params(params_path(args.params))
    out = section(params, SECTION, params_path(args.params)).results_dir
    again = ["nasxfer", "cross-space", args.params, *_opt("--data-dir", args.data_dir)]
    _, stopped = _until_stopped(again, run_cross_space, params, data_dir=args.data_dir)
    if stopped is not None:
        return stopped
    print(f"cross-space grid: {out}/ (notebook 09 renders it)")
    return 0


def methods(args) -> int:
    """Run (or resume) the transfer-methods comparison of a params file. A stop signal stops it like
    the grid: the parts in flight are dropped, the finished ones stay, the command to resume is printed."""
    from .methods import SECTION, run_methods
    from .profiles import load_params, params_path, section

    params = load_params(params_path(args.params))
    again = ["nasxfer", "methods", args.params, *_opt("--data-dir", args.data_dir)]
    cfg = section(params, SECTION, params_path(args.params))
    out, stopped = _until_stopped(again, run_methods, cfg, data_dir=args.data_dir)
    if stopped is not None:
        return stopped
    print(f"transfer methods: {out}/results.parquet, {out}/protocol.csv")
    return 0


def reproduce(args) -> int:
    """Render every notebook for a profile; with --fresh run its grid first (resumable, stoppable)."""
    from .reproduce import reproduce as render

    again = ["nasxfer", "reproduce", args.params, "--fresh"]
    again += ["--notebooks", *args.notebooks] if args.notebooks else []
    again += [*_opt("--results-dir", args.results_dir), *_opt("--data-dir", args.data_dir)]
    out, stopped = _until_stopped(
        again,
        render,
        args.params,
        fresh=args.fresh,
        only=args.notebooks,
        results_dir=args.results_dir,
        data_dir=args.data_dir,
    )
    if stopped is not None:
        return stopped
    print(f"notebooks: {out}/ (HTML: nasxfer report {out.parent})")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="nasxfer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command")
    g = sub.add_parser("grid", help="run the transfer grid of a params file")
    g.add_argument("params", help="params YAML, e.g. params/laptop.yaml")
    g.add_argument(
        "--results-dir", default=None, help="default: the params file's results_dir, from the repository root"
    )
    g.add_argument("--data-dir", default=None)
    g.add_argument(
        "--ray-address",
        default=None,
        help="a Ray cluster (host:port that `ray start --head` printed): the grid's units run there in parallel",
    )
    rp = sub.add_parser(
        "reproduce", help="render every notebook with papermill into <results_dir>/notebooks/ (the paper's figures)"
    )
    rp.add_argument("params", nargs="?", default="laptop", help="a profile (params/<name>.yaml) or a params file")
    rp.add_argument("--fresh", action="store_true", help="run (or resume) the profile's grid first")
    rp.add_argument("--notebooks", nargs="+", default=None, help="only these, e.g. 03_rq1_pretraining")
    rp.add_argument("--results-dir", default=None, help="default: the params file's results_dir")
    rp.add_argument("--data-dir", default=None)
    b = sub.add_parser("budget-study", help="run (or resume) the budget study of a params file (notebook 08)")
    b.add_argument("params", nargs="?", default="laptop", help="a profile (params/<name>.yaml) or a params file")
    b.add_argument("--data-dir", default=None)
    b.add_argument("--budgets", type=int, nargs="+", default=None, help="only these budgets (train_steps), e.g. 20000")
    c = sub.add_parser("cross-space", help="run (or resume) the cross-space grid of a params file (notebook 09)")
    c.add_argument("params", nargs="?", default="laptop", help="a profile (params/<name>.yaml) or a params file")
    c.add_argument("--data-dir", default=None)
    m = sub.add_parser("methods", help="run (or resume) the transfer-methods comparison of a params file")
    m.add_argument("params", nargs="?", default="laptop", help="a profile (params/<name>.yaml) or a params file")
    m.add_argument("--data-dir", default=None)
    s = sub.add_parser("summary", help="benchmark summary and a random-agent floor (default)")
    for q in (p, s):  # the summary's options work without naming the subcommand
        q.add_argument("--benchmark", default="transnas-bench-101")
        q.add_argument("--tasks", nargs="*", default=None)
        q.add_argument("--data-dir", default=None, help="folder with the tables (else $NASXFER_DATA, else the cache)")
        q.add_argument("--episodes", type=int, default=100)
        q.add_argument("--max-steps", type=int, default=50)
        q.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("report", help="the run's executed notebooks as HTML that opens offline: outputs/<run>/report/")
    r.add_argument(
        "run", nargs="?", default="laptop", help="a run name under outputs/ or a run folder (default: laptop)"
    )
    r.add_argument(
        "--notebooks",
        nargs="+",
        default=None,
        help="executed .ipynb files (default: <run>/notebooks/, else notebooks/)",
    )
    r.add_argument("--out", default=None, help="default: <run folder>/report")
    args = p.parse_args(argv)
    try:
        if args.command == "grid":
            return grid(args)
        if args.command == "reproduce":
            return reproduce(args)
        if args.command == "budget-study":
            return budget_study(args)
        if args.command == "cross-space":
            return cross_space(args)
        if args.command == "methods":
            return methods(args)
        {"report": report}.get(args.command, summary)(args)
    except NasxferError as e:
        print(f"nasxfer: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

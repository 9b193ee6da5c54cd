"""Wall time of each searcher per 1,000 unique-cell queries, measured on the real tables.

Usage: python benchmarks/bench_searchers.py [--task class_object] [--budget 200] [--trials 50]
(set NASXFER_DATA or pass --data-dir to point at the benchmark tables).

Each searcher runs `trials` seeded searches of `budget` unique cells; the time
includes the searcher's own work and the oracle lookups, so it is the cost of a
baseline at a given query budget. The optional agent line times
``agent_search`` with a random-walk policy in the env: the env's graph encoding
of every candidate, which a real agent's Q-network adds to.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nasxfer import NASEnv, load_benchmark
from nasxfer.search_agents import agent_search
from nasxfer.searchers import SEARCHERS, evolution_config, run_search


def per_1000(run, budget: int, trials: int) -> float:
    run(0)  # warm caches (neighbour table, encodings) outside the timed loop
    start = time.perf_counter()
    for seed in range(1, trials + 1):
        run(seed)
    return 1000 * (time.perf_counter() - start) / (budget * trials)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmark", default="transnas-bench-101")
    ap.add_argument("--task", default="class_object")
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-agent", action="store_true", help="skip the env-based agent_search timing")
    args = ap.parse_args(argv)

    bench = load_benchmark(args.benchmark, tasks=args.task, data_dir=args.data_dir)
    print(
        f"{bench.name} / {args.task}: budget {args.budget}, {args.trials} trials per searcher "
        f"(evolution configured for the budget: {evolution_config(args.budget)})"
    )
    print(f"{'searcher':<22}{'s per 1000 queries':>20}")
    for name in SEARCHERS:
        secs = per_1000(lambda s, n=name: run_search(n, bench, args.task, args.budget, s), args.budget, args.trials)
        print(f"{name:<22}{secs:>20.4f}")
    if not args.no_agent:
        env = NASEnv(args.task, bench)
        walk = np.random.default_rng(0)
        policy = lambda obs: int(walk.integers(1, obs["action_mask"].sum()))  # noqa: E731
        trials = max(1, args.trials // 10)  # the env encodes ~50 candidates a step: far slower
        secs = per_1000(lambda s: agent_search(env, policy, args.budget, s), args.budget, trials)
        print(f"{'agent (random walk)':<22}{secs:>20.4f}")


if __name__ == "__main__":
    main()

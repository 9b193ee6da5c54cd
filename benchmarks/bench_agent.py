"""Agent speed benchmark: our Ape-X configuration vs RLlib's stock DQN settings, one run.

Prints, for each configuration on the same env (class_object) and the same network:
env steps/s, learner updates/s, env steps and seconds to reach a greedy evaluation score
(mean final test metric over the fixed start cells), and peak memory (driver + Ray
processes it started). Then the gain of ours over stock as ratios.

    python benchmarks/bench_agent.py --steps 20000 --stock-steps 4000 --target 50
    python benchmarks/bench_agent.py --preset ci --steps 3000      # smoke run

Stock = RLlib's ``DQNConfig`` defaults where they apply to a custom RLModule: batch 32,
lr 5e-5, 1-step returns, target copy every 500 steps, sampling in the driver with one
env, learning after 1000 steps. RLlib's stock exploration is epsilon annealed 1 -> 0.05
over 10k steps; on the new stack a custom module does its own exploration, so stock here
uses a constant 0.1 (close to the schedule's mean over a short run).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading


class PeakMemory:
    """Polls the RSS of this process and all its descendants (local Ray's raylet and workers)."""

    def __init__(self, every: float = 0.5):
        self.every, self.peak = every, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _sample() -> int:
        # /proc directly: psutil is not a dependency of ours (Linux only; 0 elsewhere)
        parent, rss = {}, {}
        for d in os.listdir("/proc") if os.path.isdir("/proc") else []:
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{d}/statm") as f:
                    rss[int(d)] = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, IndexError):  # a process may exit while we read it
                pass
        mine, frontier = {os.getpid()}, [os.getpid()]
        while frontier:
            p = frontier.pop()
            kids = [c for c, pp in parent.items() if pp == p and c not in mine]
            mine.update(kids)
            frontier.extend(kids)
        return sum(rss.get(p, 0) for p in mine)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def run(name: str, params, steps: int, target: float | None, stock: bool) -> dict:
    from nasxfer.agent.agent import Agent

    with PeakMemory() as mem:
        agent = Agent(params, stock=stock)
        try:
            curve = agent.train(steps, eval_every=params.eval_every or max(steps // 10, 1), progress=False)
            rw = agent.random_walk()["final_test"]
        finally:
            agent.stop()
    last = curve.iloc[-1]
    trained = curve[curve["env_steps"] > 0]  # the untrained network's score says nothing about training speed
    hit = trained[trained["final_test"] >= target] if target is not None else curve.iloc[:0]
    return {
        "config": name,
        "env_steps": int(last["env_steps"]),
        "updates": int(last["updates"]),
        "train_s": round(float(last["train_s"]), 1),
        "env_steps_per_s": round(last["env_steps"] / last["train_s"], 1),
        "updates_per_s": round(last["updates"] / last["train_s"], 2),
        "untrained_final_test": round(float(curve["final_test"].iloc[0]), 3),
        "final_test": round(float(last["final_test"]), 3),
        "best_eval_final_test": round(float(curve["final_test"].max()), 3),
        "random_walk_final_test": round(rw, 3),
        "steps_to_target": int(hit["env_steps"].iloc[0]) if len(hit) else None,
        "s_to_target": round(float(hit["train_s"].iloc[0]), 1) if len(hit) else None,
        "peak_mem_gib": round(mem.peak / 2**30, 2),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="laptop")
    ap.add_argument("--task", default="class_object")
    ap.add_argument("--steps", type=int, default=30_000, help="env steps per configuration")
    ap.add_argument(
        "--target",
        type=float,
        default=50.0,
        help="evaluation score (mean final test) to reach after training starts; pick one above "
        "the untrained network's (about 48.8 top-1 on class_object for seed 0)",
    )
    ap.add_argument(
        "--stock-steps",
        type=int,
        default=None,
        help="env steps for stock DQN (default --steps; it trains on every step, so it is slow)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=os.environ.get("NASXFER_DATA"))
    ap.add_argument("--skip-stock", action="store_true")
    ap.add_argument(
        "--variant",
        default=None,
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="also run ours with these AgentParams changed, e.g. training_intensity=16 "
        "(more updates per sampled step) or num_env_runners=0",
    )
    ap.add_argument("--variant-steps", type=int, default=None, help="env steps for the variant (default --steps)")
    args = ap.parse_args(argv)

    import pandas as pd

    from nasxfer.agent.params import AgentParams

    p = AgentParams.preset(args.preset, task=args.task, seed=args.seed, data_dir=args.data_dir, progress=False)
    rows = [run("ours (Ape-X)", p, args.steps, args.target, stock=False)]
    if args.variant:
        import yaml

        change = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.variant.split(","))}
        rows.append(
            run(
                f"ours, {args.variant}", p.replace(**change), args.variant_steps or args.steps, args.target, stock=False
            )
        )
    if not args.skip_stock:
        rows.append(run("RLlib stock DQN", p, args.stock_steps or args.steps, args.target, stock=True))
    df = pd.DataFrame(rows).set_index("config")
    pd.set_option("display.width", 250)
    print(
        f"\npreset={args.preset} task={args.task} steps={args.steps} (stock {args.stock_steps or args.steps}) target={args.target} "
        f"cpus={os.cpu_count()} network={p.network_config()}"
    )
    print(df.T.to_string())
    if not args.skip_stock:
        o, s = rows[0], rows[-1]
        ratio = {
            "env_steps_per_s": o["env_steps_per_s"] / s["env_steps_per_s"],
            "updates_per_s": o["updates_per_s"] / s["updates_per_s"],
            "samples_trained_per_s": (o["updates_per_s"] * p.train_batch_size) / (s["updates_per_s"] * 32),
        }
        if o["s_to_target"] and s["s_to_target"]:
            ratio["time_to_target (stock/ours)"] = s["s_to_target"] / o["s_to_target"]
        elif o["s_to_target"]:
            ratio["time_to_target"] = (
                f"ours {o['s_to_target']} s; stock did not reach it in {args.stock_steps or args.steps} steps"
            )
        print("\ngain of ours over stock:")
        for k, v in ratio.items():
            print(f"  {k}: {v:.2f}x" if isinstance(v, float) else f"  {k}: {v}")
    return df


if __name__ == "__main__":
    sys.exit(main() is None)

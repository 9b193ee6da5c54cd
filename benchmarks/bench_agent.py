"""Agent speed benchmark: our Ape-X configuration against its plain-torch ceiling and RLlib's
stock DQN settings, one run, one process.

Prints, for each configuration on the same env (class_object) and the same network:
env steps/s, learner updates/s, the replay ratio it trained at (samples trained per env
step, measured: updates x batch / env steps), replay memory per stored transition
(measured from the buffer: its arrays per slot for ours, the pickled bytes of its episodes per
transition for RLlib's),
env steps and seconds to reach a greedy evaluation score (mean final test metric over the
fixed start cells), the seconds of one greedy evaluation, and peak memory (driver + Ray
processes it started). Then the gain of ours over stock as ratios.

The ceiling: the same work in plain torch, no RLlib, measured in the same process right
after the agent's run: the env's steps, the same network's acting forwards at the same
batch (one per env step of a runner's envs), and full double-DQN updates (online pass over
obs, online and target passes over next obs, n-step Huber loss, backward, clipping, Adam) at the
same batch size, at the replay ratio the agent trained at. Per env step it costs
``env + act / envs + ratio * update / batch`` seconds; the agent's env steps/s divided by
the ceiling's says how close to its parts the agent runs (1.0 = no overhead). Run with
``--paper-network`` to measure the paper's network (256-d, batch 512) in the same layout.

    python benchmarks/bench_agent.py --steps 20000 --stock-steps 3000 --target 50
    python benchmarks/bench_agent.py --steps 20000 --skip-stock --paper-network --paper-steps 4000
    python benchmarks/bench_agent.py --preset ci --steps 3000      # smoke run
    python benchmarks/bench_agent.py --ceiling-only --update-options   # what cheaper updates would buy

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


def _tree() -> dict:
    """{pid: (rss bytes, cpu seconds)} of this process and all its descendants (local Ray's raylet
    and workers). /proc directly: psutil is not a dependency of ours (Linux only; empty elsewhere)."""
    parent, stats = {}, {}
    tick, page = (os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")) if os.path.isdir("/proc") else (1, 1)
    for d in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{d}/statm") as f:
                rss = int(f.read().split()[1]) * page
            parent[int(d)] = int(st[1])
            stats[int(d)] = (rss, (int(st[11]) + int(st[12])) / tick)  # utime + stime
        except (OSError, ValueError, IndexError):  # a process may exit while we read it
            pass
    mine, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in mine]
        mine.update(kids)
        frontier.extend(kids)
    return {p: stats[p] for p in mine if p in stats}


def tree_cpu_s() -> float:
    """CPU seconds used so far by this process and its live descendants."""
    return sum(cpu for _, cpu in _tree().values())


class PeakMemory:
    """Polls the RSS of this process and all its descendants (local Ray's raylet and workers)."""

    def __init__(self, every: float = 0.5):
        self.every, self.peak = every, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _sample() -> int:
        return sum(rss for rss, _ in _tree().values())

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


def replay_bytes_per_transition(algo) -> float:
    """Bytes per stored transition: our buffer's arrays and trees over its capacity (ApeX), or the
    pickled bytes of RLlib's episodes per transition they hold (stock DQN's episode buffer)."""
    import pickle

    ours = getattr(algo, "replay", None)
    if ours is not None:
        return ours.bytes_per_transition
    buf = getattr(algo, "local_replay_buffer", None)
    if buf is None or not hasattr(buf, "episodes"):  # not an episode buffer: nothing to measure this way
        return float("nan")
    n = buf.get_num_timesteps()
    return len(pickle.dumps(list(buf.episodes), protocol=pickle.HIGHEST_PROTOCOL)) / max(n, 1)


def _median_s(fn, reps: int, warmup: int = 2) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (all threads of this process) of one call."""
    import statistics
    import time

    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def ceiling(params, ratio: float, reps: int = 15, options: bool = False) -> dict:
    """Plain-torch cost of the agent's work per env step (see the module docstring). With
    `options`, also what cheaper updates would make of it (:data:`UPDATE_OPTIONS`)."""
    import contextlib
    import copy
    import time

    import numpy as np
    import torch

    from nasxfer.agent.evaluate import env_kwargs
    from nasxfer.agent.qnetwork import QNetwork
    from nasxfer.encoding import encoding_size
    from nasxfer.env import NASEnv

    torch.set_num_threads(params.torch_threads)
    _, cfg = env_kwargs(params)
    env = NASEnv(**cfg)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    pool, n_env = [], 3000
    t, c = time.perf_counter(), time.process_time()
    for _ in range(n_env):  # the env's own cost, random valid actions
        pool.append(obs)
        obs, _, term, trunc, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        if term or trunc:
            obs, _ = env.reset()
    env_s, env_cpu = (time.perf_counter() - t) / n_env, (time.process_time() - c) / n_env

    def stack(rows):
        return {k: torch.as_tensor(np.stack([pool[i][k] for i in rows])) for k in pool[0]}

    def networks(foreach=None):
        torch.manual_seed(0)
        net = QNetwork(encoding_size(params.pad), **params.network_config())
        return (
            net,
            copy.deepcopy(net),
            torch.optim.Adam(net.parameters(), lr=params.lr, eps=params.adam_epsilon, foreach=foreach),
        )

    net, target, opt = networks()
    n_envs, b = params.num_envs_per_env_runner, params.train_batch_size
    act_obs = stack(range(n_envs))

    def act():
        with torch.no_grad():
            net.q(act_obs).argmax(-1)

    disc = params.discount**params.n_step

    def make_update(net, target, opt, b, fused=False, bf16=False):
        # as NASQModule._forward_train + RLlib's DQN loss; `fused`: the passes without gradient in
        # eval mode, where torch runs its fused inference kernels; `bf16`: under bfloat16 autocast
        rows = rng.integers(len(pool) - 1, size=b)
        o, nxt = stack(rows), stack(rows + 1)
        a = torch.as_tensor(rng.integers(o["action_mask"].shape[1], size=b))
        r, done, w = torch.rand(b), torch.zeros(b), torch.ones(b)
        if fused:
            target.eval()

        def update():
            # the as-is update toggles no mode and enters no autocast: it is what the ceiling times
            with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                q = net.q(o)
                with torch.no_grad():
                    if fused:
                        net.eval()
                    q_next, q_t = net.q(nxt), target.q(nxt)
                    if fused:
                        net.train()
                q_sel = torch.nan_to_num(q.gather(1, a[:, None]), neginf=0.0).squeeze(1).float()
                best = q_next.argmax(-1, keepdim=True)
                q_nb = torch.nan_to_num(q_t.gather(1, best), neginf=0.0).squeeze(1).float()
                y = r + disc * (1.0 - done) * q_nb
                loss = (w * torch.nn.functional.huber_loss(q_sel, y.detach(), reduction="none")).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), params.grad_clip)
            opt.step()

        return update

    (act_s, act_cpu), (update_s, update_cpu) = (
        _median_s(act, reps * 4),
        _median_s(make_update(net, target, opt, b), reps),
    )
    per_step = env_s + act_s / n_envs + ratio * update_s / b
    cpu_per_step = env_cpu + act_cpu / n_envs + ratio * update_cpu / b
    out = {
        "ceiling_env_ms_per_step": round(env_s * 1e3, 3),
        "ceiling_act_ms_per_forward": round(act_s * 1e3, 2),
        "ceiling_update_ms": round(update_s * 1e3, 1),
        "ceiling_env_steps_per_s": round(1.0 / per_step, 1),
        "ceiling_cpu_ms_per_env_step": round(cpu_per_step * 1e3, 3),
    }
    for name, kw in UPDATE_OPTIONS.items() if options else ():
        net, target, opt = networks(foreach=kw.get("foreach"))
        if kw.get("compile"):
            net.compile()
            target.compile()
        bb = b * kw.get("batch_x", 1)
        update = make_update(net, target, opt, bb, fused=kw.get("fused", False), bf16=kw.get("bf16", False))
        t = time.perf_counter()
        update()  # the first call compiles, where anything does
        first = time.perf_counter() - t
        s_opt, _ = _median_s(update, reps)
        steps = 1.0 / (env_s + act_s / n_envs + ratio * s_opt / bb)
        out[f"option: {name}: update ms"] = round(s_opt * 1e3, 1)
        out[f"option: {name}: first call s"] = round(first, 1)
        out[f"option: {name}: ceiling env steps/s"] = round(steps, 1)
        out[f"option: {name}: ceiling / as is"] = round(steps * per_step, 2)
    return out


# Cheaper updates than the agent's, timed beside its ceiling (--update-options): each changes
# the floating-point results of training (compile, fused kernels, bf16) or its schedule (a
# larger batch, as many samples in half the updates), so none is the agent's; the benchmark
# says what each would buy.
UPDATE_OPTIONS = {
    "torch.compile of both networks": dict(compile=True),
    "fused inference kernels for the passes without gradient + foreach Adam": dict(fused=True, foreach=True),
    "bfloat16 autocast": dict(bf16=True),
    "batch 2x, half the updates": dict(batch_x=2),
}


# the training step's timers (moving means, seconds per call), under RLlib's names: ApeX logs
# them around its own phases (in the driver layout "sample" includes writing each step to
# replay), stock DQN around RLlib's (its learner update includes RLlib's connectors)
_TIMERS = {
    "sample (acting + env)": "env_runner_sampling_timer",
    "replay add": "replay_buffer_add_data_timer",
    "replay sample": "replay_buffer_sampling_timer",
    "learner update": "learner_update_timer",
    "priority update": "replay_buffer_update_prios_timer",
    "weight sync to runners": "synch_weights",
}


def time_split(agent) -> dict:
    """Milliseconds per call of each phase of RLlib's DQN training_step, from RLlib's own timers:
    where an agent's time goes besides the work the ceiling counts."""
    from ray.rllib.utils.metrics import TIMERS

    out = {}
    for label, key in _TIMERS.items():
        try:  # a phase this layout does not have (no remote runners: no separate add, no sync)
            v = agent.algo.metrics.peek((TIMERS, key))
        except KeyError:
            v = None
        if v is not None:
            out[f"ms per call: {label}"] = round(float(v) * 1e3, 1)
    return out


def run(name: str, params, steps: int, target: float | None, stock: bool, with_ceiling: bool = False) -> dict:
    import time

    from nasxfer.agent.agent import Agent

    with PeakMemory() as mem:
        t_build = time.perf_counter()
        agent = Agent(params, stock=stock)
        build_s = time.perf_counter() - t_build
        try:
            # CPU of training = the process tree's CPU over train() minus the driver's in evaluations
            eval_cpu, record = [0.0], agent._record

            def timed_record():
                c = time.process_time()
                try:
                    return record()
                finally:
                    eval_cpu[0] += time.process_time() - c

            agent._record = timed_record
            cpu0 = tree_cpu_s()
            curve = agent.train(steps, eval_every=max(steps // 10, 1), progress=False)
            train_cpu = tree_cpu_s() - cpu0 - eval_cpu[0]
            replay_b = replay_bytes_per_transition(agent.algo)
            split = time_split(agent)
            t = time.perf_counter()
            agent.evaluate()
            eval_s = time.perf_counter() - t
            rw = agent.random_walk()["final_test"]
        finally:
            agent.stop()
        # a grid builds its agents in one process: Ray starts once, so time a build with Ray up
        t = time.perf_counter()
        Agent(params, stock=stock).stop()
        warm_build_s = time.perf_counter() - t
    last = curve.iloc[-1]
    batch = 32 if stock else params.train_batch_size
    trained = curve[curve["env_steps"] > 0]  # the untrained network's score says nothing about training speed
    hit = trained[trained["final_test"] >= target] if target is not None else curve.iloc[:0]
    row = {
        "config": name,
        "env_steps": int(last["env_steps"]),
        "updates": int(last["updates"]),
        "train_s": round(float(last["train_s"]), 1),
        "env_steps_per_s": round(last["env_steps"] / last["train_s"], 1),
        "cpu_ms_per_env_step (all processes)": round(train_cpu / last["env_steps"] * 1e3, 3),
        "updates_per_s": round(last["updates"] / last["train_s"], 2),
        "batch": batch,
        "replay_ratio_set": params.training_intensity if not stock else None,
        # samples trained per env step once learning started (none are trained before)
        "replay_ratio_measured": round(
            last["updates"] * batch / max(last["env_steps"] - (0 if stock else params.learning_starts), 1), 3
        ),
        "replay_bytes_per_transition": round(replay_b, 1),
        "eval_s (100 episodes, trained)": round(eval_s, 3),
        "build_s (Ray + algorithm)": round(build_s, 1),
        "build_s (algorithm, Ray up)": round(warm_build_s, 1),
        "untrained_final_test": round(float(curve["final_test"].iloc[0]), 3),
        "final_test": round(float(last["final_test"]), 3),
        "best_eval_final_test": round(float(curve["final_test"].max()), 3),
        "random_walk_final_test": round(rw, 3),
        "steps_to_target": int(hit["env_steps"].iloc[0]) if len(hit) else None,
        "s_to_target": round(float(hit["train_s"].iloc[0]), 1) if len(hit) else None,
        "peak_mem_gib": round(mem.peak / 2**30, 2),
        **split,
    }
    if with_ceiling:
        # the same total work: every env step acted on, and as many updates as the agent made
        row.update(ceiling(params, last["updates"] * batch / last["env_steps"]))
        row["agent / ceiling (env steps/s)"] = round(row["env_steps_per_s"] / row["ceiling_env_steps_per_s"], 3)
        row["agent CPU / ceiling CPU per env step"] = round(
            row["cpu_ms_per_env_step (all processes)"] / row["ceiling_cpu_ms_per_env_step"], 3
        )
    return row


# the laptop grid: 4x4 tasks x 3 seeds = 48 agents (4 scratch + 12 transferred per seed) in 1.5 h
GRID_AGENTS, GRID_SECONDS = 48, 90 * 60


def print_grid_budget(row: dict) -> None:
    """How many env steps per agent the laptop grid's 1.5 hours buy at this row's measured speed:
    each agent gets GRID_SECONDS / GRID_AGENTS, less its build (Ray is up: the grid starts it
    once) and the 107 evaluations the smoothing window needs (nasxfer.grid.MIN_EVALUATIONS),
    the rest trains."""
    from nasxfer.grid import MIN_EVALUATIONS

    per_agent = GRID_SECONDS / GRID_AGENTS
    evals = MIN_EVALUATIONS * row["eval_s (100 episodes, trained)"]
    train_s = per_agent - row["build_s (algorithm, Ray up)"] - evals
    steps = max(train_s, 0.0) * row["env_steps_per_s"]
    print(
        f"\nlaptop grid budget ({GRID_AGENTS} agents in {GRID_SECONDS // 60} min, {row['config']}): {per_agent:.0f} s per "
        f"agent = {row['build_s (algorithm, Ray up)']:.1f} s build + {evals:.0f} s for {MIN_EVALUATIONS} evaluations + "
        f"{train_s:.0f} s training at {row['env_steps_per_s']:.0f} env steps/s = about {steps:,.0f} env steps per agent"
    )


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
    ap.add_argument("--ray-temp-dir", default=None, help="local Ray's session folder (AgentParams.ray_temp_dir)")
    ap.add_argument(
        "--variant",
        default=None,
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="also run ours with these AgentParams changed, e.g. training_intensity=16 "
        "(more updates per sampled step) or num_env_runners=0",
    )
    ap.add_argument("--variant-steps", type=int, default=None, help="env steps for the variant (default --steps)")
    ap.add_argument(
        "--paper-network",
        action="store_true",
        help="also run ours with the paper preset's network and batch (256-d, batch 512) in this layout",
    )
    ap.add_argument("--paper-steps", type=int, default=4000, help="env steps for the paper network")
    ap.add_argument(
        "--ceiling-only",
        action="store_true",
        help="only the plain-torch ceiling (no Ray) of the preset's network and of the paper's, at the "
        "preset's training_intensity",
    )
    ap.add_argument(
        "--update-options",
        action="store_true",
        help="with --ceiling-only: also time cheaper updates than the agent's (torch.compile, fused "
        "inference kernels, bfloat16, a larger batch) and the ceiling each would give",
    )
    args = ap.parse_args(argv)
    if args.update_options and not args.ceiling_only:
        ap.error("--update-options times the plain-torch ceiling only: add --ceiling-only")

    import pandas as pd

    from nasxfer.agent.params import AgentParams

    p = AgentParams.preset(
        args.preset,
        task=args.task,
        seed=args.seed,
        data_dir=args.data_dir,
        progress=False,
        ray_temp_dir=args.ray_temp_dir,
    )
    paper = AgentParams.paper()
    pp = p.with_network_of(paper).replace(learning_starts=min(p.learning_starts, args.paper_steps // 4))
    if args.ceiling_only:
        import pandas as pd

        rows = {
            name: ceiling(q, q.training_intensity, options=args.update_options)
            for name, q in ((args.preset, p), ("paper network", pp))
        }
        print(f"\nplain-torch ceiling at training_intensity={p.training_intensity}, threads={p.torch_threads}")
        print(pd.DataFrame(rows).to_string())
        return rows
    rows = [run("ours (Ape-X)", p, args.steps, args.target, stock=False, with_ceiling=True)]
    if args.paper_network:
        rows.append(run("ours, paper network", pp, args.paper_steps, None, stock=False, with_ceiling=True))
    if args.variant:
        import yaml

        change = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.variant.split(","))}
        rows.append(
            run(
                f"ours, {args.variant}",
                p.replace(**change),
                args.variant_steps or args.steps,
                args.target,
                stock=False,
                with_ceiling=True,
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
    print_grid_budget(rows[0])
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

"""Env speed: nasxfer's vectorised NASEnv against a plain dict-lookup implementation.

Both run the same random policy on the same task in the same process. The plain
version is what one writes first: metrics in a dict keyed by the cell string,
neighbours by editing the string, each candidate's graph built and padded in
Python. Prints env steps/s and candidate evaluations/s (candidates encoded and
rewarded per second) for both, and the ratio.

    python benchmarks/bench_env.py [--task class_object] [--seconds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nasxfer.benchmark import load_benchmark
from nasxfer.env import NASEnv
from nasxfer.search_space import NODE_VOCAB


class PlainEnv:
    """The straightforward implementation, for comparison only."""

    def __init__(self, bench, task, shaper, max_steps=50, pad=16):
        space = bench.space
        t = bench.table(task)
        self.space, self.pad, self.max_steps = space, pad, max_steps
        self.reward = {space.to_string(i): float(shaper(t.valid[i])) for i in range(space.size)}
        self.rng = np.random.default_rng(0)

    def neighbours(self, s):
        ops = list(self.space.to_ops(self.space.from_string(s)))
        out = []
        for e in range(6):
            for o in range(self.space.n_ops):
                if o != ops[e]:
                    new = ops.copy()
                    new[e] = o
                    out.append(self.space.to_string(self.space.from_ops(new)))
        return out

    def encode(self, s):
        adj, labels = self.space.graph(self.space.from_string(s))
        n, P = len(labels), self.pad
        off = int(self.rng.integers(0, P - n + 1))
        a = np.zeros((P, P), np.float32)
        a[off : off + n, off : off + n] = adj
        lab = np.zeros((P, len(NODE_VOCAB)), np.float32)
        for k, label in enumerate(labels):
            lab[off + k, NODE_VOCAB.index(label)] = 1
        return np.concatenate([a.ravel(), lab.ravel()])

    def reset(self):
        self.cell, self.t = self.space.to_string(int(self.rng.integers(self.space.size))), 0
        return self.observe()

    def observe(self):
        self.cands = [self.cell, *self.neighbours(self.cell)]
        return np.stack([self.encode(c) for c in self.cands])

    def step(self, a):
        self.t += 1
        if a == 0:
            return self.observe(), 0.0, True, False
        new = self.cands[a]
        r = self.reward[new] - self.reward[self.cell]
        self.cell = new
        return self.observe(), r, False, self.t >= self.max_steps


def run(reset, step, n_actions, seconds):
    rng = np.random.default_rng(1)
    steps, start = 0, time.perf_counter()
    reset()
    while time.perf_counter() - start < seconds:
        out = step(int(rng.integers(1, n_actions)))  # never stop: measure steps, not resets
        steps += 1
        if out[-2] or out[-1]:
            reset()
    return steps / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="class_object")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    bench = load_benchmark(data_dir=args.data_dir)
    env = NASEnv(args.task, bench)
    plain = PlainEnv(bench, args.task, env.shaper)
    k = env.n_slots
    ours = run(lambda: env.reset(seed=0), lambda a: env.step(a)[2:4], k, args.seconds)
    base = run(plain.reset, lambda a: plain.step(a)[2:4], k, args.seconds)
    print(f"task {args.task}: {k} candidates per step, {args.seconds:.0f} s each")
    print(f"{'':12s}{'env steps/s':>14s}{'candidate evals/s':>20s}")
    print(f"{'plain dict':12s}{base:14,.0f}{base * k:20,.0f}")
    print(f"{'nasxfer':12s}{ours:14,.0f}{ours * k:20,.0f}")
    print(f"speed-up: {ours / base:.1f}x")


if __name__ == "__main__":
    main()

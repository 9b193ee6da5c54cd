"""A laptop agent keeps what it learns. On RLlib's replay and learner at a constant lr of 1e-4
(the laptop preset before its lr decayed to ``lr_final``), the jigsaw agent of seed 0 peaked at
92.6 top-1 after 9,000 env steps, then drifted off it, falling 7.7 points between two
evaluations, and ended at 80.5, below its untrained 84.2 (outputs/stability/constant_lr/). With
the preset as it is (lr 1e-4 decaying to 1e-5, the agent's own replay and update; the driver
samples, so a run is bit-reproducible) the same agent ends at 91.95, its best, untrained 84.2,
its largest fall 0.87. The test asks that the final score is not below the untrained one and
that no evaluation falls 5 top-1 points or more below the one before. On today's agent a
constant 1e-4 passes too (ends 91.7, largest fall 1.7); the values before the first stability
fix (lr 5e-4, a target copy every 1,000 env steps) fall 7.7 and fail. One seed's last
evaluation is too noisy to judge the share of the best gain kept:
``benchmarks/bench_stability.py`` judges it over 3 seeds and all seven tasks (``outputs/stability/``)."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real Ray training: about 1.5 minutes

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_stability.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_stability", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_agent_summary_reads_a_collapse():
    import pandas as pd

    bench = _bench()
    curve = pd.DataFrame(dict(env_steps=[0, 1000, 2000, 3000], final_test=[58.9, 61.8, 60.0, 45.3]))
    s = bench.agent_summary(curve)
    assert s["untrained"] == 58.9 and s["best"] == 61.8 and s["final"] == 45.3
    assert s["kept"] < 0 and s["max_drop"] == pytest.approx(14.7)
    summary = pd.DataFrame([dict(task="class_scene", seed=0, **s)])
    assert not bench.task_verdicts(summary).passed.item()
    summary.loc[0, "final"] = 61.0
    assert bench.task_verdicts(summary).passed.item()


def test_laptop_agent_keeps_its_gain_on_jigsaw(data_dir):
    bench = _bench()
    p = bench.agent_params("jigsaw", 0, 20_000, 1_000, "paper", {}, str(data_dir))
    s = bench.agent_summary(bench.train_curve(p))
    print(s)
    assert s["final"] >= s["untrained"], s
    # lr 5e-4 with a target copy every 1,000 env steps falls 7.7 here (and swung 8-11.9 on class_scene)
    assert s["max_drop"] < 5.0, s

"""A laptop agent keeps what it learns. On class_scene (no shaping) the old learning values,
lr 5e-4 and a target copy every 1,000 env steps, swung and could collapse: with a runner process,
seed 0 peaked at 61.8 top-1, fell by 8 points between two evaluations and ended at 45.3, below
its untrained 58.9 (outputs/stability/old_values/). With the laptop preset as it is (the driver
samples, so a run is bit-reproducible) this test's agent (20,000 env steps, an evaluation every
2,000) ends at 61.6, untrained 58.9, best 62.1, its largest fall 2.1; with the old values in
that layout it ends at 55.8 and falls 5.7 in one interval. The test asks that the final score
is not below the untrained one and that no evaluation falls 5 top-1 points or more below the one
before: the old values fail both. One seed's last evaluation is too noisy to judge the share of
the best gain kept: ``benchmarks/bench_stability.py`` judges it over 3 seeds and all seven tasks
(``outputs/stability/``)."""

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


def test_laptop_agent_keeps_its_gain_on_class_scene(data_dir):
    bench = _bench()
    p = bench.agent_params("class_scene", 0, 20_000, 2_000, "paper", {}, str(data_dir))
    s = bench.agent_summary(bench.train_curve(p))
    print(s)
    assert s["final"] >= s["untrained"], s
    # the old values fell 5.7 in this layout (8-11.9 with a runner process); the preset's fall 2.1
    assert s["max_drop"] < 5.0, s

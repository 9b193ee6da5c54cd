"""The cross-space grid's section and its one new statistic (does the other space help?)."""

import pandas as pd
import pytest

from nasxfer.cross_space import (
    ACROSS,
    SAME,
    cross_space_config,
    cross_space_finding,
    cross_space_grid,
    gap_samples,
    space_gains,
)
from nasxfer.errors import NasxferError
from nasxfer.grid import GridConfig
from nasxfer.profiles import load_params, repo_root

CO = "transnas-bench-101/class_object"
AGENT = {"preset": "ci", "num_env_runners": 1, "num_envs_per_env_runner": 1, "rollout_fragment_length": 5}


def _grid():
    return GridConfig(
        benchmark="nas-bench-201",
        source_tasks=[CO, "cifar10"],
        target_tasks=["cifar100"],
        seeds=[0, 1],
        train_steps=600,
        finetune_steps=200,
        eval_every=1,
        agent=AGENT,
    )


# scratch on cifar100: untrained 40 (seed 0) / 50 (seed 1); 60 at fine-tune, 70 at retrain
SCRATCH = {"start": (40, 50), "fine_tune": (60, 60), "retrain": (70, 70)}
# transferred: (zero_shot, fine_tune, retrain) rank percentiles per seed
TRANSFER = {CO: ((45, 55), (62, 64), (70, 70)), "cifar10": ((80, 90), (66, 68), (71, 73))}


def _tables():
    curves, results = [], []
    for seed in (0, 1):
        curves.append(
            dict(seed=seed, source="cifar100", target="cifar100", env_steps=0, final_rank_pct=SCRATCH["start"][seed])
        )
        for regime, v in (("zero_shot", 70), ("fine_tune", 60), ("retrain", 70)):
            results.append(dict(seed=seed, source="cifar100", target="cifar100", regime=regime, final_rank_pct=v))
        for source, vals in TRANSFER.items():
            curves.append(dict(seed=seed, source=source, target="cifar100", env_steps=0, final_rank_pct=vals[0][seed]))
            for regime, v in zip(("zero_shot", "fine_tune", "retrain"), vals):
                results.append(dict(seed=seed, source=source, target="cifar100", regime=regime, final_rank_pct=v[seed]))
    return pd.DataFrame(curves), pd.DataFrame(results)


def test_gaps_hold_zero_shot_against_an_untrained_agent_and_the_rest_against_scratch():
    g = gap_samples(*_tables(), _grid()).set_index(["source", "regime", "seed"])
    assert g.loc[(CO, "zero_shot", 0), "gap"] == 45 - 40
    assert g.loc[(CO, "zero_shot", 1), "gap"] == 55 - 50
    assert g.loc[("cifar10", "fine_tune", 1), "gap"] == 68 - 60
    assert g.loc[("cifar10", "retrain", 1), "gap"] == 73 - 70
    assert g.loc[(CO, "retrain", 0), "relation"] == ACROSS and g.loc[("cifar10", "retrain", 0), "relation"] == SAME
    assert g.loc[(CO, "retrain", 0), "source_space"] == "transnas-bench-101"


def test_space_gains_take_one_sample_per_target_and_seed():
    gains = space_gains(*_tables(), _grid()).set_index(["regime", "relation"])
    across = gains.loc[("fine_tune", ACROSS)]
    assert across["n"] == 2 and across["mean"] == pytest.approx(3.0)  # (2 + 4) / 2
    assert across["sources"] == 1
    same = gains.loc[("zero_shot", SAME)]
    assert same["mean"] == pytest.approx(40.0) and same["verdict"] == "helps"
    assert gains.loc[("retrain", ACROSS), "verdict"] == "no clear effect"  # gaps 0 and 0


def test_the_finding_counts_targets_from_the_numbers():
    text = cross_space_finding(space_gains(*_tables(), _grid()))
    lines = text.splitlines()
    assert lines[0].startswith("zero_shot: sources from the other space beat an untrained agent on 1 of 1 targets")
    assert "at least as well as sources from the target's own space on 0 of 1" in lines[0]
    assert "fine_tune: sources from the other space beat scratch at the same budget on 1 of 1" in lines[1]
    assert "mean gap +3.0 vs +7.0" in lines[1]


def test_profiles_hold_a_cross_space_grid():
    for name in ("ci", "laptop"):
        params = load_params(repo_root() / "params" / f"{name}.yaml")
        grid = cross_space_grid(params)
        assert len(grid.benchmarks) == 2
        assert grid.agent == params["grid"].agent  # the profile's agent, unchanged


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ([1], "must be a mapping"),
        ({"grid": {}, "where": 1}, "keys must be"),
        ({"results_dir": "x"}, "grid required"),
        (
            {"grid": {"source_tasks": ["cifar10"], "target_tasks": ["cifar100"], "benchmark": "nb201"}},
            "pairs no source",
        ),
        ({"grid": {"source_tasks": ["cifar10"]}}, "unknown task in grid.source_tasks 'cifar10'"),
    ],
)
def test_bad_sections_are_refused(section, message):
    base = load_params(repo_root() / "params" / "ci.yaml")["grid"]
    with pytest.raises(NasxferError, match=message):
        cross_space_config(section, base)


@pytest.mark.slow  # trains the ci cross-space grid (12 tiny agents) and its search comparison: minutes
def test_the_ci_cross_space_grid_runs_both_ways_and_its_agents_search(tmp_path, data_dir):
    import dataclasses
    import os

    from nasxfer.comparison import SCRATCH_NAME, ZERO_SHOT_NAME
    from nasxfer.cross_space import run_cross_space
    from nasxfer.experiments import load_results
    from nasxfer.search_efficiency import load_comparison

    params = load_params(repo_root() / "params" / "ci.yaml")
    params["cross_space"] = dataclasses.replace(params["cross_space"], results_dir=tmp_path / "cross")
    out = run_cross_space(params, data_dir=data_dir, progress=False)
    curves, results, config = load_results(out)
    assert set(results.source) == {CO, "cifar10", "cifar100"}
    assert set(results.target) == {CO, "cifar10", "cifar100"}
    pairs = set(zip(results.source, results.target))
    assert {(CO, "cifar100"), ("cifar10", CO), ("cifar10", "cifar100")} <= pairs  # both directions, and within
    assert (out / "checkpoints" / "seed1-transnas-bench-101.class_object" / "weights.pt").is_file()
    assert (out / "parts" / "seed0-transnas-bench-101.class_object-to-cifar100.parquet").is_file()
    # the search comparison on the NAS-Bench-201 target, the TransNAS agent among the zero-shot searchers
    search, cfg = load_comparison(out / "search")
    assert cfg["tasks"] == ["cifar100"] and cfg["benchmark"] == "nas-bench-201"
    zero = search[search.searcher == ZERO_SHOT_NAME]
    assert set(zero.source) == {CO, "cifar10"} and (zero.prior_queries == 0).all()
    own = search[search.searcher == SCRATCH_NAME]
    assert set(own.source) == {"cifar100"} and (own.prior_queries > 0).all()
    # finished: running again trains and searches nothing
    stamps = {p: os.stat(p).st_mtime_ns for p in [*(out / "parts").iterdir(), out / "search" / "results.parquet"]}
    run_cross_space(params, data_dir=data_dir, progress=False)
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps

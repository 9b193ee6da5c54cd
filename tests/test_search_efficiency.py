"""Trials -> tidy table -> summary, the agent hook, and results on disk."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nasxfer import NASEnv
from nasxfer.baselines import run_search
from nasxfer.errors import NasxferError, UnknownNameError
from nasxfer.search_efficiency import (
    COLUMNS,
    agent_search,
    agent_trials,
    headline,
    load_results,
    run_comparison,
    save_results,
    summarize,
)

TASKS = ("class_object", "autoencoder")


@pytest.fixture(scope="module")
def small(bench):
    return run_comparison(bench, TASKS, budgets=(5, 20), trials=4, searchers=("random", "local"),
                          base_seed=10, progress=False)


def test_comparison_is_a_tidy_table_of_real_lookups(bench, small):
    assert list(small.columns) == COLUMNS
    assert len(small) == 2 * 2 * 4 * 2  # tasks x searchers x trials x budgets
    assert set(small["seed"]) == {10, 11, 12, 13}
    for task, g in small.groupby("task"):
        t = bench.task(task)
        assert np.array_equal(g["best_valid"], t.valid[g["best_cell"]])
        assert np.array_equal(g["best_test"], t.test[g["best_cell"]])


def test_best_valid_never_drops_with_budget_and_rows_reproduce(bench, small):
    wide = small.pivot_table(index=["task", "searcher", "seed"], columns="budget", values="best_valid")
    assert (wide[20] >= wide[5]).all()
    row = small.iloc[-1]
    oracle = run_search(row["searcher"], bench, row["task"], 20, int(row["seed"]))
    assert oracle.best_at(int(row["budget"]))[0] == row["best_cell"]


@pytest.mark.parametrize("budgets", [(0, 10), (10, 4097), (), (-1,)])
def test_bad_budgets_are_clear_errors(bench, budgets):
    with pytest.raises(NasxferError, match="budget"):
        run_comparison(bench, TASKS, budgets=budgets, trials=1, progress=False)


def test_unknown_names_and_bad_trials_are_clear_errors(bench):
    with pytest.raises(UnknownNameError, match="class_object"):
        run_comparison(bench, ("class_objects",), trials=1, progress=False)
    with pytest.raises(UnknownNameError, match="searcher"):
        run_comparison(bench, TASKS, searchers=("grid",), trials=1, progress=False)
    with pytest.raises(NasxferError, match="trials"):
        run_comparison(bench, TASKS, trials=0, progress=False)


def test_summary_is_the_mean_and_a_95_percent_t_interval(small):
    summary = summarize(small)
    assert len(summary) == 2 * 2 * 2 and (summary["n"] == 4).all()
    g = small[(small.task == "autoencoder") & (small.searcher == "random") & (small.budget == 20)]["best_test"]
    row = summary[(summary.task == "autoencoder") & (summary.searcher == "random") & (summary.budget == 20)].iloc[0]
    lo, hi = stats.t.interval(0.95, len(g) - 1, loc=g.mean(), scale=stats.sem(g))
    assert row["mean"] == pytest.approx(g.mean()) and (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    assert (summary["ci_low"] <= summary["mean"]).all() and (summary["mean"] <= summary["ci_high"]).all()


def test_summary_of_identical_trials_has_a_zero_width_interval():
    df = pd.DataFrame({"task": "t", "searcher": "s", "budget": 10, "best_test": [1.0, 1.0, 1.0]})
    row = summarize(df).iloc[0]
    assert row["ci_low"] == row["ci_high"] == 1.0


def test_headline_is_task_by_searcher_at_the_largest_budget(small):
    table = headline(summarize(small))
    assert table.shape == (2, 2) and set(table.columns) == {"random", "local"}
    with pytest.raises(NasxferError, match="budget 7"):
        headline(summarize(small), budget=7)


def test_results_round_trip_atomically(tmp_path, small):
    out = save_results(small, tmp_path / "res", {"trials": 4})
    loaded, config = load_results(out)
    pd.testing.assert_frame_equal(loaded, small, check_dtype=False)
    assert config["trials"] == 4 and "nasxfer_version" in config
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "results.parquet"]  # no temp files left
    json.loads((out / "config.json").read_text())
    with pytest.raises(NasxferError, match="run_fresh"):
        load_results(tmp_path / "missing")


# ---- agent hook --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(bench):
    return NASEnv("class_object", bench, max_steps=10, max_neighbours=8)


def random_walk(seed):
    """A stand-in greedy policy: moves to a random neighbour slot, never stops."""
    rng = np.random.default_rng(seed)
    return lambda obs: int(rng.integers(1, obs["action_mask"].sum()))


def test_agent_search_counts_the_cells_it_moved_to(bench, env):
    oracle = agent_search(env, random_walk(0), budget=25, seed=5)
    valid = bench.task("class_object").valid
    assert oracle.n_unique == 25
    assert oracle.best_at(25)[1] == valid[oracle.cells].max()
    again = agent_search(env, random_walk(0), budget=25, seed=5)
    assert again.cells == oracle.cells  # seeded start cells and env stream


def test_agent_that_always_stops_restarts_from_seeded_cells(env):
    oracle = agent_search(env, lambda obs: 0, budget=12, seed=1)
    starts = np.random.default_rng(1).integers(env.space.size, size=50)
    assert oracle.cells == list(dict.fromkeys(starts.tolist()))[:12]


def test_agent_that_never_finds_new_cells_is_a_clear_error(env):
    with pytest.raises(NasxferError, match="max_episodes"):
        agent_search(env, lambda obs: 0, budget=50, seed=0, max_episodes=5)


def test_agent_trials_match_the_baseline_table(env):
    rows = agent_trials(env, random_walk(1), "walker", budgets=(5, 15), trials=3, progress=False)
    assert list(rows.columns) == COLUMNS and len(rows) == 6
    assert set(rows["searcher"]) == {"walker"} and set(rows["task"]) == {"class_object"}
    assert (rows["prior_queries"] == 0).all() and (rows["queries"] == rows["budget"]).all()

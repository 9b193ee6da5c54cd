"""The agents as searchers: the cells they move to are their queries, and on equal information their training queries on the target count."""

import numpy as np
import pandas as pd
import pytest
import yaml
from test_agent_search import _checkpoint

from nasxfer.comparison import COLUMNS, SCRATCH_NAME, ZERO_SHOT_NAME, run_comparison
from nasxfer.env import NASEnv
from nasxfer.errors import NasxferError
from nasxfer.search_agents import agent_search, agent_trials, agents_table, checkpoint_path, part_path
from nasxfer.search_efficiency import add_agents, save_comparison
from nasxfer.searchers import run_search
from nasxfer.stats import equal_information, random_search_expected, search_summary

TASKS = ["class_object", "autoencoder"]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory, bench):
    """A saved baseline comparison, two tasks' agents (1 seed each, fake weights) and their params file."""
    root = tmp_path_factory.mktemp("eq")
    params = root / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "profile": "ci",
                "grid": {
                    "run_name": "t",
                    "source_tasks": TASKS,
                    "target_tasks": TASKS,
                    "seeds": [0],
                    "train_steps": 600,
                    "finetune_steps": 300,
                    "eval_every": 300,
                    "eval_episodes": 10,
                    "agent": {"preset": "ci"},
                },
            }
        )
    )
    agents = root / "agents"
    for i, task in enumerate(TASKS):
        _checkpoint(checkpoint_path(agents, 0, task), bench, task, i)
        path = part_path(agents, 0, task)
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(
            {
                "seed": 0,
                "task": task,
                "env_steps": [0, 600],
                "updates": [0, 3],
                "target_queries": [0, 450 + 100 * i],
                "final_test": [0.1, 0.2],
                "final_rank_pct": [10, 20],
                "n_unique": [5, 6],
                "train_s": [0, 9],
            }
        ).to_csv(path, index=False)
    res = root / "res"
    base = run_comparison(bench, TASKS, (5, 20), trials=4, searchers=("random", "evolution"), progress=False)
    save_comparison(
        base,
        res,
        {
            "benchmark": bench.name,
            "tasks": TASKS,
            "budgets": [5, 20],
            "trials": 4,
            "base_seed": 0,
            "searchers": ["random", "evolution"],
        },
    )
    return res, agents, params, add_agents(res, agents, params, progress=False)


def test_scratch_agents_enter_at_their_training_plus_search_queries(comparison):
    _, _, _, results = comparison
    scratch = results[results.searcher == SCRATCH_NAME]
    assert len(scratch) == 2 * 4 * 2  # tasks x trials x budgets
    assert (scratch["source"] == scratch["task"]).all()
    trained = {"class_object": 450, "autoencoder": 550}
    assert (scratch["prior_queries"] == scratch["task"].map(trained)).all()
    assert (scratch["queries"] == scratch["prior_queries"] + scratch["budget"]).all()


def test_zero_shot_agents_come_from_every_other_task_and_saw_no_target_cell(comparison):
    _, _, _, results = comparison
    zs = results[results.searcher == ZERO_SHOT_NAME]
    assert set(zip(zs["source"], zs["task"])) == {("autoencoder", "class_object"), ("class_object", "autoencoder")}
    assert (zs["prior_queries"] == 0).all() and (zs["queries"] == zs["budget"]).all()
    base = results[results.searcher.isin(["random", "evolution"])]
    assert (base["queries"] == base["budget"]).all()


def test_evolution_rows_are_one_run_per_budget(bench, comparison):
    _, _, _, results = comparison
    row = results[(results.searcher == "evolution") & (results.budget == 5)].iloc[0]
    assert row["best_cell"] == run_search("evolution", bench, row["task"], 5, int(row["seed"])).best_at(5)[0]


def test_equal_information_sets_scratch_agents_against_random_search_at_their_queries(bench, comparison):
    _, _, _, results = comparison
    eq = equal_information(results, bench, "evolution").set_index("task")
    assert eq.loc["autoencoder", "scratch_queries"] == 570  # 550 training + 20 search queries
    expected = random_search_expected(bench, "autoencoder", (570,))["expected_best_test"].iloc[0]
    assert eq.loc["autoencoder", "random_at_scratch_queries"] == pytest.approx(expected)
    summary = search_summary(results)
    evo = summary[(summary.task == "autoencoder") & (summary.searcher == "evolution") & (summary.budget == 20)]
    assert eq.loc["autoencoder", "evolution"] == pytest.approx(evo["mean"].iloc[0])
    assert set(eq["zero_shot_vs_evolution"]) <= {"better", "worse", "tie"}


def test_missing_agents_are_named(comparison, tmp_path):
    res, agents, params, _ = comparison
    with pytest.raises(NasxferError, match="seed1-class_object"):
        text = params.read_text().replace("seeds:\n  - 0", "seeds:\n  - 0\n  - 1")
        (tmp_path / "p.yaml").write_text(text)
        agents_table(agents, tmp_path / "p.yaml")
    with pytest.raises(NasxferError, match="scratch"):
        equal_information(pd.DataFrame({"searcher": ["random"], "task": ["x"]}), bench=None)


@pytest.fixture(scope="module")
def env(bench):
    return NASEnv("class_object", bench, max_steps=10, max_neighbours=8)


def random_walk(seed):
    """A stand-in greedy policy: moves to a random neighbour slot, never stops."""
    rng = np.random.default_rng(seed)
    return lambda obs: int(rng.integers(1, obs["action_mask"].sum()))


def test_agent_search_counts_the_cells_it_moved_to(bench, env):
    oracle = agent_search(env, random_walk(0), budget=25, seed=5)
    valid = bench.table("class_object").valid
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

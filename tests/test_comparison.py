"""The search comparison's harness: trials -> tidy table of real lookups."""

import numpy as np
import pytest

from nasxfer.comparison import COLUMNS, run_comparison
from nasxfer.errors import NasxferError, UnknownNameError
from nasxfer.searchers import run_search

TASKS = ("class_object", "autoencoder")


@pytest.fixture(scope="module")
def small(bench):
    return run_comparison(
        bench, TASKS, budgets=(5, 20), trials=4, searchers=("random", "local"), base_seed=10, progress=False
    )


def test_comparison_is_a_tidy_table_of_real_lookups(bench, small):
    assert list(small.columns) == COLUMNS
    assert len(small) == 2 * 2 * 4 * 2  # tasks x searchers x trials x budgets
    assert set(small["seed"]) == {10, 11, 12, 13}
    for task, g in small.groupby("task"):
        t = bench.table(task)
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

"""The query oracle: budgets, repeats and best-by-validation, on the real benchmark tables."""

import numpy as np
import pytest

from nasxfer.errors import NasxferError
from nasxfer.oracle import BudgetExhausted, QueryOracle

TASK = "class_object"


def test_oracle_returns_validation_and_counts_repeats_once(bench):
    oracle = QueryOracle(bench, TASK, budget=3)
    valid = bench.table(TASK).valid
    assert oracle.query(7) == valid[7]
    assert oracle.query(7) == valid[7]
    assert oracle.query(np.int64(7)) == valid[7]
    assert oracle.n_unique == 1 and oracle.n_calls == 3
    oracle.query_many([1, 2])
    assert oracle.done and oracle.cells == [7, 1, 2]
    with pytest.raises(BudgetExhausted):
        oracle.query(7)  # spent: even a known cell ends the search


def test_oracle_budget_runs_out_part_way_through_a_batch(bench):
    oracle = QueryOracle(bench, TASK, budget=2)
    with pytest.raises(BudgetExhausted):
        oracle.query_many([5, 6, 8])
    assert oracle.cells == [5, 6]


def test_best_at_is_best_by_validation_of_each_prefix(bench):
    table = bench.table(TASK)
    cells = np.random.default_rng(0).choice(bench.space.size, 30, replace=False)
    oracle = QueryOracle(bench, TASK, budget=30)
    oracle.query_many(cells)
    for b in (1, 5, 17, 30):
        cell, valid, test = oracle.best_at(b)
        assert valid == table.valid[cells[:b]].max()
        assert cell in cells[:b] and test == table.test[cell]
    with pytest.raises(NasxferError, match="only 30 cells"):
        oracle.best_at(31)


@pytest.mark.parametrize("budget", [0, -3, 4097, 2.5, "10", True])
def test_bad_budget_is_a_clear_error(bench, budget):
    with pytest.raises(NasxferError, match="budget"):
        QueryOracle(bench, TASK, budget)

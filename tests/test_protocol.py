"""The measures every searcher is reported with: hit rates of the best cells, queries to the top 1%."""

import numpy as np
import pandas as pd
import pytest

from nasxfer.comparison import run_comparison
from nasxfer.oracle import QueryOracle
from nasxfer.protocol import protocol_table, valid_rank


def test_valid_rank_counts_strictly_better_cells(nb201):
    valid = nb201.table("cifar10").valid
    cells = np.array([int(np.argmax(valid)), int(np.argmin(valid)), 123])
    ranks = valid_rank(nb201, "cifar10", cells)
    assert ranks[0] == 0
    assert ranks[1] == (valid > valid.min()).sum()
    assert ranks[2] == (valid > valid[123]).sum()


def test_first_top_counts_queries_until_a_top_cell(nb201):
    valid = nb201.table("cifar10").valid
    order = np.argsort(-valid)
    oracle = QueryOracle(nb201, "cifar10", 5)
    for c in (order[-1], order[-2], order[10], order[-3]):
        oracle.query(int(c))
    assert oracle.first_top(0.01) == 3.0
    assert np.isnan(oracle.first_top(10 / nb201.space.size))  # order[10] is the 11th best: not in the best 10 ...
    assert oracle.first_top(11 / nb201.space.size) == 3.0  # ... but in the best 11


def test_protocol_table_rates_come_from_the_chosen_cells(nb201):
    valid = nb201.table("cifar10").valid
    order = np.argsort(-valid)
    rows = [
        {"task": "cifar10", "searcher": "s", "budget": 50, "best_cell": int(c), "best_test": 1.0, "first_top1pct": q}
        for c, q in ((order[0], 3.0), (order[2], 7.0), (order[100], np.nan), (order[5000], np.nan))
    ]
    t = protocol_table(pd.DataFrame(rows), nb201).iloc[0]
    assert t["p_best"] == 0.25 and t["p_top-3"] == 0.5
    assert t["p_top-0.1%"] == 0.5  # the best 16 cells of 15,625
    assert t["queries_to_top1pct"] == 5.0 and t["reached_top1pct"] == 0.5


def test_random_search_reaches_the_top_one_percent_as_expected(nb201):
    """Random search without replacement queries a top-1% cell (157 of 15,625) within 50 queries
    with probability 1 - C(N - 157, 50) / C(N, 50), about 0.40: the table must agree."""
    res = run_comparison(nb201, ["cifar10"], [50], 300, searchers=("random",), progress=False)
    t = protocol_table(res, nb201).iloc[0]
    n, k = nb201.space.size, 157
    expected = 1 - np.prod([(n - k - i) / (n - i) for i in range(50)])
    assert t["reached_top1pct"] == pytest.approx(expected, abs=0.09)


def _trials(searcher, reach, prior=0, budget=200):
    return pd.DataFrame(
        [
            {"task": "t", "searcher": searcher, "budget": budget, "prior_queries": prior, "first_top1pct": q}
            for q in reach
        ]
    )


def test_speedup_is_the_ratio_of_median_queries_counting_prior_ones_and_misses():
    from nasxfer.protocol import speedups

    table = pd.concat(
        [
            _trials("scratch", [40, 80, 120, np.nan, np.nan]),  # median 120
            _trials("fast", [10, 20, 30, 40, 200]),  # median 30: 4x
            _trials("primed", [10, 20, 30, 40, 200], prior=30),  # median 60: its prior queries count, 2x
            _trials("lost", [10, np.nan, np.nan, np.nan, np.nan]),  # never most of the time: median inf
        ]
    )
    s = speedups(table, "scratch", n_boot=200).set_index("searcher")
    assert s.loc["scratch", "speedup"] == 1.0
    assert s.loc["fast", "speedup"] == 4.0 and s.loc["primed", "speedup"] == 2.0
    assert s.loc["lost", "speedup"] == 0.0 and s.loc["lost", "reached"] == 0.2
    assert s.loc["fast", "ci_low"] <= 4.0 <= s.loc["fast", "ci_high"]
    with pytest.raises(Exception, match="no 'random' trials"):
        speedups(table, "random")


def test_regret_is_the_spaces_best_test_minus_the_chosen_cells(nb201):
    from nasxfer.protocol import regret_curves

    best = nb201.table("cifar10").test.max()
    table = pd.DataFrame(
        [{"task": "cifar10", "searcher": "s", "budget": 10, "best_test": best - d} for d in (1.0, 2.0, 3.0)]
    )
    r = regret_curves(table, nb201).iloc[0]
    assert r["mean"] == pytest.approx(2.0) and r["n"] == 3

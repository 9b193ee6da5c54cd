"""Our random search and evolution under NAS-Bench-201's protocol, beside its paper."""

import numpy as np
import pytest

from nasxfer.nb201_paper import (
    COLUMNS,
    PAPER,
    compare_with_paper,
    optimum_check,
    protocol_findings,
    run_paper_protocol,
)
from nasxfer.stats import random_search_expected


def test_the_quoted_optimum_is_our_tables_best_in_four_columns(nb201):
    check = optimum_check(nb201).set_index("column")
    assert check.agrees.sum() == 4
    # ImageNet16-120's validation optimum is quoted as 46.77; our table's best is 46.73
    assert not check.loc["ImageNet16-120 valid", "agrees"]
    assert check.loc["ImageNet16-120 valid", "our_table_max"] == pytest.approx(46.7333, abs=1e-3)


@pytest.fixture(scope="module")
def runs(nb201):
    return run_paper_protocol(nb201, budgets=(10, 50, 100), trials=120, progress=False)


def test_random_search_matches_its_exact_expectation(runs, nb201):
    """The chosen cells of our random runs have, on average, the test accuracy random search is
    known to reach exactly at that budget (within 4 standard errors)."""
    test = nb201.table("cifar10").test
    expected = random_search_expected(nb201, "cifar10", (10, 50, 100)).set_index("budget").expected_best_test
    for b, g in runs[runs.searcher == "random"].groupby("budget"):
        got = test[g.cell.to_numpy()]
        assert abs(got.mean() - expected[b]) < 4 * got.std(ddof=1) / np.sqrt(len(got))


def test_the_comparison_reads_each_column_of_the_chosen_cell(runs, nb201):
    row = runs.iloc[7]
    for dataset, split in COLUMNS:
        assert row[f"{dataset} {split}"] == nb201.table(dataset).split(split)[row.cell]
    cmp = compare_with_paper(runs)
    assert len(cmp) == 2 * 3 * len(COLUMNS) and (cmp.runs == 120).all()
    ev = cmp[(cmp.searcher == "evolution") & (cmp.column == "cifar10 valid")].set_index("budget")
    assert ev.paper_mean.eq(PAPER["evolution"][0][0]).all()
    assert ev.loc[100, "diff"] == pytest.approx(ev.loc[100, "our_mean"] - 91.19)


def test_the_findings_come_from_the_numbers(runs):
    text = protocol_findings(compare_with_paper(runs))
    assert text.startswith("random: our mean reaches the paper's (cifar10 valid: by 100;")
    assert "at 100 queries evolution beats random search in 5 of 5 columns (in the paper: all)" in text

"""Grid statistics refuse what does not support them: missing runs, one-seed CIs and verdicts."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nasxfer.baselines import run_search
from nasxfer.errors import NasxferError
from nasxfer.profiles import grid_config
from nasxfer.stats import (
    coverage,
    crossover_table,
    crossovers,
    curve_bands,
    headline,
    pretraining_benefit,
    random_search_expected,
    regime_ranking,
    rq1_finding,
    rq2_finding,
    rq3_finding,
    search_summary,
    summarise,
    transfer_matrix,
)

LAPTOP = Path(__file__).resolve().parents[1] / "outputs" / "laptop"


@pytest.fixture(scope="module")
def laptop():
    grid = grid_config(json.loads((LAPTOP / "config.json").read_text())["grid"])
    return grid, pd.read_parquet(LAPTOP / "results.parquet"), pd.read_parquet(LAPTOP / "curves.parquet")


def _without(df, seed=None, scratch_of=None):
    drop = pd.Series(False, index=df.index)
    if seed is not None:
        drop |= df.seed == seed
    if scratch_of is not None:
        drop |= (df.source == scratch_of) & (df.target == scratch_of)
    return df[~drop]


def test_the_complete_grid_gives_its_findings_unmarked(laptop):
    grid, results, curves = laptop
    cov = coverage(results, grid)
    assert cov.complete and cov.label == "" and cov.min_seeds == 3
    assert rq1_finding(results, grid=grid).startswith(
        "retrain: pretraining helps (mean over sources above scratch) in 1 of 4"
    )
    assert rq2_finding(results, grid=grid).endswith("-> the paper's finding (zero-shot weakest) holds here")
    assert rq3_finding(curves, grid=grid).endswith("-> the paper's finding holds here (majority of pairs)")


def _every_grid_statistic(grid, results, curves, **kw):
    return [
        lambda: transfer_matrix(results, "retrain", grid=grid, **kw),
        lambda: pretraining_benefit(results, "retrain", grid=grid, **kw),
        lambda: regime_ranking(results, grid=grid, **kw),
        lambda: curve_bands(curves, grid=grid, **kw),
        lambda: crossovers(curves, grid=grid, **kw),
        lambda: crossover_table(curves, grid=grid, **kw),
        lambda: rq1_finding(results, grid=grid, **kw),
        lambda: rq2_finding(results, grid=grid, **kw),
        lambda: rq3_finding(curves, grid=grid, **kw),
    ]


def test_a_missing_seed_is_refused_in_one_line_naming_it(laptop):
    grid, results, curves = laptop
    results, curves = _without(results, seed=1), _without(curves, seed=1)
    for statistic in _every_grid_statistic(grid, results, curves):
        with pytest.raises(
            NasxferError, match=r"^incomplete grid: 16 of 48 runs missing \(seed 1: all 16 runs\); .*allow_partial=True"
        ) as e:
            statistic()
        assert "\n" not in str(e.value)


def test_missing_scratch_runs_are_refused_by_name(laptop):
    grid, results, curves = laptop
    results = _without(results, scratch_of="segmentsemantic")
    with pytest.raises(
        NasxferError,
        match=r"3 of 48 runs missing \(seed0-scratch-segmentsemantic; seed1-scratch-segmentsemantic; seed2-scratch-segmentsemantic\)",
    ):
        rq1_finding(results, grid=grid)


def test_without_a_grid_the_table_must_be_rectangular(laptop):
    _, results, _ = laptop
    gap = results[~((results.seed == 2) & (results.source == "autoencoder") & (results.target == "room_layout"))]
    with pytest.raises(NasxferError, match=r"1 of 48 runs missing \(seed2-autoencoder-to-room_layout\)"):
        transfer_matrix(gap, "retrain")


def test_a_partial_view_says_so_in_every_sentence(laptop):
    grid, results, curves = laptop
    results, curves = _without(results, seed=1), _without(curves, seed=1)
    for x in ("env_steps", "train_s"):
        assert rq3_finding(curves, x=x, grid=grid, allow_partial=True).startswith(
            "partial: 2 of 3 seeds, 32 of 48 runs: in "
        )
    for r in ("retrain", "fine_tune"):
        assert rq1_finding(results, r, grid=grid, allow_partial=True).startswith(
            f"partial: 2 of 3 seeds, 32 of 48 runs: {r}: "
        )
    assert rq2_finding(results, grid=grid, allow_partial=True).startswith(
        "partial: 2 of 3 seeds, 32 of 48 runs: weakest regime"
    )


def test_one_seed_gives_no_ci_and_no_verdict(laptop):
    grid, results, curves = laptop
    results, curves = results[results.seed == 0], curves[curves.seed == 0]
    m = transfer_matrix(results, "retrain", grid=grid, allow_partial=True)
    off = m[m.source != m.target]
    assert (off.verdict == "n/a").all() and off.ci_low.isna().all() and off.ci_high.isna().all() and (off.n == 1).all()
    for text in (
        rq1_finding(results, grid=grid, allow_partial=True),
        rq2_finding(results, grid=grid, allow_partial=True),
        rq3_finding(curves, grid=grid, allow_partial=True),
    ):
        assert text.startswith("partial: 1 of 3 seeds, 16 of 48 runs: ")
        assert "-> no verdict on the paper's finding" in text and "holds" not in text
    assert "12 have no CI (fewer than 2 seeds)" in rq1_finding(results, grid=grid, allow_partial=True)


def test_pairs_without_a_scratch_run_are_not_counted(laptop):
    grid, results, curves = laptop
    results, curves = _without(results, scratch_of="segmentsemantic"), _without(curves, scratch_of="segmentsemantic")
    text = rq3_finding(curves, grid=grid, allow_partial=True)
    assert text.startswith("partial: 0 of 3 seeds, 45 of 48 runs: ")
    assert "sooner in" in text and "of 9 source -> target pairs (3 without a scratch run not counted)" in text
    m = transfer_matrix(results, "retrain", grid=grid, allow_partial=True)
    seg = m[(m.target == "segmentsemantic") & (m.source != "segmentsemantic")]
    assert len(seg) == 3 and (seg.verdict == "n/a").all() and seg.scratch_mean.isna().all()
    assert "in 1 of 3 target tasks (1 without a scratch run not counted)" in rq1_finding(
        results, grid=grid, allow_partial=True
    )


def test_transfer_matrix_has_no_ci_where_scratch_has_one_seed():
    rows = [
        {"seed": s, "source": src, "target": "a", "regime": "retrain", "final_test": v}
        for s, src, v in [(0, "a", 10.0), (0, "b", 12.0), (1, "b", 12.5)]
    ]
    with pytest.raises(NasxferError, match=r"seed1-scratch-a"):
        transfer_matrix(pd.DataFrame(rows), "retrain")
    m = transfer_matrix(pd.DataFrame(rows), "retrain", allow_partial=True).set_index("source")
    assert m.loc["b", "verdict"] == "n/a" and np.isnan(m.loc["b", "scratch_ci_low"]) and m.loc["b", "n"] == 2


# ---- the search comparison ---------------------------------------------------------------


def test_search_summary_is_the_mean_and_a_95_percent_bootstrap_interval(small):
    summary = search_summary(small)
    assert len(summary) == 2 * 2 * 2 and (summary["n"] == 4).all()
    g = small[(small.task == "autoencoder") & (small.searcher == "random") & (small.budget == 20)]["best_test"]
    row = summary[(summary.task == "autoencoder") & (summary.searcher == "random") & (summary.budget == 20)].iloc[0]
    ci = stats.bootstrap(
        (g.to_numpy(),),
        np.mean,
        confidence_level=0.95,
        n_resamples=9999,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    lo, hi = ci.low, ci.high
    assert row["mean"] == pytest.approx(g.mean()) and (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    assert (summary["ci_low"] <= summary["mean"]).all() and (summary["mean"] <= summary["ci_high"]).all()


def test_summary_of_identical_trials_has_a_zero_width_interval():
    df = pd.DataFrame({"task": "t", "searcher": "s", "budget": 10, "best_test": [1.0, 1.0, 1.0]})
    row = summarise(df, ["task", "searcher", "budget"], "best_test").iloc[0]
    assert row["ci_low"] == row["ci_high"] == 1.0


def test_headline_is_task_by_searcher_at_the_largest_budget(small):
    table = headline(search_summary(small))
    assert table.shape == (2, 2) and set(table.columns) == {"random", "local"}
    with pytest.raises(NasxferError, match="budget 7"):
        headline(search_summary(small), budget=7)


def test_random_search_expectation_is_exact(bench):
    table = bench.table("autoencoder")
    n = bench.space.size
    exact = random_search_expected(bench, "autoencoder", (1, 20, n)).set_index("budget")["expected_best_test"]
    assert exact[1] == pytest.approx(table.test.mean())  # one random cell
    best = table.valid == table.valid.max()
    assert exact[n] == pytest.approx(table.test[best].mean())  # the whole space: the best-by-validation cell
    sims = np.array([run_search("random", bench, "autoencoder", 20, s).best_at(20)[2] for s in range(400)])
    sem = sims.std(ddof=1) / np.sqrt(len(sims))
    assert abs(sims.mean() - exact[20]) < 4 * sem  # a wrong rank probability is off by many SEMs

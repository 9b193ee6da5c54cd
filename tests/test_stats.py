"""Grid statistics refuse what does not support them: missing runs, one-seed CIs and verdicts."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nasxfer.errors import NasxferError
from nasxfer.profiles import grid_config
from nasxfer.searchers import run_search
from nasxfer.stats import (
    catch_up_points,
    coverage,
    crossover_finding,
    crossover_points,
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
    smoothing_span,
    stays_above_from,
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
        "retrain: pretraining helps (mean over sources above scratch) in 2 of 4"
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
    assert "in 2 of 3 target tasks (1 without a scratch run not counted)" in rq1_finding(
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


# ---- cross-over (the paper's Fig. 10-13), catch-up and smoothing ------------------------------


def _run(seed, source, target, levels, steps=None, seconds=None):
    steps = list(steps if steps is not None else range(0, 100 * len(levels), 100))
    return pd.DataFrame(
        {
            "seed": seed,
            "source": source,
            "target": target,
            "kind": "scratch" if source == target else "transfer",
            "env_steps": steps,
            "train_s": seconds if seconds is not None else [x / 10 for x in steps],
            "final_test": [float(v) for v in levels],
        }
    )


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0, 1, 2, 3], [1, 1, 1, 1], 100.0),  # a meets b at 100, above after it
        ([0, 2, 2, 2], [1, 1, 1, 1], 50.0),  # crossing between evaluations, where the lines cross
        ([2, 2, 0, 3], [1, 1, 1, 1], 200 + 100 / 3),  # ahead, then behind: the last crossing counts
        ([0, 2, 0, 3], [1, 1, 1, 1], 200 + 100 / 3),  # crossed twice: the last one counts
        ([2, 2, 2, 2], [1, 1, 1, 1], 0.0),  # ahead from the start
        ([2, 2, 2, 0], [1, 1, 1, 1], np.nan),  # does not end ahead: no cross-over
        ([1, 1, 1, 1], [1, 1, 1, 1], np.nan),  # level with b is not outperforming it
    ],
)
def test_crossover_is_where_a_starts_to_stay_above_b(a, b, expected):
    x = [0, 100, 200, 300]
    got = stays_above_from(x, a, x, b)
    assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected)


def test_crossover_compares_curves_on_their_common_range():
    # b is evaluated at other steps and ends sooner: only [0, 200] is compared, where a ends ahead
    got = stays_above_from([0, 100, 200, 300], [0, 2, 2, 0], [0, 125, 200], [1, 1, 1])
    assert got == pytest.approx(50.0)
    assert np.isnan(stays_above_from([0, 100, 200, 300], [0, 2, 2, 0], [0, 300], [1, 1]))  # over [0, 300] it does not
    assert np.isnan(stays_above_from([0, 100], [1, 2], [200, 300], [0, 0]))  # no common range


def test_crossover_points_are_all_to_all_smoothed_and_censored_at_the_end():
    scratch = [_run(s, "a", "a", [1, 1, 1, 1 + 0.5 * s]) for s in (0, 1)]
    ahead = _run(0, "b", "a", [2, 2, 2, 2])
    late = _run(1, "b", "a", [0, 0, 0, 1.25])
    cp = crossover_points([ahead, late], scratch, "env_steps", "final_test", window=1)
    assert len(cp) == 4 and list(cp.transfer_seed) == [0, 0, 1, 1] and list(cp.scratch_seed) == [0, 1, 0, 1]
    assert list(cp.crossover[:2]) == [0.0, 0.0] and cp.crossed[:2].all()
    assert cp.crossover[2] == pytest.approx(280)  # 0 -> 1.25 crosses 1 at 80% of the way
    assert np.isnan(cp.crossover[3]) and not cp.crossed[3] and cp.crossover_censored[3] == cp.end[3] == 300
    # the curves are smoothed first: averaged over 2 evaluations the late run ends at 0.625, behind
    assert np.isnan(crossover_points([late], scratch[:1], "env_steps", "final_test", window=2).crossover[0])
    # the scratch reference: ordered pairs of different runs, never a run against itself
    ref = crossover_points(scratch, scratch, "env_steps", "final_test", window=1, reference=True)
    assert list(zip(ref.transfer_seed, ref.scratch_seed)) == [(0, 1), (1, 0)]
    assert np.isnan(ref.crossover[0]) and ref.crossover[1] == pytest.approx(200.0)


def _crossover_grid():
    # target a: 3 scratch runs that overtake each other late; source b ahead from the start in
    # every pair; source c behind in every pair. Target b's scratch run and a -> b for coverage.
    runs = [_run(s, "a", "a", [1, 1, 1, 1 + 0.1 * s]) for s in range(3)]
    runs += [_run(s, "b", "a", [5, 5, 5, 5]) for s in range(3)]
    runs += [_run(s, "c", "a", [0, 0, 0, 0]) for s in range(3)]
    return pd.concat(runs, ignore_index=True)


def test_crossover_table_is_fig_12_with_a_scratch_row_and_verdicts():
    t = crossover_table(_crossover_grid(), window=1).set_index("source")
    assert list(t.index) == ["a", "b", "c"]  # the scratch row first
    assert (t.loc["a", "pairs"], t.loc["b", "pairs"]) == (6, 9) and (t.loc["a", "crossed"], t.loc["b", "crossed"]) == (
        3,
        9,
    )
    # scratch: 3 of 6 ordered pairs cross at 200 (where 1 + 0.1 s rises above 1 + 0.1 s'), 3 count at the end
    assert t.loc["a", "mean"] == pytest.approx((3 * 200 + 3 * 300) / 6) and t.loc["a", "verdict"] == "scratch"
    assert t.loc["b", "mean"] == 0 and t.loc["b", "verdict"] == "sooner"  # ahead from the start, in every pair
    assert t.loc["c", "crossed"] == 0 and t.loc["c", "mean"] == 300 and t.loc["c", "verdict"] == "later"
    assert (t.scratch_mean == t.loc["a", "mean"]).all() and set(t.x) == {"env_steps"}
    secs = crossover_table(_crossover_grid(), x="train_s", window=1).set_index("source")
    assert secs.loc["a", "mean"] == pytest.approx(t.loc["a", "mean"] / 10)  # the same runs in seconds
    with pytest.raises(NasxferError, match="x must be 'env_steps' or 'train_s'"):
        crossovers(_crossover_grid(), x="wall")


def test_crossovers_smooth_with_the_window_they_are_given():
    curves = pd.concat([_run(s, "a", "a", [1, 1, 1, 1]) for s in (0, 1)] + [_run(0, "b", "a", [0, 0, 0, 1.25])])
    late = lambda w: crossovers(curves, window=w, allow_partial=True).query("source == 'b'")  # noqa: E731
    assert late(1).crossover.tolist() == pytest.approx([280, 280]) and not late(2).crossed.any()


def test_crossover_finding_checks_the_papers_significant_savings():
    curves = _crossover_grid().replace({"a": "autoencoder", "b": "room_layout", "c": "class_object"})
    text = crossover_finding(curves, window=1)
    assert "significantly sooner than one scratch run does another (CIs apart) in 1 of 2" in text
    assert ": room_layout -> autoencoder; later in 1" in text
    # the paper finds both pairs significant: class_object -> autoencoder is not here
    assert "significant here: 1 of the paper's 2 significant pairs" in text and text.endswith(
        "does not hold here (its significant savings stay significant)"
    )
    faster = curves.copy()
    faster.loc[faster.source == "class_object", "final_test"] = 5.0
    assert crossover_finding(faster, window=1).endswith(
        "-> the paper's finding holds here (its significant savings stay significant)"
    )


def test_catch_up_is_where_transfer_reaches_scratch_final_level():
    x = np.arange(0, 1000, 100)
    scratch = pd.DataFrame({"env_steps": x, "v": np.linspace(0, 9, 10)})
    fast = pd.DataFrame({"env_steps": x, "v": np.minimum(np.linspace(0, 27, 10), 9.5)})
    never = pd.DataFrame({"env_steps": x, "v": np.full(10, 1.0)})
    cp = catch_up_points([fast, never], [scratch], "env_steps", "v", window=1)
    assert cp.catch_up[0] == pytest.approx(300) and cp.scratch_x[0] == pytest.approx(900)
    assert cp.saving[0] == pytest.approx(1 - 300 / 900) and np.isnan(cp.catch_up[1])


def test_smoothing_span_says_when_the_window_is_too_much_of_a_run(laptop):
    _, _, curves = laptop  # the checked-in run: an evaluation every 400 of 60,000 env steps
    span = smoothing_span(curves, 16)
    assert span["evaluations"] >= 128 and span["needed"] == 107 and span["ok"] and "(at most 15%: fine)" in span["text"]
    sparse = curves[curves.groupby(["seed", "source", "target"]).cumcount() % 8 == 0]  # every 8th evaluation kept
    span = smoothing_span(sparse, 16)
    assert span["evaluations"] < 107 and not span["ok"]
    assert f"spans {16 / span['evaluations']:.0%} of a run: too much" in span["text"]
    assert "smaller grid.eval_every" in span["text"]
    long = pd.concat([_run(s, "a", "a", np.zeros(107)) for s in (0, 1)])
    assert (
        smoothing_span(long, 16)["ok"] and "spans 15% of a run (at most 15%: fine)" in smoothing_span(long, 16)["text"]
    )


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

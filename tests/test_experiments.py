"""The transfer grid: units, resume, the regime table."""

import numpy as np
import pandas as pd
import pytest

from nasxfer import experiments as ex
from nasxfer.errors import NasxferError
from nasxfer.grid import GridConfig
from nasxfer.stats import mean_ci, pretraining_benefit, transfer_matrix


def _curve(seed, source, target, levels, steps=(0, 100, 200, 300, 400)):
    return pd.DataFrame(
        {
            "run_name": "t",
            "seed": seed,
            "source": source,
            "target": target,
            "kind": "scratch" if source == target else "transfer",
            "env_steps": list(steps),
            "updates": 0,
            "train_s": [s / 10 for s in steps],
            "wall_s": 0.0,
            "final_test": levels,
            "final_rank_pct": levels,
            "best_test": levels,
            "n_unique": 5.0,
            "ret": 0.0,
        }
    )


def test_regime_table_reads_each_regime_at_its_budget():
    g = GridConfig(
        run_name="t",
        source_tasks=["class_object", "autoencoder"],
        target_tasks=["class_object", "autoencoder"],
        seeds=[0],
        train_steps=400,
        finetune_steps=200,
        eval_every=100,
        agent={"preset": "ci"},
    )
    curves = pd.concat(
        [
            _curve(0, "autoencoder", "class_object", [1, 2, 3, 4, 5]),
            _curve(0, "class_object", "class_object", [0, 1, 2, 3, 9]),
        ]
    )
    r = ex.regime_table(curves, g).set_index(["source", "regime"])["final_test"]
    assert (
        r[("autoencoder", "zero_shot")] == 1
        and r[("autoencoder", "fine_tune")] == 3
        and r[("autoencoder", "retrain")] == 5
    )
    # the diagonal: scratch at the same budgets; its zero-shot is the trained agent on its own task
    assert (
        r[("class_object", "fine_tune")] == 2
        and r[("class_object", "retrain")] == 9
        and r[("class_object", "zero_shot")] == 9
    )


# Resuming a grid (killed runs, damaged parts and checkpoints, changed settings, the run lock,
# stop signals) is tested on a real trained grid in tests/test_resume.py.


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import errno
    import os
    import types

    from nasxfer import io as nio

    real_write, calls = os.write, []

    def fills_up(fd, data):  # the first chunk lands, then the disk is full
        calls.append(fd)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, bytes(data[:100]))

    monkeypatch.setattr(nio, "os", types.SimpleNamespace(**{**vars(os), "write": fills_up}))
    with pytest.raises(NasxferError, match=f"no space left writing {tmp_path / 'x.parquet'}"):
        nio.write_atomic(pd.DataFrame({"a": range(1000)}), tmp_path / "x.parquet")
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    nio.write_atomic(pd.DataFrame({"a": [1]}), tmp_path / "x.parquet")
    nio.write_json_atomic({"b": 2}, tmp_path / "x.json")
    assert pd.read_parquet(tmp_path / "x.parquet").a.tolist() == [1] and sorted(p.name for p in tmp_path.iterdir()) == [
        "x.json",
        "x.parquet",
    ]


def test_mean_ci_brackets_the_mean_and_handles_small_samples():
    s = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["ci_low"] < s["mean"] == 3.0 < s["ci_high"] and s["std"] == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1))
    assert mean_ci([2.0])["ci_low"] == mean_ci([2.0])["ci_high"] == 2.0
    assert mean_ci([np.nan])["n"] == 0


def test_transfer_matrix_verdicts():
    rows = []
    for seed, noise in enumerate((-0.1, 0.0, 0.1)):
        rows += [
            {"seed": seed, "source": "a", "target": "a", "regime": "retrain", "final_test": 10 + noise},
            {"seed": seed, "source": "b", "target": "a", "regime": "retrain", "final_test": 12 + noise},
            {"seed": seed, "source": "c", "target": "a", "regime": "retrain", "final_test": 8 + noise},
            {"seed": seed, "source": "d", "target": "a", "regime": "retrain", "final_test": 10 + 3 * noise},
        ]
    m = transfer_matrix(pd.DataFrame(rows), "retrain").set_index("source")
    assert list(m.verdict) == ["scratch", "better", "worse", "tie"]
    b = pretraining_benefit(pd.DataFrame(rows), "retrain").iloc[0]
    assert b.better == 1 and b.worse == 1 and b.sources == 3


def _grid_results(zero_shot_level, transfer_level):
    # two targets, one other source each; scratch at 10 on both; three seeds
    rows = []
    for seed, noise in enumerate((-0.1, 0.0, 0.1)):
        for target, source in (("a", "b"), ("b", "a")):
            for regime in ("zero_shot", "fine_tune", "retrain"):
                rows.append(
                    {
                        "seed": seed,
                        "source": target,
                        "target": target,
                        "regime": regime,
                        "final_test": 10 + noise,
                        "final_rank_pct": 50 + noise,
                    }
                )
                level = zero_shot_level if regime == "zero_shot" else transfer_level
                rows.append(
                    {
                        "seed": seed,
                        "source": source,
                        "target": target,
                        "regime": regime,
                        "final_test": level + noise,
                        "final_rank_pct": 5 * level + noise,
                    }
                )
    return pd.DataFrame(rows)


def test_findings_say_whether_the_paper_holds_from_the_numbers():
    from nasxfer.stats import rq1_finding, rq2_finding

    helps = _grid_results(zero_shot_level=2, transfer_level=12)
    assert "in 2 of 2 target tasks" in rq1_finding(helps) and rq1_finding(helps).endswith("holds here")
    hurts = _grid_results(zero_shot_level=2, transfer_level=8)
    assert "in 0 of 2" in rq1_finding(hurts) and "does not hold" in rq1_finding(hurts)
    assert rq2_finding(helps).startswith("weakest regime: zero_shot") and rq2_finding(helps).endswith("holds here")
    assert "does not hold" in rq2_finding(_grid_results(zero_shot_level=30, transfer_level=12))


def test_rq3_finding_counts_pairs_where_transfer_is_faster():
    from nasxfer.stats import rq3_finding

    fast = pd.concat(
        [_curve(s, "b", "a", [4, 5, 5, 5, 5]) for s in (0, 1)] + [_curve(s, "a", "a", [1, 2, 3, 4, 5]) for s in (0, 1)]
    )
    text = rq3_finding(fast, window=1)
    assert "sooner in 1 of 1" in text and "mean saving 75%" in text and text.endswith("holds here (majority of pairs)")
    slow = pd.concat(
        [_curve(s, "b", "a", [1, 1, 1, 1, 2]) for s in (0, 1)] + [_curve(s, "a", "a", [1, 2, 3, 4, 5]) for s in (0, 1)]
    )
    assert "sooner in 0 of 1" in rq3_finding(slow, window=1) and "does not hold" in rq3_finding(slow, window=1)


def test_scratch_learning_reads_floor_start_and_end_of_scratch_runs():
    from nasxfer.stats import scratch_learning

    runs = [_curve(s, "a", "a", [1 + s, 2, 3, 4, 5 + s]).assign(random_walk_final_test=0.5) for s in (0, 1)]
    runs.append(_curve(0, "b", "a", [9, 9, 9, 9, 9]))  # a transfer run: not a scratch agent
    row = scratch_learning(pd.concat(runs)).iloc[0]
    assert (row.target, row.seeds, row.random_walk, row.untrained, row.trained, row.env_steps) == (
        "a",
        2,
        0.5,
        1.5,
        5.5,
        400,
    )

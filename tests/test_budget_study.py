"""The budget study: its params section is checked where it enters, each finding's statistic
measures what it says (on tables whose answer is known), and the words about how findings move
with the budget follow from the numbers."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from nasxfer.budget_study import (
    Study,
    extrapolate,
    finding_samples,
    finding_statistics,
    open_study,
    shifts,
    study_config,
)
from nasxfer.errors import NasxferError
from nasxfer.grid import GridConfig
from nasxfer.profiles import load_params

TARGETS = {"room_layout": ["class_object", "segmentsemantic"], "segmentsemantic": ["class_object", "room_layout"]}
TASKS = ["class_object", "room_layout", "segmentsemantic"]
SEEDS = [0, 1, 2]
BASE = GridConfig(source_tasks=TASKS, target_tasks=TASKS, train_steps=60000, finetune_steps=6000, eval_every=400)


def _section(**over):
    s = {
        "source_tasks": TASKS,
        "target_tasks": list(TARGETS),
        "budgets": [{"train_steps": 20000, "finetune_steps": 2000, "eval_every": 100}, "main"],
    }
    return {**s, **over}


def test_a_valid_section_sorts_its_budgets_and_takes_main_from_the_grid():
    cfg = study_config(
        _section(budgets=["main", {"train_steps": 20000, "finetune_steps": 2000, "eval_every": 100}]), BASE
    )
    assert [(b.train_steps, b.main) for b in cfg.budgets] == [(20000, False), (60000, True)]
    assert cfg.budgets[1].finetune_steps == 6000 and cfg.budgets[1].eval_every == 400


@pytest.mark.parametrize(
    "over, says",
    [
        ({"budgets": ["main"]}, "at least two budgets"),
        ({"budgets": ["main", {"train_steps": 20000}]}, "exactly train_steps, finetune_steps and eval_every"),
        ({"budgets": ["main", {"train_steps": 60000, "finetune_steps": 6000, "eval_every": 400}]}, "same train_steps"),
        ({"budgets": ["main", {"train_steps": 0, "finetune_steps": 2000, "eval_every": 100}]}, "train_steps must be"),
        ({"budgets": ["main", {"train_steps": 20000, "finetune_steps": 2000, "eval_every": 300}]}, "multiple of"),
        ({"source_tasks": ["class_object", "jigsaw"]}, "no task ['jigsaw']"),
        ({"target_tasks": ["room_layut"]}, "unknown task"),
        ({"budget": []}, "unknown key(s) ['budget']"),
    ],
)
def test_a_bad_section_is_refused_naming_the_problem(over, says):
    with pytest.raises(NasxferError) as e:
        study_config(_section(**over), BASE)
    assert says in str(e.value)


def test_params_files_accept_the_section_and_still_refuse_unknown_keys(tmp_path):
    laptop = load_params("params/laptop.yaml")
    assert laptop["budget_study"].budgets[1].main and len(laptop["budget_study"].budgets) == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {train_steps: 600, finetune_steps: 200, eval_every: 1}\nbudget_studies: {}\n")
    with pytest.raises(NasxferError, match="unknown top-level key"):
        load_params(bad)


def test_a_study_with_fewer_than_two_budgets_run_is_refused_with_the_command(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text(
        f"results_dir: {tmp_path / 'grid'}\n"
        "grid: {source_tasks: [class_object, room_layout, segmentsemantic], "
        "target_tasks: [class_object, room_layout, segmentsemantic], train_steps: 60000, finetune_steps: 6000, "
        "eval_every: 400}\n"
        f"budget_study: {{results_dir: {tmp_path / 'study'}, source_tasks: {TASKS}, target_tasks: {list(TARGETS)}, "
        "budgets: [main, {train_steps: 20000, finetune_steps: 2000, eval_every: 100}]}\n"
    )
    with pytest.raises(NasxferError, match=r"results for 0 of its 2 budgets.*nasxfer budget-study"):
        open_study(str(p), run_fresh=False)


# ---- the statistics, on tables whose answer is known --------------------------------------------


def _fake_run(finetune_gap, retrain_gap, zero_shot, transfer_level, n_evals=40):
    """A run of the study's grid: scratch rank percentile 50 + seed, transfers `finetune_gap` /
    `retrain_gap` points away from their target's scratch at those regimes, `zero_shot` before
    target training; scratch curves rise 0 -> 1, transferred ones sit at `transfer_level`."""
    rows, curves = [], []
    steps = np.arange(n_evals) * 100
    for seed in SEEDS:
        for task in TASKS:
            for regime in ("zero_shot", "fine_tune", "retrain"):
                rows.append((seed, task, task, regime, 50.0 + seed))
            curves.append(pd.DataFrame({"seed": seed, "source": task, "target": task, "env_steps": steps,
                                        "final_test": steps / steps[-1]}))  # fmt: skip
        for target, sources in TARGETS.items():
            for k, source in enumerate(sources):
                jitter = 0.5 * k  # sources differ a little
                rows += [
                    (seed, source, target, "zero_shot", zero_shot + jitter),
                    (seed, source, target, "fine_tune", 50.0 + seed + finetune_gap + jitter),
                    (seed, source, target, "retrain", 50.0 + seed + retrain_gap + jitter),
                ]
                curves.append(pd.DataFrame({"seed": seed, "source": source, "target": target, "env_steps": steps,
                                            "final_test": transfer_level}))  # fmt: skip
    results = pd.DataFrame(rows, columns=["seed", "source", "target", "regime", "final_rank_pct"])
    grid = SimpleNamespace(seeds=SEEDS, finetune_steps=600)
    return SimpleNamespace(results=results, curves=pd.concat(curves), grid=grid, scope={"grid": None})


def test_each_statistic_is_what_the_tables_say():
    s = finding_samples(_fake_run(finetune_gap=10, retrain_gap=-4, zero_shot=20, transfer_level=1.0))
    # one sample per target and seed, averaged over its two sources (jitter 0 and 0.5)
    assert {k: len(v) for k, v in s.items()} == {"rq1_fine_tune": 6, "rq1_retrain": 6, "rq2": 6, "rq3": 6}
    assert np.allclose(s["rq1_fine_tune"], 10.25) and np.allclose(s["rq1_retrain"], -3.75)
    # zero-shot 20.25 against fine-tune 60.25 + seed
    assert sorted(np.round(s["rq2"], 2)) == sorted([-40.0 - seed for seed in SEEDS for _ in TARGETS])
    assert np.allclose(s["rq3"], 1.0)  # transferred runs start at scratch's final level: all sooner
    never = finding_samples(_fake_run(10, -4, 20, transfer_level=0.0))["rq3"]
    assert np.allclose(never, 0.0)  # never reaching it is never sooner


def _study(*runs, steps=(20000, 60000)):
    budgets = [SimpleNamespace(train_steps=s, main=False) for s in steps]
    return Study(config=None, budgets=budgets, runs=list(runs), speed=None)


def test_significance_and_agreement_follow_the_paper_s_side_of_no_effect():
    st = finding_statistics(_study(_fake_run(10, -4, 20, 1.0), _fake_run(0.2, 0.1, 70, 0.0)))
    at = st.set_index(["train_steps", "finding"])
    small, large = at.loc[20000], at.loc[60000]
    assert small.loc["rq1_fine_tune", "agrees"] and small.loc["rq1_fine_tune", "significant"]
    assert not small.loc["rq1_retrain", "agrees"] and small.loc["rq1_retrain", "significant"]
    assert small.loc["rq2", "agrees"] and small.loc["rq3", "agrees"] and small.loc["rq3", "null"] == 0.5
    # at the large budget zero-shot (70) beats fine-tune (~51): RQ2 flips; no transfer reaches scratch: RQ3 flips
    assert not large.loc["rq2", "agrees"] and not large.loc["rq3", "agrees"] and large.loc["rq3", "significant"]
    words = shifts(st).set_index("finding")
    assert words.loc["rq2", "changes"] == "changes sign" and words.loc["rq3", "changes"] == "changes sign"
    assert words.loc["rq1_retrain", "changes"] in ("changes sign", "changes sign and significance")
    assert words.loc["rq1_fine_tune", "sentence"].startswith("RQ1 (fine-tune): pretraining helps: ")
    same = shifts(finding_statistics(_study(_fake_run(10, 5, 20, 1.0), _fake_run(12, 6, 18, 1.0))))
    assert set(same.changes) == {"does not change sign or significance"}


def test_extrapolation_is_a_line_in_log_budget_with_a_bootstrap_interval():
    noiseless = {
        10**4: {"rq1_retrain": np.full(6, -2.0), "rq3": np.full(6, 0.4)},
        10**5: {"rq1_retrain": np.full(6, 1.0), "rq3": np.full(6, 0.8)},
    }
    ext = extrapolate(noiseless, 10**7).set_index("finding")
    assert ext.loc["rq1_retrain", "slope_per_decade"] == pytest.approx(3.0)
    assert ext.loc["rq1_retrain", "mean"] == pytest.approx(7.0) and ext.loc["rq1_retrain", "decades_beyond"] == 2
    assert ext.loc["rq1_retrain", ["ci_low", "ci_high"]].tolist() == pytest.approx([7.0, 7.0])  # no noise, no width
    assert ext.loc["rq1_retrain", "agrees"] and ext.loc["rq1_retrain", "points"] == 2
    assert ext.loc["rq3", "mean"] == 1.0 and ext.loc["rq3", "ci_high"] == 1.0  # a share stays a share
    noisy = {n: {"rq1_retrain": v["rq1_retrain"] + np.array([-3, -2, -1, 1, 2, 3])} for n, v in noiseless.items()}
    e = extrapolate(noisy, 10**7).set_index("finding").loc["rq1_retrain"]
    assert e["mean"] == pytest.approx(7.0) and e.ci_low < 7.0 < e.ci_high
    # the noise of two budgets a decade apart, carried two decades on, is wider than either budget's own
    assert e.ci_high - e.ci_low > 2 * 2.0


def test_the_command_names_a_params_file_without_a_study(capsys):
    from nasxfer.__main__ import main

    assert main(["budget-study", "params/paper.yaml"]) == 2
    assert "has no budget_study: section" in capsys.readouterr().err


def test_the_findings_table_has_a_column_per_budget_and_marks_agreement_and_significance():
    from nasxfer.budget_study import findings_table

    t = findings_table(finding_statistics(_study(_fake_run(10, -4, 20, 1.0), _fake_run(0.2, 0.1, 70, 0.0))))
    assert list(t.columns) == ["finding", "statistic", "paper", "20,000 steps", "60,000 steps"]
    row = t.set_index("finding")
    assert row.loc["rq1_fine_tune", "20,000 steps"].startswith("10.2 [") and row.loc[
        "rq1_fine_tune", "20,000 steps"
    ].endswith(" +")
    assert row.loc["rq1_retrain", "20,000 steps"].endswith(" -") and row.loc["rq3", "60,000 steps"].startswith("0.00 [")


def test_the_command_refuses_a_budget_the_study_does_not_have(capsys):
    from nasxfer.__main__ import main

    assert main(["budget-study", "params/laptop.yaml", "--budgets", "30000"]) == 2
    assert "no budget of [30000] env steps in this budget study; its budgets are [20000, 60000, 200000]" in (
        capsys.readouterr().err
    )


def test_the_chart_has_a_panel_per_finding_and_keeps_the_extrapolation_apart():
    from nasxfer.figures import budget_chart

    study = _study(_fake_run(10, -4, 20, 1.0), _fake_run(0.2, 0.1, 70, 0.0))
    spec = budget_chart(finding_statistics(study), extrapolate(study.samples, 10**7)).to_dict()
    rows = pd.DataFrame(next(iter(spec["datasets"].values())))
    assert rows.panel.nunique() == 4 and set(rows.kind) == {"measured", "extrapolated (a guess)"}
    assert rows[rows.kind != "measured"].train_steps.unique().tolist() == [10**7]
    rule = spec["spec"]["layer"][0]
    assert rule["mark"]["type"] == "rule" and "x" not in rule["encoding"]  # the no-effect line spans its panel

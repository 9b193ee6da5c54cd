"""The reward definition (``improvement`` | ``level``): what each step, the stop action and the
time limit pay, how the choice travels from AgentParams to the env, and the study comparing them."""

import json

import numpy as np
import pandas as pd
import pytest

from nasxfer.agent.params import AgentParams
from nasxfer.env import REWARDS, NASEnv
from nasxfer.errors import NasxferError
from nasxfer.profiles import repo_root
from nasxfer.reward_study import (
    StudyConfig,
    final_quality,
    learning_curves,
    load_study,
    missing_runs,
    run_name,
    run_study,
    verdicts,
)

STUDY = repo_root() / "outputs" / "reward_definition"


def _walk(env, actions, start=7):
    env.reset(seed=0, options={"start_cell": start})
    cells, rewards, ends = [start], [], []
    for a in actions:
        _, r, term, trunc, info = env.step(a)
        cells.append(info["cell"])
        rewards.append(r)
        ends.append((term, trunc))
        if term or trunc:
            break
    return cells, rewards, ends


@pytest.mark.parametrize("task", ["segmentsemantic", "room_layout"])
def test_level_pays_the_shaped_metric_of_the_cell_reached(bench, task):
    env = NASEnv(task, bench, max_steps=20, reward="level")
    cells, rewards, _ = _walk(env, [1, 3, 2, 5])
    assert rewards == pytest.approx([env.rewards[c] for c in cells[1:]])
    assert all(0 <= r <= 1 for r in rewards)  # room_layout's negative loss too: min-max scaled


def test_level_stop_pays_the_kept_cell_and_the_time_limit_pays_no_bonus(bench):
    env = NASEnv("segmentsemantic", bench, max_steps=3, reward="level")
    cells, rewards, ends = _walk(env, [2, 0])
    assert ends[-1] == (True, False) and cells[-1] == cells[-2]
    assert rewards[-1] == pytest.approx(env.rewards[cells[-1]])
    cells, rewards, ends = _walk(env, [1, 1, 1, 1])
    assert ends == [(False, False), (False, False), (False, True)]
    assert rewards[-1] == pytest.approx(env.rewards[cells[-1]])  # just that step's level


def test_improvement_telescopes_and_stopping_pays_nothing(bench):
    env = NASEnv("segmentsemantic", bench, max_steps=10, reward="improvement")
    cells, rewards, ends = _walk(env, [1, 4, 2, 0])
    assert ends[-1] == (True, False) and rewards[-1] == 0.0
    assert sum(rewards) == pytest.approx(env.rewards[cells[-1]] - env.rewards[cells[0]])


def test_the_two_definitions_walk_the_same_cells(bench):
    """Only the reward differs: same seed and actions, same cells and observations."""
    a = NASEnv("room_layout", bench, max_steps=10, reward="improvement")
    b = NASEnv("room_layout", bench, max_steps=10, reward="level")
    assert _walk(a, [1, 2, 3])[0] == _walk(b, [1, 2, 3])[0]


def test_reward_travels_from_params_to_the_env(bench):
    for reward in REWARDS:
        cfg = AgentParams.preset("laptop", task="segmentsemantic", reward=reward).env_config()
        assert cfg["reward"] == reward and cfg["param"] == "paper"
        env = NASEnv(**{**cfg, "benchmark": bench})
        assert env.reward == reward and env.shaper.param == 0.478
    assert AgentParams.paper().reward == "level" and AgentParams.laptop().reward == "improvement"


def test_unknown_reward_names_the_choices(bench):
    with pytest.raises(NasxferError, match="choose one of: 'improvement', 'level'"):
        NASEnv("class_object", bench, reward="levels")
    with pytest.raises(NasxferError, match=r"AgentParams.reward.*'improvement', 'level'"):
        AgentParams.from_dict({"reward": "delta"})


# ---- the study -----------------------------------------------------------------------------------


def test_study_refuses_a_folder_made_with_other_settings_before_training(tmp_path):
    cfg = StudyConfig(tasks=["room_layout"], seeds=[0], train_steps=600, agent={"preset": "ci"})
    (tmp_path / "config.json").write_text(json.dumps({"study": {**cfg.__dict__, "train_steps": 900}}))
    with pytest.raises(NasxferError, match=r"other settings \(train_steps: folder 900, asked 600\)"):
        run_study(cfg, tmp_path, progress=False)


def test_study_config_refuses_bad_values():
    with pytest.raises(NasxferError, match="unknown reward 'delta'"):
        StudyConfig(rewards=["delta"])
    with pytest.raises(NasxferError, match="seeds"):
        StudyConfig(seeds=[])
    with pytest.raises(NasxferError, match="no_task"):
        StudyConfig(tasks=["no_task"])


def test_checked_in_study_is_whole_and_summarised_from_its_curves():
    curves, cfg = load_study(STUDY)
    assert set(cfg.rewards) == set(REWARDS) and len(cfg.tasks) >= 2
    finished = {run_name(s, t, r) for s, t, r in cfg.runs()} - set(missing_runs(curves, cfg))
    assert finished, "the checked-in study holds no finished run"
    q = final_quality(curves)
    for _, row in q.iterrows():
        runs = curves[(curves.task == row.task) & (curves.reward == row.reward)]
        last = runs.sort_values("env_steps").groupby("seed").final_test.last()
        assert row["mean"] == pytest.approx(last.mean()) and row["n"] == len(last)
        assert row.ci_low <= row["mean"] <= row.ci_high
    for sentence, task in zip(verdicts(q), q.task.unique()):
        assert sentence.startswith(f"{task}: ")
    bands = learning_curves(curves)
    assert set(bands.reward) == set(curves.reward) and (bands.ci_low <= bands["mean"] + 1e-12).all()


def test_missing_runs_names_runs_cut_short():
    cfg = StudyConfig(tasks=["room_layout"], rewards=["level"], seeds=[0, 1], train_steps=1000, agent={"preset": "ci"})
    curves = pd.DataFrame({"seed": [0, 0, 1], "task": "room_layout", "reward": "level", "env_steps": [0, 1000, 500]})
    assert missing_runs(curves, cfg) == ["seed1-room_layout-level"]
    assert np.isfinite(curves.env_steps).all()


def test_verdict_says_which_reward_ends_higher_and_whether_the_intervals_overlap():
    q = pd.DataFrame(
        {
            "task": ["t", "t", "u", "u"],
            "reward": ["improvement", "level"] * 2,
            "n": [3, 3, 3, 3],
            "mean": [0.5, 0.7, 0.5, 0.52],
            "ci_low": [0.45, 0.65, 0.4, 0.45],
            "ci_high": [0.55, 0.75, 0.6, 0.6],
            "final_length": [3.0, 50.0, 4.0, 50.0],
        }
    )
    t, u = verdicts(q)
    assert "level higher, 95% CIs apart" in t and "after 50.0 vs 3.0 steps" in t
    assert "level higher, 95% CIs overlap" in u
    (one,) = verdicts(q[q.task == "t"].assign(n=[1, 3]))
    assert "fewer than 2 seeds, no interval and no verdict" in one and "higher" not in one


def test_study_settings_come_from_the_params_file():
    from nasxfer.profiles import load_params
    from nasxfer.reward_study import config_from_params

    grid = load_params(repo_root() / "params" / "laptop.yaml")["grid"]
    cfg = config_from_params(repo_root() / "params" / "laptop.yaml")
    assert (cfg.train_steps, cfg.eval_every, cfg.agent) == (grid.train_steps, grid.eval_every, grid.agent)
    assert cfg.tasks == ["segmentsemantic", "room_layout"] and cfg.seeds == [0, 1, 2]
    assert cfg.params("room_layout", "level", 2).replace(progress=False).reward == "level"

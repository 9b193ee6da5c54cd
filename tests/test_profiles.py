"""Params files: the shipped ones, bad ones, paths from the repository root, grid overrides."""

from pathlib import Path

import pytest

from nasxfer.errors import NasxferError
from nasxfer.profiles import check_parameter, load_params, merge_grid, params_path, repo_root

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("profile", ["ci", "laptop", "paper", "cluster"])
def test_shipped_params_files_are_valid(profile):
    params = load_params(ROOT / f"params/{profile}.yaml")
    assert params["profile"] == profile and params["grid"].run_name == profile
    assert params["results_dir"] == ROOT / "outputs" / profile  # the CLI and the notebooks write here


def test_laptop_grid_is_the_full_4x4_over_3_seeds():
    g = load_params(ROOT / "params/laptop.yaml")["grid"]
    units = g.units()
    assert len(units) == 3 * (4 + 12) and len(set(units)) == len(units)
    # every transfer comes after the scratch run whose weights it loads
    done = set()
    for u in units:
        if u.scratch:
            done.add((u.seed, u.target))
        else:
            assert (u.seed, u.source) in done


@pytest.mark.parametrize("where", [".", "notebooks", "/"])
def test_paths_are_taken_from_the_repository_root_not_the_working_folder(where, monkeypatch):
    monkeypatch.chdir(ROOT / where)
    assert repo_root() == ROOT and params_path("ci") == ROOT / "params" / "ci.yaml"
    assert load_params(params_path("ci"))["results_dir"] == ROOT / "outputs" / "ci"


@pytest.mark.parametrize(
    "text, message",
    [
        ("grid: {seeds: [0], source_tasks: [imagenet]}", "unknown task in grid.source_tasks 'imagenet'"),
        ("grid: {train_steps: -5}", "grid.train_steps must be an integer >= 1"),
        ("grid: {finetune_steps: 30000, train_steps: 20000}", "exceeds grid.train_steps"),
        ("grid: {finetune_steps: 1500, eval_every: 1000}", "multiple of grid.eval_every"),
        ("grid: {agent: {epsilon: 1.5}}", "epsilon"),
        ("grid: {agent: {learning_rate: 0.1}}", "unknown agent parameter"),
        ("grid: {trainsteps: 10}", "unknown grid key"),
        ("profile: x\n", "needs a top-level 'grid:' section"),
        ("grid: {}\nfoo: 1\n", "unknown top-level key"),
        ("grid: [unclosed", "not valid YAML"),
        ("grid: {}\nresults_dir: 5\n", "results_dir must be a path, got int 5"),
        ("grid: {}\nrun_fresh: 'no'\n", "run_fresh must be True or False, got str 'no'"),
    ],
)
def test_bad_params_files_get_clear_errors(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(NasxferError, match=message):
        load_params(path)


def test_missing_params_file():
    with pytest.raises(NasxferError, match="does not exist"):
        load_params("params/nope.yaml")
    with pytest.raises(NasxferError, match="no params file for profile 'nope'"):
        params_path("nope")


def test_a_grid_override_replaces_only_the_keys_it_names():
    ci = load_params(ROOT / "params/ci.yaml")["grid"]
    g = merge_grid(ci, {"seeds": [0], "agent": {"epsilon": 0.3}})
    assert g.seeds == [0] and g.train_steps == ci.train_steps == 600 and g.source_tasks == ci.source_tasks
    assert g.agent == {**ci.agent, "epsilon": 0.3} and g.agent["preset"] == "ci"  # the preset stays
    assert merge_grid(ci, None) is ci
    with pytest.raises(NasxferError, match=r"unknown grid key\(s\) \['sed'\]"):
        merge_grid(ci, {"sed": [0]})


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("run_fresh", "False", r"use papermill -p run_fresh False \(-p, not -r"),
        ("run_fresh", 0, "run_fresh must be True or False, got int 0"),
        ("overwrite", "True", "use papermill -p overwrite True"),
        ("results_dir", 5, "results_dir must be a path"),
        ("results_dir", True, "results_dir must be a path"),
        ("grid", ["seeds"], "grid must be a mapping"),
        ("profile", 3, "profile must be a name"),
        ("run_fast", True, "unknown notebook parameter 'run_fast'"),
    ],
)
def test_notebook_parameters_are_checked_where_they_enter(key, value, message):
    with pytest.raises(NasxferError, match=message):
        check_parameter(key, value)


def test_good_notebook_parameters_pass():
    assert check_parameter("run_fresh", False) is False and check_parameter("results_dir", "outputs/x") == "outputs/x"
    assert check_parameter("grid", None) is None and check_parameter("results_dir", Path("/tmp")) == Path("/tmp")


def test_laptop_is_one_definition():
    """The laptop profile's grid is GridConfig's defaults, and its agent preset is AgentParams'
    defaults: the YAML, the dataclass and the preset cannot drift apart."""
    from dataclasses import asdict

    from nasxfer.agent.params import AgentParams
    from nasxfer.grid import GridConfig

    laptop = load_params("params/laptop.yaml")["grid"]
    assert asdict(laptop) == asdict(GridConfig())
    assert AgentParams.preset("laptop") == AgentParams()
    assert laptop.agent_params("class_object", 0).eval_every == laptop.eval_every == AgentParams().eval_every


# ---- how often runs are evaluated: the paper's moving average of 16 needs >= 107 evaluations ----


@pytest.mark.parametrize("profile", ["ci", "laptop", "cluster"])
def test_shipped_profiles_evaluate_often_enough_for_the_moving_average(profile):
    import warnings

    from nasxfer.grid import MIN_EVALUATIONS, SMOOTHING_WINDOW, EvalFrequencyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", EvalFrequencyWarning)
        g = load_params(ROOT / f"params/{profile}.yaml")["grid"]
    assert MIN_EVALUATIONS == 107 and SMOOTHING_WINDOW / MIN_EVALUATIONS <= 0.15
    assert g.evaluations_per_run() >= MIN_EVALUATIONS and g.eval_frequency_problem() is None
    assert g.finetune_steps % g.eval_every == 0  # the fine-tune budget is still evaluated


# a runner process sampling rounds of 8 envs x 8 steps (64 to 71 env steps), as an earlier laptop run did
RUNNER_8X8 = {"preset": "laptop", "num_env_runners": 1, "num_envs_per_env_runner": 8}


@pytest.mark.parametrize(
    "grid, fix, fits, too_few",
    [
        (
            {"train_steps": 20000, "finetune_steps": 5000, "eval_every": 1000, "agent": RUNNER_8X8},
            r"gives as few as 19 evaluations .* spans 84% .*set grid.eval_every to 100 or less",
            100,
            125,  # 103 evaluations at worst
        ),
        (
            {"train_steps": 600, "finetune_steps": 200, "eval_every": 100, "agent": RUNNER_8X8},
            r"raise grid.train_steps to >= 7526",
            None,
            None,
        ),
        # rounds of 16 envs x 8 steps in the driver (128 to 143): a round at least eval_every long
        # always ends with an evaluation, so 125 gives 1 + 20000 // 143 = 140
        (
            {
                "train_steps": 20000,
                "finetune_steps": 5000,
                "eval_every": 1000,
                "agent": {"preset": "laptop", "num_env_runners": 0, "num_envs_per_env_runner": 16},
            },
            r"gives as few as 18 evaluations .* spans 89% .*set grid.eval_every to 125 or less",
            125,
            200,  # 1 + 20000 // (199 + 143) = 59
        ),
    ],
)
def test_a_grid_evaluated_too_rarely_is_warned_about_with_the_fix(grid, fix, fits, too_few):
    from nasxfer.grid import EvalFrequencyWarning, GridConfig

    with pytest.warns(EvalFrequencyWarning, match=fix):
        g = GridConfig(**grid)
    assert g.evaluations_per_run() < 107  # warned, not refused: an older run must still render
    if fits is not None:  # the suggested eval_every passes, the next divisor up does not
        assert GridConfig(**{**grid, "eval_every": fits}).eval_frequency_problem() is None
        assert GridConfig(**{**grid, "eval_every": too_few}).eval_frequency_problem() is not None


def test_the_evaluation_count_is_a_lower_bound_on_a_real_run():
    """The checked-in laptop run (an evaluation every 400 of 60,000 env steps, the driver's rounds of 64-71
    env steps): the bound says at least 128 evaluations per run; every run has at least that many."""
    import json

    import pandas as pd

    from nasxfer.grid import grid_config

    laptop = ROOT / "outputs" / "laptop"
    made = grid_config(json.loads((laptop / "config.json").read_text())["grid"])
    per_run = pd.read_parquet(laptop / "curves.parquet").groupby(["seed", "source", "target"]).size()
    assert made.evaluations_per_run() == 128 and (per_run >= made.evaluations_per_run()).all()


def test_a_finished_run_renders_with_the_eval_every_it_was_made_with(tmp_path):
    """A run made before the profile's evaluation frequency changed is read as it was made."""
    import json
    import shutil
    import warnings

    from nasxfer.grid import recorded_eval_every
    from nasxfer.notebook import open_run

    run_dir = tmp_path / "laptop"
    shutil.copytree(ROOT / "outputs" / "laptop", run_dir, ignore=shutil.ignore_patterns("figures", "checkpoints"))
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["grid"]["eval_every"] = 1000  # as if made when the profile evaluated every 1,000 env steps
    (run_dir / "config.json").write_text(json.dumps(cfg))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert open_run("laptop", run_fresh=False, results_dir=run_dir).grid.eval_every == 1000
        assert recorded_eval_every("laptop", results_dir=run_dir) == {"eval_every": 1000}
        assert recorded_eval_every("laptop", {"seeds": [0]}, run_dir) == {"seeds": [0], "eval_every": 1000}
        assert recorded_eval_every("laptop", {"eval_every": 400}, run_dir) == {"eval_every": 400}  # asked for: kept
        assert recorded_eval_every("laptop") is None  # the checked-in run is the profile's own
        run = open_run(
            "laptop", run_fresh=False, results_dir=run_dir, grid=recorded_eval_every("laptop", None, run_dir)
        )
    assert run.grid.eval_every == 1000 and run.coverage.complete


def test_a_record_holds_paths_inside_the_repository_relative_to_it(tmp_path):
    from nasxfer.profiles import portable, repo_root

    assert portable(repo_root() / "outputs" / "methods") == "outputs/methods"
    assert portable(tmp_path) == str(tmp_path.resolve())  # outside: absolute, as given

"""``nasxfer reproduce``: the notebooks rendered with papermill into <results_dir>/notebooks/."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nasxfer.errors import NasxferError
from nasxfer.reproduce import notebook_paths, reproduce

ROOT = Path(__file__).resolve().parents[1]
NASXFER = str(Path(sys.executable).with_name("nasxfer"))


def test_notebooks_are_picked_by_name_in_their_order():
    assert [p.name for p in notebook_paths()] == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    assert [p.stem for p in notebook_paths(["05_rq3_training_cost.ipynb", "03_rq1_pretraining"])] == [
        "05_rq3_training_cost",
        "03_rq1_pretraining",
    ]
    with pytest.raises(NasxferError, match=r"no notebook named \['rq1'\].*03_rq1_pretraining"):
        notebook_paths(["rq1"])


@pytest.mark.slow  # a notebook kernel
def test_a_failing_notebook_is_named_with_its_partial_copy(tmp_path, data_dir):
    with pytest.raises(NasxferError, match=r"04_rq2_regimes.ipynb failed \(NasxferError: .*no results.parquet.*copy"):
        reproduce("ci", only=["04_rq2_regimes"], results_dir=tmp_path / "empty", data_dir=data_dir, progress=False)
    assert (tmp_path / "empty" / "notebooks" / "04_rq2_regimes.ipynb").is_file()


@pytest.mark.slow  # trains the ci grid (8 agents), then renders a notebook from it: minutes
def test_reproduce_fresh_trains_the_grid_then_renders_from_it(tmp_path, data_dir):
    out = tmp_path / "ci"
    cmd = [NASXFER, "reproduce", "ci", "--fresh", "--results-dir", str(out), "--data-dir", str(data_dir)]
    run = subprocess.run(
        [*cmd, "--notebooks", "04_rq2_regimes"], capture_output=True, text=True, cwd=ROOT, timeout=1200
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"notebooks: {out / 'notebooks'}/" in run.stdout
    assert (out / "results.parquet").is_file() and [p.name for p in (out / "notebooks").iterdir()] == [
        "04_rq2_regimes.ipynb"
    ]
    nb = json.loads((out / "notebooks" / "04_rq2_regimes.ipynb").read_text())
    injected = next(c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert 'profile = "ci"' in "".join(injected["source"]) and str(out) in "".join(injected["source"])
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code)
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert any((out / "figures").glob("*.png")) or any((out / "figures").glob("*.svg"))


@pytest.mark.slow  # a notebook kernel
def test_a_relative_data_folder_means_the_callers_folder(tmp_path, data_dir, monkeypatch):
    """The kernels run in notebooks/, so NASXFER_DATA=../shared/data from the repository root must
    reach them as the folder the caller meant, not one relative to notebooks/."""
    import os

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NASXFER_DATA", os.path.relpath(data_dir, tmp_path))
    out = reproduce("ci", only=["01_benchmark_and_tasks"], results_dir=tmp_path / "run", progress=False)
    assert (out / "01_benchmark_and_tasks.ipynb").is_file()
    assert os.environ["NASXFER_DATA"] == str(Path(data_dir).resolve())


@pytest.mark.parametrize("name, command", [("09_cross_space", "cross-space"), ("10_methods", "methods")])
def test_a_notebook_with_a_run_of_its_own_waits_for_it(tmp_path, name, command):
    """Rendering skips the cross-space and methods notebooks (naming the command) while the
    profile's run of theirs has no results, and renders them once it has; the grid's notebooks are
    never skipped."""
    import dataclasses

    from nasxfer.profiles import load_params, params_path
    from nasxfer.reproduce import not_run_yet, own_run

    params = load_params(params_path("ci"))
    notebook = Path(f"{name}.ipynb")
    section = own_run(notebook, params).section
    params[section] = dataclasses.replace(params[section], results_dir=tmp_path)
    assert f"nasxfer {command}" in not_run_yet(notebook, params)
    assert not_run_yet(notebook_paths(["04_rq2_regimes"])[0], params) is None
    (tmp_path / "results.parquet").write_bytes(b"")
    assert not_run_yet(notebook, params) is None


def test_the_budget_study_notebook_waits_for_two_budgets(tmp_path):
    """Notebook 08 compares budgets: it renders once two of them have results, as open_study needs."""
    import dataclasses

    from nasxfer.budget_study import budget_dir
    from nasxfer.profiles import load_params, params_path
    from nasxfer.reproduce import not_run_yet

    params = load_params(params_path("ci"))
    cfg = params["budget_study"] = dataclasses.replace(params["budget_study"], results_dir=tmp_path)
    eight = Path("08_budget_study.ipynb")
    for budget in cfg.budgets[:2]:
        assert "nasxfer budget-study" in not_run_yet(eight, params)
        budget_dir(params, cfg, budget).mkdir(parents=True)
        (budget_dir(params, cfg, budget) / "results.parquet").write_bytes(b"")
    assert not_run_yet(eight, params) is None

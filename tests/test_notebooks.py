"""The notebooks: nbval compares the cells they mark, their setup (open_run) checks what it
is given and what it reads, and the papermill commands the params files show work."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from nbval.plugin import comment_markers, metadata_tags

from nasxfer.errors import NasxferError
from nasxfer.experiments import assemble
from nasxfer.notebook import PROFILE_ENV, open_run
from nasxfer.stats import rq3_finding

pytestmark = pytest.mark.slow  # real Ray training, kernels or subprocesses: minutes

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TAMPERED = "TAMPERED 999.999"
# anything that looks like an nbval marker, in any case or spelling
LOOKS_LIKE_MARKER = re.compile(r"(nbval|pytest[-_]validate)[-_ ]?[a-z_-]*", re.IGNORECASE)


def _code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _comments(cell):
    return [
        line.strip().lstrip("#").strip()
        for line in "".join(cell["source"]).splitlines()
        if line.strip().startswith("#")
    ]


def _meant_to_be_checked(cell) -> bool:
    """The cell says it is compared, in whatever form (so a wrong form is caught by the tamper test)."""
    said = [*_comments(cell), *cell.get("metadata", {}).get("tags", [])]
    return any(re.fullmatch(r"nbval[-_ ]check[-_ ]output", s, re.IGNORECASE) for s in said)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_use_only_markers_nbval_knows(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(_code_cells(nb)):
        for tag in cell.get("metadata", {}).get("tags", []):
            if LOOKS_LIKE_MARKER.match(tag):
                assert tag in metadata_tags, (
                    f"{path.name} code cell {i}: tag {tag!r} is not an nbval tag ({sorted(metadata_tags)})"
                )
        for comment in _comments(cell):
            if LOOKS_LIKE_MARKER.match(comment):
                assert comment in comment_markers, (
                    f"{path.name} code cell {i}: comment {comment!r} is not an nbval marker"
                )
    assert any(_meant_to_be_checked(c) for c in _code_cells(nb)), f"{path.name} compares no cell at all"


def _tamper(cell):
    for out in cell["outputs"]:
        if "text" in out:
            out["text"] = [TAMPERED + "\n"]
        for mime in list(out.get("data", {})):
            if mime.startswith("text/"):
                out["data"][mime] = [TAMPERED]


def _write_to_tmp(nb, figures: Path):
    """Charts of the copy go to `figures`, never over the checked-in ones."""
    params = next(c for c in _code_cells(nb) if "parameters" in c.get("metadata", {}).get("tags", []))
    if re.search(r"^figures_dir\s*=", "".join(params["source"]), re.MULTILINE):
        params["source"] = [*params["source"], f"\nfigures_dir = {str(figures)!r}\n"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbval_fails_when_a_checked_cell_is_tampered_with(path, tmp_path):
    """Every cell a notebook marks as compared is compared: with its stored output replaced,
    nbval fails on it ("Cell outputs differ") and on nothing else.

    The copy runs under the laptop profile: it reads the checked-in results and trains
    nothing, and its figures go to tmp. It lives in tmp/notebooks beside a copy of
    outputs/, so paths written relative to the notebook folder stay inside tmp."""
    nb = json.loads(path.read_text())
    code = _code_cells(nb)
    checked = [i for i, c in enumerate(code) if _meant_to_be_checked(c)]
    assert checked
    for i in checked:
        _tamper(code[i])
    _write_to_tmp(nb, tmp_path / "figures")
    shutil.copytree(ROOT / "outputs", tmp_path / "outputs", ignore=shutil.ignore_patterns("checkpoints", "ci"))
    (tmp_path / "notebooks").mkdir()
    copy = tmp_path / "notebooks" / path.name
    copy.write_text(json.dumps(nb))
    report = tmp_path / "report.xml"
    env = {**os.environ, PROFILE_ENV: "laptop"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
            str(copy),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0, f"nbval passed a notebook whose checked cells {checked} were tampered with"
    failed = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            failed[int(case.get("name").split()[-1])] = problem.get("message", "") + (problem.text or "")
    assert sorted(failed) == checked, f"tampered {checked}, nbval failed {sorted(failed)}:\n{proc.stdout[-3000:]}"
    for i, why in failed.items():
        assert "Cell outputs differ" in why, f"code cell {i} failed for another reason:\n{why[:2000]}"


# ---- open_run: parameters, completeness, no silent retraining --------------------------------


@pytest.fixture
def laptop_copy(tmp_path):
    """The checked-in laptop run, in a folder the test may break."""
    out = tmp_path / "laptop"
    shutil.copytree(ROOT / "outputs" / "laptop", out, ignore=shutil.ignore_patterns("figures", "checkpoints"))
    return out


def _drop(results_dir: Path, pattern: str):
    gone = sorted((results_dir / "parts").glob(pattern))
    assert gone
    for p in gone:
        p.unlink()
    assemble(results_dir)  # the tables as a grid run with those parts missing would write them
    return gone


def test_open_run_reads_the_checked_in_run_whatever_the_working_folder(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    run = open_run("laptop")
    assert run.results_dir == ROOT / "outputs" / "laptop" and run.coverage.complete
    assert (
        str(run) == "profile laptop: laptop grid, seeds [0, 1, 2], 60000 target steps (fine-tune 6000), nasxfer 0.1.0"
    )
    assert len(run.results) == 48 * 3 and run.figure("f") == str(ROOT / "outputs" / "laptop" / "figures" / "f")


@pytest.mark.parametrize(
    "given, message",
    [
        (
            {"run_fresh": "False"},
            r"run_fresh must be True or False, got str 'False': use papermill -p run_fresh False \(-p, not -r",
        ),
        ({"allow_partial": 1}, "allow_partial must be True or False"),
        ({"results_dir": 5}, "results_dir must be a path, got int 5"),
        ({"grid": "seeds: [0]"}, "grid must be a mapping"),
        ({"grid": {"sed": [0]}}, r"unknown grid key\(s\) \['sed'\]"),
        ({"profile": "lap"}, "no params file for profile 'lap'"),
    ],
)
def test_open_run_refuses_bad_parameters_in_one_line(given, message):
    profile = given.pop("profile", "laptop")
    with pytest.raises(NasxferError, match=message) as e:
        open_run(profile, **given)
    assert "\n" not in str(e.value)


def test_a_grid_override_keeps_the_profiles_other_keys_and_selects_its_seeds(laptop_copy):
    run = open_run("laptop", results_dir=laptop_copy, grid={"seeds": [0]})
    assert run.grid.seeds == [0] and run.grid.train_steps == 60_000 and len(run.grid.target_tasks) == 4
    assert set(run.results.seed) == {0} and set(run.curves.seed) == {0} and run.coverage.complete


def test_open_run_refuses_a_run_made_with_another_grid(laptop_copy):
    cfg = json.loads((laptop_copy / "config.json").read_text())
    cfg["grid"]["train_steps"] = 90_000
    (laptop_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(NasxferError, match=r"made with another grid: train_steps 90000 \(asked: 60000\)"):
        open_run("laptop", results_dir=laptop_copy)


def test_open_run_refuses_a_missing_seed_or_shows_it_as_partial(laptop_copy):
    _drop(laptop_copy, "seed1-*")
    with pytest.raises(NasxferError, match=r"incomplete grid: 16 of 48 runs missing \(seed 1: all 16 runs\)"):
        open_run("laptop", results_dir=laptop_copy)
    run = open_run("laptop", results_dir=laptop_copy, allow_partial=True)
    assert str(run).startswith("partial: 2 of 3 seeds, 32 of 48 runs: profile laptop")
    assert rq3_finding(run.curves, **run.scope).startswith("partial: 2 of 3 seeds, 32 of 48 runs: in env_steps")


def test_rendering_never_retrains_or_rewrites_a_finished_run(laptop_copy):
    before = {p: p.stat().st_mtime_ns for p in laptop_copy.rglob("*")}
    run = open_run("laptop", results_dir=laptop_copy, run_fresh=True)  # complete: read as it is
    assert run.coverage.complete
    assert {p: p.stat().st_mtime_ns for p in laptop_copy.rglob("*")} == before
    (laptop_copy / "parts" / "seed2-scratch-autoencoder.parquet").unlink()  # a finished run, one part lost
    with pytest.raises(NasxferError, match="already holds a results table.*overwrite=True"):
        open_run("laptop", results_dir=laptop_copy, run_fresh=True)
    assert pd.read_parquet(laptop_copy / "results.parquet").shape[0] == 48 * 3


# ---- the papermill commands, as the params files show them ------------------------------------


def _papermill_commands(params_file: Path):
    return [
        line.split("#", 2)[1].strip()
        for line in params_file.read_text().splitlines()
        if re.match(r"#\s+papermill ", line)
    ]


@pytest.mark.parametrize("command", _papermill_commands(ROOT / "params" / "ci.yaml"))
def test_papermill_command_from_the_params_file_works_from_the_repository_root(command, tmp_path):
    """Run as written, from the repository root (out.ipynb goes to tmp). The ci profile trains
    its small grid into the ignored outputs/ci the first time, then reads it."""
    args = shlex.split(command)
    assert args[0] == "papermill" and "out.ipynb" in args
    args = [sys.executable, "-m", "papermill", *[str(tmp_path / a) if a == "out.ipynb" else a for a in args[1:]]]
    env = {k: v for k, v in os.environ.items() if k != PROFILE_ENV}  # only the command decides the profile
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in _code_cells(out) for o in c.get("outputs", []))
    assert "profile ci: ci grid, seeds [0, 1]" in printed

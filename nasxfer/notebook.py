"""The one setup call of the grid notebooks: :func:`open_run`.

Each notebook has the same parameters (a papermill ``parameters`` cell), all ``None``
unless set, and hands them to ``open_run``, which

1. checks every parameter where it enters (types: ``run_fresh`` must be a real bool,
   so papermill's ``-r run_fresh False``, the text "False", is refused with the fix
   ``-p run_fresh False``; known keys; paths);
2. reads the profile's params file once (``params/<profile>.yaml``) and lays the given
   parameters over it, the ``grid`` key by key (``-y "grid: {seeds: [0]}"`` keeps the
   profile's other grid keys);
3. resolves every path against the repository root, never the kernel's working folder;
4. trains only when asked in so many words (see below), loads the tables, keeps the
   seeds and tasks the configuration names, and refuses an incomplete grid in one line
   naming the missing runs, unless ``allow_partial`` is True.

**When rendering trains.** Only with ``run_fresh=True`` (the ``ci`` and ``paper``
profiles set it; ``laptop`` does not). Even then a ``results_dir`` that already holds a
results table is never retrained or rewritten: a complete one is read as it is, and one
with missing runs is refused unless ``overwrite=True`` as well. A folder without a
results table (a new run, or a killed one) is trained or resumed.

The profile a notebook falls back to when ``profile`` is not set comes from the
environment variable :data:`PROFILE_ENV` (the test suite sets it to ``ci``), else
:data:`DEFAULT_PROFILE`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from .errors import NasxferError
from .profiles import check_parameter, load_params, merge_grid, params_path, resolve

PROFILE_ENV = "NASXFER_PROFILE"  # the profile notebooks use when their `profile` parameter is None
DEFAULT_PROFILE = "laptop"  # the checked-in results


def default_profile() -> str:
    return os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE


@dataclass
class Run:
    """A grid run as a notebook uses it: its configuration and its tables."""

    profile: str
    grid: object  # GridConfig: the seeds and tasks the statistics are about
    results_dir: Path
    figures_dir: Path
    allow_partial: bool
    curves: pd.DataFrame
    results: pd.DataFrame
    config: dict  # config.json of the run: the grid it was made with, the nasxfer version
    coverage: object  # stats.Coverage of the grid in the tables

    @property
    def scope(self) -> dict:
        """Keyword arguments for the stats functions: what to check the tables against."""
        return {"grid": self.grid, "allow_partial": self.allow_partial}

    def figure(self, name: str) -> str:
        """Where a chart called `name` is saved (without suffix)."""
        return str(self.figures_dir / name)

    def __str__(self) -> str:
        g = self.grid
        text = (
            f"profile {self.profile}: {g.run_name} grid, seeds {g.seeds}, {g.train_steps} target steps "
            f"(fine-tune {g.finetune_steps}), nasxfer {self.config.get('nasxfer_version')}"
        )
        return self.coverage.prefix(text) + (
            f" - missing: {self.coverage.describe_missing()}" if self.coverage.label else ""
        )


def open_run(
    profile=None,
    *,
    run_fresh=None,
    overwrite=None,
    allow_partial=None,
    results_dir=None,
    figures_dir=None,
    data_dir=None,
    grid=None,
    progress: bool = True,
) -> Run:
    """Validate a notebook's parameters, train if asked to, load and check the grid (see module doc).

    ``None`` means "as the profile's params file says" (``run_fresh``, ``results_dir``,
    ``grid``), or: no overwrite, no partial view, figures in ``<results_dir>/figures``,
    tables from ``NASXFER_DATA`` or the cache.
    """
    given = dict(
        run_fresh=run_fresh,
        overwrite=overwrite,
        allow_partial=allow_partial,
        results_dir=results_dir,
        figures_dir=figures_dir,
        data_dir=data_dir,
        grid=grid,
    )
    for k, v in given.items():
        check_parameter(k, v)
    profile = default_profile() if profile is None else check_parameter("profile", profile)
    params = load_params(params_path(profile))
    g = merge_grid(params["grid"], grid, where=f"profile {profile}: grid")
    run_fresh = params.get("run_fresh", False) if run_fresh is None else run_fresh
    results_dir = resolve(results_dir) if results_dir is not None else params["results_dir"]
    figures_dir = resolve(figures_dir) if figures_dir is not None else results_dir / "figures"
    data_dir = resolve(data_dir) if data_dir is not None else None
    if run_fresh:
        _train(g, results_dir, data_dir, overwrite=bool(overwrite), progress=progress)
    curves, results, config = _load(results_dir)
    g = _as_made(g, config["grid"], asked=grid)
    _check_same_grid(g, config["grid"], results_dir)
    curves, results = _select(curves, g), _select(results, g)
    from .stats import coverage

    cov = coverage(results, g).require(bool(allow_partial))
    return Run(profile, g, results_dir, figures_dir, bool(allow_partial), curves, results, config, cov)


class SectionSetup(NamedTuple):
    """What a notebook reading a params file's section (budget study, cross-space search, methods) starts from."""

    profile: str
    path: Path  # the params file
    params: dict  # load_params of it
    section: object  # its section, validated
    data_dir: Path | None  # resolved against the repository root
    run_fresh: bool  # run (or resume) the section's work before reading it


def open_section(name: str, profile=None, run_fresh=None, data_dir=None) -> SectionSetup:
    """Check a section notebook's parameters where they enter and read its params file: the
    profile (default :func:`default_profile`), its section `name` (refused in one line where the
    file has none), ``data_dir`` resolved, and whether to run first (default: the file's ``run_fresh``)."""
    from .profiles import section

    check_parameter("run_fresh", run_fresh)
    check_parameter("data_dir", data_dir)
    profile = default_profile() if profile is None else check_parameter("profile", profile)
    path = params_path(profile)
    params = load_params(path)
    cfg = section(params, name, path)
    fresh = params.get("run_fresh", False) if run_fresh is None else run_fresh
    return SectionSetup(profile, path, params, cfg, resolve(data_dir) if data_dir is not None else None, fresh)


def _train(grid, results_dir: Path, data_dir, overwrite: bool, progress: bool) -> None:
    from .experiments import run_grid

    if (results_dir / "results.parquet").is_file() and not overwrite:
        parts = results_dir / "parts"
        if all((parts / f"{u.name}.parquet").is_file() for u in grid.units()):
            return  # finished: read it as it is, rewrite nothing
        raise NasxferError(
            f"run_fresh would train into {results_dir}, which already holds a results table (a finished or "
            f"checked-in run) without every run of this grid: pick a new results_dir, or pass overwrite=True "
            f"(papermill -p overwrite True) to add the missing runs there"
        )
    run_grid(grid, results_dir, data_dir=data_dir, progress=progress)


def _load(results_dir: Path):
    if not (results_dir / "results.parquet").is_file():
        raise NasxferError(
            f"{results_dir} has no results.parquet: run the grid first (nasxfer grid params/<profile>.yaml, "
            f"or papermill -p run_fresh True)"
        )
    config = json.loads((results_dir / "config.json").read_text())
    return pd.read_parquet(results_dir / "curves.parquet"), pd.read_parquet(results_dir / "results.parquet"), config


# Grid keys that change what a run measures; seeds and tasks may be a subset of the run's.
def _as_made(grid, made_with: dict, asked) -> object:
    """A finished run is read with the evaluation frequency it was made with: how often a run was
    evaluated is how it was measured, not which experiment it is (its smoothing span is reported,
    see :func:`nasxfer.stats.smoothing_span`), unless `asked` (the caller's grid overrides) sets
    ``eval_every`` itself. A run trained here was made with this grid, so this only matters when
    reading a finished one (training into a folder made with another grid is refused earlier)."""
    made = made_with.get("eval_every")
    if made in (None, grid.eval_every) or (asked and "eval_every" in asked):
        return grid
    import dataclasses
    import warnings

    with warnings.catch_warnings():  # too few evaluations for the smoothing: the notebooks say so
        warnings.simplefilter("ignore")
        return dataclasses.replace(grid, eval_every=made)


_SAME = ("benchmark", "train_steps", "finetune_steps", "eval_every", "eval_episodes", "agent")


def _check_same_grid(grid, made_with: dict, results_dir: Path) -> None:
    differ = [k for k in _SAME if made_with.get(k) != getattr(grid, k)]
    if differ:
        what = ", ".join(f"{k} {made_with.get(k)!r} (asked: {getattr(grid, k)!r})" for k in differ)
        raise NasxferError(
            f"{results_dir} was made with another grid: {what}; point results_dir at a run of this grid, "
            f"or change the grid parameters to match"
        )


def _select(table: pd.DataFrame, grid) -> pd.DataFrame:
    """The rows of the seeds and tasks the configuration names (a run may hold more)."""
    keep = table.seed.isin(grid.seeds) & table.source.isin(grid.tasks) & table.target.isin(grid.tasks)
    keep &= (table.source == table.target) | (
        table.source.isin(grid.source_tasks) & table.target.isin(grid.target_tasks)
    )
    return table[keep].reset_index(drop=True)


def benchmark_figures_dir(profile=None, figures_dir=None) -> Path:
    """Where the benchmark notebooks (01, 02), which read no grid, save their charts:
    `figures_dir` if given; under the default profile ``outputs/figures`` (the checked-in
    charts); under another profile ``<its results_dir>/figures`` (so the test suite, on
    ``ci``, writes to the ignored ``outputs/ci/`` and leaves the checked-in charts alone)."""
    check_parameter("figures_dir", figures_dir)
    if figures_dir is not None:
        return resolve(figures_dir)
    profile = default_profile() if profile is None else check_parameter("profile", profile)
    if profile == DEFAULT_PROFILE:
        return resolve("outputs/figures")
    return load_params(params_path(profile))["results_dir"] / "figures"

"""``nasxfer reproduce``: every notebook of the paper's story rendered with papermill.

For a profile (``params/<name>.yaml``, the checked-in ``laptop`` run by default) each notebook
of ``notebooks/`` is executed with ``profile`` set and ``run_fresh`` False, so it reads the
profile's results as they are, and the executed copy is written to
``<results_dir>/notebooks/`` (the figures go where the notebooks save them,
``<results_dir>/figures/``). ``fresh=True`` first runs (or resumes) the profile's grid into its
``results_dir``, then the runs of their own that the later notebooks read (:data:`OWN_RUNS`: the
budget study, the cross-space grid, the methods comparison) where the params file has them;
without it, such a notebook is skipped, with the command that runs it, while its run is missing. ``nasxfer report <run>`` then turns the executed copies into HTML pages.

A notebook that fails stops the command with one line naming it, the error and the partly
executed copy; the notebooks already rendered stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import NasxferError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def notebook_paths(only=None) -> list[Path]:
    """The notebooks to render, in their numbered order: all, or those whose name (with or
    without ``.ipynb``) is in `only`."""
    found = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    if not found:
        raise NasxferError(f"no notebooks in {NOTEBOOKS}: nasxfer reproduce runs from a clone of the repository")
    if not only:
        return found
    names = {p.stem: p for p in found}
    wanted = [n.removesuffix(".ipynb") for n in only]
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise NasxferError(f"no notebook named {unknown} in {NOTEBOOKS}; the notebooks are {sorted(names)}")
    return [names[n] for n in wanted]


def _run_budget_study(params: dict, **kw) -> None:
    from .budget_study import run_study

    run_study(params, **kw)


def _budget_study_ready(params: dict) -> bool:
    from .budget_study import budgets_done

    return len(budgets_done(params, params["budget_study"])) >= 2  # what notebook 08 needs


def _run_cross_space(params: dict, **kw) -> None:
    from .cross_space import run_cross_space

    run_cross_space(params, **kw)


def _run_methods(params: dict, **kw) -> None:
    from .methods import run_methods

    run_methods(params["methods"], **kw)


def _has_results(section: str):
    return lambda params: (params[section].results_dir / "results.parquet").is_file()


@dataclass(frozen=True)
class OwnRun:
    """A notebook that reads a run of its own, beside the profile's grid: ``--fresh`` makes the
    run, and without it the notebook is skipped, naming the command, while the run is missing."""

    number: str  # the notebook's number, e.g. "09"
    section: str  # its section of the params file
    command: str  # the nasxfer command that makes the run
    run: Callable  # (params, data_dir=, progress=) -> None
    ready: Callable  # params -> whether the run has what the notebook reads


OWN_RUNS = (
    OwnRun("08", "budget_study", "budget-study", _run_budget_study, _budget_study_ready),
    OwnRun("09", "cross_space", "cross-space", _run_cross_space, _has_results("cross_space")),
    # the methods comparison reads the agents of both grids above, so it runs after them
    OwnRun("10", "methods", "methods", _run_methods, _has_results("methods")),
)


def own_run(notebook: Path, params: dict) -> OwnRun | None:
    """The run of its own that `notebook` reads, where the params file has that section."""
    return next((r for r in OWN_RUNS if notebook.stem.startswith(r.number) and params.get(r.section) is not None), None)


def not_run_yet(notebook: Path, params: dict) -> str | None:
    """Why `notebook` cannot render from the profile's results yet (None: it can)."""
    r = own_run(notebook, params)
    if r is None or r.ready(params):
        return None
    return f"{params[r.section].results_dir} holds no results yet (run: nasxfer {r.command} <params> or --fresh)"


def reproduce(profile: str = "laptop", fresh: bool = False, only=None, results_dir=None, data_dir=None, progress=True):
    """Render the notebooks for `profile` (see the module doc); returns the folder of executed copies."""
    import os

    import papermill as pm
    from tqdm.auto import tqdm

    from .data import DATA_ENV

    if os.environ.get(DATA_ENV):
        # the kernels run in notebooks/: a relative NASXFER_DATA means the caller's folder, so make it absolute
        os.environ[DATA_ENV] = str(Path(os.environ[DATA_ENV]).expanduser().resolve())

    from .profiles import load_params, params_path, resolve

    params = load_params(params_path(profile))
    results = resolve(results_dir) if results_dir is not None else params["results_dir"]
    paths = notebook_paths(only)
    if fresh:
        from .experiments import run_grid

        run_grid(params["grid"], results, data_dir=data_dir, progress=progress)
        needed = {own_run(p, params) for p in paths}
        for r in OWN_RUNS:  # in the table's order: the methods comparison reads the grids before it
            if r in needed:
                r.run(params, data_dir=data_dir, progress=progress)
    out = results / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    wanted = {"profile": profile, "run_fresh": False}
    if data_dir is not None:
        wanted["data_dir"] = str(Path(data_dir).resolve())
    for nb in tqdm(paths, desc="notebooks", unit="notebook", disable=not progress):
        target = out / nb.name
        why = not_run_yet(nb, params)
        if why:
            tqdm.write(f"{nb.name} skipped: {why}")
            continue
        declared = pm.inspect_notebook(str(nb))
        parameters = {k: v for k, v in wanted.items() if k in declared}
        if results_dir is not None and "grid" in declared:  # the grid notebooks read `results`
            parameters["results_dir"] = str(results)
        try:
            pm.execute_notebook(
                str(nb), str(target), parameters=parameters, cwd=str(NOTEBOOKS), progress_bar=False, log_output=False
            )
        except pm.PapermillExecutionError as e:
            raise NasxferError(
                f"{nb.name} failed ({e.ename}: {e.evalue.strip().splitlines()[0] if e.evalue.strip() else ''}); "
                f"its copy up to the failing cell is {target}"
            ) from None
    return out

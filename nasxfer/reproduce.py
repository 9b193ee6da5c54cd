"""``nasxfer reproduce``: every notebook of the paper's story rendered with papermill.

For a profile (``params/<name>.yaml``, the checked-in ``laptop`` run by default) each notebook
of ``notebooks/`` is executed with ``profile`` set and ``run_fresh`` False, so it reads the
profile's results as they are, and the executed copy is written to
``<results_dir>/notebooks/`` (the figures go where the notebooks save them,
``<results_dir>/figures/``). ``fresh=True`` first runs (or resumes) the profile's grid into its
``results_dir``, its budget study (:mod:`nasxfer.budget_study`) and its cross-space grid
(:mod:`nasxfer.cross_space`) when the params file has them; without it, the cross-space
notebook is skipped, with the command that runs it, while its grid has no results. ``nasxfer report <run>`` then turns the executed copies into HTML pages.

A notebook that fails stops the command with one line naming it, the error and the partly
executed copy; the notebooks already rendered stay.
"""

from __future__ import annotations

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


def not_run_yet(notebook: Path, params: dict) -> str | None:
    """Why `notebook` cannot render from the profile's results yet (None: it can). Only the
    cross-space notebook reads a run of its own that a profile may not have made: it is skipped
    with the command that makes it, instead of failing the whole render."""
    section = params.get("cross_space")
    if not notebook.stem.startswith("09") or section is None or (section.results_dir / "results.parquet").is_file():
        return None
    return f"{section.results_dir} holds no cross-space results yet (run: nasxfer cross-space <params> or --fresh)"


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
        if params.get("budget_study") is not None and (only is None or any(p.stem.startswith("08") for p in paths)):
            from .budget_study import run_study

            run_study(params, data_dir=data_dir, progress=progress)
        if params.get("cross_space") is not None and (only is None or any(p.stem.startswith("09") for p in paths)):
            from .cross_space import run_cross_space

            run_cross_space(params, data_dir=data_dir, progress=progress)
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

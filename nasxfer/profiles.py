"""Params files (``params/<profile>.yaml``): reading, validating, merging overrides.

A params file holds the notebooks' parameters (:data:`NOTEBOOK_KEYS`) and a ``grid:``
section (a :class:`nasxfer.grid.GridConfig`). The same file drives
``nasxfer grid params/<profile>.yaml`` and, through its profile name, the notebooks.

Relative paths in a params file and in notebook parameters (``results_dir``,
``figures_dir``, ``data_dir``) are relative to the **repository root**
(:func:`repo_root`), never to the working directory, so the same file gives the same
folders from the command line, from ``notebooks/`` (where papermill and Jupyter start
the kernel) or from anywhere else.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import yaml

from .errors import NasxferError, unknown
from .grid import grid_config

PROFILES = ("ci", "laptop", "paper", "cluster")

# A notebook parameter's name -> the type it must have (None: may be left unset).
# profile: a profile name (params/<name>.yaml) or a path to a params file.
# run_fresh: run (or resume) the grid into results_dir before reading it.
# overwrite: let run_fresh train into a results_dir that already holds a results table.
# allow_partial: show what an incomplete grid has, every sentence marked partial, instead of refusing.
# results_dir / figures_dir / data_dir: folders (figures_dir: default <results_dir>/figures).
# grid: GridConfig keys merged key by key onto the profile's grid.
NOTEBOOK_KEYS = {
    "profile": str,
    "run_fresh": bool,
    "overwrite": bool,
    "allow_partial": bool,
    "results_dir": (str, os.PathLike),
    "figures_dir": (str, os.PathLike),
    "data_dir": (str, os.PathLike),
    "grid": dict,
}
# Sections of a params file that are not notebook parameters: budget_study (nasxfer.budget_study),
# cross_space (nasxfer.cross_space), methods (nasxfer.methods).
FILE_KEYS = ("budget_study", "cross_space", "methods")
_FIXES = {  # what to type instead, for papermill users
    bool: "papermill -p {key} {bool_text} (-p, not -r: -r passes the text {value!r}, not a boolean)",
    str: "papermill -p {key} <name>",
    dict: 'papermill -y "{key}: {{seeds: [0, 1]}}"',
}
PATH_FIX = "papermill -p {key} outputs/<name> (a path relative to the repository root, or absolute)"


def repo_root() -> Path:
    """The repository the package runs from: the folder above ``nasxfer/`` when it holds
    ``params/`` (a checkout or an editable install), else the first folder from the working
    directory upwards that holds ``params/``, else the working directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / "params").is_dir():
        return here
    for d in (Path.cwd(), *Path.cwd().parents):
        if (d / "params").is_dir():
            return d
    return Path.cwd()


def resolve(path, root: Path | None = None) -> Path:
    """`path` as an absolute path; a relative one is taken from the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (root or repo_root()) / p


def portable(path) -> str:
    """`path` as a record should hold it: relative to the repository root where it lies inside
    (so a checked-in record reads the same on every clone), else absolute."""
    p, root = Path(path).expanduser().resolve(), repo_root().resolve()
    return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)


def check_parameter(key: str, value):
    """`value` if it is a valid notebook parameter `key` (or None), else one clear error."""
    if key not in NOTEBOOK_KEYS:
        raise unknown("notebook parameter", key, list(NOTEBOOK_KEYS))
    want = NOTEBOOK_KEYS[key]
    if value is None:
        return None
    # bool is an int and a str is not a bool: test exactly, so "False" never counts as true
    ok = type(value) is bool if want is bool else isinstance(value, want) and not isinstance(value, bool)
    if not ok:
        bool_text = value if value in ("True", "False") else "True" if value in ("true", "1", "yes") else "False"
        fix = (_FIXES.get(want) or PATH_FIX).format(key=key, value=value, bool_text=bool_text)
        kind = {bool: "True or False", str: "a name", dict: "a mapping of grid keys"}.get(want, "a path")
        raise NasxferError(f"notebook parameter {key} must be {kind}, got {type(value).__name__} {value!r}: use {fix}")
    return value


def params_path(profile: str) -> Path:
    """The params file of a profile name (``params/<name>.yaml``) or of a path to one."""
    check_parameter("profile", profile)
    if profile.endswith((".yaml", ".yml")):
        return resolve(profile)
    path = repo_root() / "params" / f"{profile}.yaml"
    if not path.is_file():
        raise NasxferError(
            f"no params file for profile {profile!r} ({path}): use one of {list(PROFILES)} or a path to a .yaml file"
        )
    return path


def load_params(path) -> dict:
    """Read and validate a params file: its notebook parameters, ``grid`` as a GridConfig,
    and ``results_dir`` resolved against the repository root."""
    path = Path(path)
    if not path.is_file():
        raise NasxferError(
            f"params file {path} does not exist: use one of params/ci.yaml, params/laptop.yaml, params/paper.yaml"
        )
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise NasxferError(f"params file {path} is not valid YAML: {e}") from None
    if not isinstance(params, dict) or "grid" not in params:
        raise NasxferError(f"params file {path} needs a top-level 'grid:' section (see params/laptop.yaml)")
    bad = [k for k in params if k not in NOTEBOOK_KEYS and k not in FILE_KEYS]
    if bad:
        raise NasxferError(
            f"params file {path}: unknown top-level key(s) {bad}; allowed: {[*NOTEBOOK_KEYS, *FILE_KEYS]}"
        )
    study = params.pop("budget_study", None)
    cross = params.pop("cross_space", None)
    methods = params.pop("methods", None)
    for k, v in params.items():
        try:
            check_parameter(k, v)
        except NasxferError as e:
            raise NasxferError(f"params file {path}: {e}") from None
    params["grid"] = grid_config(params["grid"], where=str(path))
    if params.get("results_dir") is None:
        params["results_dir"] = f"outputs/{params['grid'].run_name}"
    params["results_dir"] = resolve(params["results_dir"])
    if study is not None:
        from .budget_study import study_config

        params["budget_study"] = study_config(study, params["grid"], where=f"params file {path}: budget_study")
    if cross is not None:
        from .cross_space import cross_space_config

        params["cross_space"] = cross_space_config(cross, params["grid"], where=f"params file {path}: cross_space")
    if methods is not None:
        from .methods import methods_config

        params["methods"] = methods_config(methods, where=f"params file {path}: methods")
    return params


def section(params: dict, name: str, where="this params file"):
    """A loaded params file's `name` section (:data:`FILE_KEYS`), or one error naming the files that have one."""
    if name not in FILE_KEYS:
        raise unknown("params file section", name, FILE_KEYS)
    cfg = params.get(name)
    if cfg is None:
        raise NasxferError(
            f"{where} has no {name}: section; use params/laptop.yaml or params/ci.yaml (papermill: -p profile laptop or ci)"
        )
    return cfg


def merge_grid(base, override: dict | None, where: str = "grid"):
    """`base` (a GridConfig) with `override`'s keys replacing its own one by one; ``agent``
    is merged key by key too, so ``{agent: {num_env_runners: 4}}`` keeps the preset."""
    if not override:
        return base
    check_parameter("grid", override)
    merged = asdict(base)
    for k, v in override.items():
        merged[k] = (
            {**merged[k], **v} if k == "agent" and isinstance(v, dict) and isinstance(merged.get(k), dict) else v
        )
    try:
        return grid_config(merged)
    except NasxferError as e:
        raise NasxferError(f"{where} override {override}: {e}") from None

"""The transfer grid: source tasks x target tasks x seeds, from one params file.

Per seed, one *scratch* agent is trained on every task for ``train_steps`` env
steps; its weights seed a *transfer* agent for every other task, trained on the
target for ``train_steps`` too. One transfer run gives all three regimes, as in
the paper: its evaluation before any target training is **zero-shot**, its
evaluation after ``finetune_steps`` is **fine-tune** (the same run truncated)
and its final one is **retrain**. The diagonal of each matrix is plain training
on the task (the scratch run, at the same budget), never trained twice.

Every run ("unit") writes its training curve to ``parts/<unit>.parquet``
atomically when it finishes; a scratch unit first writes its weights checkpoint
to ``checkpoints/seed<seed>-<task>/``. :func:`assemble` turns the parts into the
tidy tables ``curves.parquet`` and ``results.parquet`` (plus CSV copies) next to
``config.json`` (the grid, the resolved agent parameters, the package version).

Resuming trusts only what it has verified (:func:`resume_plan`):

* **Configuration.** Each part records in its parquet metadata (key ``nasxfer``)
  the configuration it was made with: the grid, every ``AgentParams`` field after
  presets are applied, the nasxfer version. A folder whose ``config.json`` or any
  part disagrees with the params being run is refused, naming the differing keys;
  the parts vouch for themselves when ``config.json`` is gone. Where a run happens
  (``data_dir``, ``ray_address``, ``ray_temp_dir``, CPUs, threads, memory, progress
  bars) is recorded but not compared, so a grid may resume on another machine.
* **Parts.** A part must read back with the columns and dtypes the runner writes,
  for its own unit, to the end of its budget; one that does not is named in a
  warning and rerun.
* **Checkpoints.** A scratch unit counts as finished only if its checkpoint verifies
  (:func:`nasxfer.agent.checkpoints.read_weights`: checksum, safe load, tensor shapes)
  and is the very checkpoint its part recorded (SHA-256). Otherwise it is retrained.
* **Dependants.** A transfer part records the SHA-256 of the source weights it started
  from and counts as finished only while that checkpoint is the one on disk. So when
  a source is retrained - its checkpoint damaged, *or deleted* - its transfers of the
  same seed are rerun too. For a deleted checkpoint keeping the old transfers would
  be defensible (they were made from weights that verified when they were loaded),
  but we rerun them so that the folder keeps one invariant: every transfer in the
  tables descends from the checkpoint stored beside it, which anyone can reload to
  re-check a number. Nothing else is recomputed.

One run at a time holds a folder (:mod:`nasxfer.runlock`); temp files a killed writer
left behind are removed under that lock. A stop signal in the command line tool
drops the unit in flight and keeps the finished ones (:mod:`nasxfer.interrupt`).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from .errors import NasxferError
from .grid import GridConfig, Unit, file_name, grid_config
from .io import remove_stale_temps, write_atomic, write_json_atomic

# ---- what a folder was made with ------------------------------------------------------------

RECORD_KEY = "nasxfer"  # parquet key-value metadata of each part
# Where a run happens, not what it computes: recorded, never compared.
RUNTIME_KEYS = (
    "data_dir",
    "progress",
    "ray_address",
    "ray_temp_dir",
    "object_store_memory",
    "num_cpus",
    "torch_threads",
)


class ResumeWarning(UserWarning):
    """Something in a results folder did not verify and is recomputed."""


def _warn(msg: str) -> None:
    warnings.warn(msg, ResumeWarning, stacklevel=3)


def _version() -> str:
    from . import __version__

    return __version__


def _comparable(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in RUNTIME_KEYS}


def _grid_dict(grid) -> dict:
    """A grid as recorded, less the runtime keys of its agent overrides (e.g. a cluster's ray_address)."""
    d = asdict(grid) if isinstance(grid, GridConfig) else dict(grid)
    return {**d, "agent": _comparable(d.get("agent") or {})}


def shared_settings(params) -> dict:
    """What every agent of a run shares of resolved `params` (AgentParams): all but the task and
    seed each agent sets and where it runs (:data:`RUNTIME_KEYS`)."""
    return {k: v for k, v in _comparable(params.to_dict()).items() if k not in ("task", "seed")}


def config_record(grid: GridConfig) -> dict:
    """``config.json``: the grid, its resolved agent parameters (task and seed vary per unit), the version."""
    agent = shared_settings(grid.agent_params(grid.tasks[0], grid.seeds[0]))
    return {"grid": asdict(grid), "agent_params": agent, "nasxfer_version": _version()}


def unit_record(grid: GridConfig, unit: Unit, params, **extra) -> dict:
    """What a part records: the grid, every resolved AgentParams field, the version, and `extra`
    (the weights' SHA-256; where and when the unit ran)."""
    return {
        "unit": unit.name,
        "grid": asdict(grid),
        "agent": params.to_dict(),
        "nasxfer_version": _version(),
        **extra,
    }


def _diff(recorded: dict, current: dict, said: str, prefix: str = "") -> list[str]:
    keys = [*recorded, *(k for k in current if k not in recorded)]
    return [
        f"{prefix}{k}: {said} {recorded.get(k, '(absent)')!r}, params say {current.get(k, '(absent)')!r}"
        for k in keys
        if recorded.get(k) != current.get(k)
    ]


def _refuse(results_dir: Path, diffs: list[str], where: str) -> NasxferError:
    shown = "; ".join(dict.fromkeys(diffs))
    return NasxferError(
        f"{results_dir} holds a grid run with another configuration ({where}: {shown}): resume it with the "
        f"params it was made with, or pick a new run_name (or --results-dir) to start afresh"
    )


def _check_config_json(grid: GridConfig, results_dir: Path) -> bool:
    """Refuse a config.json that disagrees with `grid`; True if one was there."""
    path = results_dir / "config.json"
    if not path.is_file():
        return False
    try:
        old = json.loads(path.read_text())
        if not isinstance(old, dict) or not isinstance(old.get("grid"), dict):
            raise ValueError("no 'grid' mapping")
    except (ValueError, OSError) as e:
        raise NasxferError(
            f"{path} does not read back ({e}): restore it, or delete it (each part records its "
            f"own configuration) and resume"
        ) from None
    if old.get("nasxfer_version") != _version():
        raise NasxferError(
            f"{path} was written by nasxfer {old.get('nasxfer_version')}, this is nasxfer {_version()}: its "
            f"agents may differ from what this version trains; resume with nasxfer {old.get('nasxfer_version')}, "
            f"or pass a new run_name (or --results-dir) to start afresh"
        )
    now = config_record(grid)
    diffs = _diff(_grid_dict(old["grid"]), _grid_dict(now["grid"]), "config.json says")
    if "agent_params" in old:
        diffs += _diff(_comparable(old["agent_params"]), now["agent_params"], "config.json says", "agent.")
    if diffs:
        raise _refuse(results_dir, diffs, "config.json")
    return True


# ---- reading a part back -------------------------------------------------------------------

_STRING_COLUMNS = ("run_name", "source", "target", "kind")
_INT_COLUMNS = ("seed", "env_steps", "updates")
_FLOAT_COLUMNS = ("train_s", "wall_s", "final_test", "final_rank_pct", "best_test", "n_unique", "ret")


class Untrusted(Exception):
    """An artifact that did not verify; the message says what is wrong (one line)."""


def read_part(path: Path) -> tuple[pd.DataFrame, dict | None]:
    """(curve, recorded configuration or None) of a part; :class:`Untrusted` if it does not read back."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow's errors carry no path; ours names it
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise Untrusted(f"{path} does not read back as parquet ({first})") from None
    try:
        record = json.loads(meta[RECORD_KEY.encode()]) if RECORD_KEY.encode() in meta else None
    except ValueError:
        raise Untrusted(f"{path} has an unreadable configuration record") from None
    return df, record


def check_part(df: pd.DataFrame, unit: Unit, grid: GridConfig, path: Path) -> None:
    """Raise :class:`Untrusted` unless `df` has the runner's schema and is `unit`'s whole run."""
    from pandas.api import types

    wanted = [*_STRING_COLUMNS, *_INT_COLUMNS, *_FLOAT_COLUMNS] + (["random_walk_final_test"] if unit.scratch else [])
    lacking = [c for c in wanted if c not in df.columns]
    if lacking:
        raise Untrusted(f"{path} lacks the column(s) {lacking}")
    bad = [c for c in _STRING_COLUMNS if not (types.is_string_dtype(df[c]) or types.is_object_dtype(df[c]))]
    bad += [c for c in _INT_COLUMNS if not types.is_integer_dtype(df[c])]
    bad += [c for c in wanted[len(_STRING_COLUMNS) + len(_INT_COLUMNS) :] if not types.is_float_dtype(df[c])]
    if bad:
        raise Untrusted(f"{path} has column(s) of another type: {', '.join(f'{c} ({df[c].dtype})' for c in bad)}")
    if df.empty:
        raise Untrusted(f"{path} has no rows")
    ident = {
        "seed": unit.seed,
        "source": unit.source,
        "target": unit.target,
        "kind": "scratch" if unit.scratch else "transfer",
    }
    wrong = [k for k, v in ident.items() if not (df[k] == v).all()]
    if wrong:
        raise Untrusted(f"{path} holds rows of another unit (column(s) {wrong} differ from {unit.name})")
    steps = df["env_steps"]
    if not steps.is_monotonic_increasing or steps.iloc[-1] < grid.train_steps:
        raise Untrusted(
            f"{path} is not a whole run (last evaluation at {steps.iloc[-1]} of {grid.train_steps} env steps)"
        )


def _checkpoint_sha(grid: GridConfig, results_dir: Path, seed: int, task: str) -> str:
    """The SHA-256 of a verified checkpoint of (seed, task); :class:`Untrusted` if it does not verify."""
    from .agent.checkpoints import read_weights

    path = checkpoint_dir(results_dir, seed, task)
    if not path.exists():
        raise Untrusted(f"{path} is missing")
    try:
        _, meta = read_weights(path)
    except NasxferError as e:
        raise Untrusted(str(e).split("; ")[0]) from None
    bench, name = grid.task_ref(task)
    if (meta.get("task"), meta.get("seed"), meta.get("benchmark")) != (name, seed, bench):
        raise Untrusted(
            f"{path}/meta.json describes another agent (task {meta.get('task')!r}, seed "
            f"{meta.get('seed')!r}, benchmark {meta.get('benchmark')!r})"
        )
    return meta["sha256"]


def resume_plan(grid: GridConfig, results_dir) -> list[Unit]:
    """The units of `grid` still to run in `results_dir`, after verifying everything there.

    Refuses (:class:`NasxferError`) a folder made with another configuration; warns
    (:class:`ResumeWarning`, one line each) about every artifact that did not verify and
    returns it for rerunning, with the transfers that depend on a retrained source.
    """
    results_dir = Path(results_dir)
    has_config = _check_config_json(grid, results_dir)
    units = grid.units()
    names = {u.name: u for u in units}
    parts_dir = results_dir / "parts"
    diffs, vouchless, notes = [], [], []
    parts: dict[str, dict] = {}  # unit name -> record, for parts that verified
    for path in sorted(parts_dir.glob("*.parquet")) if parts_dir.is_dir() else []:
        unit = names.get(path.stem)
        try:
            df, record = read_part(path)
        except Untrusted as e:
            if unit is not None:
                notes.append((unit, str(e)))
            continue
        if record is None:
            if not has_config:
                vouchless.append(path.name)
            elif unit is not None:
                notes.append((unit, f"{path} records no configuration (made by an older nasxfer)"))
            continue
        if record.get("nasxfer_version") != _version():
            diffs.append(f"nasxfer_version: parts say {record.get('nasxfer_version')!r}, this is {_version()!r}")
        diffs += _diff(_grid_dict(record.get("grid") or {}), _grid_dict(grid), "parts say")
        if unit is not None:
            now = grid.agent_params(unit.target, unit.seed).to_dict()
            diffs += _diff(_comparable(record.get("agent") or {}), _comparable(now), "parts say", "agent.")
            try:
                check_part(df, unit, grid, path)
            except Untrusted as e:
                notes.append((unit, str(e)))
                continue
            parts[unit.name] = record
    if vouchless:
        raise NasxferError(
            f"{results_dir} has no config.json and its parts {vouchless[:3]}{' ...' if len(vouchless) > 3 else ''} "
            f"record no configuration, so nothing vouches for what made them: pick a new run_name (or "
            f"--results-dir), or move the parts away"
        )
    if diffs:
        raise _refuse(results_dir, diffs, "parts")

    todo, shas = [], {}
    for unit, why in notes:
        _warn(f"{why}: rerunning {unit.name}")
    noted = {u.name for u, _ in notes}
    for unit in units:
        record = parts.get(unit.name)
        if unit.scratch:
            try:
                sha = _checkpoint_sha(grid, results_dir, unit.seed, unit.target)
            except Untrusted as e:
                if record is not None:
                    _warn(f"{e}: retraining {unit.name}")
                todo.append(unit)
                continue
            if record is None:
                todo.append(unit)
            elif record.get("weights_sha256") != sha:
                _warn(
                    f"{checkpoint_dir(results_dir, unit.seed, unit.target)} is not the checkpoint "
                    f"{unit.name} saved: retraining it"
                )
                todo.append(unit)
            else:
                shas[(unit.seed, unit.target)] = sha
        elif record is None:
            todo.append(unit)
        elif (unit.seed, unit.source) not in shas:
            if unit.name not in noted:
                _warn(
                    f"{unit.name} was made from weights of seed{unit.seed}-{unit.source} that are being "
                    f"retrained: rerunning it"
                )
            todo.append(unit)
        elif record.get("source_sha256") != shas[(unit.seed, unit.source)]:
            _warn(
                f"{unit.name} was made from other weights than {checkpoint_dir(results_dir, unit.seed, unit.source)}"
                f" holds: rerunning it"
            )
            todo.append(unit)
    return todo


# ---- running ---------------------------------------------------------------------------------


def run_grid(grid, results_dir, data_dir=None, progress: bool = True) -> Path:
    """Run every unit of `grid` not yet finished (and verified) in `results_dir`, then :func:`assemble`.

    Holds the folder's run lock throughout; a second run on the same folder is refused at once.
    """
    from tqdm.auto import tqdm

    from .interrupt import GridStopped
    from .runlock import RunLock

    grid = grid_config(grid)
    results_dir = Path(results_dir)
    units = grid.units()
    done = 0
    with RunLock(results_dir):
        try:
            todo = resume_plan(grid, results_dir)
            done = len(units) - len(todo)
            for folder in [results_dir, results_dir / "parts", *(results_dir / "checkpoints").glob("*")]:
                remove_stale_temps(folder)
            write_json_atomic(config_record(grid), results_dir / "config.json")
            bar = tqdm(total=len(units), initial=done, desc=f"grid {grid.run_name}", unit="agent", disable=not progress)
            try:
                if cluster_address(grid):
                    from .grid_cluster import run_units
                else:
                    run_units = _run_units_here
                for _ in run_units(grid, todo, results_dir, data_dir, bar):
                    done += 1
                    bar.update(1)
            finally:
                bar.close()  # ends the bar's line, so what follows starts on its own
            assemble(results_dir)
        except GridStopped as e:
            e.done, e.total = done, len(units)
            raise
    return results_dir


def _run_units_here(grid: GridConfig, todo: list[Unit], results_dir: Path, data_dir, bar):
    """Run `todo` one after another in this process, yielding each unit once its part is written."""
    from .interrupt import GridStopped, received

    for unit in todo:
        bar.set_postfix_str(unit.name)
        try:
            run_unit(grid, unit, results_dir, data_dir)
        except Exception:
            if received() is not None:  # a stop signal broke the unit (e.g. its actors died)
                raise GridStopped(received()) from None
            raise
        yield unit


def cluster_address(grid: GridConfig) -> str | None:
    """The Ray cluster the grid's units run on in parallel (its agents' ``ray_address``); None: one by one, locally."""
    return (grid.agent or {}).get("ray_address")


def checkpoint_dir(results_dir: Path, seed: int, task: str) -> Path:
    """Where the scratch agent of (seed, task) keeps its weights; `task` as the grid names it."""
    return Path(results_dir) / "checkpoints" / f"seed{seed}-{file_name(task)}"


def run_unit(grid: GridConfig, unit: Unit, results_dir, data_dir=None) -> pd.DataFrame:
    """Train one agent (scratch, or transferred from its source's checkpoint) and save its curve."""
    results_dir = Path(results_dir)
    curve, record = train_unit(
        grid,
        unit,
        source=None if unit.scratch else checkpoint_dir(results_dir, unit.seed, unit.source),
        save_to=checkpoint_dir(results_dir, unit.seed, unit.target) if unit.scratch else None,
        data_dir=data_dir,
    )
    write_part(curve, record, unit, results_dir)
    return curve


def train_unit(grid: GridConfig, unit: Unit, source=None, save_to=None, data_dir=None) -> tuple[pd.DataFrame, dict]:
    """Train one agent and return (its curve, what its part records).

    A transfer starts from the weights checkpoint at `source`; a scratch unit writes its own to
    `save_to`. The record holds the configuration and checksums :func:`resume_plan` verifies, and
    where and when the unit ran (``host``, Ray ``node``, ``started`` / ``ended`` in Unix seconds),
    which nothing compares. Writes nothing else: :func:`run_unit` (here) and
    :mod:`nasxfer.grid_cluster` (on a cluster node) decide where its results go."""
    import socket
    import time

    import ray

    from .agent.agent import Agent
    from .agent.checkpoints import read_meta
    from .interrupt import reinstall

    started = time.time()
    params = grid.agent_params(unit.target, unit.seed)
    if data_dir is not None:
        params = params.replace(data_dir=str(data_dir))
    agent = Agent(params)
    reinstall()  # ray.init replaces the stop-signal handlers with its own
    try:
        checksums = {}
        if not unit.scratch:
            agent.load_weights(source)
            checksums["source_sha256"] = agent.source["sha256"]
        curve = agent.train().copy()
        floor = agent.random_walk() if unit.scratch else None
        if unit.scratch:
            ckpt = agent.save_weights(save_to)
            checksums["weights_sha256"] = read_meta(ckpt)["sha256"]
    finally:
        agent.stop()
    curve.insert(0, "run_name", grid.run_name)
    curve.insert(1, "seed", unit.seed)
    curve.insert(2, "source", unit.source)
    curve.insert(3, "target", unit.target)
    curve.insert(4, "kind", "scratch" if unit.scratch else "transfer")
    if floor is not None:
        curve["random_walk_final_test"] = floor["final_test"]
    where = dict(host=socket.gethostname(), node=ray.get_runtime_context().get_node_id(), started=started)
    return curve, unit_record(grid, unit, params, **checksums, **where, ended=time.time())


def write_part(curve: pd.DataFrame, record: dict, unit: Unit, results_dir) -> Path:
    """Write `unit`'s part (its curve, with `record` in the parquet metadata) atomically."""
    return write_atomic(
        curve,
        Path(results_dir) / "parts" / f"{unit.name}.parquet",
        metadata={RECORD_KEY: json.dumps(record, default=str)},
    )


# ---- the tidy tables -------------------------------------------------------------------------


def assemble(results_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate the parts into ``curves`` and derive ``results`` (one row per regime)."""
    results_dir = Path(results_dir)
    grid = grid_config(json.loads((results_dir / "config.json").read_text())["grid"])
    names = {u.name for u in grid.units()}
    parts = sorted(p for p in (results_dir / "parts").glob("*.parquet") if p.stem in names)
    if not parts:
        raise NasxferError(f"{results_dir} has no finished runs yet: run the grid first")
    frames = []
    for p in parts:
        try:
            frames.append(read_part(p)[0])
        except Untrusted as e:
            raise NasxferError(f"{e}: resume the grid (nasxfer grid <params.yaml>) to rerun it") from None
    curves = pd.concat(frames, ignore_index=True)
    results = regime_table(curves, grid)
    for name, df in (("curves", curves), ("results", results)):
        write_atomic(df, results_dir / f"{name}.parquet")
        write_atomic(df, results_dir / f"{name}.csv")
    return curves, results


def _at(curve: pd.DataFrame, steps: int) -> pd.Series:
    """The first evaluation at or after `steps` env steps (RLlib overshoots by a sampling round)."""
    hit = curve[curve.env_steps >= steps]
    return hit.iloc[0] if len(hit) else curve.iloc[-1]


METRIC_COLUMNS = ("final_test", "final_rank_pct", "best_test", "n_unique", "ret")


def regime_table(curves: pd.DataFrame, grid: GridConfig) -> pd.DataFrame:
    """One row per (seed, source, target, regime) with the evaluation at that regime's budget.

    Off the diagonal: zero_shot = transfer run before target training, fine_tune = at
    ``finetune_steps``, retrain = at ``train_steps``. On the diagonal (source == target):
    the scratch run at the same budgets (zero_shot: the fully trained agent on its own task).
    """
    rows = []
    for (seed, source, target, kind), c in curves.groupby(["seed", "source", "target", "kind"], sort=False):
        c = c.sort_values("env_steps")
        picks = {
            "zero_shot": c.iloc[0] if kind == "transfer" else c.iloc[-1],
            "fine_tune": _at(c, grid.finetune_steps),
            "retrain": c.iloc[-1],
        }
        for regime, r in picks.items():
            rows.append(
                {
                    "run_name": grid.run_name,
                    "seed": seed,
                    "source": source,
                    "target": target,
                    "regime": regime,
                    "kind": kind,
                    "env_steps": int(r.env_steps),
                    "train_s": float(r.train_s),
                    **{m: float(r[m]) for m in METRIC_COLUMNS if m in r},
                }
            )
    return pd.DataFrame(rows)


def load_results(results_dir) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(curves, results, config) of a finished grid."""
    results_dir = Path(results_dir)
    if not (results_dir / "results.parquet").is_file():
        raise NasxferError(f"{results_dir} has no results.parquet: run the grid (nasxfer grid <params.yaml>) first")
    config = json.loads((results_dir / "config.json").read_text())
    return pd.read_parquet(results_dir / "curves.parquet"), pd.read_parquet(results_dir / "results.parquet"), config

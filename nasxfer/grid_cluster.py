"""The transfer grid on a Ray cluster: its units run as concurrent Ray tasks.

:func:`nasxfer.experiments.run_grid` hands its units here when the grid's agents name a cluster
(``agent: {ray_address: ...}`` in the params file, or ``nasxfer grid --ray-address``). Each unit
is one Ray task in a placement group of its own: a bundle for the learner (``torch_threads`` CPUs,
and a GPU when the cluster has one and ``device`` allows it) and one per env runner, so a unit
starts only where all it needs is free, and its runners, started inside the task, land in its own
bundles (``placement_group_capture_child_tasks``). Ray decides where and when; the only order
kept here is the grid's own: a transfer is submitted as soon as its source's weights exist.

Nothing is assumed of a node but the installed package:

* the benchmark tables go from the driver through the object store (one ``ray.put``); the task
  serves them to its agent with :func:`nasxfer.benchmark.provide`, and its env runners get them
  the same way (:func:`nasxfer.agent.ray_runtime.build_algo`);
* a transfer's source weights travel as the checkpoint's bytes, and a scratch unit's weights
  come back the same way; the driver writes every checkpoint and part into its results folder
  (atomically, checkpoint before part, as a local run does), so resume works unchanged.

A unit whose node or worker dies is rerun by Ray (``max_retries``); one whose own code fails
stops the grid with its error, the units already finished kept. Either way what is written
stays trustworthy: a part appears only once its unit has finished.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .errors import NasxferError
from .experiments import checkpoint_dir, cluster_address, train_unit, write_part
from .grid import GridConfig, Unit

# Ray reruns a unit whose worker or node died this many times (its own errors are never retried).
MAX_RETRIES = 3


def unit_bundles(params, cluster_gpus: float) -> list[dict]:
    """Placement-group bundles of one unit: its learner (bundle 0: ``torch_threads`` CPUs, plus
    a GPU when the cluster has GPUs and ``device`` is not ``cpu``) and one per env runner."""
    learner = {"CPU": float(max(1, params.torch_threads))}
    if cluster_gpus > 0 and params.device != "cpu":
        learner["GPU"] = 1.0
    return [learner] + [{"CPU": float(params.num_cpus_per_env_runner)}] * params.num_env_runners


def check_fits(bundles: list[dict], nodes: list[dict], address: str) -> None:
    """Refuse a unit the cluster can never place (Ray would leave it pending, silently, for ever).
    `nodes` as ``ray.nodes()`` gives them."""
    cpus = [n["Resources"].get("CPU", 0) for n in nodes if n.get("Alive")]
    need = sum(b["CPU"] for b in bundles)
    if not cpus or need > sum(cpus) or bundles[0]["CPU"] > max(cpus):
        raise NasxferError(
            f"a grid unit asks for {need:g} CPUs ({bundles[0]['CPU']:g} for its learner, torch_threads; "
            f"{len(bundles) - 1} env runners x {bundles[1]['CPU'] if len(bundles) > 1 else 0:g}), more than the "
            f"cluster at {address} has ({sum(cpus):g} CPUs, at most {max(cpus, default=0):g} on one node): lower "
            f"torch_threads, num_env_runners or num_cpus_per_env_runner in the params file's grid.agent, or add nodes"
        )


def _unit_task(grid: GridConfig, unit: Unit, benches, source: dict[str, bytes] | None):
    """One unit on a cluster node: (curve, record, the scratch unit's checkpoint files or None)."""
    from .agent.checkpoints import checkpoint_files, write_checkpoint_files
    from .benchmark import provide

    for bench in benches:
        provide(bench)
    with tempfile.TemporaryDirectory(prefix="nasxfer-unit-") as tmp:
        source_dir = save_to = None
        if source is not None:
            source_dir = Path(tmp) / "source"
            write_checkpoint_files(source, source_dir)
        if unit.scratch:
            save_to = Path(tmp) / "weights"
        curve, record = train_unit(grid, unit, source=source_dir, save_to=save_to)
        files = checkpoint_files(save_to) if save_to is not None else None
    return curve, record, files


def run_units(grid: GridConfig, todo: list[Unit], results_dir: Path, data_dir, bar):
    """Run `todo` as concurrent Ray tasks on the grid's cluster, yielding each unit once its part
    (and a scratch unit's checkpoint) is written in `results_dir`."""
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from .agent.checkpoints import checkpoint_files, write_checkpoint_files
    from .agent.ray_runtime import init_ray
    from .benchmark import load_benchmark
    from .interrupt import reinstall

    if not todo:
        return
    params = grid.agent_params(grid.tasks[0], grid.seeds[0])
    init_ray(params)
    reinstall()  # ray.init replaces the stop-signal handlers with its own
    # every benchmark the grid's tasks are on, all tasks of each, as Agent loads them
    tables = ray.put([load_benchmark(b, data_dir=data_dir or params.data_dir) for b in grid.benchmarks])
    # every unit asks for the same (the layout fields are the grid's, not the task's or seed's)
    bundles = unit_bundles(params, ray.cluster_resources().get("GPU", 0))
    check_fits(bundles, ray.nodes(), cluster_address(grid))
    remote = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(_unit_task)

    todo_scratch = {(u.seed, u.target) for u in todo if u.scratch}
    waiting = [u for u in todo if not u.scratch and (u.seed, u.source) in todo_scratch]
    inflight: dict = {}  # ObjectRef -> (unit, placement group)

    def submit(unit: Unit) -> None:
        pg = placement_group(bundles, strategy="PACK", name=f"nasxfer-{grid.run_name}-{unit.name}")
        source = None if unit.scratch else checkpoint_files(checkpoint_dir(results_dir, unit.seed, unit.source))
        strategy = PlacementGroupSchedulingStrategy(
            pg, placement_group_bundle_index=0, placement_group_capture_child_tasks=True
        )
        ref = remote.options(
            num_cpus=bundles[0]["CPU"],
            num_gpus=bundles[0].get("GPU", 0),
            scheduling_strategy=strategy,
            name=unit.name,
        ).remote(grid, unit, tables, source)
        inflight[ref] = (unit, pg)

    try:
        for unit in todo:
            if unit not in waiting:
                submit(unit)
        bar.set_postfix_str(f"{len(inflight)} submitted")
        while inflight:
            (ref,), _ = ray.wait(list(inflight), num_returns=1)
            unit, pg = inflight.pop(ref)
            try:
                curve, record, files = ray.get(ref)
            except ray.exceptions.RayTaskError:
                raise  # the unit's own error (its type and message are the cause's)
            except ray.exceptions.RayError as e:
                raise NasxferError(
                    f"grid unit {unit.name} was lost on the cluster after {MAX_RETRIES} reruns "
                    f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): the finished units are "
                    f"kept; resume the grid to rerun the rest"
                ) from None
            finally:
                remove_placement_group(pg)
            if files is not None:
                write_checkpoint_files(files, checkpoint_dir(results_dir, unit.seed, unit.target))
            write_part(curve, record, unit, results_dir)
            bar.set_postfix_str(unit.name)
            yield unit
            if unit.scratch:
                for u in [u for u in waiting if (u.seed, u.source) == (unit.seed, unit.target)]:
                    waiting.remove(u)
                    submit(u)
    finally:
        for ref, (_, pg) in inflight.items():  # a stop signal or a failed unit: drop the units in flight
            try:
                ray.cancel(ref, force=True)
            except Exception:  # finished meanwhile, or its node is gone: nothing left to cancel
                pass
            remove_placement_group(pg)


# ---- what a grid costs on a cluster -----------------------------------------------------------


def wall_time(grid: GridConfig, env_steps_per_s: float, nodes: int, cpus_per_node: int, gpus_per_node: int = 0):
    """Hours a grid takes on `nodes` nodes, each unit training at `env_steps_per_s` (a measured
    figure: ``benchmarks/bench_agent.py``), and the units that run at once.

    Each node holds as many units as its CPUs (and GPUs, when the units ask for one) fit
    (:func:`unit_bundles`; a unit's bundles on one node). The scratch units go first; their
    transfers follow as the sources finish, so the grid takes the scratch waves plus the
    transfer waves, each wave one unit's ``train_steps / env_steps_per_s``."""
    import math

    params = grid.agent_params(grid.tasks[0], grid.seeds[0])
    bundles = unit_bundles(params, gpus_per_node)
    cpus = sum(b["CPU"] for b in bundles)
    per_node = math.floor(cpus_per_node / cpus)
    if gpus_per_node and any("GPU" in b for b in bundles):
        per_node = min(per_node, gpus_per_node)
    slots = per_node * nodes
    if slots < 1:
        raise NasxferError(
            f"a unit asks for {cpus:g} CPUs{' and a GPU' if gpus_per_node else ''}, more than a node of "
            f"{cpus_per_node} CPUs holds: use bigger nodes, or fewer env runners per agent"
        )
    units = grid.units()
    scratch = sum(u.scratch for u in units)
    waves = math.ceil(scratch / slots) + math.ceil((len(units) - scratch) / slots)
    unit_h = grid.train_steps / env_steps_per_s / 3600
    return dict(
        nodes=nodes,
        cpus_per_node=cpus_per_node,
        cpus_per_unit=cpus,
        units=len(units),
        concurrent_units=slots,
        unit_hours=unit_h,
        wall_hours=waves * unit_h,
        agent_hours=len(units) * unit_h,
    )


def main(argv=None) -> int:
    """Print :func:`wall_time` of a params file's grid for several cluster sizes."""
    import argparse

    import pandas as pd

    from .profiles import load_params

    ap = argparse.ArgumentParser(prog="python -m nasxfer.grid_cluster", description=main.__doc__)
    ap.add_argument("params", help="params file, e.g. params/paper.yaml")
    ap.add_argument("--env-steps-per-s", type=float, required=True, help="one unit's measured speed")
    ap.add_argument("--cpus-per-node", type=int, default=32)
    ap.add_argument("--gpus-per-node", type=int, default=0)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 4, 16, 64])
    args = ap.parse_args(argv)
    grid = load_params(args.params)["grid"]
    rows = [wall_time(grid, args.env_steps_per_s, n, args.cpus_per_node, args.gpus_per_node) for n in args.nodes]
    print(pd.DataFrame(rows).round(1).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

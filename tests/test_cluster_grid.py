"""The grid on a real multi-node Ray cluster, on loopback.

A head (127.0.0.1) and a worker node (127.0.0.2) are started with ``ray start`` as separate
processes, with token authentication and with no benchmark tables on their side (NASXFER_DATA
and the cache point nowhere): only the driver has them. The small ci grid runs through
``nasxfer grid --ray-address``; its results must match a local run's schema, its units must have
run at once on both nodes, and a worker node killed under a running unit must not cost a unit.
"""

import dataclasses
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow  # a real Ray cluster and grid runs: about two minutes

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
NASXFER = str(Path(sys.executable).with_name("nasxfer"))
UNITS = {
    "seed0-scratch-class_object",
    "seed0-scratch-segmentsemantic",
    "seed0-class_object-to-segmentsemantic",
    "seed0-segmentsemantic-to-class_object",
}
WORKER_IP = "127.0.0.2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_processes(port: int):
    """Every process of the test cluster: those naming its GCS port, and their descendants."""
    import psutil

    found = set()
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(f":{port}" in a or f"={port}" in a for a in p.info["cmdline"] or []):
                found.add(p)
                found.update(p.children(recursive=True))
        except psutil.Error:
            continue
    return found


def _kill(procs) -> None:
    import psutil

    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


def _worker_raylet(port: int):
    return next(
        p
        for p in _cluster_processes(port)
        if "raylet" in p.name() and any(WORKER_IP in a for a in p.cmdline()) and p.is_running()
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(address, env for a driver) of a 2-node loopback cluster of 2 CPUs per node; torn down after."""
    port = _free_port()
    token = secrets.token_hex(16)
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0"}
    nodes = {**os.environ, **auth, "NASXFER_DATA": "/nonexistent/nasxfer-data", "NASXFER_CACHE": "/nonexistent/cache"}
    address = f"127.0.0.1:{port}"
    starts = [
        [
            RAY,
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--object-store-memory",
            "200000000",
        ],
        [
            RAY,
            "start",
            "--address",
            address,
            "--node-ip-address",
            WORKER_IP,
            "--num-cpus",
            "2",
            "--object-store-memory",
            "200000000",
        ],
    ]
    starts[0] += ["--include-dashboard=false", "--disable-usage-stats"]
    try:
        for cmd in starts:
            out = subprocess.run(cmd, env=nodes, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        yield address, {**os.environ, **auth}
    finally:
        _kill(_cluster_processes(port))


def _params_file(tmp_path, small_grid, results_dir) -> Path:
    grid = dataclasses.asdict(small_grid)
    grid["agent"] = {**grid["agent"], "torch_threads": 1}  # a unit: 1 CPU learner + 0.5 CPU runner
    path = tmp_path / "cluster.yaml"
    path.write_text(json.dumps({"profile": "ci", "results_dir": str(results_dir), "grid": grid}))  # JSON is YAML
    return path


def _run(params, address, env, data_dir, **kw):
    cmd = [NASXFER, "grid", str(params), "--ray-address", address, "--data-dir", str(data_dir)]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _records(results_dir: Path) -> dict:
    parts = sorted((results_dir / "parts").glob("*.parquet"))
    return {p.stem: json.loads(pq.read_schema(p).metadata[b"nasxfer"]) for p in parts}


def test_grid_runs_its_units_concurrently_on_the_cluster(cluster, small_grid, small_grid_run, data_dir, tmp_path):
    address, env = cluster
    out = tmp_path / "run"
    proc = _run(_params_file(tmp_path, small_grid, out), address, env, data_dir)
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log[-3000:]

    records = _records(out)
    assert set(records) == UNITS  # each unit's part, once
    for name in ("curves", "results"):  # the same tables as a local run: columns, dtypes, rows per unit
        here, local = pd.read_parquet(out / f"{name}.parquet"), pd.read_parquet(small_grid_run / f"{name}.parquet")
        assert list(here.columns) == list(local.columns) and (here.dtypes == local.dtypes).all()
        keys = ["seed", "source", "target"] + (["regime"] if name == "results" else ["env_steps"])
        assert not here.duplicated(keys).any()
        assert len(here.groupby(keys[:3])) == len(local.groupby(keys[:3]))
    scratch = [records[u] for u in sorted(UNITS) if "scratch" in u]
    assert scratch[0]["node"] != scratch[1]["node"]  # one per node,
    assert max(r["started"] for r in scratch) < min(r["ended"] for r in scratch)  # at the same time
    for r in records.values():
        assert r["started"] < r["ended"]


def test_a_node_lost_under_a_unit_costs_no_unit(cluster, small_grid, data_dir, tmp_path):
    """Kill the worker node (its raylet and every process under it) while a unit runs there: the
    grid ends complete, the lost unit rerun on the surviving node (by Ray, or by resuming)."""
    address, env = cluster
    out = tmp_path / "run"
    params = _params_file(tmp_path, small_grid, out)
    proc = _run(params, address, env, data_dir)
    raylet = _worker_raylet(int(address.rsplit(":", 1)[1]))
    lost_node = next(a for a in raylet.cmdline() if a.startswith("--node_id=")).split("=", 1)[1]
    deadline = time.monotonic() + 300
    victim = None
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        victim = next((c.name() for c in raylet.children(recursive=True) if c.name().startswith("ray::seed")), None)
        time.sleep(0.05)
    assert victim is not None, "no unit ran on the worker node"
    _kill([raylet, *raylet.children(recursive=True)])
    log, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:  # the grid may stop on the lost unit; resuming must complete it
        again = _run(params, address, env, data_dir)
        more, _ = again.communicate(timeout=600)
        assert again.returncode == 0, log[-2000:] + more[-3000:]

    records = _records(out)
    assert set(records) == UNITS
    lost = victim.removeprefix("ray::")
    assert records[lost]["node"] != lost_node  # rerun elsewhere, after the node died
    results = pd.read_parquet(out / "results.parquet")
    assert len(results) == len(UNITS) * 3 and not results.duplicated(["seed", "source", "target", "regime"]).any()

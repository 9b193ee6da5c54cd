"""Resuming a grid trusts only what it has verified, on real parts and checkpoints.

One small grid derived from params/ci.yaml (one seed, two tasks: two scratch agents and two
transfers) is trained once per session; each test damages a copy of it and resumes.
"""

import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from nasxfer import __version__
from nasxfer import experiments as ex
from nasxfer import io as nio
from nasxfer.agent.checkpoints import read_weights
from nasxfer.agent.params import AgentParams
from nasxfer.errors import NasxferError
from nasxfer.runlock import RunLock, holder

pytestmark = pytest.mark.slow  # real Ray training, kernels or subprocesses: minutes

ROOT = Path(__file__).resolve().parents[1]
S_CO, S_SS = "seed0-scratch-class_object", "seed0-scratch-segmentsemantic"
T_CO_SS, T_SS_CO = "seed0-class_object-to-segmentsemantic", "seed0-segmentsemantic-to-class_object"
UNITS = {S_CO, S_SS, T_CO_SS, T_SS_CO}


@pytest.fixture(scope="session")
def grid(small_grid):
    return small_grid


@pytest.fixture(scope="session")
def finished(small_grid_run):
    return small_grid_run


@pytest.fixture
def run(finished, tmp_path):
    return Path(shutil.copytree(finished, tmp_path / "ci"))


def parts(run) -> dict:
    return {p.stem: p.read_bytes() for p in (run / "parts").glob("*.parquet")}


def resume(grid, run, data_dir) -> list[str]:
    """Resume the grid in `run`; the one-line warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ex.run_grid(grid, run, data_dir=data_dir, progress=False)
    return [str(w.message) for w in caught if issubclass(w.category, ex.ResumeWarning)]


def rerun(before: dict, run) -> set:
    after = parts(run)
    assert set(after) == UNITS
    return {u for u in UNITS if after[u] != before.get(u)}


def complete(run):
    curves, results, _ = ex.load_results(run)
    assert len(results) == 4 * 3 and set(zip(curves.source, curves.target)) == {
        ("class_object", "class_object"),
        ("segmentsemantic", "segmentsemantic"),
        ("class_object", "segmentsemantic"),
        ("segmentsemantic", "class_object"),
    }
    for task in ("class_object", "segmentsemantic"):
        read_weights(ex.checkpoint_dir(run, 0, task))
    assert not list(run.rglob("*.tmp"))


def record(path) -> dict:
    return json.loads(pq.read_schema(path).metadata[b"nasxfer"])


def rewrite_part(path, df=None, **changes):
    """Rewrite a part keeping (or changing) its configuration record, as another run would have."""
    rec = record(path)
    for k, v in changes.items():
        section, _, key = k.rpartition(".")
        (rec[section] if section else rec)[key] = v
    df = pd.read_parquet(path) if df is None else df
    nio.write_atomic(df, path, metadata={"nasxfer": json.dumps(rec)})


# ---- healthy folders ---------------------------------------------------------------------------


def test_healthy_resume_recomputes_nothing(grid, run, finished, data_dir):
    before = parts(run)
    ckpt = (ex.checkpoint_dir(run, 0, "class_object") / "weights.pt").read_bytes()
    assert resume(grid, run, data_dir) == []
    assert parts(run) == before and (ex.checkpoint_dir(run, 0, "class_object") / "weights.pt").read_bytes() == ckpt
    pd.testing.assert_frame_equal(
        pd.read_parquet(run / "results.parquet"), pd.read_parquet(finished / "results.parquet")
    )
    complete(run)


def test_each_part_records_its_resolved_configuration(grid, run):
    rec = record(run / "parts" / f"{T_CO_SS}.parquet")
    resolved = grid.agent_params("segmentsemantic", 0).to_dict()
    assert set(rec["agent"]) == {f.name for f in dataclasses.fields(AgentParams)}
    assert {k: rec["agent"][k] for k in ("lr", "embed_dim", "total_env_steps", "task")} == {
        k: resolved[k] for k in ("lr", "embed_dim", "total_env_steps", "task")
    }
    assert rec["grid"] == dataclasses.asdict(grid) and rec["nasxfer_version"] == __version__
    assert rec["source_sha256"] == read_weights(ex.checkpoint_dir(run, 0, "class_object"))[1]["sha256"]
    config = json.loads((run / "config.json").read_text())
    assert config["agent_params"]["lr"] == resolved["lr"] and config["nasxfer_version"] == __version__


# ---- damaged artifacts are named, then rerun with what depends on them -------------------------


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted"])
def test_damaged_source_checkpoint_retrains_the_source_then_its_transfers(grid, run, data_dir, damage):
    ckpt = ex.checkpoint_dir(run, 0, "class_object")
    weights = ckpt / "weights.pt"
    if damage == "garbage":
        weights.write_bytes(b"\x80\x03not a checkpoint at all" * 50)
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    else:
        shutil.rmtree(ckpt)
    before = parts(run)
    said = resume(grid, run, data_dir)
    named = str(ckpt) if damage == "deleted" else str(weights)
    assert len(said) == 2 and named in said[0] and S_CO in said[0] and T_CO_SS in said[1]
    assert all("\n" not in s for s in said)
    assert rerun(before, run) == {S_CO, T_CO_SS}
    complete(run)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "column dropped"])
def test_a_part_that_does_not_read_back_is_rerun(grid, run, data_dir, damage):
    part = run / "parts" / f"{T_SS_CO}.parquet"
    if damage == "truncated":
        part.write_bytes(part.read_bytes()[:-300])
    else:
        rewrite_part(part, pd.read_parquet(part).drop(columns="final_rank_pct"))
    before = parts(run)
    said = resume(grid, run, data_dir)
    assert len(said) == 1 and str(part) in said[0] and T_SS_CO in said[0]
    assert rerun(before, run) == {T_SS_CO}
    complete(run)


# ---- another configuration is refused, naming the keys ------------------------------------------


def test_changed_params_without_config_json_are_refused_by_the_parts(grid, run, data_dir):
    (run / "config.json").unlink()
    (run / "parts" / f"{T_SS_CO}.parquet").unlink()
    before = parts(run)
    changed = dataclasses.replace(grid, train_steps=100)
    with pytest.raises(NasxferError, match="train_steps: parts say 200, params say 100") as e:
        ex.run_grid(changed, run, data_dir=data_dir, progress=False)
    assert "agent.total_env_steps" in str(e.value) and "\n" not in str(e.value)
    assert parts(run) == before and not (run / "config.json").exists()


def test_config_json_of_another_version_is_refused(grid, run, data_dir):
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "nasxfer_version": "0.0.1"}))
    with pytest.raises(NasxferError, match=f"nasxfer 0.0.1, this is nasxfer {__version__}"):
        ex.run_grid(grid, run, data_dir=data_dir, progress=False)
    assert json.loads((run / "config.json").read_text())["nasxfer_version"] == "0.0.1"  # not overwritten


def test_parts_of_another_version_or_resolved_hyperparameters_are_refused(grid, run, data_dir):
    (run / "config.json").unlink()
    rewrite_part(run / "parts" / f"{S_SS}.parquet", nasxfer_version="0.0.1")
    with pytest.raises(NasxferError, match="nasxfer_version: parts say '0.0.1'"):
        ex.run_grid(grid, run, data_dir=data_dir, progress=False)
    rewrite_part(run / "parts" / f"{S_SS}.parquet", nasxfer_version=__version__, **{"agent.lr": 0.01})
    # same params file, but the preset resolved to another learning rate when the part was made
    with pytest.raises(NasxferError, match="agent.lr: parts say 0.01, params say 0.001"):
        ex.run_grid(grid, run, data_dir=data_dir, progress=False)


def test_changed_agent_parameter_is_refused_by_config_json(grid, run, data_dir):
    changed = dataclasses.replace(grid, agent={"preset": "ci", "lr": 0.002})
    with pytest.raises(NasxferError, match="agent.lr: config.json says 0.001, params say 0.002"):
        ex.run_grid(changed, run, data_dir=data_dir, progress=False)


def test_where_it_runs_is_not_a_configuration_change(grid, run, data_dir):
    moved = dataclasses.replace(grid, agent={**grid.agent, "num_cpus": 1, "ray_temp_dir": "/tmp/elsewhere"})
    before = parts(run)
    assert resume(moved, run, data_dir) == [] and parts(run) == before


# ---- full and read-only disks --------------------------------------------------------------------


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, check=False
        ).returncode
        == 0
    )


def _umount(where: Path):
    subprocess.run(["umount", str(where)], capture_output=True, check=False)


@pytest.mark.slow
def test_full_disk_names_the_path_and_leaves_nothing_partial(grid, finished, tmp_path, data_dir, monkeypatch):
    disk = tmp_path / "disk"
    mounted = _mount_tmpfs(disk, "1m")
    try:
        run = Path(shutil.copytree(finished, disk / "ci"))
        ckpt = ex.checkpoint_dir(run, 0, "class_object")
        shutil.rmtree(ckpt)  # the source is retrained, and its weights no longer fit
        filler = disk / "filler"
        if mounted:
            with open(filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                except OSError:
                    pass
            os.truncate(filler, max(filler.stat().st_size - 48 * 1024, 0))  # room for config.json, not weights
        else:  # no tmpfs here: the kernel's answer, given by our lowest-level write

            def full(fd, data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            monkeypatch.setattr(nio, "os", types.SimpleNamespace(**{**vars(os), "write": full}))
        with pytest.raises(NasxferError, match="no space left writing") as e:
            ex.run_grid(grid, run, data_dir=data_dir, progress=False)
        assert str(ckpt / "weights.pt" if mounted else run) in str(e.value) and "\n" not in str(e.value)
        assert not (ckpt / "weights.pt").exists() and not list(run.rglob("*.tmp"))
        if mounted:
            filler.unlink()
        else:
            monkeypatch.undo()
        resume(grid, run, data_dir)
        complete(run)
    finally:
        if mounted:
            _umount(disk)


def test_read_only_folder_names_the_path(grid, finished, tmp_path, data_dir, monkeypatch):
    disk = tmp_path / "disk"
    mounted = _mount_tmpfs(disk, "4m")
    try:
        run = Path(shutil.copytree(finished, disk / "ci"))
        if mounted:
            assert subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=False).returncode == 0
        else:

            def read_only(path, flags, *a, **k):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

            import nasxfer.runlock

            monkeypatch.setattr(nasxfer.runlock, "os", types.SimpleNamespace(**{**vars(os), "open": read_only}))
        with pytest.raises(NasxferError, match="read-only") as e:
            ex.run_grid(grid, run, data_dir=data_dir, progress=False)
        assert str(run) in str(e.value) and "\n" not in str(e.value)
    finally:
        if mounted:
            _umount(disk)


def test_writer_turns_disk_errors_into_one_line(tmp_path, monkeypatch):
    for code, words in (
        (errno.ENOSPC, "no space left writing"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "no permission to write"),
    ):

        def fail(fd, data, code=code):
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(nio, "os", types.SimpleNamespace(**{**vars(os), "write": fail}))
        with pytest.raises(NasxferError, match=words) as e:
            nio.write_torch_atomic({"a": 1}, tmp_path / "w.pt")
        assert str(tmp_path / "w.pt") in str(e.value)
        monkeypatch.undo()
        assert list(tmp_path.iterdir()) == []


# ---- one run per folder; signals -------------------------------------------------------------------


def _params_file(tmp_path, grid) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(json.dumps({"grid": dataclasses.asdict(grid)}))  # JSON is YAML
    return p


def _start(params, run, data_dir, tmp):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": tmp}  # TMPDIR: this run's own Ray session
    return subprocess.Popen(
        [sys.executable, "-m", "nasxfer", "grid", str(params), "--results-dir", str(run), "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(cond, proc, timeout=300):
    t0 = time.time()
    while not cond():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.2)


@pytest.mark.slow
def test_second_run_on_a_folder_refuses_at_once_naming_the_first(grid, run, tmp_path, data_dir):
    (run / "parts" / f"{T_SS_CO}.parquet").unlink()
    tmp = tempfile.mkdtemp(prefix="nx", dir="/tmp")
    proc = _start(_params_file(tmp_path, grid), run, data_dir, tmp)
    try:
        _wait(lambda: (holder(run) or {}).get("pid") == proc.pid, proc)
        t0 = time.time()
        with pytest.raises(NasxferError, match=f"in use by another grid run \\(pid {proc.pid} on host"):
            ex.run_grid(grid, run, data_dir=data_dir, progress=False)
        assert time.time() - t0 < 5
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_dead_holder_does_not_keep_the_lock(tmp_path):
    code = (
        "import sys, time; from nasxfer.runlock import RunLock; RunLock(sys.argv[1]).acquire(); "
        "print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(NasxferError, match=f"pid {child.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        child.kill()  # SIGKILL: no chance to clean up
        child.wait()
    with RunLock(tmp_path):
        assert holder(tmp_path)["pid"] == os.getpid()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_keeps_finished_agents_and_says_how_to_resume(grid, run, tmp_path, data_dir, signum, ray_processes):
    for u in (T_CO_SS, T_SS_CO):
        (run / "parts" / f"{u}.parquet").unlink()
    params = _params_file(tmp_path, grid)
    tmp = tempfile.mkdtemp(prefix="nx", dir="/tmp")
    proc = _start(params, run, data_dir, tmp)
    try:
        _wait(lambda: (run / "parts" / f"{T_CO_SS}.parquet").exists(), proc)
        assert ray_processes(tmp)  # the check below can see this run's Ray
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, err
    stopped = [line for line in err.splitlines() if "stopped by" in line]
    hint = (
        f"nasxfer: stopped by {name} after 3/4 agents; resume with: nasxfer grid {params} "
        f"--results-dir {run} --data-dir {data_dir}"
    )
    assert stopped == [hint]
    assert "Traceback" not in err and f"{name} received" not in err
    time.sleep(1)
    assert ray_processes(tmp) == []
    assert set(parts(run)) == {S_CO, S_SS, T_CO_SS} and not list(run.rglob("*.tmp"))
    kept = parts(run)
    assert resume(grid, run, data_dir) == []
    assert rerun(kept, run) == {T_SS_CO}  # the finished agents are not recomputed
    complete(run)
    shutil.rmtree(tmp, ignore_errors=True)


# ---- Agent.load_weights on corrupt checkpoints ----------------------------------------------------


def test_corrupt_checkpoints_are_named_in_one_line(finished, tmp_path, data_dir):
    import fractions
    import hashlib

    import torch

    from nasxfer.agent.agent import Agent

    good = ex.checkpoint_dir(finished, 0, "class_object")
    meta = json.loads((good / "meta.json").read_text())
    old_meta = {k: v for k, v in meta.items() if k not in ("sha256", "tensors")} | {"format": "nasxfer-qnet-v1"}
    unsafe = nio.torch_bytes({"w": torch.zeros(1), "f": fractions.Fraction(1, 2)})

    def signed(data: bytes):  # a checksum that matches, so the content itself is what is judged
        return {"weights.pt": data, "meta.json": json.dumps({**meta, "sha256": hashlib.sha256(data).hexdigest()})}

    cases = {
        "empty": ({"weights.pt": b""}, "weights.pt", "is empty"),
        "truncated": ({"weights.pt": (good / "weights.pt").read_bytes()[:5000]}, "weights.pt", "SHA-256"),
        "text file": ({"weights.pt": b"hello, I am a text file\n"}, "weights.pt", "SHA-256"),
        "old meta.json": ({"meta.json": json.dumps(old_meta)}, "meta.json", "older nasxfer"),
        "meta.json not JSON": ({"meta.json": '{"format": '}, "meta.json", "not valid JSON"),
        "meta.json lacks a key": (
            {"meta.json": json.dumps({k: v for k, v in meta.items() if k != "encoding_dim"})},
            "meta.json",
            "encoding_dim",
        ),
        "not torch": (signed(b"PK\x03\x04 garbage"), "weights.pt", "not a torch weights file"),
        "unsafe pickle": (signed(unsafe), "weights.pt", "loads safely"),
        "no weights": ({"weights.pt": None}, "", "not a weights checkpoint"),
    }
    agent = Agent(AgentParams.ci(data_dir=str(data_dir), progress=False, eval_episodes=5))
    try:
        for case, (files, named, words) in cases.items():
            ckpt = Path(shutil.copytree(good, tmp_path / case))
            for f, data in files.items():
                if data is None:
                    (ckpt / f).unlink()
                else:
                    (ckpt / f).write_bytes(data.encode() if isinstance(data, str) else data)
            with pytest.raises(NasxferError) as e:
                agent.load_weights(ckpt)
            msg = str(e.value)
            assert str(ckpt / named) in msg and words in msg and "\n" not in msg, (case, msg)
            assert "weights_only" not in msg and e.value.__cause__ is None, (case, msg)
            assert e.value.__context__ is None or e.value.__suppress_context__, (case, msg)
        agent.load_weights(good)  # the intact one still loads
        assert agent.source["sha256"] == meta["sha256"]
    finally:
        agent.stop()

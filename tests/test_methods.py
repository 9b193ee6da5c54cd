"""Transfer methods compared: the section, the parts, resuming, and the table every method shares."""

import os

import pandas as pd
import pytest

from nasxfer.comparison import COLUMNS
from nasxfer.errors import NasxferError
from nasxfer.methods import meta_pool, methods_config, methods_of, part_path, run_methods

TINY_CATCH = {"meta_epochs": 2, "queries_per_meta_epoch": 6, "candidates": 4, "updates_per_query": 1}


def _cfg(tmp_path, **kw):
    section = {
        "results_dir": str(tmp_path / "methods"),
        "targets": {"nb201": ["cifar100"]},
        "budgets": [5, 10],
        "trials": 3,
        "meta_seeds": 2,
        "catch": TINY_CATCH,
        "source_samples": 8,
        "toy_samples": 6,
        "toy_replicas": 1,
        **kw,
    }
    return methods_config(section)


def test_variants_and_replicas_may_be_set_per_benchmark(tmp_path):
    cfg = _cfg(tmp_path, variants={"nb201": ["meta", "zero"], "transnas": ["sfs"]}, transfer_nas_trials=2)
    assert methods_of(cfg, "nas-bench-201")[1:3] == ["catch-meta", "catch-zero"]
    assert methods_of(cfg, "transnas-bench-101")[1] == "catch-sfs"
    assert cfg.transfer_nas_trials == 2


def test_catch_meta_trains_on_every_other_task_of_the_targets_benchmark():
    assert meta_pool("nas-bench-201", "cifar10") == ["cifar100", "ImageNet16-120"]
    assert len(meta_pool("transnas-bench-101", "segmentsemantic")) == 6


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"targets": {"nb201": ["cifar10"]}, "trails": 3}, "keys must come from"),
        ({"targets": {"nb101": ["cifar10"]}}, "unknown benchmark 'nb101'"),
        ({"targets": {"nb201": ["jigsaw"]}}, "unknown task of nas-bench-201"),
        ({"targets": {"nb201": ["cifar10"]}, "variants": ["meta", "pearl"]}, "unknown CATCH variant"),
        ({"targets": {"nb201": ["cifar10"]}, "catch": {"latent": 3}}, "methods.catch"),
        ({"targets": {"nb201": ["cifar10"]}, "trials": 0}, "trials"),
    ],
)
def test_bad_sections_are_refused_by_name(section, message):
    with pytest.raises(NasxferError, match=message):
        methods_config(section)


def test_every_method_lands_in_one_table_and_a_rerun_recomputes_nothing(tmp_path, data_dir):
    cfg = _cfg(tmp_path)
    tnas = ["transfer-nas-scratch", "transfer-nas-tasks", "transfer-nas-subspaces", "transfer-nas-cross"]
    assert methods_of(cfg, "nas-bench-201") == ["baselines", *(f"catch-{v}" for v in cfg.variants), *tnas]
    out = run_methods(cfg, data_dir=data_dir, progress=False)
    results = pd.read_parquet(out / "results.parquet")
    assert list(results.columns) == COLUMNS
    assert set(results.searcher) == {
        "random",
        "local",
        "evolution",
        "reinforce",
        *(f"catch-{v}" for v in cfg.variants),
        *tnas,
    }
    per = results.groupby("searcher").size()
    assert (per == 3 * 2).all()  # trials x budgets, every method
    meta = results[results.searcher == "catch-meta"]
    assert set(meta.source) == {"cifar10+ImageNet16-120"} and (meta.prior_queries == 0).all()
    # Transfer NAS: only the subspace arm read target cells before its search (the subspaces' cells)
    tn = results[results.searcher.str.startswith("transfer-nas")].groupby("searcher").prior_queries.min()
    assert tn["transfer-nas-subspaces"] > 0 and tn.drop("transfer-nas-subspaces").eq(0).all()
    cross = results[results.searcher == "transfer-nas-cross"].source.iloc[0]
    assert cross.startswith("transnas-bench-101/class_object+")
    toy = pd.read_parquet(out / "double_xor.parquet")
    assert set(toy.policy) == {"transformer", "lstm"} and len(toy) == 2 * 6
    protocol = pd.read_csv(out / "protocol.csv")
    assert {"p_best", "p_top-3", "p_top-0.1%", "queries_to_top1pct"} <= set(protocol.columns)
    stamps = {p: os.stat(p).st_mtime_ns for p in [*(out / "parts").iterdir(), out / "double_xor.parquet"]}
    run_methods(cfg, data_dir=data_dir, progress=False)
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps
    # a lost part is recomputed, the same as before (every trial is seeded)
    lost = part_path(cfg, "nas-bench-201", "cifar100", "catch-zero")
    before = pd.read_parquet(lost)
    lost.unlink()
    run_methods(cfg, data_dir=data_dir, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(lost), before)


def test_a_folder_made_with_other_settings_is_refused(tmp_path, data_dir):
    run_methods(_cfg(tmp_path, variants=["sfs"], transfer_nas=[]), data_dir=data_dir, progress=False)
    with pytest.raises(NasxferError, match="trials: 3 now 4"):
        run_methods(_cfg(tmp_path, variants=["sfs"], transfer_nas=[], trials=4), data_dir=data_dir, progress=False)


@pytest.mark.slow  # trains the ci grid (8 tiny agents) for its DQN agents: minutes
def test_our_dqn_agents_join_the_table_zero_shot_and_from_scratch(tmp_path, data_dir):
    from nasxfer.experiments import run_grid
    from nasxfer.profiles import load_params, repo_root

    grid = load_params(repo_root() / "params" / "ci.yaml")["grid"]  # class_object and segmentsemantic
    run_grid(grid, tmp_path / "grid", data_dir=data_dir, progress=False)
    cfg = _cfg(
        tmp_path,
        targets={"transnas-bench-101": ["segmentsemantic"]},
        agents={"transnas-bench-101": str(tmp_path / "grid")},
        variants=["sfs"],
        transfer_nas=[],
    )
    out = run_methods(cfg, data_dir=data_dir, progress=False)
    results = pd.read_parquet(out / "results.parquet")
    zero = results[results.searcher == "dqn zero-shot"]
    own = results[results.searcher == "dqn scratch"]
    assert set(zero.source) == {"class_object"} and (zero.prior_queries == 0).all()
    assert set(own.source) == {"segmentsemantic"} and (own.prior_queries > 0).all()
    assert len(zero) == len(own) == 3 * 2


def _protocol():
    rows = []
    for task, vals in {"cifar10": {"catch-meta": 0.6, "catch-sfs": 0.2, "random": 0.1, "evolution": 0.25}}.items():
        for s, v in vals.items():
            rows.append(
                {
                    "benchmark": "nas-bench-201",
                    "task": task,
                    "searcher": s,
                    "budget": 50,
                    "p_best": v,
                    "p_best_low": v - 0.05,
                    "p_best_high": v + 0.05,
                    "best_test": 90 + v,
                    "best_test_low": 90 + v - 0.15,
                    "best_test_high": 90 + v + 0.15,
                }
            )
    return pd.DataFrame(rows)


def test_catchs_headline_is_set_beside_ours():
    from nasxfer.methods import catch_paper_check

    c = catch_paper_check(_protocol()).iloc[0]
    assert c["paper_catch_meta"] == 0.56 and c["catch-meta"] == 0.6 and c["best_baseline"] == "evolution 0.25"
    assert c["catch-meta_ci"] == "[0.55, 0.65]"


def test_winners_and_the_sentence_come_from_the_numbers():
    from nasxfer.methods import which_method, winners

    w = winners(_protocol(), 50).iloc[0]
    assert w.winner == "catch-meta" and w.not_separable == []  # 90.6 +- .15 vs 90.25 +- .15: apart
    assert "best mean on 1 of 1 targets: catch-meta" in which_method(_protocol())


@pytest.mark.slow  # starts a local Ray
def test_parts_run_in_parallel_on_ray_give_the_same_tables(tmp_path, data_dir):
    kw = {"variants": ["sfs"], "transfer_nas": ["scratch", "cross"], "trials": 2}
    serial = run_methods(_cfg(tmp_path / "serial", **kw), data_dir=data_dir, progress=False)
    parallel = run_methods(_cfg(tmp_path / "parallel", workers=2, **kw), data_dir=data_dir, progress=False)
    for part in sorted((serial / "parts").iterdir()):
        pd.testing.assert_frame_equal(pd.read_parquet(parallel / "parts" / part.name), pd.read_parquet(part))
    pd.testing.assert_frame_equal(
        pd.read_parquet(parallel / "double_xor.parquet"), pd.read_parquet(serial / "double_xor.parquet")
    )


def _reach_rows(searcher, firsts, prior=0):
    """Largest-budget rows of trials that reached a top-1% cell after `firsts` queries."""
    return [
        {"task": "cifar10", "searcher": searcher, "budget": 200, "seed": s, "prior_queries": prior,
         "first_top5pct": f, "first_top1pct": f, "first_top05pct": f}
        for s, f in enumerate(firsts)
    ]  # fmt: skip


def test_transfer_nas_speedups_against_scratch_and_evolution_come_from_the_numbers():
    import numpy as np

    from nasxfer.methods import transfer_nas_finding, transfer_nas_speedups

    rows = _reach_rows("transfer-nas-scratch", [120.0] * 20) + _reach_rows("evolution", [60.0] * 20)
    rows += _reach_rows("transfer-nas-subspaces", [30.0] * 20, prior=10)  # 40 target queries
    rows += _reach_rows("transfer-nas-tasks", [np.nan] * 20)  # never within the budget
    table = transfer_nas_speedups(pd.DataFrame(rows))
    assert set(table.searcher) == {"transfer-nas-subspaces", "transfer-nas-tasks"}
    sub = table[table.searcher == "transfer-nas-subspaces"].set_index(["reference", "threshold"]).speedup
    assert sub[("transfer-nas-scratch", "first_top1pct")] == 3.0 and sub[("evolution", "first_top5pct")] == 1.5
    text = transfer_nas_finding(table)
    assert "transfer-nas-subspaces vs transfer-nas-scratch: median speed-up 3.00x over 3 of 3" in text
    assert "within the paper's 3-4x on 3" in text and "CI above 1 on 3" in text
    assert "transfer-nas-tasks vs evolution: no pair" in text
    free = transfer_nas_speedups(pd.DataFrame(rows), count_prior=False)  # the source phase's 10 queries not counted
    sub = free[free.searcher == "transfer-nas-subspaces"].set_index(["reference", "threshold"]).speedup
    assert sub[("transfer-nas-scratch", "first_top1pct")] == 4.0 and sub[("evolution", "first_top5pct")] == 2.0


def test_the_toy_sentence_says_whether_the_transformer_wins():
    from nasxfer.methods import toy_finding

    def toy(good):
        return pd.DataFrame(
            [{"policy": p, "replica": r, "sample": s, "reward": float(p == good or s % 4 == 0)}
             for p in ("transformer", "lstm") for r in range(2) for s in range(400)]
        )  # fmt: skip

    text = toy_finding(toy("transformer"))
    assert "transformer: mean reward over the last 200 of 400 samples 1.00" in text and "lstm: mean" in text
    assert "reached 0.9 in 2 of 2 replicas (median 99 samples)" in text and "holds here" in text
    assert "does not hold here" in toy_finding(toy("lstm"))


def test_a_stop_signal_keeps_the_written_parts_and_says_how_to_resume(tmp_path, data_dir, monkeypatch, capsys):
    """SIGTERM / SIGINT during a part: that part is dropped, the written ones stay, and the command
    says how far it got in parts and how to resume; the resumed run computes only the rest."""
    import signal

    import nasxfer.methods as m
    from nasxfer.__main__ import _until_stopped
    from nasxfer.interrupt import GridStopped

    cfg = _cfg(tmp_path, variants=["sfs", "zero"], transfer_nas=[])  # 3 parts
    real, calls = m.run_part, []

    def stopped_at_the_third(*args, **kw):
        calls.append(args[3])
        if len(calls) == 3:
            raise GridStopped(signal.SIGTERM)
        return real(*args, **kw)

    monkeypatch.setattr(m, "run_part", stopped_at_the_third)
    out, code = _until_stopped(["nasxfer", "methods", "p.yaml"], run_methods, cfg, data_dir=data_dir, progress=False)
    assert out is None and code == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "nasxfer: stopped by SIGTERM after 2/3 parts; resume with: nasxfer methods p.yaml" in err
    written = sorted(p.name for p in (cfg.results_dir / "parts").iterdir())
    assert written == ["nas-bench-201.cifar100.baselines.parquet", "nas-bench-201.cifar100.catch-sfs.parquet"]
    monkeypatch.setattr(m, "run_part", lambda *a, **kw: calls.append(a[3]) or real(*a, **kw))
    run_methods(cfg, data_dir=data_dir, progress=False)
    assert calls[3:] == ["catch-zero"] and (cfg.results_dir / "results.parquet").is_file()


def test_a_fresh_notebook_trains_the_profiles_grids_its_agents_come_from(tmp_path, monkeypatch):
    """open_methods(run_fresh=True) first trains the profile's own grids the section reads agents
    from, where they have no results; a finished grid and a folder the profile does not make are
    left alone (run_methods then names the missing one)."""
    import dataclasses

    import nasxfer.cross_space as cs
    import nasxfer.experiments as ex
    from nasxfer.methods import train_agent_grids
    from nasxfer.profiles import load_params, params_path

    params = load_params(params_path("ci"))
    params["results_dir"] = tmp_path / "grid"
    params["cross_space"] = dataclasses.replace(params["cross_space"], results_dir=tmp_path / "cross")
    ran = []
    monkeypatch.setattr(ex, "run_grid", lambda grid, out, *a, **kw: ran.append(out))
    monkeypatch.setattr(cs, "run_cross_space", lambda p, **kw: ran.append(p["cross_space"].results_dir))
    both = {"transnas-bench-101": tmp_path / "grid", "nas-bench-201": tmp_path / "cross"}
    train_agent_grids(params, dataclasses.replace(params["methods"], agents=both), progress=False)
    assert ran == [tmp_path / "grid", tmp_path / "cross"]
    ran.clear()
    (tmp_path / "grid").mkdir()
    (tmp_path / "grid" / "results.parquet").write_bytes(b"")
    elsewhere = {"transnas-bench-101": tmp_path / "grid", "nas-bench-201": tmp_path / "other"}
    train_agent_grids(params, dataclasses.replace(params["methods"], agents=elsewhere), progress=False)
    assert ran == []


@pytest.mark.slow
def test_a_stop_signal_with_ray_workers_stops_cleanly_and_says_how_to_resume(tmp_path, data_dir, ray_processes):
    """With Ray workers (the laptop setting) SIGTERM reaches Ray's own handler too: the run must
    still stop through ours, drop the parts in flight, keep the written ones, print the command
    that resumes it, and leave no Ray process behind."""
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    import yaml

    from nasxfer.profiles import repo_root

    root = repo_root()
    params = yaml.safe_load((root / "params" / "ci.yaml").read_text())
    out = tmp_path / "methods"
    params["methods"] = {
        "results_dir": str(out),
        "targets": {"nb201": ["cifar100"]},
        "budgets": [60],
        "trials": 30,  # a few seconds per CATCH part, so the signal lands mid-run
        "meta_seeds": 1,
        "catch": TINY_CATCH,
        "variants": ["sfs", "zero", "random", "meta"],
        "transfer_nas": [],
        "workers": 2,
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(params))
    tmp = tempfile.mkdtemp(prefix="nx", dir="/tmp")
    cmd = [sys.executable, "-m", "nasxfer", "methods", str(path), "--data-dir", str(data_dir)]
    env = {**os.environ, "PYTHONPATH": str(root), "TMPDIR": tmp}
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not (out / "parts").is_dir() or not list((out / "parts").glob("*.parquet")):
            assert proc.poll() is None, proc.communicate()
            assert time.time() - t0 < 300
            time.sleep(0.2)
        assert ray_processes(tmp)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    written = sorted((out / "parts").glob("*.parquet"))
    assert proc.returncode == 128 + signal.SIGTERM, err
    hint = f"nasxfer: stopped by SIGTERM after {len(written)}/5 parts; resume with: nasxfer methods {path} --data-dir {data_dir}"
    assert [line for line in err.splitlines() if "stopped by" in line] == [hint]
    assert "Traceback" not in err and "SIGTERM received" not in err and 1 <= len(written) < 5
    assert not list(out.rglob("*.tmp"))
    time.sleep(1)
    assert ray_processes(tmp) == []
    shutil.rmtree(tmp, ignore_errors=True)


def test_a_failing_part_does_not_stop_the_others_and_is_named(tmp_path, data_dir, monkeypatch):
    import nasxfer.methods as m

    cfg = _cfg(tmp_path, variants=["sfs", "zero"], transfer_nas=[])  # 3 parts
    real = m.run_part

    def sfs_breaks(cfg, bench, target, method, data_dir=None):
        if method == "catch-sfs":
            raise RuntimeError("probability tensor contains nan")
        return real(cfg, bench, target, method, data_dir)

    monkeypatch.setattr(m, "run_part", sfs_breaks)
    with pytest.raises(
        NasxferError,
        match=r"1 of 3 parts failed \(nas-bench-201/cifar100 catch-sfs\); the other 2 "
        r"are written\. The first error: RuntimeError: probability tensor contains nan\. Rerunning",
    ):
        run_methods(cfg, data_dir=data_dir, progress=False)  # fmt: skip
    assert len(list((cfg.results_dir / "parts").iterdir())) == 2 and not (cfg.results_dir / "results.parquet").exists()
    monkeypatch.setattr(m, "run_part", real)
    run_methods(cfg, data_dir=data_dir, progress=False)
    assert (cfg.results_dir / "results.parquet").is_file()

"""Benchmark tables: every cell maps to the right row, lookups agree, bad input is refused."""

import ast
import json

import numpy as np
import pandas as pd
import pytest

from nasxfer.benchmark import PAPER_TASKS, TRANSNAS_TASKS, from_transnas_pth, load_benchmark
from nasxfer.errors import DataFileError, NasxferError

# which of our columns NAS-Bench-Suite-Zero calls val_accuracy, per task (see shared/data/README.md)
SUITE_ZERO_COLUMN = {
    "class_object": "valid",
    "class_scene": "valid",
    "jigsaw": "valid",
    "room_layout": "valid",
    "autoencoder": "valid",
    "normal": "valid",
    "segmentsemantic": ("acc", "valid"),
}


def test_all_tasks_all_cells(bench):
    assert set(bench.tasks) == set(TRANSNAS_TASKS)
    for t in bench.tasks.values():
        for arr in (t.train, t.valid, t.test, t.time_elapsed):
            assert arr.shape == (4096,) and np.isfinite(arr).all()
    assert bench.table("segmentsemantic").extra["acc"]["test"].shape == (4096,)


def test_every_verified_cell_matches(bench, data_dir):
    """711 cells x 7 tasks from NASLib's independent table: all 4977 values equal."""
    ref = json.loads((data_dir / "verification/nas-bench-suite-zero_transbench101_micro.json").read_text())
    checked = 0
    for task, cells in ref.items():
        table = bench.table(task)
        for key, rec in cells.items():
            idx = bench.space.from_ops(ast.literal_eval(key))
            col = SUITE_ZERO_COLUMN[task]
            ours = table.extra[col[0]][col[1]][idx] if isinstance(col, tuple) else table.valid[idx]
            assert ours == pytest.approx(rec["val_accuracy"], abs=1e-9), (task, key)
            checked += 1
    assert checked == 711 * 7


def test_rows_follow_the_file_id_rule(bench, data_dir):
    df = pd.read_csv(data_dir / "transnas-bench-101/transbench101_room_layout.csv")
    cell = bench.space.from_string("64-41414-2_13_021")
    row = df[df.file_id == 3256 + int("213021", 4)].iloc[0]
    assert bench.query("room_layout", cell, "test") == row.test_neg_loss


def test_lookup_by_index_tuple_string_and_arrays_agree(bench):
    s = "64-41414-3_02_123"
    i = bench.space.from_string(s)
    assert (
        bench.query("class_object", s)
        == bench.query("class_object", (3, 0, 2, 1, 2, 3))
        == bench.query("class_object", i)
    )
    idx = np.array([[0, i], [4095, 17]])
    got = bench.query("autoencoder", idx, "test")
    assert got.shape == (2, 2) and got[0, 1] == bench.table("autoencoder").test[i]
    assert list(bench.query("class_object", [s, "64-41414-0_00_000"])) == list(bench.query("class_object", [i, 0]))


def test_nb201_rows_map_to_their_arch_strings(nb201, data_dir):
    df = pd.read_csv(data_dir / "nas-bench-201/nasbench201_cifar100.csv").sample(200, random_state=0)
    for _, row in df.iterrows():
        idx = nb201.space.from_string(row["arch str"])
        assert nb201.space.to_string(idx) == row["arch str"]
        assert nb201.query("cifar100", idx, "test") == row["test accuracy"]
    assert nb201.space.size == 15625 and set(nb201.tasks) == {"cifar10", "cifar100", "ImageNet16-120"}


def test_summary_has_a_row_per_task(bench):
    s = bench.summary()
    assert list(s.task) == list(bench.tasks)
    assert (s.valid_max >= s.valid_median).all()
    co = s.set_index("task").loc["class_object"]
    assert co.valid_max == bench.table("class_object").valid.max()


def test_frame_is_tidy(bench):
    f = bench.frame("segmentsemantic")
    assert len(f) == 4096 and {"arch", "valid_mIoU", "test_acc", "time_elapsed"} <= set(f.columns)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda b: load_benchmark("nas-bench-301"), "unknown benchmark 'nas-bench-301'"),
        (lambda b: load_benchmark(tasks="imagenet"), "unknown task of transnas-bench-101 'imagenet'"),
        (lambda b: b.table("imagenet"), "choose one of"),
        (lambda b: b.query("class_object", 4096), "out of range.*0..4095"),
        (lambda b: b.query("class_object", -1), "out of range"),
        (lambda b: b.query("class_object", "64-41414-4_00_000"), "malformed TransNAS-Bench-101"),
        (lambda b: b.query("class_object", "valid"), "malformed TransNAS-Bench-101 micro cell .valid."),
        (lambda b: b.query("class_object", (1, 2, 3)), "op tuple has 6 entries"),
        (lambda b: b.query("class_object", (1, 2, 3, 4, 0, 0)), "op codes must lie in 0..3"),
        (lambda b: b.query("class_object", 0, split="dev"), "unknown split 'dev'"),
    ],
)
def test_bad_input_gets_a_clear_error(bench, call, message):
    with pytest.raises(NasxferError, match=message):
        call(bench)


def test_paper_tasks_load_with_the_metrics_the_readme_states(data_dir):
    """What a user of the paper's four tasks relies on: they load on their own, each with its
    metric on its scale, higher is better (room_layout's loss enters negated)."""
    b = load_benchmark(tasks=PAPER_TASKS, data_dir=data_dir)
    assert list(b.tasks) == list(PAPER_TASKS)
    scale = {
        "class_object": ("top1", 0, 100),
        "room_layout": ("neg_loss", -np.inf, 0),
        "autoencoder": ("ssim", 0, 1),
        "segmentsemantic": ("mIoU", 0, 100),
    }
    for task, (metric, lo, hi) in scale.items():
        t = b.table(task)
        assert t.metric == metric
        for split in (t.valid, t.test):
            assert lo <= split.min() < split.max() <= hi


# ---- the official .pth, in a small file of the same layout --------------------------------


@pytest.fixture(scope="module")
def fake_pth(tmp_path_factory, bench):
    """The official layout with 3 epochs per metric; epoch 1 holds the CSV's best value."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    tasks = ("class_object", "segmentsemantic")
    micro = {}
    for i in range(4096):
        rec = {}
        for task in tasks:
            t = bench.table(task)
            metrics = {}
            for m in (t.metric, *t.extra):
                for s in ("train", "valid", "test"):
                    best = (t.extra[m][s] if m in t.extra else t.split(s))[i]
                    metrics[f"{s}_{m}"] = [float(best - 1.0 - rng.random()), float(best), float(best - rng.random())]
            metrics["time_elapsed"] = [10.0, 20.0, float(t.time_elapsed[i])]
            rec[task] = {"metrics": metrics, "model_info": {}, "total_epochs": 3}
        micro[bench.space.to_string(i)] = rec
    db = {"data": {"micro": micro, "macro": {}}, "metrics_dict": {}, "task_list": list(tasks), "info_names": []}
    path = tmp_path_factory.mktemp("pth") / "transnas-bench_v10141024.pth"
    torch.save(db, path)
    return path


def test_pth_converter_gives_the_same_tables_and_keeps_curves(fake_pth, bench):
    conv = from_transnas_pth(fake_pth)
    assert set(conv.tasks) == {"class_object", "segmentsemantic"}
    for task, t in conv.tasks.items():
        ref = bench.table(task)
        np.testing.assert_array_equal(t.valid, ref.valid)
        np.testing.assert_array_equal(t.test, ref.test)
        np.testing.assert_array_equal(t.time_elapsed, ref.time_elapsed)
        assert t.curves[f"valid_{t.metric}"].shape == (4096, 3)
    np.testing.assert_array_equal(
        conv.table("segmentsemantic").extra["acc"]["valid"], bench.table("segmentsemantic").extra["acc"]["valid"]
    )


def test_pth_converter_refuses_other_files(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"data": {}}, tmp_path / "x.pth")
    with pytest.raises(DataFileError, match="not a TransNAS-Bench-101 .pth"):
        from_transnas_pth(tmp_path / "x.pth")
    with pytest.raises(DataFileError, match="does not exist"):
        from_transnas_pth(tmp_path / "missing.pth")


def test_a_provided_benchmark_is_served_without_reading_a_file(bench, monkeypatch):
    """How a cluster node without the tables gets them: the driver's copy, provided in-process."""
    from nasxfer import benchmark as b

    monkeypatch.setattr(b, "_PROVIDED", {})
    with pytest.raises(DataFileError, match="/nonexistent"):
        b.load_benchmark("transnas-bench-101", data_dir="/nonexistent/tables")
    b.provide(bench)
    assert b.load_benchmark("transnas-bench-101", data_dir="/nonexistent/tables") is bench
    assert b.load_benchmark("transnas", tasks="jigsaw", data_dir="/nonexistent/tables") is bench

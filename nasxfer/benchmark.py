"""Benchmark tables: one higher-is-better metric per task, for every cell of a space.

``load_benchmark("transnas-bench-101")`` reads the TransNAS-Bench-101 micro
cells (4096 cells x 7 tasks); ``load_benchmark("nas-bench-201")`` reads
NAS-Bench-201 (15625 cells x 3 datasets). Both give a :class:`Benchmark` whose
per-task :class:`TaskTable` holds numpy arrays indexed by cell index, so a
lookup for many cells is one fancy-index.

Validation values are what the agent is rewarded with; test values are only
for evaluation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from . import data
from .errors import DataFileError, NasxferError, unknown
from .search_space import CellSpace, NB201Space, TransNASMicroSpace

SPLITS = ("train", "valid", "test")
PAPER_TASKS = ("class_object", "room_layout", "autoencoder", "segmentsemantic")

# task -> (primary higher-is-better metric, extra metrics kept); README of the data
TRANSNAS_TASKS = {
    "class_object": ("top1", ()),
    "class_scene": ("top1", ()),
    "jigsaw": ("top1", ()),
    "room_layout": ("neg_loss", ()),
    "segmentsemantic": ("mIoU", ("acc",)),
    "autoencoder": ("ssim", ()),
    "normal": ("ssim", ()),
}
NB201_TASKS = {"cifar10": "accuracy", "cifar100": "accuracy", "ImageNet16-120": "accuracy"}
TRANSNAS_MICRO_FIRST_ID = 3256  # rows 3256..7351 of each CSV are the micro cells


@dataclass
class TaskTable:
    """One task's metric for every cell: ``valid[i]`` is cell i's validation value."""

    task: str
    metric: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    extra: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    time_elapsed: np.ndarray | None = None
    # metric name (e.g. "valid_top1") -> (n_cells, epochs) per-epoch curve, from the .pth only
    curves: dict[str, np.ndarray] = field(default_factory=dict)

    def split(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise unknown("split", split, SPLITS)
        return getattr(self, split)


class Benchmark:
    """A search space plus a :class:`TaskTable` per task."""

    def __init__(self, name: str, space: CellSpace, tasks: dict[str, TaskTable]):
        self.name, self.space, self.tasks = name, space, tasks

    def __repr__(self) -> str:
        return f"Benchmark({self.name!r}, {self.space.size} cells, tasks={list(self.tasks)})"

    def table(self, task: str) -> TaskTable:
        """The metric table of `task` (a task name; unknown names raise with the list)."""
        if task not in self.tasks:
            raise unknown(f"task of {self.name}", task, self.tasks)
        return self.tasks[task]

    def query(self, task: str, cells, split: str = "valid") -> np.ndarray:
        """Metric of `cells`: an index, an op tuple, a string, or a list/array of any one kind."""
        table = self.table(task).split(split)
        if isinstance(cells, (str, tuple)):
            cells = self.space.index(cells)
        elif isinstance(cells, list) and cells and isinstance(cells[0], (str, tuple)):
            cells = [self.space.index(c) for c in cells]
        return table[self.space.check_index(cells)]

    def frame(self, task: str) -> pd.DataFrame:
        """Tidy table of one task: a row per cell with its string and every metric."""
        t = self.table(task)
        df = pd.DataFrame({"cell": np.arange(self.space.size)})
        df["arch"] = [self.space.to_string(i) for i in df["cell"]]
        for s in SPLITS:
            df[f"{s}_{t.metric}"] = t.split(s)
        for m, splits in t.extra.items():
            for s, v in splits.items():
                df[f"{s}_{m}"] = v
        if t.time_elapsed is not None:
            df["time_elapsed"] = t.time_elapsed
        return df

    def summary(self) -> pd.DataFrame:
        """Per task: metric, spread of validation and test values, and the best cell by validation."""
        rows = []
        for name, t in self.tasks.items():
            best = int(np.argmax(t.valid))
            rows.append(
                {
                    "task": name,
                    "metric": t.metric,
                    "valid_min": t.valid.min(),
                    "valid_median": float(np.median(t.valid)),
                    "valid_max": t.valid.max(),
                    "test_max": t.test.max(),
                    "best_cell": self.space.to_string(best),
                    "best_cell_test": t.test[best],
                    "best_cell_test_rank_pct": 100.0 * (t.test < t.test[best]).mean(),
                }
            )
        return pd.DataFrame(rows)


BENCHMARKS = ("transnas-bench-101", "nas-bench-201")
_ALIASES = {
    "transnas": "transnas-bench-101",
    "transnasbench101": "transnas-bench-101",
    "nb201": "nas-bench-201",
    "nasbench201": "nas-bench-201",
}


def canonical_name(name: str) -> str:
    key = _ALIASES.get(name.lower().replace("_", "-"), name.lower())
    if key not in BENCHMARKS:
        raise unknown("benchmark", name, BENCHMARKS)
    return key


def task_names(benchmark: str) -> tuple[str, ...]:
    """Every task of a benchmark (any accepted spelling of its name)."""
    return tuple(TRANSNAS_TASKS if canonical_name(benchmark) == "transnas-bench-101" else NB201_TASKS)


def load_benchmark(
    name: str = "transnas-bench-101", tasks=None, data_dir: str | os.PathLike | None = None
) -> Benchmark:
    """Load a benchmark's tables (all its tasks unless `tasks` is given); cached per process."""
    name = canonical_name(name)
    known = task_names(name)
    tasks = tuple(known) if tasks is None else ((tasks,) if isinstance(tasks, str) else tuple(tasks))
    for t in tasks:
        if t not in known:
            raise unknown(f"task of {name}", t, known)
    given = _PROVIDED.get(name)
    if given is not None and all(t in given.tasks for t in tasks):
        return given
    root = data_dir or os.environ.get(data.DATA_ENV)
    return _load(name, tasks, str(root) if root else None)


# Benchmarks handed to this process rather than read from disk (see provide).
_PROVIDED: dict[str, Benchmark] = {}


def provide(bench: Benchmark) -> None:
    """Serve `bench` to every later :func:`load_benchmark` of its name (and tasks it holds) in
    this process, whatever ``data_dir`` says. On a Ray cluster the driver ships its tables
    through the object store and each worker process provides them, so a node needs no
    benchmark files, data directory or network access of its own."""
    _PROVIDED[bench.name] = bench


@lru_cache(maxsize=8)
def _load(name: str, tasks: tuple[str, ...], root: str | None) -> Benchmark:
    read = _read_transnas_task if name == "transnas-bench-101" else _read_nb201_task
    space = TransNASMicroSpace() if name == "transnas-bench-101" else NB201Space()
    return Benchmark(name, space, {t: read(t, root, space) for t in tasks})


def _read_csv(relpath: str, root, columns) -> pd.DataFrame:
    path = data.locate(relpath, root)
    df = pd.read_csv(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataFileError(
            f"{path} lacks columns {missing}: it is not the table {relpath} we expect. "
            f"Fix: replace it with the published file (delete it to download again)."
        )
    return df


def _read_transnas_task(task: str, root, space: CellSpace) -> TaskTable:
    metric, extras = TRANSNAS_TASKS[task]
    rel = f"transnas-bench-101/transbench101_{task}.csv"
    cols = [f"{s}_{m}" for m in (metric, *extras) for s in SPLITS]
    df = _read_csv(rel, root, [*cols, "time_elapsed", "file_id"])
    micro = df[df["file_id"] >= TRANSNAS_MICRO_FIRST_ID].set_index("file_id").sort_index()
    want = np.arange(TRANSNAS_MICRO_FIRST_ID, TRANSNAS_MICRO_FIRST_ID + space.size)
    if not np.array_equal(micro.index.to_numpy(), want):
        raise DataFileError(f"{rel}: micro rows must have file_id {want[0]}..{want[-1]} exactly once each")
    col = lambda c: micro[c].to_numpy(np.float64)  # noqa: E731
    return TaskTable(
        task,
        metric,
        *(col(f"{s}_{metric}") for s in SPLITS),
        extra={m: {s: col(f"{s}_{m}") for s in SPLITS} for m in extras},
        time_elapsed=col("time_elapsed"),
    )


def _read_nb201_task(task: str, root, space: CellSpace) -> TaskTable:
    rel = f"nas-bench-201/nasbench201_{task}.csv"
    names = {"train": "train accuracy", "valid": "validation accuracy", "test": "test accuracy"}
    df = _read_csv(rel, root, ["arch str", *names.values()])
    try:
        idx = np.array([space.from_string(s) for s in df["arch str"]])
    except NasxferError as e:
        raise DataFileError(f"{rel}: {e}") from e
    if len(idx) != space.size or len(np.unique(idx)) != space.size:
        raise DataFileError(f"{rel}: expected each of the {space.size} cells exactly once")
    order = np.argsort(idx)
    vals = {s: df[c].to_numpy(np.float64)[order] for s, c in names.items()}
    return TaskTable(task, NB201_TASKS[task], vals["train"], vals["valid"], vals["test"])


# ---- the official TransNAS-Bench-101 .pth ----------------------------------------------


def from_transnas_pth(path: str | os.PathLike, tasks=None) -> Benchmark:
    """Read the official ``transnas-bench_v10141024.pth`` into the same tables.

    Values are the best over epochs (the benchmark API's ``mode="best"``), as in
    the CSVs; the per-epoch curves of every metric are kept in ``TaskTable.curves``.
    """
    import torch

    try:
        db = torch.load(path, map_location="cpu", weights_only=True)
        micro = db["data"]["micro"]
    except FileNotFoundError:
        raise DataFileError(f"{path} does not exist. Fix: give the path of transnas-bench_v10141024.pth") from None
    except Exception as e:
        raise DataFileError(
            f"{path} is not a TransNAS-Bench-101 .pth (need db['data']['micro'][arch][task]['metrics']): {e}"
        ) from e
    space = TransNASMicroSpace()
    by_index = {space.from_string(arch): rec for arch, rec in micro.items()}
    if len(by_index) != space.size:
        raise DataFileError(f"{path}: the micro space has {len(by_index)} cells, expected {space.size}")
    records = [by_index[i] for i in range(space.size)]
    tasks = [t for t in TRANSNAS_TASKS if t in records[0]] if tasks is None else list(tasks)
    out = {}
    for task in tasks:
        if task not in TRANSNAS_TASKS:
            raise unknown("task of transnas-bench-101", task, TRANSNAS_TASKS)
        metric, extras = TRANSNAS_TASKS[task]
        try:
            curves = {
                m: np.array([r[task]["metrics"][m] for r in records], dtype=np.float64)
                for m in records[0][task]["metrics"]
            }
        except (KeyError, ValueError) as e:
            raise DataFileError(f"{path}: task {task} is missing or ragged in some cells ({e})") from e
        best = lambda m, curves=curves: curves[m].max(axis=1)  # noqa: E731
        out[task] = TaskTable(
            task,
            metric,
            *(best(f"{s}_{metric}") for s in SPLITS),
            extra={m: {s: best(f"{s}_{m}") for s in SPLITS} for m in extras},
            time_elapsed=curves["time_elapsed"][:, -1] if "time_elapsed" in curves else None,
            curves=curves,
        )
    return Benchmark("transnas-bench-101", space, out)

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (SHARED_DATA / "transnas-bench-101").is_dir():
        pytest.fail(f"the benchmark tables are expected at {SHARED_DATA} (a clone beside shared/)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def bench(data_dir):
    from nasxfer.benchmark import load_benchmark

    return load_benchmark("transnas-bench-101", data_dir=data_dir)


@pytest.fixture(scope="session")
def nb201(data_dir):
    from nasxfer.benchmark import load_benchmark

    return load_benchmark("nas-bench-201", data_dir=data_dir)


@pytest.fixture(scope="session")
def small(bench):
    """A small search comparison: two tasks, two searchers, 4 trials, budgets 5 and 20."""
    from nasxfer.comparison import run_comparison

    return run_comparison(
        bench,
        ("class_object", "autoencoder"),
        budgets=(5, 20),
        trials=4,
        searchers=("random", "local"),
        base_seed=10,
        progress=False,
    )

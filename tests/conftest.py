from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (SHARED_DATA / "transnas-bench-101").is_dir():
        pytest.fail(f"the benchmark tables are expected at {SHARED_DATA} (a clone beside shared/)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny networks: more threads only wait on each other (and
    on anything else running); restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# What computed the checked-in results: other torch versions or CPU kernels round differently, so
# a run elsewhere may part from them in the last bits without anything being wrong.
CHECKED_IN_KERNELS = ("2.13.0", "AVX512")


@pytest.fixture
def checked_in_kernels():
    """Skip a bit-for-bit comparison with the checked-in results where the kernels differ."""
    import torch

    here = (torch.__version__.split("+")[0], torch.backends.cpu.get_cpu_capability())
    if here != CHECKED_IN_KERNELS:
        pytest.skip(
            f"the checked-in results were computed with torch {CHECKED_IN_KERNELS[0]} on "
            f"{CHECKED_IN_KERNELS[1]} kernels; here torch {here[0]} on {here[1]} rounds differently"
        )


# params/ci.yaml's grid cut to one seed: two scratch agents (class_object, segmentsemantic) and two transfers
SMALL_GRID = {"seeds": [0], "train_steps": 200, "finetune_steps": 100, "eval_every": 100, "eval_episodes": 10}


@pytest.fixture(scope="session")
def small_grid():
    import dataclasses

    from nasxfer.profiles import load_params

    return dataclasses.replace(
        load_params(Path(__file__).resolve().parents[1] / "params/ci.yaml")["grid"], **SMALL_GRID
    )


@pytest.fixture(scope="session")
def small_grid_run(tmp_path_factory, small_grid, data_dir):
    """`small_grid` trained once per session, locally (one unit after another)."""
    from nasxfer import experiments as ex

    out = tmp_path_factory.mktemp("grid") / "ci"
    ex.run_grid(small_grid, out, data_dir=data_dir, progress=False)
    return out


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


@pytest.fixture(scope="session")
def ray_processes():
    """``ray_processes(tmp)``: the command lines of the processes of a run started with TMPDIR=`tmp`
    (its driver, raylet, GCS and workers inherit it), so a test can see that none outlives the run."""

    def found(tmp: str) -> list[str]:
        out = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if f"TMPDIR={tmp}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                    out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
        return out

    return found

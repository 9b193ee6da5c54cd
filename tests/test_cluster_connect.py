"""Connecting to a Ray cluster fails clearly: an address where nothing listens, a malformed one,
and a cluster that refuses the driver's token each give one NasxferError naming the address and
the fix, in seconds (Ray itself retries an unreachable address for minutes)."""

import socket
import time

import pytest

from nasxfer.agent.params import AgentParams
from nasxfer.agent.ray_runtime import check_reachable, init_ray
from nasxfer.errors import NasxferError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def test_unreachable_cluster_fails_in_seconds_naming_the_address():
    import ray

    ray.shutdown()  # a Ray another test started would be reused as it is
    address = f"127.0.0.1:{_closed_port()}"
    t = time.perf_counter()
    with pytest.raises(NasxferError, match=rf"no Ray cluster answers at {address}.*ray start --head"):
        init_ray(AgentParams.ci(ray_address=address))
    assert time.perf_counter() - t < 10
    assert not ray.is_initialized()


@pytest.mark.parametrize("address", ["10.0.0.5", "head-node:port", ":6379"])
def test_malformed_address_is_named(address):
    with pytest.raises(NasxferError, match="is not host:port"):
        check_reachable(address)


def test_refused_token_says_how_to_pass_it(monkeypatch):
    import ray

    with socket.socket() as server:  # something listens, so the reachability check passes
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"

        def refuse(**kw):
            raise ConnectionError("Authentication token is missing or incorrect")

        monkeypatch.setattr(ray, "init", refuse)
        monkeypatch.setattr(ray, "is_initialized", lambda: False)
        with pytest.raises(NasxferError, match=rf"{address} refused .*RAY_AUTH_MODE=token.*RAY_AUTH_TOKEN"):
            init_ray(AgentParams.ci(ray_address=address))


@pytest.mark.slow  # starts a local Ray with one env runner
def test_a_runner_that_cannot_build_its_env_names_the_cause(data_dir, monkeypatch):
    """The env runners' processes see no benchmark tables (as on a cluster node without them),
    while the driver does: the build fails with the data error, not RLlib's IndexError."""
    import ray

    from nasxfer.agent import ray_runtime
    from nasxfer.agent.agent import Agent

    ray.shutdown()
    monkeypatch.setenv("NASXFER_DATA", str(data_dir))  # the driver finds the tables
    monkeypatch.setitem(ray_runtime._WORKER_ENV, "NASXFER_DATA", "/nonexistent/nasxfer-data")  # the workers do not
    try:
        with pytest.raises(NasxferError, match=r"env runners could not build the env: .*nonexistent"):
            Agent(AgentParams.ci(progress=False, ray_temp_dir=None))
    finally:
        ray.shutdown()


def test_a_unit_asks_for_its_learner_and_runners_and_a_gpu_only_where_there_is_one():
    from nasxfer.grid_cluster import unit_bundles

    paper = AgentParams.preset("paper")
    assert unit_bundles(paper, cluster_gpus=0) == [{"CPU": 2.0}] + [{"CPU": 1.0}] * 8
    assert unit_bundles(paper, cluster_gpus=4)[0] == {"CPU": 2.0, "GPU": 1.0}
    assert unit_bundles(paper.replace(device="cpu"), cluster_gpus=4)[0] == {"CPU": 2.0}
    assert unit_bundles(AgentParams.preset("laptop"), cluster_gpus=0) == [{"CPU": 2.0}]  # samples in the learner


def test_wall_time_counts_waves_of_the_units_a_cluster_holds_at_once(small_grid):
    """small_grid: 2 scratch units, then 2 transfers; a ci unit is a 2-CPU learner and a 0.5-CPU runner."""
    from nasxfer.grid_cluster import wall_time

    one = small_grid.train_steps / 100 / 3600  # hours per unit at 100 env steps/s
    both = wall_time(small_grid, 100, nodes=1, cpus_per_node=5)
    assert both["cpus_per_unit"] == 2.5 and both["concurrent_units"] == 2
    assert both["wall_hours"] == pytest.approx(2 * one) and both["agent_hours"] == pytest.approx(4 * one)
    assert wall_time(small_grid, 100, nodes=1, cpus_per_node=3)["wall_hours"] == pytest.approx(4 * one)
    assert wall_time(small_grid, 100, nodes=4, cpus_per_node=3)["wall_hours"] == pytest.approx(2 * one)
    with pytest.raises(NasxferError, match="more than a node of 2 CPUs holds"):
        wall_time(small_grid, 100, nodes=8, cpus_per_node=2)


def test_a_unit_the_cluster_cannot_place_is_refused_naming_the_fix():
    from nasxfer.grid_cluster import check_fits, unit_bundles

    nodes = [{"Alive": True, "Resources": {"CPU": 4.0}}, {"Alive": True, "Resources": {"CPU": 4.0}}]
    paper = unit_bundles(AgentParams.preset("paper"), 0)  # 2 + 8 x 1 CPUs
    with pytest.raises(
        NasxferError, match=r"asks for 10 CPUs .* has \(8 CPUs, at most 4 on one node\).*num_env_runners"
    ):
        check_fits(paper, nodes, "10.0.0.5:6379")
    check_fits(paper, [*nodes, {"Alive": True, "Resources": {"CPU": 2.0}}], "10.0.0.5:6379")  # spread over nodes
    with pytest.raises(NasxferError, match="at most 1 on one node"):
        check_fits([{"CPU": 2.0}], [{"Alive": True, "Resources": {"CPU": 1.0}}] * 4, "10.0.0.5:6379")
    with pytest.raises(NasxferError, match="0 CPUs"):
        check_fits([{"CPU": 2.0}], [{"Alive": False, "Resources": {"CPU": 8.0}}], "10.0.0.5:6379")

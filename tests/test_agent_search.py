"""Trained agents in the search-efficiency comparison: checkpoints -> greedy policy -> query-budget rows."""

import numpy as np
import pytest
import torch

from nasxfer.agent.checkpoints import load_qnetwork, write_checkpoint
from nasxfer.agent.params import AgentParams
from nasxfer.agent.qnetwork import QNetwork
from nasxfer.encoding import encoding_size
from nasxfer.env import NASEnv
from nasxfer.errors import NasxferError
from nasxfer.search_agents import checkpoint_trials

pytestmark = pytest.mark.slow  # real Ray training, kernels or subprocesses: minutes

PARAMS = AgentParams.preset("ci")


def _checkpoint(path, bench, task, seed):
    # what Agent.save_weights writes, without building a Ray algorithm
    enc = encoding_size(NASEnv(task, bench, max_steps=PARAMS.max_steps).pad)
    torch.manual_seed(seed)
    net = QNetwork(enc, **PARAMS.network_config())
    write_checkpoint(
        path, net.state_dict(), dict(**net.config, task=task, benchmark=bench.name, env_steps=0, seed=seed)
    )
    return path, net


def test_load_qnetwork_is_the_saved_network(tmp_path, bench):
    path, net = _checkpoint(tmp_path / "a", bench, "class_object", 0)
    loaded, meta = load_qnetwork(path)
    x, mask = torch.rand(3, 9, net.config["encoding_dim"]), torch.ones(3, 9, dtype=torch.int8)
    net.eval()
    assert torch.equal(loaded(x, mask), net(x, mask))
    assert meta["task"] == "class_object" and not loaded.training


def test_checkpoint_trials_rows_are_seeded_and_anytime(tmp_path, bench):
    paths = [_checkpoint(tmp_path / f"s{s}", bench, "class_object", s)[0] for s in (0, 1)]
    kw = dict(budgets=(5, 12), trials=4, bench=bench, progress=False)
    rows = checkpoint_trials(paths, PARAMS, **kw)
    assert len(rows) == 8 and set(rows.searcher) == {"dqn agent"} and set(rows.seed) == {0, 1, 2, 3}
    table = bench.table("class_object")
    assert np.allclose(rows.best_test, table.test[rows.best_cell.to_numpy()])
    assert np.allclose(rows.best_valid, table.valid[rows.best_cell.to_numpy()])
    wide = rows.pivot(index="seed", columns="budget", values="best_valid")
    assert (wide[12] >= wide[5]).all()  # more queries never lose the best cell
    pd_again = checkpoint_trials(paths, PARAMS, **kw)
    assert rows.equals(pd_again)


def test_checkpoint_trials_refuses_mixed_tasks(tmp_path, bench):
    a, _ = _checkpoint(tmp_path / "a", bench, "class_object", 0)
    b, _ = _checkpoint(tmp_path / "b", bench, "segmentsemantic", 0)
    with pytest.raises(NasxferError, match="different tasks"):
        checkpoint_trials([a, b], PARAMS, budgets=(5,), trials=2, bench=bench, progress=False)

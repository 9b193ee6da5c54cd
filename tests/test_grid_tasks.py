"""Grid task names across benchmarks: ``nas-bench-201/cifar100`` beside ``class_object``."""

import dataclasses

import numpy as np
import pytest
import torch

from nasxfer.agent.checkpoints import check_compatible, load_qnetwork, write_checkpoint
from nasxfer.agent.evaluate import rollout
from nasxfer.agent.params import AgentParams
from nasxfer.agent.qnetwork import QNetwork
from nasxfer.encoding import encoding_size
from nasxfer.errors import NasxferError
from nasxfer.experiments import checkpoint_dir
from nasxfer.grid import GridConfig, Unit, task_ref

TN, NB = "transnas-bench-101", "nas-bench-201"


def _grid(**kw):
    return GridConfig(
        **{
            "benchmark": NB,
            "source_tasks": ["transnas/class_object", "cifar10"],
            "target_tasks": ["cifar100", "nasbench201/cifar10"],
            "seeds": [0],
            "train_steps": 600,
            "finetune_steps": 200,
            "eval_every": 1,
            "agent": {"preset": "ci", "num_env_runners": 1, "num_envs_per_env_runner": 1, "rollout_fragment_length": 5},
            **kw,
        }
    )


def test_task_names_are_canonical_bare_on_the_grids_benchmark_qualified_elsewhere():
    g = _grid()
    assert g.source_tasks == [f"{TN}/class_object", "cifar10"]
    assert g.target_tasks == ["cifar100", "cifar10"]
    assert g.benchmarks == [NB, TN]
    assert task_ref(f"{TN}/class_object", NB) == (TN, "class_object")
    assert task_ref("cifar100", "nb201") == (NB, "cifar100")
    # a grid on TransNAS names the same tasks the other way round
    tn = _grid(benchmark="transnas", source_tasks=["class_object"], target_tasks=[f"{NB}/cifar100"])
    assert tn.benchmark == TN and tn.target_tasks == [f"{NB}/cifar100"]


def test_each_agent_runs_on_its_own_tasks_benchmark():
    g = _grid()
    p = g.agent_params(f"{TN}/class_object", 3)
    assert (p.benchmark, p.task, p.seed) == (TN, "class_object", 3)
    p = g.agent_params("cifar100", 0)
    assert (p.benchmark, p.task) == (NB, "cifar100")


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        (["class_object"], r"unknown task in grid.source_tasks 'class_object'.*'transnas-bench-101/class_object'"),
        (["nb101/cifar10"], "unknown benchmark 'nb101'"),
        ([f"{TN}/cifar10"], f"unknown task in grid.source_tasks '{TN}/cifar10'"),
        ([f"{NB}/"], "unknown task in grid.source_tasks"),
    ],
)
def test_bad_task_names_are_refused_with_what_there_is(tasks, message):
    with pytest.raises(NasxferError, match=message):
        _grid(source_tasks=tasks)


def test_unit_and_checkpoint_names_are_file_names(tmp_path):
    g = _grid()
    names = [u.name for u in g.units()]
    assert "seed0-transnas-bench-101.class_object-to-cifar100" in names
    assert "seed0-scratch-transnas-bench-101.class_object" in names
    assert all("/" not in n for n in names)
    assert checkpoint_dir(tmp_path, 0, f"{TN}/class_object").name == "seed0-transnas-bench-101.class_object"
    assert Unit(0, f"{TN}/class_object", "cifar10").name != Unit(0, "class_object", "cifar10").name


def test_a_transnas_network_acts_on_nas_bench_201(tmp_path, nb201):
    """Weights saved by an agent of a TransNAS task load into a plain network that searches
    NAS-Bench-201: one encoding, so nothing about the network depends on the benchmark."""
    params = AgentParams.from_dict({"preset": "ci", "benchmark": TN, "task": "class_object", "eval_episodes": 4})
    torch.manual_seed(0)
    net = QNetwork(encoding_size(params.pad), **params.network_config())
    meta = {**net.config, "task": "class_object", "benchmark": TN, "env_steps": 0, "seed": 0}
    path = write_checkpoint(tmp_path / "w", net.state_dict(), meta)
    loaded, meta = load_qnetwork(path)
    on_nb = dataclasses.replace(params, benchmark=NB, task="cifar100")
    check_compatible(meta, loaded.config)
    episodes = rollout(loaded, on_nb, bench=nb201)
    assert len(episodes) == 4
    assert np.all(episodes.final_cell.between(0, nb201.space.size - 1))
    with pytest.raises(NasxferError, match="source's pad"):
        check_compatible({**meta, "encoding_dim": 999}, loaded.config)

"""The learner's device as the agent hands it to RLlib, and the replay ratio ApeX keeps (no Ray started)."""

import os
from types import SimpleNamespace

import pytest
import torch

from nasxfer.agent.params import AgentParams
from nasxfer.errors import NasxferError


@pytest.mark.parametrize(
    "device, has_cuda, want",
    [
        ("auto", False, "cpu"),
        ("auto", True, "cuda"),
        ("cpu", True, "cpu"),
        ("cpu", False, "cpu"),
        ("cuda", True, "cuda"),
    ],
)
def test_device_resolves_to_the_learner_resources(monkeypatch, device, has_cuda, want):
    from nasxfer.agent.apex import apex_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_cuda)
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    p = AgentParams.ci(device=device)
    assert p.learner_device() == want
    config = apex_config(p)
    assert config.num_learners == 0 and config.num_gpus_per_learner == (1 if want == "cuda" else 0)
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == before  # GPUs are never hidden process-wide


def test_cuda_without_a_gpu_names_the_fix(monkeypatch):
    from nasxfer.agent.apex import apex_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    p = AgentParams.ci(device="cuda")  # valid as a setting: a params file may travel to a GPU machine
    with pytest.raises(NasxferError, match=r"torch sees no CUDA GPU.*device='auto'.*device='cpu'"):
        apex_config(p)


def test_unknown_device_is_refused():
    with pytest.raises(NasxferError, match=r"AgentParams.device = 'gpu'.*'auto', 'cpu', 'cuda'"):
        AgentParams.ci(device="gpu")


@pytest.mark.parametrize(
    "layout, per_round",
    [
        (dict(num_env_runners=0, num_envs_per_env_runner=8, rollout_fragment_length=8), 64),
        (dict(num_env_runners=0, num_envs_per_env_runner=32, rollout_fragment_length=4), 128),
        (dict(num_env_runners=1, num_envs_per_env_runner=8, rollout_fragment_length=64), 512),
        (dict(num_env_runners=0, num_envs_per_env_runner=5, rollout_fragment_length=3), 15),
    ],
)
def test_training_intensity_is_the_replay_ratio_whatever_the_layout(layout, per_round):
    """ApeX owes ``training_intensity * steps / batch`` updates per round and carries the
    remainder, so over many rounds the samples trained per env step are the ratio exactly,
    whatever the layout (RLlib rounded it to whole updates per round)."""
    from nasxfer.agent.algorithm import ApeX

    p = AgentParams.laptop(**layout)
    algo = SimpleNamespace(agent_params=p, _owed=0.0)
    trained = sum(ApeX.updates_due(algo, per_round) for _ in range(1000))
    assert trained * p.train_batch_size / (1000 * per_round) == pytest.approx(
        2.0, abs=p.train_batch_size / (1000 * per_round)
    )
    none = SimpleNamespace(agent_params=p.replace(training_intensity=None), _owed=0.0)
    assert [ApeX.updates_due(none, per_round) for _ in range(3)] == [1, 1, 1]  # None: one update per round

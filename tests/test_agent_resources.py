"""The learner's device and the replay ratio, as the agent hands them to RLlib (no Ray started)."""

import os

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
    "layout",
    [
        dict(num_env_runners=1, num_envs_per_env_runner=8, rollout_fragment_length=8),
        dict(num_env_runners=1, num_envs_per_env_runner=32, rollout_fragment_length=8),
        dict(num_env_runners=0, num_envs_per_env_runner=32, rollout_fragment_length=4),
        dict(num_env_runners=2, num_envs_per_env_runner=16, rollout_fragment_length=8, num_cpus_per_env_runner=0.5),
        dict(num_env_runners=1, num_envs_per_env_runner=8, rollout_fragment_length=64),
    ],
)
def test_training_intensity_is_the_replay_ratio_whatever_the_layout(layout):
    """RLlib's round-robin (dqn.calculate_rr_weights: sampling rounds per update cycle, updates
    per cycle) on the config we build trains `training_intensity` samples per env step sampled:
    2 in the laptop preset, as today's 8 envs x 8 steps with batch 128 did, also with 32 envs
    per runner, sampling in the driver, or longer fragments."""
    from ray.rllib.algorithms.dqn.dqn import calculate_rr_weights

    from nasxfer.agent.apex import achieved_training_intensity, apex_config

    p = AgentParams.laptop(**layout)
    assert p.training_intensity == 2.0
    rounds, updates = calculate_rr_weights(apex_config(p))
    sampled = rounds * p.rollout_fragment_length * p.num_envs_per_env_runner * max(p.num_env_runners, 1)
    assert updates * p.train_batch_size / sampled == achieved_training_intensity(p) == 2.0


def test_ci_preset_keeps_its_ratio():
    from nasxfer.agent.apex import achieved_training_intensity

    assert achieved_training_intensity(AgentParams.ci()) == 1.0

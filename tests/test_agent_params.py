"""AgentParams: presets, round trips and one clear error per bad value (no Ray)."""

import pytest

from nasxfer.agent.params import PRESETS, AgentParams, apex_epsilons
from nasxfer.errors import NasxferError


@pytest.mark.parametrize("name", PRESETS)
def test_presets_validate_and_round_trip(name):
    p = AgentParams.preset(name)
    assert AgentParams.from_dict(p.to_dict()) == p
    assert AgentParams.from_dict({"preset": name, "seed": 3}).seed == 3


def test_paper_profile_keeps_paper_values():
    p = AgentParams.paper()
    assert (p.embed_dim, p.n_heads, p.n_layers, p.train_batch_size) == (256, 4, 2, 512)
    assert (p.epsilon, p.epsilon_alpha, p.prio_alpha, p.prio_beta, p.n_step, p.grad_clip) == (0.4, 7, 0.6, 0.4, 3, 40)
    assert p.double_q and p.dueling


def test_apex_epsilons_formula():
    eps = apex_epsilons(0.4, 7.0, 2, 4)
    flat = [e for r in eps for e in r]
    assert len(eps) == 2 and len(flat) == 8
    assert flat[0] == pytest.approx(0.4) and flat[-1] == pytest.approx(0.4**8)
    assert flat[3] == pytest.approx(0.4 ** (1 + 7 * 3 / 7))
    assert apex_epsilons(0.3, 7.0, 1, 1) == [[0.3]]


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(total_env_steps=-5), "total_env_steps"),
        (dict(learning_starts=-1), "learning_starts"),
        (dict(epsilon=1.5), "[0, 1]"),
        (dict(epsilon=-0.1), "[0, 1]"),
        (dict(train_batch_size=4096, buffer_capacity=1000), "larger than the replay buffer"),
        (dict(task="no_such_task"), "class_object"),
        (dict(lr=0.0), "lr"),
        (dict(embed_dim=30, n_heads=4), "divisible"),
        (dict(num_env_runners=5, num_cpus_per_env_runner=1.0, num_cpus=2), "num_cpus"),
        (dict(typo_field=1), "unknown agent parameter"),
    ],
)
def test_bad_values_raise_one_clear_error(bad, words):
    with pytest.raises(NasxferError, match=None) as e:
        AgentParams.from_dict(bad)
    assert words in str(e.value)


def test_unknown_preset():
    with pytest.raises(NasxferError, match="laptop"):
        AgentParams.preset("huge")

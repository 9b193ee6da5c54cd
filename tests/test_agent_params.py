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
        (dict(lr_final=0.0), "lr_final"),
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


def test_paper_preset_has_the_papers_hyperparameters():
    p = AgentParams.paper()
    assert (p.lr, p.target_update_freq, p.buffer_capacity) == (5e-5, 8192, 25_000)
    assert (p.prio_alpha, p.prio_beta, p.grad_clip) == (0.6, 0.4, 40)
    assert (p.num_env_runners, p.num_envs_per_env_runner) == (8, 32)
    assert (p.shaping, p.shaping_param, p.reward) == ("gamma", "paper", "level")


def test_paper_params_file_has_the_papers_budgets():
    from nasxfer.profiles import load_params, params_path

    grid = load_params(params_path("paper"))["grid"]
    # source and retrain: train_steps (a transfer run's end); fine-tune: finetune_steps
    assert (grid.train_steps, grid.finetune_steps) == (10_000_000, 1_000_000)
    assert grid.agent_params("segmentsemantic", 0).reward == "level"


@pytest.mark.parametrize("name", PRESETS)
def test_every_profile_shapes_as_the_paper(name):
    p = AgentParams.preset(name)
    assert (p.shaping, p.shaping_param) == ("gamma", "paper")


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(shaping_param="papr"), "e.g. shaping_param: paper"),
        (dict(shaping="alpha", shaping_param="paper"), "set shaping: gamma"),
        (dict(shaping="log"), "'gamma', 'alpha', 'none'"),
        (dict(reward="delta"), "'improvement', 'level'"),
    ],
)
def test_bad_shaping_or_reward_names_the_fix(bad, words):
    with pytest.raises(NasxferError) as e:
        AgentParams.from_dict(bad)
    assert words in str(e.value)


# ---- docs/paper_vs_nasxfer.md: the table of every setting cannot drift from the profiles ---------


def test_paper_vs_nasxfer_table_matches_the_profiles():
    from nasxfer.paper_table import render
    from nasxfer.profiles import repo_root

    doc = (repo_root() / "docs" / "paper_vs_nasxfer.md").read_text()
    want = render().splitlines()
    got = doc.splitlines()
    differ = [f"file: {g!r}\n  profiles say: {w!r}" for g, w in zip(got, want) if g != w]
    assert not differ and len(got) == len(want), (
        "docs/paper_vs_nasxfer.md disagrees with the profiles (regenerate it with "
        "python -m nasxfer.paper_table > docs/paper_vs_nasxfer.md and check its reasons):\n" + "\n".join(differ[:5])
    )


def test_paper_vs_nasxfer_table_has_a_row_for_every_setting():
    from dataclasses import fields

    from nasxfer.paper_table import NOT_SETTINGS, ROWS

    rows = [name for name, *_ in ROWS]
    assert len(rows) == len(set(rows))
    missing = [f.name for f in fields(AgentParams) if f.name not in rows and f.name not in NOT_SETTINGS]
    assert not missing, f"AgentParams fields without a row in nasxfer.paper_table.ROWS: {missing}"


def test_paper_vs_nasxfer_columns_are_the_preset_values():
    from nasxfer.paper_table import fmt, ours

    paper, laptop = AgentParams.paper(), AgentParams.laptop()
    for name in ("lr", "target_update_freq", "buffer_capacity", "reward", "embed_dim", "num_envs_per_env_runner"):
        assert ours("paper")[name] == fmt(getattr(paper, name))
        assert ours("laptop")[name] == fmt(getattr(laptop, name))
    assert ours("paper")["lr"] == "5e-05" and ours("paper")["train_steps"] == "10,000,000"

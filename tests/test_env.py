"""The incremental-edit NAS MDP as a Gymnasium env."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from nasxfer.encoding import SHARED_SPACE, encode, encoding_parts
from nasxfer.env import NASEnv
from nasxfer.errors import NasxferError


@pytest.fixture
def env(bench):
    return NASEnv("class_object", bench, max_steps=10)


def test_passes_gymnasium_env_checker(bench, nb201):
    check_env(NASEnv("segmentsemantic", bench), skip_render_check=True)
    check_env(NASEnv("cifar10", nb201, max_neighbours=20), skip_render_check=True)


@pytest.mark.parametrize("max_neighbours", [50, 7])
def test_observation_is_each_candidates_encoding(bench, max_neighbours):
    """Slot k names candidate k (slot 0 the current cell, the others its one-edit neighbours) as
    a shared-space cell and an offset whose encoding is search_space's encoding of that candidate
    at that offset, the offset inside the pad."""
    env = NASEnv("class_object", bench, max_steps=10, max_neighbours=max_neighbours)
    obs, info = env.reset(seed=0)
    n_nodes = encoding_parts(env.space)[2]
    for step in range(3):
        cands = info["candidates"]
        assert cands[0] == info["cell"] and len(cands) == env.n_slots == 1 + min(max_neighbours, 18)
        assert set(cands[1:]) <= set(env.space.neighbours(info["cell"])) and len(set(cands)) == len(cands)
        assert obs["cells"].shape == obs["offsets"].shape == (env.n_slots,)
        assert env.observation_space.contains(obs)
        off = obs["offsets"]
        assert ((off >= 0) & (off + n_nodes[cands] <= env.pad)).all()
        seen = encode(SHARED_SPACE, obs["cells"], off, env.pad)
        assert seen.shape == (env.n_slots, 368)
        assert np.array_equal(seen, encode(env.space, cands, off, env.pad))
        obs, _, _, _, info = env.step(1 + step)


def test_offsets_are_uniform_over_the_free_diagonal(bench):
    """Each candidate's offset is uniform over 0..pad - n_nodes (random_offsets' distribution):
    over many steps every offset occurs, with frequencies close to uniform (chi-square)."""
    env = NASEnv("class_object", bench, max_steps=50)
    n_nodes = encoding_parts(env.space)[2]
    counts: dict[int, np.ndarray] = {}
    obs, info = env.reset(seed=0)
    for t in range(3000):
        for c, o in zip(info["candidates"], obs["offsets"]):
            free = env.pad - n_nodes[c] + 1
            counts.setdefault(free, np.zeros(free, int))[o] += 1
        obs, _, term, trunc, info = env.step(1 + t % 18)
        if term or trunc:
            obs, info = env.reset()
    counts = {f: k for f, k in counts.items() if k.sum() >= 100 * f}  # rare sizes (few-op cells) too thin to test
    assert len(counts) >= 3
    for free, k in counts.items():
        expected = k.sum() / free
        chi2 = ((k - expected) ** 2 / expected).sum()
        # df = free - 1 <= 10: 40 is far beyond the 0.9999 quantile (~35.6 for df 10)
        assert k.min() > 0 and chi2 < 40, (free, k)


def test_action_mask_is_all_ones_because_every_cell_has_the_same_number_of_neighbours(bench, nb201):
    """Every cell has exactly n_neighbours one-edit neighbours (6 edges x (n_ops - 1)), and the env
    has 1 + min(max_neighbours, n_neighbours) slots, so every slot always holds a candidate:
    the mask is all ones on both benchmarks, whatever the cap."""
    for b, n in ((bench, 18), (nb201, 24)):
        table = b.space.neighbour_table
        assert table.shape == (b.space.size, n) == (b.space.size, b.space.n_neighbours)
        assert (np.diff(table, axis=1) > 0).all() and (
            table != np.arange(b.space.size)[:, None]
        ).all()  # n distinct others
        for cap in (5, n, 50):
            env = NASEnv(list(b.tasks)[0], b, max_steps=5, max_neighbours=cap)
            obs, _ = env.reset(seed=cap)
            for a in (1, 2, 3, 4):
                assert obs["action_mask"].tolist() == [1] * (1 + min(cap, n))
                obs, *_ = env.step(a)


def test_same_seed_same_episode(env):
    def run(seed):
        obs, info = env.reset(seed=seed)
        out = [info["cell"]]
        for a in (3, 5, 1, 7):
            obs, *_, info = env.step(a)
            out.append(info["cell"])
        return out, (obs["cells"], obs["offsets"])

    (a, oa), (b, ob), (c, _) = run(4), run(4), run(5)
    assert a == b and np.array_equal(oa[0], ob[0]) and np.array_equal(oa[1], ob[1]) and a != c


def test_moving_rewards_improvement_and_return_telescopes(env):
    obs, info = env.reset(seed=1)
    start, total = info["cell"], 0.0
    for a in (2, 9, 4):
        target = info["candidates"][a]
        prev = info["cell"]
        obs, r, term, trunc, info = env.step(a)
        assert info["cell"] == target
        assert r == pytest.approx(env.rewards[target] - env.rewards[prev])
        total += r
    assert total == pytest.approx(env.rewards[info["cell"]] - env.rewards[start])


def test_stop_action_terminates_with_zero_reward(env):
    _, info = env.reset(seed=2)
    _, r, term, trunc, info2 = env.step(0)
    assert term and not trunc and r == 0 and info2["cell"] == info["cell"]


def test_time_limit_truncates_not_terminates(env):
    env.reset(seed=3)
    for t in range(10):
        _, _, term, trunc, _ = env.step(1)
        assert not term
        assert trunc == (t == 9)


def test_info_tracks_best_by_validation(env):
    _, info = env.reset(seed=4, options={"start_cell": "64-41414-0_00_000"})
    assert info["cell"] == 0
    seen = [0]
    for a in (18, 5, 7, 2):
        _, _, _, _, info = env.step(a)
        seen.append(info["cell"])
    best = max(seen, key=lambda c: env.valid[c])
    assert info["best_cell"] == best and info["best_test"] == env.test[best]
    assert info["n_unique"] == len(set(seen))


def test_invalid_action_and_config_are_refused(bench, nb201):
    env = NASEnv("cifar10", nb201, max_neighbours=5)
    env.reset(seed=0)
    assert env.n_slots == 6
    with pytest.raises(NasxferError, match="not a valid candidate slot"):
        env.step(6)
    with pytest.raises(NasxferError, match="max_neighbours must be an integer >= 1"):
        NASEnv("class_object", bench, max_neighbours=0)
    with pytest.raises(NasxferError, match="max_steps must be an integer >= 1"):
        NASEnv("class_object", bench, max_steps=0)
    with pytest.raises(NasxferError, match="unknown task of transnas-bench-101 'cifar10'"):
        NASEnv("cifar10", bench)


def test_step_before_reset_says_to_reset(bench):
    env = NASEnv("class_object", bench)
    with pytest.raises(NasxferError, match=r"step\(\) before reset\(\)"):
        env.step(0)

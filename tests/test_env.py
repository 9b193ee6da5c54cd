"""The incremental-edit NAS MDP as a Gymnasium env."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from nasxfer.encoding import encode
from nasxfer.env import NASEnv
from nasxfer.errors import NasxferError


@pytest.fixture
def env(bench):
    return NASEnv("class_object", bench, max_steps=10)


def test_passes_gymnasium_env_checker(bench, nb201):
    check_env(NASEnv("segmentsemantic", bench), skip_render_check=True)
    check_env(NASEnv("cifar10", nb201, max_neighbours=20), skip_render_check=True)


def test_observation_holds_current_cell_and_neighbours(env):
    obs, info = env.reset(seed=0)
    c = info["cell"]
    assert info["candidates"][0] == c
    assert set(info["candidates"][1:]) == set(env.space.neighbours(c))
    assert obs["action_mask"].sum() == 19 and obs["candidates"].shape == (19, 368)
    assert np.array_equal(obs["candidates"][0].sum(), encode(env.space, [c]).sum())


def test_same_seed_same_episode(env):
    def run(seed):
        obs, info = env.reset(seed=seed)
        out = [info["cell"]]
        for a in (3, 5, 1, 7):
            obs, *_, info = env.step(a)
            out.append(info["cell"])
        return out, obs["candidates"]

    (a, oa), (b, ob), (c, _) = run(4), run(4), run(5)
    assert a == b and np.array_equal(oa, ob) and a != c


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

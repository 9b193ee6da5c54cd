"""The agent's replay buffer (nasxfer.agent.replay): n-step returns with partial episode
bootstrapping, compact storage, proportional sampling and importance weights."""

import numpy as np
import pytest

from nasxfer.agent.replay import PRIORITY_EPS, NStepPrioritizedReplay

SPEC = {"cells": ((3,), np.int32), "action_mask": ((3,), np.int8)}


def obs(t):
    return {"cells": np.full(3, t, np.int32), "action_mask": np.ones(3, np.int8)}


def buffer(**kw):
    return NStepPrioritizedReplay(100, SPEC, **{"n_step": 3, "discount": 0.5, **kw})


def rows(buf):
    n = len(buf)
    return [
        (
            int(buf.obs["cells"][i, 0]),
            int(buf.next_obs["cells"][i, 0]),
            float(buf.rewards[i]),
            bool(buf.terminateds[i]),
            int(buf.n_steps[i]),
        )
        for i in range(n)
    ]


def run(buf, rewards, *, terminated=False, truncated=False, actor=0):
    for t, r in enumerate(rewards):
        last = t == len(rewards) - 1
        buf.add_step(actor, obs(t), t, r, obs(t + 1), terminated and last, truncated and last)


def test_n_step_returns_inside_an_episode():
    buf = buffer()
    run(buf, [1.0, 2.0, 4.0, 8.0])  # episode still running: only the full 3-step windows are written
    assert rows(buf) == [(0, 3, 1 + 0.5 * 2 + 0.25 * 4, False, 3), (1, 4, 2 + 0.5 * 4 + 0.25 * 8, False, 3)]


def test_truncated_episode_bootstraps_its_tail_from_the_last_observation():
    buf = buffer()
    run(buf, [1.0, 2.0, 4.0, 8.0], truncated=True)
    assert rows(buf)[2:] == [(2, 4, 4 + 0.5 * 8, False, 2), (3, 4, 8.0, False, 1)]


def test_terminated_episode_marks_its_tail_terminal():
    buf = buffer()
    run(buf, [1.0, 2.0], terminated=True)
    assert rows(buf) == [(0, 2, 1 + 0.5 * 2, True, 2), (1, 2, 2.0, True, 1)]


def test_actors_keep_their_own_windows():
    buf = buffer()
    for t in range(3):
        for actor in (0, 1):
            buf.add_step(actor, obs(10 * actor + t), t, 1.0 + actor, obs(10 * actor + t + 1), False, False)
    got = sorted(rows(buf))
    assert got == [(0, 3, 1.75, False, 3), (10, 13, 3.5, False, 3)]


def test_capacity_overwrites_the_oldest():
    buf = NStepPrioritizedReplay(4, SPEC, n_step=1)
    run(buf, [float(r) for r in range(7)])
    assert len(buf) == 4 and buf.added == 7
    assert sorted(buf.rewards.tolist()) == [3.0, 4.0, 5.0, 6.0]


def test_bytes_per_transition_are_compact():
    buf = NStepPrioritizedReplay(
        1000, {"cells": ((19,), np.int32), "offsets": ((19,), np.int16), "action_mask": ((19,), np.int8)}
    )
    assert buf.bytes_per_transition < 1024


def test_sampling_is_proportional_to_priority_and_weights_correct_it():
    buf = NStepPrioritizedReplay(8, SPEC, n_step=1, alpha=1.0, beta=1.0, seed=0)
    run(buf, [0.0] * 4)
    idx = np.arange(4)
    buf.update_priorities(idx, np.array([1.0, 2.0, 3.0, 4.0]) - PRIORITY_EPS)
    counts = np.zeros(4)
    for _ in range(500):
        b = buf.sample(10)
        counts += np.bincount(b["idx"], minlength=4)
        # beta 1: w = (N P(i))^-1 / max_j (N P(j))^-1 = p_min / p_i
        assert np.allclose(b["weights"], 1.0 / (b["idx"] + 1.0))
    assert np.allclose(counts / counts.sum(), np.array([1, 2, 3, 4]) / 10, atol=0.01)


def test_new_transitions_enter_with_the_largest_priority():
    buf = NStepPrioritizedReplay(8, SPEC, n_step=1, alpha=1.0, seed=0)
    run(buf, [0.0] * 2)
    buf.update_priorities(np.array([0, 1]), np.array([5.0, 0.5]))
    run(buf, [0.0], actor=1)
    buf.sample(4)  # enters the new row into the trees
    assert buf._sum[buf._leaf0 + 2] == pytest.approx(5.0 + PRIORITY_EPS)


def test_same_seed_same_batches():
    def draws(seed):
        buf = buffer(seed=seed)
        run(buf, [float(r) for r in range(40)], truncated=True)
        return np.concatenate([buf.sample(16)["idx"] for _ in range(5)])

    assert np.array_equal(draws(1), draws(1)) and not np.array_equal(draws(1), draws(2))


def test_empty_buffer_refuses_to_sample():
    with pytest.raises(ValueError, match="empty"):
        buffer().sample(4)

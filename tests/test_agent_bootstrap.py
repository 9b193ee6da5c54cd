"""Partial episode bootstrapping: a step cut by the time limit (truncated) bootstraps from
the next state's value; a "stop" step (terminated) does not. Checked at each link: the env's
flags and the replay buffer's n-step rows here; the DQN loss in tests/test_learner.py."""

from nasxfer.env import NASEnv


def test_env_truncates_at_time_limit_and_terminates_on_stop(bench):
    env = NASEnv("class_object", bench, max_steps=3)
    env.reset(seed=0)
    flags = [env.step(1)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]  # truncated, not terminated
    env.reset(seed=0)
    assert env.step(0)[2:4] == (True, False)


def test_replay_keeps_truncation_distinct_from_termination(bench):
    from nasxfer.agent.replay import NStepPrioritizedReplay

    env = NASEnv("class_object", bench, max_steps=4)
    buf = NStepPrioritizedReplay.for_space(env.observation_space, 100, n_step=1)
    for seed, actions in ((0, [1, 2, 1, 2]), (1, [1, 2, 0])):
        obs, _ = env.reset(seed=seed)
        for a in actions:
            nxt, r, term, trunc, _ = env.step(a)
            buf.add_step(seed, obs, a, r, nxt, term, trunc)
            obs = nxt
    seen = set(zip(buf.actions[: len(buf)].tolist(), buf.terminateds[: len(buf)].tolist()))
    # the stop transition is terminal; the last step of the time-limited episode is not
    assert (0, True) in seen and not any(a != 0 and term for a, term in seen)
    assert len(buf) == 7

"""What a learning searcher has read of its task: the env's queried cells and the agent's target_queries."""

import numpy as np

from nasxfer.env import NASEnv


def test_env_counts_start_and_moved_to_cells_not_neighbours_shown(bench):
    env = NASEnv("class_object", bench, max_steps=5)
    env.reset(seed=0, options={"start_cell": 7})
    assert env.queried == {7}  # the 18 neighbours are encoded, not read
    _, _, _, _, info = env.step(3)
    moved = info["cell"]
    assert moved != 7 and env.queried == {7, moved}
    env.step(0)  # stopping reads nothing new
    assert env.queried == {7, moved}
    env.reset(options={"start_cell": 11})  # the set lives across episodes
    assert env.queried == {7, moved, 11}


def test_env_queried_is_every_cell_whose_metric_an_episode_saw(bench):
    env = NASEnv("autoencoder", bench, max_steps=20)
    rng = np.random.default_rng(0)
    seen = set()
    for ep in range(5):
        _, info = env.reset(seed=ep)
        seen.add(info["cell"])
        done = False
        while not done:
            _, _, term, trunc, info = env.step(int(rng.integers(1, env.n_slots)))
            seen.add(info["cell"])
            done = term or trunc
    assert env.queried == seen


def test_the_action_mask_is_all_ones_in_both_spaces(bench, nb201):
    # the env's docstring says why: every cell has N_EDGES * (n_ops - 1) neighbours
    for b, task in ((bench, "class_object"), (nb201, "cifar10")):
        for cap in (5, 50):
            env = NASEnv(task, b, max_neighbours=cap)
            obs, _ = env.reset(seed=1)
            for _ in range(20):
                assert obs["action_mask"].all() and len(obs["action_mask"]) == 1 + min(cap, b.space.n_neighbours)
                obs, *_ = env.step(1)


def test_agent_training_curve_counts_unique_target_cells_read():
    from nasxfer.agent import Agent, AgentParams

    agent = Agent(AgentParams.preset("ci", task="class_object", seed=0, eval_episodes=5))
    try:
        curve = agent.train(600, eval_every=300)
        cells = set()
        for part in agent.algo.env_runner_group.foreach_env_runner(
            lambda r: sorted(c for e in r.env.unwrapped.envs for c in e.unwrapped.queried) if r.env else [],
            local_env_runner=True,
        ):
            cells.update(part)
    finally:
        agent.stop()
    q = curve["target_queries"].to_numpy()
    assert (np.diff(q) >= 0).all() and q[-1] == len(cells)
    # at 600 steps of a nearly random policy most steps move to a new cell (revisits are rare)
    assert 0.3 * curve["env_steps"].iloc[-1] < q[-1] <= min(curve["env_steps"].iloc[-1] + 100, 4096)

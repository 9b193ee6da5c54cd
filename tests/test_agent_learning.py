"""The agent learns: after a small budget on class_object its greedy final cells beat the
random-walk floor on the same fixed start cells, over seeds (one-sided paired test)."""

import os

import numpy as np
import pytest

from nasxfer.agent.params import AgentParams

pytestmark = pytest.mark.slow  # real Ray training, kernels or subprocesses: minutes

STEPS = int(os.environ.get("NASXFER_LEARN_STEPS", 8000))
# RLlib's sampling across processes is not bit-reproducible, and a DQN's last snapshot can sit
# in a dip (one run of seed 1 ended at 41 top-1, others near 49): three seeds keep one dip from
# deciding the test, which still asks for p < 0.01 over all start cells.
SEEDS = (0, 1, 2)


def test_agent_beats_random_walk(data_dir):
    from scipy import stats

    from nasxfer.agent.agent import Agent
    from nasxfer.agent.evaluate import rollout

    agent_final, random_final = [], []
    for seed in SEEDS:
        p = AgentParams.ci(data_dir=str(data_dir), seed=seed, eval_episodes=100, progress=False)
        with Agent(p) as agent:
            agent.train(STEPS, eval_every=0)
            agent_final.append(agent.evaluate(episodes=True)["final_test"].to_numpy())
        random_final.append(rollout("random", p, seed=p.eval_seed)["final_test"].to_numpy())
    a, r = np.concatenate(agent_final), np.concatenate(random_final)
    res = stats.wilcoxon(a, r, alternative="greater")
    print(
        f"agent {a.mean():.3f} vs random walk {r.mean():.3f}, per seed "
        f"{[round(x.mean(), 3) for x in agent_final]}, p = {res.pvalue:.2g}"
    )
    assert a.mean() > r.mean()
    assert res.pvalue < 0.01

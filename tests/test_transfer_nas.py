"""Transfer NAS behind ask/tell: the decision chain, joint training, transfer by name."""

import numpy as np
import pandas as pd
import pytest
import torch

from nasxfer.errors import NasxferError
from nasxfer.oracle import QueryOracle
from nasxfer.searchers import drive
from nasxfer.searchers.transfer_nas import (
    LSTMPolicy,
    TransferNASAgent,
    TransferNASParams,
    TransferNASSearcher,
    cell_chain,
    double_xor,
    joint_train,
)

CONVS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
POOL = ("none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks


def test_params_say_which_settings_are_ours():
    assert set(TransferNASParams().ours()) == {"baseline_decay", "ff_dim", "init_scale", "fresh_after_repeat"}


def test_the_chain_picks_the_space_then_an_op_per_edge(nb201):
    chain = cell_chain(nb201.space)
    assert chain[0] == ("S", ["nas-bench-201"]) and len(chain) == 7
    assert chain[1] == ("edge 0-1", list(nb201.space.ops))
    sub = cell_chain(nb201.space, POOL)
    assert sub[0][1] == ["nas-bench-201[none,skip_connect,nor_conv_3x3,avg_pool_3x3]"] and sub[3][1] == list(POOL)
    with pytest.raises(NasxferError, match="not ops of"):
        cell_chain(nb201.space, ("none", "max_pool"))


def test_a_search_is_seeded_stays_in_its_subspace_and_spends_its_budget(nb201):
    def run(seed, ops=None):
        s = TransferNASSearcher(nb201.space, np.random.default_rng(seed), task="cifar10", ops=ops)
        return drive(s, QueryOracle(nb201, "cifar10", 12))

    a, b, c = run(1), run(1), run(2)
    assert a.n_unique == 12 and a.cells == b.cells != c.cells
    sub = run(3, POOL)
    allowed = [nb201.space.ops.index(o) for o in POOL]
    assert np.isin(nb201.space.codes[sub.cells], allowed).all()


def test_transfer_reuses_every_named_embedding_and_adds_only_the_new(nb201):
    agent = joint_train([(nb201, "cifar10", CONVS), (nb201, "cifar10", POOL)], samples=20, seed=0)
    trained = {k: v.clone() for k, v in agent.policy.state_dict().items()}
    moved = agent.transferred(seed=1)
    assert moved.samples_since_transfer == 0 and agent.samples_since_transfer is None
    new = moved.policy.ensure(cell_chain(nb201.space), "cifar100", moved.gen)
    assert set(new) == {"cifar100", "nas-bench-201"}  # the new task and the full space's S action
    after = moved.policy.state_dict()
    assert all(torch.equal(trained[k], after[k]) for k in trained)  # everything seen, reloaded as it was
    # the copy learns on; the source agent stays as it was
    drive(
        TransferNASSearcher(nb201.space, np.random.default_rng(0), agent=agent, task="cifar100"),
        QueryOracle(nb201, "cifar100", 5),
    )
    assert all(torch.equal(trained[k], v) for k, v in agent.policy.state_dict().items())


def test_the_mixture_decays_to_the_policy_over_the_first_samples(nb201):
    agent = TransferNASAgent(seed=0).transferred(seed=1)
    s = TransferNASSearcher(nb201.space, np.random.default_rng(0), agent=agent, task="cifar10", copy_agent=False)
    drive(s, QueryOracle(nb201, "cifar10", 7))
    assert agent.samples_since_transfer >= 7


def test_the_lstm_policy_runs_the_toy():
    rewards = double_xor(TransferNASAgent(seed=0, policy="lstm"), 20)
    assert rewards.shape == (20,) and set(np.unique(rewards)) <= {0.0, 1.0}
    assert isinstance(TransferNASAgent(seed=0, policy="lstm").policy, LSTMPolicy)


def test_the_whole_chain_in_one_call_equals_step_by_step(nb201):
    """chain_logits (one padded, masked encoder call over several chains) gives the logits of
    logits() called per step."""
    agent = TransferNASAgent(seed=3)
    chain = cell_chain(nb201.space)
    tuples = [agent.sample(chain, "cifar10") for _ in range(2)]
    assert tuples[0] != tuples[1]
    agent.policy.eval()
    for actions, batched in zip(tuples, agent.policy.chain_logits(chain, "cifar10", tuples)):
        past = torch.zeros(0, 24)
        for (state, names), a, got in zip(chain, actions, batched):
            want, cand = agent.policy.logits(past, state, names, "cifar10")
            assert torch.allclose(got, want, atol=1e-5)
            past = torch.cat([past, cand[a : a + 1]])


@pytest.mark.parametrize("policy", ["transformer", "lstm"])
def test_the_prefix_tree_scores_every_cell_as_the_policy_does(nb201, policy):
    """log_prob_all (one batched call per level) equals each tuple's log-probability step by step
    through logits(), the uniform mixture included."""
    agent = TransferNASAgent(seed=4, policy=policy)
    chain = cell_chain(nb201.space, ("none", "skip_connect", "nor_conv_3x3"))  # 3^6 = 729 tuples
    agent.policy.ensure(chain, "cifar10", agent.gen)
    everything = agent.log_prob_all(chain, "cifar10", mix=0.1)
    assert everything.shape == (729,) and torch.isclose(everything.exp().sum(), torch.tensor(1.0), atol=1e-5)
    for i in (0, 17, 400, 728):
        actions = np.unravel_index(i, [len(n) for _, n in chain])
        past, want = torch.zeros(0, 24), 0.0
        for (state, names), a in zip(chain, actions):
            with torch.no_grad():
                logits, cand = agent.policy.logits(past, state, names, "cifar10")
            want += float(torch.log(0.9 * torch.softmax(logits, 0)[a] + 0.1 / len(names)))
            past = torch.cat([past, cand[a : a + 1]])
        assert abs(float(everything[i]) - want) < 1e-4


@pytest.mark.parametrize("batches", [TransferNASAgent.REJECTION_BATCHES, ()])
def test_a_restricted_draw_follows_the_policy_over_the_cells_left(nb201, batches):
    """By rejection from plain samples, or (no batches) from the scored prefix tree: the same law."""
    agent = TransferNASAgent(seed=5)
    agent.REJECTION_BATCHES = batches
    chain = cell_chain(nb201.space, ("none", "skip_connect"))  # 2^6 = 64 tuples
    agent.policy.ensure(chain, "cifar10", agent.gen)
    p = agent.log_prob_all(chain, "cifar10").exp().numpy()
    keep = np.argsort(p)[[0, -1]]  # the least and the most likely tuple
    exclude = np.ones(64, dtype=bool)
    exclude[keep] = False
    shape = [len(n) for _, n in chain]
    draws = [np.ravel_multi_index(agent.sample(chain, "cifar10", exclude), shape) for _ in range(400)]
    assert set(draws) <= set(keep)
    share = np.mean(np.array(draws) == keep[1])
    want = p[keep[1]] / p[keep].sum()
    assert abs(share - want) < 4 * np.sqrt(want * (1 - want) / 400) + 1e-9
    with pytest.raises(NasxferError, match="nothing left"):
        agent.sample(chain, "cifar10", np.ones(64, dtype=bool))


@pytest.mark.parametrize("fresh", [True, False])
def test_a_sample_that_repeats_a_queried_cell_is_followed_by_a_new_one(nb201, fresh):
    """(ours) the repeat is learned from, then the next draw avoids every queried cell; without the
    rule a policy on a small space repeats itself again and again."""
    agent = TransferNASAgent(seed=6)
    s = TransferNASSearcher(
        nb201.space,
        np.random.default_rng(0),
        agent=agent,
        task="cifar10",
        ops=("none", "skip_connect"),
        fresh_after_repeat=fresh,
    )
    oracle = QueryOracle(nb201, "cifar10", 48)  # 48 of the subspace's 64 cells
    seen, twice_running, previous_repeat = set(), 0, False
    while not oracle.done:
        cell = s.ask()
        repeat = cell in seen
        twice_running += repeat and previous_repeat
        seen.add(cell)
        previous_repeat = repeat
        s.tell(cell, oracle.query(cell))
    assert oracle.n_unique == 48 and (oracle.n_calls > 48)
    assert (twice_running == 0) == fresh
    assert agent.samples_since_transfer is None  # a scratch agent learned from every sample, repeats too


def test_replicas_adapting_one_joint_trained_agent_search_differently(nb201, bench):
    """Trials share a joint-trained agent (trial t adapts agent t % meta_seeds): each must draw from
    its own seed, or 50 replicas would be a few runs repeated."""
    agent = joint_train([(bench, "class_object", None)], 20, seed=0)
    runs = [
        drive(
            TransferNASSearcher(nb201.space, np.random.default_rng(s), agent=agent, task="nas-bench-201/cifar10"),
            QueryOracle(nb201, "cifar10", 12),
        ).cells
        for s in (0, 0, 1)
    ]
    assert runs[0] == runs[1] != runs[2]


# ---- the checked-in laptop run still comes out of this code --------------------------------------


@pytest.fixture(scope="module")
def laptop_methods():
    """params/laptop.yaml's methods section: where its run is and the budgets it read."""
    from nasxfer.profiles import load_params, params_path, section

    return section(load_params(params_path("laptop")), "methods")


@pytest.mark.parametrize("policy", ["transformer", "lstm"])
def test_the_checked_in_toy_run_reproduces_bit_for_bit(policy, laptop_methods, checked_in_kernels):
    """Replica 0's first 150 samples are what the checked-in toy table holds (one torch thread, as
    ``methods.toy_table`` runs): a change to sampling or learning that alters the draws fails here."""
    from nasxfer.methods import TOY_FILE

    toy = pd.read_parquet(laptop_methods.results_dir / TOY_FILE)
    want = toy[(toy.policy == policy) & (toy.replica == 0)].sort_values("sample")["reward"].to_numpy()[:150]
    assert np.array_equal(double_xor(TransferNASAgent(seed=0, policy=policy), 150), want)


def test_the_checked_in_scratch_trial_reproduces_bit_for_bit(nb201, laptop_methods, checked_in_kernels):
    """Trial 0 of the checked-in scratch arm on cifar10 (a search to the largest budget with the
    after-repeat rule): the same rows at every budget."""
    import dataclasses

    from nasxfer.methods import part_path, transfer_nas_rows

    cfg = dataclasses.replace(laptop_methods, transfer_nas_trials=1)
    got = transfer_nas_rows(cfg, nb201, "cifar10", "scratch")
    part = pd.read_parquet(part_path(cfg, nb201.name, "cifar10", "transfer-nas-scratch"))
    want = part[part.seed == got.seed.iloc[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want[got.columns], check_dtype=False)

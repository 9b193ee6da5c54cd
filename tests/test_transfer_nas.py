"""Transfer NAS behind ask/tell: the decision chain, joint training, transfer by name."""

import numpy as np
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
    assert set(TransferNASParams().ours()) == {"baseline_decay", "ff_dim", "init_scale"}


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
    """chain_logits (one padded, masked encoder call) gives the logits of logits() called per step."""
    agent = TransferNASAgent(seed=3)
    chain = cell_chain(nb201.space)
    actions = agent.sample(chain, "cifar10")
    agent.policy.eval()
    batched = agent.policy.chain_logits(chain, "cifar10", actions)
    past = torch.zeros(0, 24)
    for (state, names), a, got in zip(chain, actions, batched):
        want, cand = agent.policy.logits(past, state, names, "cifar10")
        assert torch.allclose(got, want, atol=1e-5)
        past = torch.cat([past, cand[a : a + 1]])


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

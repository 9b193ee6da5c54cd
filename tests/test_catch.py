"""CATCH behind the ask/tell protocol: its parts, its variants, meta-training and adaptation."""

import numpy as np
import pytest
import torch

from nasxfer.errors import NasxferError, UnknownNameError
from nasxfer.oracle import QueryOracle
from nasxfer.searchers import drive, run_search
from nasxfer.searchers.catch import CatchNet, CatchParams, CatchSearcher, meta_train

SMALL = CatchParams(meta_epochs=3, queries_per_meta_epoch=8, candidates=6, updates_per_query=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks


def test_params_say_which_settings_are_ours():
    ours = CatchParams().ours()
    assert "latent_dim" not in ours and "kl_weight" not in ours and "batch_share" not in ours
    assert ours["candidates"] == 16
    with pytest.raises(NasxferError, match="batch_share"):
        CatchParams(batch_share=1.5)
    with pytest.raises(NasxferError, match="candidates"):
        CatchParams(candidates=-1)


def test_unknown_variant_is_refused(bench):
    with pytest.raises(UnknownNameError, match="'meta', 'sfs', 'zero', 'random'"):
        CatchSearcher(bench.space, np.random.default_rng(0), variant="pearl")


@pytest.mark.parametrize("variant", ["sfs", "zero", "random"])
def test_a_search_is_seeded_and_spends_its_budget(nb201, variant):
    runs = [
        drive(
            CatchSearcher(nb201.space, np.random.default_rng(s), variant=variant, params=SMALL),
            QueryOracle(nb201, "cifar10", 15),
        )
        for s in (3, 3, 4)
    ]
    assert runs[0].n_unique == 15 and runs[0].cells == runs[1].cells != runs[2].cells


def test_on_transnas_the_missing_op_is_never_proposed(bench):
    searcher = CatchSearcher(bench.space, np.random.default_rng(0), params=SMALL, variant="sfs")
    oracle = drive(searcher, QueryOracle(bench, "class_object", 20))
    assert oracle.n_unique == 20  # every proposal decoded to one of the 4,096 cells
    assert not searcher.op_mask[4]  # avg_pool_3x3 masked


def test_the_controller_gives_masked_ops_no_probability():
    net = CatchNet(SMALL)
    mask = torch.tensor([True, True, True, True, False])
    ops, logp = net.sample(torch.zeros(SMALL.latent_dim), 200, mask, torch.Generator().manual_seed(0))
    assert (ops < 4).all() and torch.isfinite(logp).all()
    again, _ = net.log_prob(torch.zeros(SMALL.latent_dim), ops, mask)
    assert torch.allclose(again, logp, atol=1e-5)


def test_meta_training_then_adaptation_leaves_the_meta_trained_net_alone(nb201):
    net, log = meta_train(nb201, ["cifar100", "ImageNet16-120"], seed=0, params=SMALL)
    assert len(log) == 3 and {r["task"] for r in log} <= {"cifar100", "ImageNet16-120"}
    before = {k: v.clone() for k, v in net.state_dict().items()}
    oracle = drive(CatchSearcher(nb201.space, np.random.default_rng(1), net=net), QueryOracle(nb201, "cifar10", 12))
    assert oracle.n_unique == 12
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    with pytest.raises(NasxferError, match="without meta-training"):
        meta_train(nb201, ["cifar100"], seed=0, variant="sfs")


def test_catch_runs_through_the_common_harness(nb201):
    oracle = run_search(CatchSearcher, nb201, "cifar100", 12, seed=2, params=SMALL, variant="sfs")
    assert oracle.n_unique == 12


@pytest.mark.parametrize("fixture", ["bench", "nb201"])
def test_the_controllers_probability_of_every_cell_matches_its_per_cell_one(fixture, request):
    space = request.getfixturevalue(fixture).space
    searcher = CatchSearcher(space, np.random.default_rng(0), params=SMALL, variant="sfs")
    z = torch.randn(SMALL.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        per_cell, _ = searcher.net.log_prob(z, searcher._shared_codes, searcher.op_mask)
        n = space.n_ops
        lex = (searcher._shared_codes * n ** torch.arange(5, -1, -1)).sum(dim=1)
        every = searcher.net.log_prob_all(z, n)
    assert every.shape == (n**6,) and torch.allclose(every[lex], per_cell, atol=1e-5)
    assert abs(float(torch.logsumexp(every, 0))) < 1e-4  # a distribution over the space's cells


def test_a_controller_that_only_samples_known_cells_still_spends_its_budget_its_own_way(bench):
    """A controller all but certain of one cell (op 0 on every edge) samples nothing new after
    it; the search must still spend its budget, and its next queries follow the controller's
    distribution over the cells left (mostly op 0), not a uniform draw."""
    searcher = CatchSearcher(bench.space, np.random.default_rng(0), params=SMALL, variant="zero")
    last = searcher.net.controller[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([12.0, 0.0, 0.0, 0.0, 0.0]))
    oracle = drive(searcher, QueryOracle(bench, "class_object", 30))
    assert oracle.n_unique == 30 and searcher.resampled > 0
    codes = searcher._shared_codes[oracle.cells[SMALL.initial_random :]]
    zeros = (codes == 0).sum(dim=1).float()
    assert zeros.mean() >= 4.5  # uniform cells would have 1.5 zeros on average


def test_ppo_stays_finite_for_a_cell_the_controller_once_gave_almost_no_probability(bench):
    """A resampled cell can be queried at probability e^-300; when the controller later likes it
    better the PPO ratio overflows unless bounded, and one NaN ends the search."""
    searcher = CatchSearcher(bench.space, np.random.default_rng(0), params=SMALL, variant="sfs")
    cells = [3, 17, 99, 250, 1000, 2024]
    values = [0.1, 0.5, 0.2, 0.9, 0.3, 0.05]
    logps = [None, -1000.0, -2.0, -800.0, -5.0, -900.0]  # far below what the controller gives them now
    for _ in range(3):
        searcher._learn(cells, values, logps)
    assert all(torch.isfinite(w).all() for w in searcher.net.parameters())

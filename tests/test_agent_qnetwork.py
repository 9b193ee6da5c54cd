"""Q-network, RLModule exploration and in-process evaluation (no Ray cluster needed)."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from nasxfer.agent.checkpoints import load_qnetwork
from nasxfer.agent.evaluate import episode_means, rollout, start_cells
from nasxfer.agent.params import AgentParams
from nasxfer.agent.qnetwork import CandidateEncoder, QNetwork
from nasxfer.encoding import SHARED_SPACE, encode, random_offsets, shared_index
from nasxfer.errors import NasxferError
from nasxfer.search_space import NB201Space, TransNASMicroSpace

BEFORE = Path(__file__).parent / "data" / "qnet_before_compact_obs"


def _batch(b=5, s=7, d=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, s, d, generator=g)
    mask = torch.ones(b, s, dtype=torch.int8)
    mask[:, 4:] = 0
    mask[0, 1:] = 0  # only "stop" valid
    return x, mask


@pytest.mark.parametrize("dueling", [True, False])
def test_masked_slots_never_chosen(dueling):
    torch.manual_seed(0)
    net = QNetwork(11, embed_dim=16, n_heads=4, ff_dim=32, head_hidden=16, dueling=dueling)
    x, mask = _batch()
    q = net(x, mask)
    assert q.shape == (5, 7)
    assert torch.isinf(q[mask == 0]).all() and torch.isfinite(q[mask == 1]).all()
    assert (net.greedy(x, mask)[0] == 0).item()
    assert mask.gather(1, net.greedy(x, mask)[:, None]).all()


def test_q_values_ignore_padded_slots():
    # the Q-values of valid candidates must not depend on what sits in masked slots
    net = QNetwork(11, embed_dim=16, n_heads=4, ff_dim=32, head_hidden=16).eval()
    x, mask = _batch()
    x2 = x.clone()
    x2[:, 4:] = 7.0
    q1, q2 = net(x, mask), net(x2, mask)
    assert torch.allclose(q1[mask == 1], q2[mask == 1], atol=1e-5)


@pytest.mark.parametrize("pad", [16, 12, 20])
@pytest.mark.parametrize("space", [TransNASMicroSpace(), NB201Space()], ids=["transnas", "nb201"])
def test_module_encoding_is_search_space_encoding(space, pad):
    """What the network builds from a compact observation (shared-space cell, offset) equals
    nasxfer.encoding.encode of the benchmark's cell at that offset, for random cells and offsets."""
    rng = np.random.default_rng(pad)
    cells = rng.integers(space.size, size=(40, 19))
    offsets = random_offsets(space, cells, pad, rng)
    got = CandidateEncoder(pad)(torch.as_tensor(shared_index(space)[cells]), torch.as_tensor(offsets))
    want = np.stack([encode(space, c, o, pad) for c, o in zip(cells, offsets)])
    assert got.shape == want.shape == (40, 19, pad * pad + 7 * pad)
    assert np.array_equal(got.numpy(), want)
    # the largest offsets too (random draws rarely reach them)
    full = np.full(19, SHARED_SPACE.size - 1)  # 12 nodes: offsets 0..pad - 12
    last = np.full(19, pad - 12)
    assert np.array_equal(
        CandidateEncoder(pad)(torch.as_tensor(full), torch.as_tensor(last)).numpy(),
        encode(SHARED_SPACE, full, last, pad),
    )


def test_compact_observations_compute_the_same_network_and_gradients():
    """From compact observations (decoded inside the network) the same Q-values and the same
    gradients as from the dense encodings."""
    space = TransNASMicroSpace()
    rng = np.random.default_rng(3)
    cells = rng.integers(space.size, size=(6, 19))
    offsets = random_offsets(space, cells, 16, rng)
    mask = torch.ones(6, 19, dtype=torch.int8)
    mask[2, 12:] = 0
    torch.manual_seed(0)
    net = QNetwork(368, embed_dim=16, n_heads=4, ff_dim=32, head_hidden=16)
    dense = torch.as_tensor(np.stack([encode(space, c, o) for c, o in zip(cells, offsets)]))
    compact = {
        "cells": torch.as_tensor(shared_index(space)[cells]),
        "offsets": torch.as_tensor(offsets),
        "action_mask": mask,
    }
    grads = []
    for q in (lambda: net.q(compact), lambda: net(dense, mask)):
        net.zero_grad()
        out = q()
        (out[mask == 1] * torch.arange(int(mask.sum()))).sum().backward()
        grads.append((out.detach(), {k: p.grad.clone() for k, p in net.named_parameters()}))
    (q_c, g_c), (q_d, g_d) = grads
    assert torch.equal(torch.isinf(q_c), mask == 0)
    assert torch.allclose(q_c[mask == 1], q_d[mask == 1], atol=1e-5)
    assert g_c.keys() == g_d.keys() and all(torch.allclose(g_c[k], g_d[k], atol=1e-4) for k in g_c)


def test_weights_saved_before_compact_observations_load_and_score_the_same():
    """tests/data/qnet_before_compact_obs was written by nasxfer before observations became
    compact, with the Q-values its network gave on encoded observations: the checkpoint loads
    (the state dict did not change; the decoding table is no part of it) and the network scores
    the same cells at the same offsets, given compactly, the same."""
    net, meta = load_qnetwork(BEFORE)
    rec = np.load(BEFORE / "q_values.npz")
    assert not any(k.startswith("decoder") for k in net.state_dict())
    q = net.q(
        {
            "cells": torch.as_tensor(shared_index(TransNASMicroSpace())[rec["cells"]]),
            "offsets": torch.as_tensor(rec["offsets"]),
            "action_mask": torch.as_tensor(rec["mask"]),
        }
    ).detach()
    assert torch.equal(torch.isinf(q), torch.as_tensor(np.isinf(rec["q"])))
    assert np.allclose(q.numpy()[rec["mask"] == 1], rec["q"][rec["mask"] == 1], atol=1e-6)


def test_bad_network_shape():
    with pytest.raises(NasxferError, match="divisible"):
        QNetwork(11, embed_dim=10, n_heads=4)


def test_rl_module_exploration_respects_mask_and_epsilon():
    from ray.rllib.core.columns import Columns

    from nasxfer.agent.rl_module import NASQModule

    obs_space = gym.spaces.Dict(
        {"candidates": gym.spaces.Box(0, 1, (7, 11), np.float32), "action_mask": gym.spaces.Box(0, 1, (7,), np.int8)}
    )
    mod = NASQModule(
        observation_space=obs_space,
        action_space=gym.spaces.Discrete(7),
        model_config=dict(embed_dim=16, n_heads=4, n_layers=1, ff_dim=32, head_hidden=16),
    )
    x, mask = _batch(b=400)
    batch = {Columns.OBS: {"candidates": x, "action_mask": mask}}
    greedy = mod.forward_inference(batch)[Columns.ACTIONS]
    mod.set_epsilons([1.0, 0.0], seed=1)  # even rows explore always, odd rows never
    acts = mod.forward_exploration(batch)[Columns.ACTIONS]
    assert mask.gather(1, acts[:, None]).all(), "a masked slot was chosen"
    assert torch.equal(acts[1::2], greedy[1::2])
    assert len(set(acts[2::2].tolist())) == 4  # uniform over the 4 valid slots
    assert mod.get_epsilons() == [1.0, 0.0]
    # weight syncs (load_state_dict) must not reset the per-actor epsilons
    mod.set_state(mod.get_state())
    assert mod.get_epsilons() == [1.0, 0.0]


def test_greedy_and_random_walk_evaluation(data_dir):
    p = AgentParams.ci(data_dir=str(data_dir), eval_episodes=20)
    torch.manual_seed(0)
    net = QNetwork(368, **{k: v for k, v in p.network_config().items()})
    df = rollout(net, p)
    assert len(df) == 20 and df["start_cell"].tolist() == start_cells(20, p.eval_seed, 4096).tolist()
    assert (df["length"] <= p.max_steps).all() and (df["n_unique"] >= 1).all()
    assert df["final_rank_pct"].between(0, 100).all()
    assert (df["best_valid"] >= df["final_valid"] - 1e-9).all()
    again = rollout(net, p)
    assert df.equals(again), "greedy evaluation must be deterministic"
    rw = episode_means(rollout("random", p))
    assert rw == episode_means(rollout("random", p))
    assert set(rw) >= {"final_test", "best_test", "best_valid", "n_unique", "final_rank_pct"}


def test_cpu_attention_kernel_gives_torchs_default_values_and_gradients(monkeypatch):
    """On CPU the network runs attention with torch's math kernel (faster at our set sizes);
    values and gradients must be what torch's default kernel gives, padded slots included."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from nasxfer.agent import qnetwork

    torch.manual_seed(0)
    net = QNetwork(11, embed_dim=16, n_heads=4, ff_dim=32, head_hidden=16)
    x, mask = _batch(b=9)
    ours = net(x, mask)
    ours_grad = torch.autograd.grad(ours[mask == 1].sum(), list(net.parameters()))
    # the same forward with torch's CPU default for these inputs (its flash kernel)
    monkeypatch.setattr(qnetwork, "_attention_backend", lambda device: sdpa_kernel([SDPBackend.FLASH_ATTENTION]))
    theirs = net(x, mask)
    theirs_grad = torch.autograd.grad(theirs[mask == 1].sum(), list(net.parameters()))
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    assert torch.allclose(ours[mask == 1], theirs[mask == 1], atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(ours_grad, theirs_grad))


def test_train_forward_keeps_next_observations_out_of_the_graph():
    """The learner's forward: online Q of obs with gradient; online and target Q of next obs
    (the double-Q choice and its value) the networks' own values, with no graph behind them."""
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_NEXT_PREDS, QF_PREDS, QF_TARGET_NEXT_PREDS
    from ray.rllib.core.columns import Columns

    from nasxfer.agent.rl_module import NASQModule

    obs_space = gym.spaces.Dict(
        {"candidates": gym.spaces.Box(0, 1, (7, 11), np.float32), "action_mask": gym.spaces.Box(0, 1, (7,), np.int8)}
    )
    torch.manual_seed(0)
    mod = NASQModule(
        observation_space=obs_space,
        action_space=gym.spaces.Discrete(7),
        model_config=dict(embed_dim=16, n_heads=4, n_layers=1, ff_dim=32, head_hidden=16),
    )
    mod.make_target_networks()
    with torch.no_grad():  # a target that differs from the online net
        for p in mod._target_qnet.parameters():
            p.add_(0.1)
    (x, mask), (nx, nmask) = _batch(b=6, seed=0), _batch(b=6, seed=1)
    out = mod.forward_train(
        {
            Columns.OBS: {"candidates": x, "action_mask": mask},
            Columns.NEXT_OBS: {"candidates": nx, "action_mask": nmask},
        }
    )
    assert out[QF_PREDS].requires_grad
    assert not out[QF_NEXT_PREDS].requires_grad and not out[QF_TARGET_NEXT_PREDS].requires_grad
    valid = mask == 1
    assert torch.allclose(out[QF_PREDS][valid], mod.qnet(x, mask)[valid])
    nvalid = nmask == 1
    assert torch.allclose(out[QF_NEXT_PREDS][nvalid], mod.qnet(nx, nmask)[nvalid])
    target = mod._target_qnet(nx, nmask)[nvalid]
    assert torch.allclose(out[QF_TARGET_NEXT_PREDS][nvalid], target)
    assert not torch.allclose(out[QF_NEXT_PREDS][nvalid], target)

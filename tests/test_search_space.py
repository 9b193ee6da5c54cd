"""Cells, neighbours, the ops-on-nodes graph and its padded encoding."""

import numpy as np
import pytest

from nasxfer.errors import NasxferError
from nasxfer.search_space import MAX_NODES, NODE_VOCAB, NB201Space, TransNASMicroSpace


@pytest.fixture(params=[TransNASMicroSpace, NB201Space], ids=["transnas", "nb201"])
def space(request):
    return request.param()


def test_index_ops_string_round_trip(space):
    idx = np.arange(space.size)
    assert np.array_equal(space.from_ops(space.to_ops(idx)), idx)
    for i in (0, 1, space.size // 3, space.size - 1):
        assert space.from_string(space.to_string(i)) == i
        assert space.index(space.to_string(i)) == space.index(tuple(space.to_ops(i))) == i


def test_string_digits_are_the_op_codes():
    s = TransNASMicroSpace()
    assert s.to_string(int("302123", 4)) == "64-41414-3_02_123"
    assert tuple(s.to_ops(s.from_string("64-41414-3_02_123"))) == (3, 0, 2, 1, 2, 3)
    assert s.from_ops(("nor_conv_3x3", "none", "nor_conv_1x1", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")) == int("302123", 4)


def test_neighbours_are_exactly_one_edit_away_and_symmetric(space):
    table = space.neighbour_table
    assert table.shape == (space.size, 6 * (space.n_ops - 1))
    diffs = (space.codes[table] != space.codes[:, None, :]).sum(-1)
    assert (diffs == 1).all()
    assert len(np.unique(table[7])) == table.shape[1]
    for i in (0, 123, space.size - 1):
        for j in table[i]:
            assert i in table[j]


def test_neighbour_cap_samples_with_the_seed():
    s = NB201Space()
    a = s.neighbours(42, 10, np.random.default_rng(3))
    b = s.neighbours(42, 10, np.random.default_rng(3))
    assert np.array_equal(a, b) and len(a) == 10 and set(a) <= set(s.neighbours(42))
    assert len(s.neighbours(42, 50)) == 24  # fewer than the cap: all of them
    with pytest.raises(NasxferError, match="max_neighbours must be an integer >= 1"):
        s.neighbours(42, 0, np.random.default_rng(0))


def test_graph_is_the_ops_on_nodes_graph(space):
    for i in np.random.default_rng(0).integers(space.size, size=50):
        adj, labels = space.graph(i)
        n_ops = int((space.to_ops(i) != 0).sum())
        assert len(labels) == 6 + n_ops and labels[0] == "input" and labels[-1] == "output"
        assert labels.count("sum") == 4
        assert not np.tril(adj).any()  # topological order
        for k, lab in enumerate(labels):
            if lab not in ("input", "output", "sum"):
                assert adj[:, k].sum() == 1 and adj[k].sum() == 1  # one in-arc, one out-arc
                src, dst = np.flatnonzero(adj[:, k])[0], np.flatnonzero(adj[k])[0]
                assert labels[src] == labels[dst] == "sum"
        assert adj.sum() == 2 + 2 * n_ops


def test_encoding_places_the_graph_at_its_offset(space):
    pad, V = 16, len(NODE_VOCAB)
    i = space.size - 1  # every edge has an op: 12 nodes
    adj, labels = space.graph(i)
    for off in range(pad - MAX_NODES + 1):
        enc = space.encode([i], [off], pad)[0]
        a = enc[: pad * pad].reshape(pad, pad)
        lab = enc[pad * pad :].reshape(pad, V)
        n = len(labels)
        assert np.array_equal(a[off : off + n, off : off + n], adj) and a.sum() == adj.sum()
        assert [NODE_VOCAB[k] for k in lab[off : off + n].argmax(1)] == labels and lab.sum() == n


def test_random_offsets_are_seeded_and_in_range(space):
    cells = np.arange(0, space.size, 7)
    o1 = space.random_offsets(cells, 16, np.random.default_rng(1))
    o2 = space.random_offsets(cells, 16, np.random.default_rng(1))
    n = np.array([len(space.graph(c)[1]) for c in cells[:50]])
    assert np.array_equal(o1, o2) and o1.min() == 0
    assert (o1[:50] + n <= 16).all() and len(np.unique(o1)) > 1
    with pytest.raises(NasxferError, match="pad size 8 is smaller"):
        space.random_offsets(cells, 8, np.random.default_rng(1))


def test_both_spaces_share_one_encoding_vocabulary():
    t, n = TransNASMicroSpace(), NB201Space()
    cell = (3, 1, 0, 2, 2, 1)
    assert np.array_equal(t.encode([t.from_ops(cell)]), n.encode([n.from_ops(cell)]))


@pytest.mark.parametrize("bad", ["64-41414-3_02_12", "|nor_conv_3x3~0|+|none~1|", "x", ""])
def test_malformed_strings_are_refused(bad):
    for space in (TransNASMicroSpace(), NB201Space()):
        with pytest.raises(NasxferError, match="malformed"):
            space.from_string(bad)

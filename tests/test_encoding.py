"""What the agent sees of a cell: the ops-on-nodes graph and its padded one-hot encoding."""

import numpy as np
import pytest

from nasxfer.encoding import MAX_NODES, NODE_VOCAB, cell_graph, encode, random_offsets
from nasxfer.errors import NasxferError
from nasxfer.search_space import NB201Space, TransNASMicroSpace


@pytest.fixture(params=[TransNASMicroSpace, NB201Space], ids=["transnas", "nb201"])
def space(request):
    return request.param()


def test_graph_is_the_ops_on_nodes_graph(space):
    for i in np.random.default_rng(0).integers(space.size, size=50):
        adj, labels = cell_graph(space, i)
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
    adj, labels = cell_graph(space, i)
    for off in range(pad - MAX_NODES + 1):
        enc = encode(space, [i], [off], pad)[0]
        a = enc[: pad * pad].reshape(pad, pad)
        lab = enc[pad * pad :].reshape(pad, V)
        n = len(labels)
        assert np.array_equal(a[off : off + n, off : off + n], adj) and a.sum() == adj.sum()
        assert [NODE_VOCAB[k] for k in lab[off : off + n].argmax(1)] == labels and lab.sum() == n


def test_random_offsets_are_seeded_and_in_range(space):
    cells = np.arange(0, space.size, 7)
    o1 = random_offsets(space, cells, 16, np.random.default_rng(1))
    o2 = random_offsets(space, cells, 16, np.random.default_rng(1))
    n = np.array([len(cell_graph(space, c)[1]) for c in cells[:50]])
    assert np.array_equal(o1, o2) and o1.min() == 0
    assert (o1[:50] + n <= 16).all() and len(np.unique(o1)) > 1
    with pytest.raises(NasxferError, match="pad size 8 is smaller"):
        random_offsets(space, cells, 8, np.random.default_rng(1))


def test_both_spaces_share_one_encoding_vocabulary():
    t, n = TransNASMicroSpace(), NB201Space()
    cell = (3, 1, 0, 2, 2, 1)
    assert np.array_equal(encode(t, [t.from_ops(cell)]), encode(n, [n.from_ops(cell)]))

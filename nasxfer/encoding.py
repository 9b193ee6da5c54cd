"""What the agent sees of a cell: its ops-on-nodes graph, padded and one-hot encoded.

The graph is that of Cassimon et al. (2024): each edge with an op (``none`` is no
edge) becomes an op node between two summation nodes, plus an input and an
output node (6 to 12 nodes, topological order). Its adjacency matrix is placed
at a random offset along the diagonal of a ``pad x pad`` matrix, so the agent
cannot rely on absolute positions, and each node gets a one-hot label from one
vocabulary shared by both benchmarks, so an agent moves between them. A cell's
encoding is the flattened padded adjacency followed by the flattened labels:
``pad * pad + pad * len(NODE_VOCAB)`` floats (368 at ``pad=16``).

Encoding is a scatter of precomputed positions (:func:`encoding_parts`, one
table per space), so an env step encodes its ~20 candidates in one numpy call.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .errors import NasxferError, is_int
from .search_space import EDGES, KNOWN_OPS, N_EDGES, CellSpace

# Node labels of the ops-on-nodes graph: shared by every space so encodings match.
NODE_VOCAB = ("input", "output", "sum", *KNOWN_OPS)
MAX_NODES = 2 + 4 + N_EDGES  # input, output, 4 sums, one node per edge
MAX_ARCS = 2 + 2 * N_EDGES  # input->sum0, sum3->output, two arcs per op node
DEFAULT_PAD = 16


def cell_graph(space: CellSpace, idx) -> tuple[np.ndarray, list[str]]:
    """Adjacency matrix (topological order) and node labels of one cell's graph."""
    codes = space.to_ops(int(idx))
    nodes, arcs = ["input", "sum"], [(0, 1)]
    sum_node = {0: 1}
    for dst in (1, 2, 3):
        for e, (s, d) in enumerate(EDGES):
            if d == dst and codes[e] != 0:
                nodes.append(space.ops[codes[e]])
                arcs += [(sum_node[s], len(nodes) - 1), (len(nodes) - 1, None)]
        sum_node[dst] = len(nodes)
        nodes.append("sum")
        arcs = [(a, sum_node[dst] if b is None else b) for a, b in arcs]
    nodes.append("output")
    arcs.append((sum_node[3], len(nodes) - 1))
    adj = np.zeros((len(nodes), len(nodes)), dtype=np.uint8)
    for a, b in arcs:
        adj[a, b] = 1
    return adj, nodes


def encoding_size(pad: int = DEFAULT_PAD) -> int:
    return pad * pad + pad * len(NODE_VOCAB)


def check_pad(pad) -> int:
    if not is_int(pad, MAX_NODES):
        raise NasxferError(
            f"pad size {pad!r} is smaller than the largest cell graph ({MAX_NODES} nodes): use pad >= {MAX_NODES}"
        )
    return int(pad)


@cache
def encoding_parts(space: CellSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell of `space`: the flat positions of its ones at offset 0 (-1 = unused), for arcs
    (``row * MAX_NODES + col``) and labels (``node * len(NODE_VOCAB) + label``), and its node count.
    Cached per space object: the loop over all cells runs once per process (15,625 for NAS-Bench-201)."""
    arc_pos = np.full((space.size, MAX_ARCS), -1, dtype=np.int32)
    lab_pos = np.full((space.size, MAX_NODES), -1, dtype=np.int32)
    n_nodes = np.zeros(space.size, dtype=np.int32)
    vocab = {v: i for i, v in enumerate(NODE_VOCAB)}
    for i in range(space.size):
        adj, labels = cell_graph(space, i)
        r, c = np.nonzero(adj)
        arc_pos[i, : len(r)] = r * MAX_NODES + c  # re-based on the pad size in encode()
        lab_pos[i, : len(labels)] = np.arange(len(labels)) * len(NODE_VOCAB) + [vocab[lab] for lab in labels]
        n_nodes[i] = len(labels)
    return arc_pos, lab_pos, n_nodes


def random_offsets(space: CellSpace, idx, pad: int, rng: np.random.Generator) -> np.ndarray:
    """A uniform diagonal offset in ``0..pad - n_nodes`` for each cell."""
    pad = check_pad(pad)
    n = encoding_parts(space)[2][idx]
    return (rng.random(np.shape(idx)) * (pad - n + 1)).astype(np.int32)


def encode(space: CellSpace, idx, offsets=None, pad: int = DEFAULT_PAD) -> np.ndarray:
    """(K, encoding_size(pad)) float32: padded adjacency then one-hot labels, each cell at its offset."""
    idx = np.atleast_1d(space.check_index(idx))
    offsets = np.zeros(len(idx), np.int32) if offsets is None else np.asarray(offsets, np.int32)
    arc_pos, lab_pos, _ = encoding_parts(space)
    a = arc_pos[idx]
    r, c = a // MAX_NODES + offsets[:, None], a % MAX_NODES + offsets[:, None]
    arcs = np.where(a >= 0, r * pad + c, -1)
    lab = lab_pos[idx]
    labs = np.where(lab >= 0, pad * pad + lab + offsets[:, None] * len(NODE_VOCAB), -1)
    pos = np.concatenate([arcs, labs], axis=1)
    out = np.zeros((len(idx), encoding_size(pad)), dtype=np.float32)
    rows = np.broadcast_to(np.arange(len(idx))[:, None], pos.shape)
    keep = pos >= 0
    out[rows[keep], pos[keep]] = 1.0
    return out

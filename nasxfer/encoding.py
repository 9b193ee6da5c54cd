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

    A cell's graph shape depends only on which edges carry an op (64 patterns); its labels on
    which ops. So :func:`cell_graph` runs once per pattern and the ops are filled in per edge,
    over all cells at once (a loop over cells took ~2 s for NAS-Bench-201, in every process).
    Cached per space object."""
    vocab = {v: i for i, v in enumerate(NODE_VOCAB)}
    codes = space.codes
    pattern = (codes != 0).astype(np.int64) @ (1 << np.arange(N_EDGES))
    pat_arc = np.full((1 << N_EDGES, MAX_ARCS), -1, dtype=np.int32)
    pat_lab = np.full((1 << N_EDGES, MAX_NODES), -1, dtype=np.int32)
    pat_n = np.zeros(1 << N_EDGES, dtype=np.int32)
    op_node = np.full((1 << N_EDGES, N_EDGES), -1, dtype=np.int32)  # node of edge e's op, per pattern
    for pat in range(1 << N_EDGES):
        on = [(pat >> e) & 1 for e in range(N_EDGES)]
        adj, labels = cell_graph(space, space.from_ops(on))  # op code 1 on every edge that has an op
        r, c = np.nonzero(adj)
        pat_arc[pat, : len(r)] = r * MAX_NODES + c  # re-based on the pad size in encode()
        pat_lab[pat, : len(labels)] = np.arange(len(labels)) * len(NODE_VOCAB) + [vocab[lab] for lab in labels]
        pat_n[pat] = len(labels)
        # cell_graph adds op nodes per destination node, edges in order: the same walk here
        k = 2
        for dst in (1, 2, 3):
            for e, (_, d) in enumerate(EDGES):
                if d == dst and on[e]:
                    op_node[pat, e] = k
                    k += 1
            k += 1  # the sum node of dst
    lab_pos = pat_lab[pattern]
    op_label = np.array([vocab.get(o, -1) for o in space.ops], dtype=np.int32)  # "none" (-1) is never read
    rows = np.arange(space.size)
    for e in range(N_EDGES):
        has = codes[:, e] != 0
        node = op_node[pattern[has], e]
        lab_pos[rows[has], node] = node * len(NODE_VOCAB) + op_label[codes[has, e]]
    return pat_arc[pattern], lab_pos, pat_n[pattern]


# The shared vocabulary's space ("none" + every known op, 15,625 cells): every cell of either
# benchmark is one of its cells, with the same graph and encoding. Compact observations name
# candidates by their index here, so one table decodes every benchmark's observations and a
# network that reads them needs no knowledge of which benchmark it is on.
SHARED_SPACE = CellSpace(("none", *KNOWN_OPS))


@cache
def shared_index(space: CellSpace) -> np.ndarray:
    """(space.size,) int32: every cell of `space` as its index in :data:`SHARED_SPACE`."""
    to_shared = np.array([SHARED_SPACE.ops.index(o) for o in space.ops])
    return (to_shared[space.codes].astype(np.int64) @ SHARED_SPACE._place).astype(np.int32)


@cache
def shared_positions(pad: int = DEFAULT_PAD) -> tuple[np.ndarray, np.ndarray]:
    """The table that turns a compact observation back into :func:`encode`'s floats.

    Returns ``(base, step)``: ``base`` is (SHARED_SPACE.size, MAX_ARCS + MAX_NODES) int32, the
    flat positions of a shared cell's ones in its encoding at offset 0, unused entries set to
    ``encoding_size(pad)`` (one past the end, a column to drop); ``step`` (MAX_ARCS + MAX_NODES,)
    is how far each position moves per unit of diagonal offset (``pad + 1`` for an arc,
    ``len(NODE_VOCAB)`` for a label). At offset ``o`` the ones are at ``base + o * step``.
    """
    pad = check_pad(pad)
    arc_pos, lab_pos, _ = encoding_parts(SHARED_SPACE)
    dump = encoding_size(pad)
    arcs = np.where(arc_pos >= 0, (arc_pos // MAX_NODES) * pad + arc_pos % MAX_NODES, dump)
    labs = np.where(lab_pos >= 0, pad * pad + lab_pos, dump)
    base = np.concatenate([arcs, labs], axis=1).astype(np.int32)
    step = np.array([pad + 1] * MAX_ARCS + [len(NODE_VOCAB)] * MAX_NODES, dtype=np.int32)
    return base, step


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

"""The 4-node, 6-edge cell shared by TransNAS-Bench-101 (micro) and NAS-Bench-201.

A cell has nodes 0..3; node 0 is the input, node 3 the output, and each of the
six edges carries one op::

    node1 = a(node0)
    node2 = b(node0) + c(node1)
    node3 = d(node0) + e(node1) + f(node2)

A cell is addressed three ways: an index (``int("abcdef", base=n_ops)``, the
order of both benchmarks' tables), an op tuple ``(a, b, c, d, e, f)`` of op
codes, and the benchmark's own string. All lookups accept numpy arrays.

The agent sees a cell as the *ops-on-nodes* graph of Cassimon et al. (2024):
each edge with an op (``none`` is no edge) becomes an op node between two
summation nodes, plus an input and an output node. Its adjacency matrix is
placed at a random offset along the diagonal of a fixed-size matrix, so the
agent cannot rely on absolute positions, and each node gets a one-hot label
from a vocabulary shared by both benchmarks (so an agent transfers between
them).
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from .errors import NasxferError

EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
N_EDGES = len(EDGES)

# Node labels of the ops-on-nodes graph: shared by every space so encodings match.
NODE_VOCAB = ("input", "output", "sum", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
MAX_NODES = 2 + 4 + N_EDGES  # input, output, 4 sums, one node per edge
MAX_ARCS = 2 + 2 * N_EDGES  # input->sum0, sum3->output, two arcs per op node
DEFAULT_PAD = 16
DEFAULT_MAX_NEIGHBOURS = 50


class CellSpace:
    """All cells over an op vocabulary ``ops`` (index 0 must be ``none``)."""

    name = "cell"

    def __init__(self, ops: tuple[str, ...]):
        if ops[0] != "none" or any(o not in NODE_VOCAB for o in ops[1:]):
            raise NasxferError(f"ops must be 'none' followed by ops from {NODE_VOCAB[3:]}, got {ops}")
        self.ops = tuple(ops)
        self.n_ops = len(ops)
        self.size = self.n_ops**N_EDGES
        self._place = self.n_ops ** np.arange(N_EDGES - 1, -1, -1)  # edge a is the leading digit
        self.n_neighbours = N_EDGES * (self.n_ops - 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ops={self.ops}, size={self.size})"

    # ---- index <-> op tuple <-> string -------------------------------------------------
    def check_index(self, idx):
        arr = np.asarray(idx)
        if not np.issubdtype(arr.dtype, np.integer):
            raise NasxferError(f"cell indices must be integers, got {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.size):
            bad = arr[(arr < 0) | (arr >= self.size)].ravel()[0]
            raise NasxferError(
                f"cell index {bad} is out of range for {self.name}: use 0..{self.size - 1}"
            )
        return arr

    @cached_property
    def codes(self) -> np.ndarray:
        """(size, 6) op codes of every cell, row = index."""
        idx = np.arange(self.size)
        return ((idx[:, None] // self._place) % self.n_ops).astype(np.int8)

    def to_ops(self, idx) -> np.ndarray:
        return self.codes[self.check_index(idx)]

    def from_ops(self, ops) -> np.ndarray | int:
        arr = np.asarray(ops)
        if arr.dtype.kind in "US":
            lookup = {o: i for i, o in enumerate(self.ops)}
            try:
                arr = np.vectorize(lookup.__getitem__, otypes=[np.int64])(arr)
            except KeyError as e:
                raise NasxferError(f"unknown op {e.args[0]!r} in {ops!r}; ops are {self.ops}") from None
        if arr.shape[-1:] != (N_EDGES,):
            raise NasxferError(f"an op tuple has {N_EDGES} entries (edges a..f), got shape {arr.shape}")
        if arr.min() < 0 or arr.max() >= self.n_ops:
            raise NasxferError(f"op codes must lie in 0..{self.n_ops - 1} for {self.name}, got {ops!r}")
        out = arr.astype(np.int64) @ self._place
        return int(out) if out.ndim == 0 else out

    def index(self, cell) -> int:
        """Index of a cell given as an index, an op tuple, or the benchmark string."""
        if isinstance(cell, str):
            return self.from_string(cell)
        if isinstance(cell, (tuple, list, np.ndarray)) and np.ndim(cell) == 1:
            return self.from_ops(cell)
        return int(self.check_index(cell))

    def to_string(self, idx) -> str:
        raise NotImplementedError

    def from_string(self, s: str) -> int:
        raise NotImplementedError

    # ---- neighbours -----------------------------------------------------------------
    @cached_property
    def neighbour_table(self) -> np.ndarray:
        """(size, n_neighbours) every cell one edit away (one edge's op changed), sorted."""
        codes = self.codes.astype(np.int64)
        idx = np.arange(self.size)
        cols = []
        for e in range(N_EDGES):
            for shift in range(1, self.n_ops):
                new = (codes[:, e] + shift) % self.n_ops
                cols.append(idx + (new - codes[:, e]) * self._place[e])
        return np.sort(np.stack(cols, axis=1), axis=1)

    def neighbours(self, idx, max_neighbours: int | None = None, rng: np.random.Generator | None = None):
        """Cells one edit from `idx`; at most `max_neighbours`, sampled with `rng` if more."""
        nb = self.neighbour_table[self.check_index(idx)]
        if max_neighbours is None or max_neighbours >= nb.shape[-1]:
            return nb
        check_max_neighbours(max_neighbours)
        if rng is None:
            raise NasxferError("sampling neighbours needs a seeded rng: pass rng=np.random.default_rng(seed)")
        return np.sort(rng.choice(nb, size=max_neighbours, replace=False))

    # ---- ops-on-nodes graph and the agent's encoding -----------------------------------
    def graph(self, idx) -> tuple[np.ndarray, list[str]]:
        """Adjacency matrix (topological order) and node labels of one cell's graph."""
        codes = self.to_ops(int(idx))
        nodes, arcs = ["input", "sum"], [(0, 1)]
        sum_node = {0: 1}
        for dst in (1, 2, 3):
            for e, (s, d) in enumerate(EDGES):
                if d == dst and codes[e] != 0:
                    nodes.append(self.ops[codes[e]])
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

    def encoding_size(self, pad: int = DEFAULT_PAD) -> int:
        return pad * pad + pad * len(NODE_VOCAB)

    @cached_property
    def _encoding_parts(self):
        """Per cell, the flat positions of its ones at offset 0 (-1 = unused) and its node count."""
        arc_pos = np.full((self.size, MAX_ARCS), -1, dtype=np.int32)
        lab_pos = np.full((self.size, MAX_NODES), -1, dtype=np.int32)
        n_nodes = np.zeros(self.size, dtype=np.int32)
        vocab = {v: i for i, v in enumerate(NODE_VOCAB)}
        for i in range(self.size):
            adj, labels = self.graph(i)
            r, c = np.nonzero(adj)
            arc_pos[i, : len(r)] = r * MAX_NODES + c  # re-based on the pad size in encode()
            lab_pos[i, : len(labels)] = np.arange(len(labels)) * len(NODE_VOCAB) + [vocab[l] for l in labels]
            n_nodes[i] = len(labels)
        return arc_pos, lab_pos, n_nodes

    def random_offsets(self, idx, pad: int, rng: np.random.Generator) -> np.ndarray:
        """A uniform offset in 0..pad-n_nodes for each cell."""
        n = self._encoding_parts[2][idx]
        if pad < MAX_NODES:
            raise NasxferError(f"pad size {pad} is smaller than the largest cell graph ({MAX_NODES} nodes)")
        return (rng.random(np.shape(idx)) * (pad - n + 1)).astype(np.int32)

    def encode(self, idx, offsets=None, pad: int = DEFAULT_PAD) -> np.ndarray:
        """(K, pad*pad + pad*len(NODE_VOCAB)) float32: padded adjacency then one-hot labels."""
        idx = np.atleast_1d(self.check_index(idx))
        offsets = np.zeros(len(idx), np.int32) if offsets is None else np.asarray(offsets, np.int32)
        arc_pos, lab_pos, _ = self._encoding_parts
        a = arc_pos[idx]
        r, c = a // MAX_NODES + offsets[:, None], a % MAX_NODES + offsets[:, None]
        arcs = np.where(a >= 0, r * pad + c, -1)
        lab = lab_pos[idx]
        labs = np.where(lab >= 0, pad * pad + lab + offsets[:, None] * len(NODE_VOCAB), -1)
        pos = np.concatenate([arcs, labs], axis=1)
        out = np.zeros((len(idx), self.encoding_size(pad)), dtype=np.float32)
        rows = np.broadcast_to(np.arange(len(idx))[:, None], pos.shape)
        keep = pos >= 0
        out[rows[keep], pos[keep]] = 1.0
        return out


def check_max_neighbours(n) -> int:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise NasxferError(f"max_neighbours must be an integer >= 1, got {n!r}")
    return int(n)


class TransNASMicroSpace(CellSpace):
    """TransNAS-Bench-101 micro cells: strings like ``64-41414-3_02_123``."""

    name = "transnas-bench-101"
    _RE = re.compile(r"^64-41414-([0-3])_([0-3]{2})_([0-3]{3})$")

    def __init__(self):
        super().__init__(("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"))

    def to_string(self, idx) -> str:
        a, b, c, d, e, f = self.to_ops(int(idx))
        return f"64-41414-{a}_{b}{c}_{d}{e}{f}"

    def from_string(self, s: str) -> int:
        m = self._RE.match(s)
        if not m:
            raise NasxferError(
                f"malformed TransNAS-Bench-101 micro cell {s!r}: expected '64-41414-a_bc_def' "
                f"with op codes 0-3, e.g. '64-41414-3_02_123'"
            )
        return int("".join(m.groups()), 4)


class NB201Space(CellSpace):
    """NAS-Bench-201 cells: strings like ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``."""

    name = "nas-bench-201"

    def __init__(self):
        super().__init__(("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))

    def to_string(self, idx) -> str:
        ops = [self.ops[c] for c in self.to_ops(int(idx))]
        return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)

    def from_string(self, s: str) -> int:
        parts = s.strip("|").replace("|+|", "|").split("|")
        expected = ["0", "0", "1", "0", "1", "2"]
        try:
            ops, srcs = zip(*(p.split("~") for p in parts))
        except ValueError:
            ops, srcs = (), ()
        if list(srcs) != expected or any(o not in self.ops for o in ops):
            raise NasxferError(
                f"malformed NAS-Bench-201 cell {s!r}: expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' "
                f"with ops from {self.ops}"
            )
        return self.from_ops(ops)

"""The 4-node, 6-edge cell shared by TransNAS-Bench-101 (micro) and NAS-Bench-201.

A cell has nodes 0..3; node 0 is the input, node 3 the output, and each of the
six edges carries one op::

    node1 = a(node0)
    node2 = b(node0) + c(node1)
    node3 = d(node0) + e(node1) + f(node2)

A cell is addressed three ways: an index (``int("abcdef", base=n_ops)``, the
order of both benchmarks' tables), an op tuple ``(a, b, c, d, e, f)`` of op
codes, and the benchmark's own string. All lookups accept numpy arrays.

What the agent sees of a cell (its graph encoding) lives in :mod:`nasxfer.encoding`.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from .errors import NasxferError, check_int

EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
N_EDGES = len(EDGES)

# Every op either benchmark puts on an edge (besides "none", op code 0).
KNOWN_OPS = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
DEFAULT_MAX_NEIGHBOURS = 50


class CellSpace:
    """All cells over an op vocabulary ``ops`` (index 0 must be ``none``)."""

    name = "cell"

    def __init__(self, ops: tuple[str, ...]):
        if ops[0] != "none" or any(o not in KNOWN_OPS for o in ops[1:]):
            raise NasxferError(f"ops must be 'none' followed by ops from {KNOWN_OPS}, got {ops}")
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
            raise NasxferError(f"cell index {bad} is out of range for {self.name}: use 0..{self.size - 1}")
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


def check_max_neighbours(n) -> int:
    return check_int(n, "max_neighbours", 1)


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

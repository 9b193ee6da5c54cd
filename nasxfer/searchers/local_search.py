"""Local search: best-improvement hill climbing with random restarts (White et al., 2021)."""

from __future__ import annotations

import numpy as np

from .base import LoopSearcher


class LocalSearch(LoopSearcher):
    """Best-improvement hill climbing; restarts from a random cell at each local optimum.

    A step queries the whole one-edit neighbourhood (in random order, so a budget that runs
    out part-way does not favour low cell indices) and moves to the best neighbour if it is
    strictly better. Each local optimum found is appended to ``optima``.
    """

    name = "local"

    def __init__(self, space, rng: np.random.Generator, budget: int | None = None, optima: list | None = None):
        self.space, self.rng = space, rng
        self.optima = [] if optima is None else optima

    def loop(self):
        table = self.space.neighbour_table
        while True:
            cell = int(self.rng.integers(self.space.size))
            value = yield cell
            while True:
                nbs = self.rng.permutation(table[cell])
                vals = []
                for nb in nbs:
                    vals.append((yield nb))
                best = int(np.argmax(vals))
                if vals[best] <= value:
                    break
                cell, value = int(nbs[best]), float(vals[best])
            self.optima.append(cell)

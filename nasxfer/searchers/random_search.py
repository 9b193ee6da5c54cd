"""Random search: uniform, without replacement."""

from __future__ import annotations

import numpy as np

from .base import LoopSearcher


class RandomSearch(LoopSearcher):
    """Query cells in a uniformly random order, never the same cell twice."""

    name = "random"

    def __init__(self, space, rng: np.random.Generator, budget: int | None = None):
        self.space, self.rng = space, rng

    def loop(self):
        # not `yield from`: tell() sends each value in, which a plain array iterator cannot take
        for cell in self.rng.permutation(self.space.size):  # noqa: UP028
            yield cell

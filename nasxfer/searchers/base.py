"""The protocol every searcher speaks, and the one loop that drives it against an oracle.

A searcher proposes a cell (:meth:`Searcher.ask`) and is told that cell's validation metric
(:meth:`Searcher.tell`); it never sees the benchmark, the oracle or its budget accounting.
:func:`drive` is the only code between a searcher and a :class:`~nasxfer.oracle.QueryOracle`:
it asks, queries, tells, until the oracle's budget of unique cells is spent. A cell asked for
again costs nothing (the oracle caches it) but is still told, as a real search would read
its cache. So the harness, its statistics and its notebooks know nothing of any one method,
and every method is charged the same way.

Most searchers are easiest to write as a loop; :class:`LoopSearcher` turns a generator
``value = yield cell`` into ask/tell, so the loop reads as the algorithm's pseudocode.
"""

from __future__ import annotations

from collections.abc import Generator

from ..errors import NasxferError
from ..oracle import QueryOracle


class Searcher:
    """Proposes cells one at a time and learns from their validation metric.

    ``budget_aware`` searchers are configured from their budget (given to the constructor), so
    a run is read only at that budget; the others never look at it, and one run to the largest
    budget is an anytime curve read at every smaller one.
    """

    name = "searcher"
    budget_aware = False

    def ask(self) -> int:
        """The next cell to query."""
        raise NotImplementedError

    def tell(self, cell: int, value: float) -> None:
        """The validation metric of `cell`, the cell :meth:`ask` last returned."""
        raise NotImplementedError


class LoopSearcher(Searcher):
    """A searcher written as one loop: :meth:`loop` yields a cell and receives its value."""

    def loop(self) -> Generator[int, float, None]:
        raise NotImplementedError

    def ask(self) -> int:
        if not hasattr(self, "_gen"):
            self._gen = self.loop()
            self._pending = self._advance(None)
        if self._pending is None:  # the loop ended (e.g. random search has proposed every cell)
            raise NasxferError(f"{self.name} has no cell left to propose")
        return self._pending

    def tell(self, cell: int, value: float) -> None:
        if int(cell) != self.ask():
            raise NasxferError(f"{self.name} was told about cell {cell} but asked for {self._pending}")
        self._pending = self._advance(float(value))

    def _advance(self, value) -> int | None:
        try:
            return int(self._gen.send(value))
        except StopIteration:
            return None


def drive(searcher: Searcher, oracle: QueryOracle) -> QueryOracle:
    """Ask, query, tell until `oracle`'s budget is spent; returns the spent oracle."""
    while not oracle.done:
        cell = searcher.ask()
        searcher.tell(cell, oracle.query(cell))
    return oracle

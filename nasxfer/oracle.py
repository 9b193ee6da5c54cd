"""The one door through which a searcher sees the benchmark.

A :class:`QueryOracle` returns the *validation* metric of a cell and counts the
unique cells queried; asking again for a cell already seen is free, as it is in
a real search where the result is cached. When the budget is spent the next
query raises :class:`BudgetExhausted`, which the search driver catches, so a
searcher is a plain loop that never has to check the budget itself.

The oracle also keeps, after every new cell, which cell is best by validation.
Because none of our searchers looks at its budget when deciding what to query,
one run up to the largest budget gives the result at every smaller budget too:
:meth:`QueryOracle.best_at` reads the best-by-validation cell after the first
``b`` unique queries, and only then is the test metric read, to report.
"""

from __future__ import annotations

import numpy as np

from .benchmark import Benchmark
from .errors import NasxferError, is_int

# A searcher that keeps re-asking for known cells this many times in a row has
# stopped exploring; failing loudly beats spinning forever.
MAX_REPEATS = 100_000


class BudgetExhausted(Exception):
    """The oracle's budget of unique cells is spent (control flow, not an error)."""


def check_budget(budget, space_size: int) -> int:
    """A budget of unique cells must be an integer in 1..space_size."""
    if not is_int(budget):
        raise NasxferError(f"a query budget must be an integer number of cells, got {budget!r}")
    if not 1 <= budget <= space_size:
        raise NasxferError(
            f"query budget {budget} is outside 1..{space_size} (the number of cells in the space): "
            f"pick a budget in that range"
        )
    return int(budget)


class QueryOracle:
    """Validation-metric lookups for one task, with a budget of unique cells.

    Args:
        bench: a loaded benchmark.
        task: one of its tasks (unknown names raise with the list of tasks).
        budget: how many unique cells may be queried (1..space size).
    """

    def __init__(self, bench: Benchmark, task: str, budget: int):
        table = bench.table(task)
        self.bench, self.task, self.space = bench, task, bench.space
        self.budget = check_budget(budget, bench.space.size)
        self._valid, self._test = table.valid, table.test
        self._seen: dict[int, float] = {}
        self.cells: list[int] = []  # unique cells in the order they were first queried
        self._best_after: list[int] = []  # best-by-validation cell after each new cell
        self._repeats = 0  # consecutive queries of known cells
        self.n_calls = 0  # all queries, repeats included

    def __repr__(self) -> str:
        return f"QueryOracle({self.task!r}, {self.n_unique}/{self.budget} cells queried)"

    @property
    def n_unique(self) -> int:
        return len(self.cells)

    @property
    def done(self) -> bool:
        return self.n_unique >= self.budget

    def seen(self, cell: int) -> bool:
        return int(cell) in self._seen

    def query(self, cell) -> float:
        """Validation metric of `cell`; a new cell spends one unit of budget."""
        cell = int(cell)
        if self.done:
            raise BudgetExhausted
        self.n_calls += 1
        if cell in self._seen:
            self._repeats += 1
            if self._repeats > MAX_REPEATS:
                raise NasxferError(
                    f"the searcher asked for {MAX_REPEATS} known cells in a row without a new one "
                    f"({self.n_unique}/{self.budget} queried): it has stopped exploring; "
                    f"use a smaller budget or a searcher that restarts"
                )
            return self._seen[cell]
        value = float(self._valid[self.space.check_index(cell)])
        self._repeats = 0
        self._seen[cell] = value
        self.cells.append(cell)
        best = self._best_after[-1] if self._best_after else cell
        self._best_after.append(cell if value > self._seen[best] else best)
        return value

    def query_many(self, cells) -> np.ndarray:
        """Query `cells` in order; raises BudgetExhausted part-way if the budget runs out."""
        return np.array([self.query(c) for c in cells])

    # ---- reporting: the only place the test metric is read ------------------------------
    def best_at(self, budget: int) -> tuple[int, float, float]:
        """(cell, valid, test) of the best-by-validation cell among the first `budget` new cells."""
        if not 1 <= budget <= self.n_unique:
            raise NasxferError(
                f"only {self.n_unique} cells were queried, so there is no best at budget {budget}: "
                f"ask for a budget in 1..{self.n_unique}"
            )
        cell = self._best_after[budget - 1]
        return cell, float(self._valid[cell]), float(self._test[cell])

    def first_top(self, share: float) -> float:
        """Unique queries until the first cell among the best `share` of the space by validation
        (the best ``ceil(share * size)`` cells, ties at the edge included); NaN if none was queried."""
        k = max(1, int(np.ceil(share * self.space.size)))
        edge = np.partition(self._valid, self.space.size - k)[self.space.size - k]
        hits = np.flatnonzero(self._valid[self.cells] >= edge)
        return float(hits[0] + 1) if len(hits) else float("nan")

    def anytime(self, budgets) -> list[dict]:
        """Rows ``{budget, best_cell, best_valid, best_test}`` at each checkpoint budget."""
        rows = []
        for b in budgets:
            cell, valid, test = self.best_at(int(b))
            rows.append({"budget": int(b), "best_cell": cell, "best_valid": valid, "best_test": test})
        return rows

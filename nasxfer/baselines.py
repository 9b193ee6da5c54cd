"""Search baselines over a cell space, each seeing the benchmark only through a
:class:`~nasxfer.oracle.QueryOracle`.

A searcher is ``searcher(oracle, rng, **hparams)``: a loop that queries cells
until the oracle raises :class:`~nasxfer.oracle.BudgetExhausted`. Random, local
search and REINFORCE never look at the budget, so one run to the largest budget
is an anytime curve (see :func:`run_search`). Regularized evolution is configured
for its budget (:func:`evolution_config`), so it runs once per budget
(:data:`BUDGET_AWARE`). All randomness comes from the ``rng`` passed in.

* :func:`random_search` -- uniform without replacement.
* :func:`local_search` -- best-improvement hill climbing over the one-edit
  neighbourhood, random restart at a local optimum (White et al., 2021).
* :func:`regularized_evolution` -- aging evolution (Real et al., 2019).
* :func:`reinforce` -- a factorised softmax controller over the six edges trained
  with REINFORCE, a moving-average baseline and an entropy bonus (the classic
  RL-NAS baseline, as in NAS-Bench-201), optionally with priority-queue training.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .benchmark import Benchmark
from .errors import unknown
from .oracle import BudgetExhausted, QueryOracle
from .search_space import N_EDGES


def random_search(oracle: QueryOracle, rng: np.random.Generator) -> None:
    """Query cells in a uniformly random order, never the same cell twice."""
    for cell in rng.permutation(oracle.space.size):
        oracle.query(cell)


def local_search(oracle: QueryOracle, rng: np.random.Generator, optima: list | None = None) -> None:
    """Best-improvement hill climbing; restarts from a random cell at each local optimum.

    A step queries the whole one-edit neighbourhood (in random order, so a budget
    that runs out part-way does not favour low cell indices) and moves to the best
    neighbour if it is strictly better. Each local optimum found is appended to
    `optima` so tests and notebooks can inspect them.
    """
    table = oracle.space.neighbour_table
    while True:
        cell = int(rng.integers(oracle.space.size))
        value = oracle.query(cell)
        while True:
            nbs = rng.permutation(table[cell])
            vals = oracle.query_many(nbs)
            best = int(np.argmax(vals))
            if vals[best] <= value:
                break
            cell, value = int(nbs[best]), float(vals[best])
        if optima is not None:
            optima.append(cell)


def mutate(space, cell: int, rng: np.random.Generator) -> int:
    """One-edit mutation: one edge, chosen uniformly, gets a different op, chosen uniformly."""
    return int(rng.choice(space.neighbour_table[cell]))


def evolution_config(budget: int) -> dict:
    """Regularized evolution's population and tournament for a budget of `budget` queries.

    ``population = clip(round(budget / 5), 10, 100)``, ``sample = max(3, population // 4)``.
    Why: the first `population` queries are random search, so a population of 100 (Real et
    al.'s at tens of thousands of models) leaves nothing evolved below 100 queries; a fifth of
    the budget leaves four fifths to evolve. The rule meets both reference points:
    NAS-Bench-201's 10 / 3 for budgets up to 50-ish, Real et al.'s 100 / 25 from 500 queries on.
    The tournament is a quarter of the population, as in Real et al. (25 of 100), and at least
    NAS-Bench-201's 3. At budget 10 the population is the whole budget: evolution is random
    search there, and no population can change that.
    """
    population = int(np.clip(round(budget / 5), 10, 100))
    return {"population_size": population, "sample_size": max(3, population // 4)}


EVOLUTION_RULE = "population_size = clip(round(budget / 5), 10, 100), sample_size = max(3, population_size // 4)"


def regularized_evolution(
    oracle: QueryOracle,
    rng: np.random.Generator,
    population_size: int | None = None,
    sample_size: int | None = None,
) -> None:
    """Aging evolution: tournament of `sample_size`, mutate the winner, drop the oldest.

    The first `population_size` members are uniform random cells. A child that
    was already queried costs nothing but still joins the population, as in the
    original algorithm, where the population is a queue of evaluations.
    Unset sizes follow :func:`evolution_config` of the oracle's budget: the one
    searcher here that reads its budget, so its runs are not anytime curves.
    """
    rule = evolution_config(oracle.budget)
    population_size = rule["population_size"] if population_size is None else population_size
    sample_size = rule["sample_size"] if sample_size is None else sample_size
    space = oracle.space
    population: deque[tuple[int, float]] = deque()
    while len(population) < population_size:
        cell = int(rng.integers(space.size))
        population.append((cell, oracle.query(cell)))
    while True:
        picks = rng.integers(len(population), size=sample_size)
        parent = max((population[i] for i in picks), key=lambda cv: cv[1])[0]
        child = mutate(space, parent, rng)
        population.append((child, oracle.query(child)))
        population.popleft()


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def reinforce(
    oracle: QueryOracle,
    rng: np.random.Generator,
    lr: float = 0.1,
    baseline_decay: float = 0.9,
    entropy_coef: float = 0.01,
    priority_queue: int = 0,
    pq_coef: float = 1.0,
    patience: int = 100,
) -> None:
    """REINFORCE over independent per-edge softmaxes (logits of shape 6 x n_ops).

    The reward is the validation metric standardised by the spread of the values
    seen so far, so one learning rate works for top-1 in percent and SSIM in
    [0, 1] alike. With ``priority_queue=k > 0`` the controller also maximises the
    likelihood of the k best cells found so far (priority-queue training,
    Abolafia et al., 2018), weighted by `pq_coef`. When `patience` samples in a
    row are all known cells the policy has collapsed; the logits are reset,
    the controller's analogue of a random restart.
    """
    space = oracle.space
    logits = np.zeros((N_EDGES, space.n_ops))
    eye = np.eye(space.n_ops)
    place = space.n_ops ** np.arange(N_EDGES - 1, -1, -1)  # the index order of the tables
    baseline, values, stale, queue = None, [], 0, {}
    while True:
        probs = _softmax(logits)
        ops = (probs.cumsum(axis=1) < rng.random((N_EDGES, 1))).sum(axis=1).clip(max=space.n_ops - 1)
        cell = int(ops @ place)
        is_new = not oracle.seen(cell)
        reward = oracle.query(cell)
        if is_new:
            values.append(reward)
            stale = 0
        else:
            stale += 1
        baseline = reward if baseline is None else baseline_decay * baseline + (1 - baseline_decay) * reward
        scale = np.std(values) if len(values) > 1 and np.std(values) > 0 else 1.0
        advantage = (reward - baseline) / scale
        grad = advantage * (eye[ops] - probs)
        entropy = -(probs * np.log(probs + 1e-12)).sum(axis=1, keepdims=True)
        grad += entropy_coef * -probs * (np.log(probs + 1e-12) + entropy)
        if priority_queue:
            queue[cell] = reward
            if len(queue) > priority_queue:
                del queue[min(queue, key=queue.get)]
            best_ops = space.codes[list(queue)]
            grad += pq_coef * (eye[best_ops].mean(axis=0) - probs)
        logits += lr * grad
        if stale >= patience:
            logits[:] = 0.0
            stale = 0


SEARCHERS = {
    "random": random_search,
    "local": local_search,
    "evolution": regularized_evolution,
    "reinforce": reinforce,
}
# searchers configured from their budget: one run per budget, read only at that budget
BUDGET_AWARE = frozenset({"evolution"})


def get_searcher(name: str):
    if name not in SEARCHERS:
        raise unknown("searcher", name, SEARCHERS)
    return SEARCHERS[name]


def run_search(searcher, bench: Benchmark, task: str, budget: int, seed: int, **hparams) -> QueryOracle:
    """Run `searcher` (a name from SEARCHERS or a function) until `budget` unique cells were queried.

    Returns the spent oracle: ``oracle.best_at(b)`` is the result at any budget
    ``b <= budget`` for a searcher that never looks at its budget; for one in
    :data:`BUDGET_AWARE` only ``best_at(budget)`` is the searcher configured for it.
    """
    fn = get_searcher(searcher) if isinstance(searcher, str) else searcher
    oracle = QueryOracle(bench, task, budget)
    try:
        fn(oracle, np.random.default_rng(seed), **hparams)
    except BudgetExhausted:
        pass
    return oracle

"""Every searcher behind one ask/tell protocol (:mod:`.base`), one module each.

* :class:`RandomSearch` -- uniform without replacement.
* :class:`LocalSearch` -- best-improvement hill climbing over the one-edit neighbourhood,
  random restart at a local optimum (White et al., 2021).
* :class:`RegularizedEvolution` -- aging evolution (Real et al., 2019), configured for its budget.
* :class:`Reinforce` -- a factorised softmax controller trained with REINFORCE (as in NAS-Bench-201).
* :class:`AgentSearcher` -- a trained DQN agent's greedy policy (:mod:`nasxfer.search_agents`).
* :class:`~.catch.CatchSearcher` -- CATCH, context-based meta-RL (:mod:`.catch`), with
  :func:`~.catch.meta_train`; not among :data:`SEARCHERS`, which need no training.

:data:`SEARCHERS` names the baselines; :func:`run_search` runs one for a seed and a budget and
returns the spent oracle. Each takes ``(space, rng, budget, **hyperparameters)``; all
randomness comes from the ``rng`` passed in.
"""

from __future__ import annotations

import numpy as np

from ..errors import unknown
from ..oracle import QueryOracle
from .agent import AgentSearcher
from .base import LoopSearcher, Searcher, drive
from .catch import CatchParams, CatchSearcher, meta_train
from .evolution import EVOLUTION_RULE, RegularizedEvolution, evolution_config, mutate
from .local_search import LocalSearch
from .random_search import RandomSearch
from .reinforce import Reinforce

SEARCHERS = {s.name: s for s in (RandomSearch, LocalSearch, RegularizedEvolution, Reinforce)}
# configured from their budget: one run per budget, read only at that budget
BUDGET_AWARE = frozenset(name for name, s in SEARCHERS.items() if s.budget_aware)

__all__ = [
    "BUDGET_AWARE",
    "EVOLUTION_RULE",
    "SEARCHERS",
    "AgentSearcher",
    "CatchParams",
    "CatchSearcher",
    "LocalSearch",
    "LoopSearcher",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "Searcher",
    "drive",
    "evolution_config",
    "get_searcher",
    "meta_train",
    "mutate",
    "run_search",
]


def get_searcher(name: str) -> type[Searcher]:
    if name not in SEARCHERS:
        raise unknown("searcher", name, SEARCHERS)
    return SEARCHERS[name]


def run_search(searcher, bench, task: str, budget: int, seed: int, **hparams) -> QueryOracle:
    """Run `searcher` (a name from :data:`SEARCHERS` or a :class:`Searcher` class) on `task`
    until `budget` unique cells were queried, with ``np.random.default_rng(seed)``.

    Returns the spent oracle: ``oracle.best_at(b)`` is the result at any budget ``b <= budget``
    for a searcher that never looks at its budget; for one in :data:`BUDGET_AWARE` only
    ``best_at(budget)`` is the searcher configured for it.
    """
    cls = get_searcher(searcher) if isinstance(searcher, str) else searcher
    oracle = QueryOracle(bench, task, budget)
    return drive(cls(bench.space, np.random.default_rng(seed), oracle.budget, **hparams), oracle)

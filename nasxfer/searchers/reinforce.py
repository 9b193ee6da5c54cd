"""REINFORCE over a factorised softmax controller: the classic RL-NAS baseline (as in NAS-Bench-201)."""

from __future__ import annotations

import numpy as np

from ..search_space import N_EDGES
from .base import LoopSearcher


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class Reinforce(LoopSearcher):
    """REINFORCE over independent per-edge softmaxes (logits of shape 6 x n_ops).

    The reward is the validation metric standardised by the spread of the values seen so
    far, so one learning rate works for top-1 in percent and SSIM in [0, 1] alike. With
    ``priority_queue=k > 0`` the controller also maximises the likelihood of the k best cells
    found so far (priority-queue training, Abolafia et al., 2018), weighted by `pq_coef`. When
    `patience` samples in a row are all known cells the policy has collapsed; the logits are
    reset, the controller's analogue of a random restart.
    """

    name = "reinforce"

    def __init__(
        self,
        space,
        rng: np.random.Generator,
        budget: int | None = None,
        lr: float = 0.1,
        baseline_decay: float = 0.9,
        entropy_coef: float = 0.01,
        priority_queue: int = 0,
        pq_coef: float = 1.0,
        patience: int = 100,
    ):
        self.space, self.rng = space, rng
        self.lr, self.baseline_decay, self.entropy_coef = lr, baseline_decay, entropy_coef
        self.priority_queue, self.pq_coef, self.patience = priority_queue, pq_coef, patience

    def loop(self):
        space, rng = self.space, self.rng
        logits = np.zeros((N_EDGES, space.n_ops))
        eye = np.eye(space.n_ops)
        place = space.n_ops ** np.arange(N_EDGES - 1, -1, -1)  # the index order of the tables
        baseline, values, stale, queue, seen = None, [], 0, {}, set()
        while True:
            probs = _softmax(logits)
            ops = (probs.cumsum(axis=1) < rng.random((N_EDGES, 1))).sum(axis=1).clip(max=space.n_ops - 1)
            cell = int(ops @ place)
            is_new = cell not in seen
            reward = yield cell
            seen.add(cell)
            if is_new:
                values.append(reward)
                stale = 0
            else:
                stale += 1
            baseline = (
                reward if baseline is None else self.baseline_decay * baseline + (1 - self.baseline_decay) * reward
            )
            scale = np.std(values) if len(values) > 1 and np.std(values) > 0 else 1.0
            advantage = (reward - baseline) / scale
            grad = advantage * (eye[ops] - probs)
            entropy = -(probs * np.log(probs + 1e-12)).sum(axis=1, keepdims=True)
            grad += self.entropy_coef * -probs * (np.log(probs + 1e-12) + entropy)
            if self.priority_queue:
                queue[cell] = reward
                if len(queue) > self.priority_queue:
                    del queue[min(queue, key=queue.get)]
                best_ops = space.codes[list(queue)]
                grad += self.pq_coef * (eye[best_ops].mean(axis=0) - probs)
            logits += self.lr * grad
            if stale >= self.patience:
                logits[:] = 0.0
                stale = 0

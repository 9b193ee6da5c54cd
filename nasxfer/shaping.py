"""Reward shaping: metric -> [0, 1] -> a transform that spreads the rewards.

Normalisation (a documented choice, see README "Design choices"):

* metrics with a natural [0, 1] scale keep it: accuracy, top-1, mIoU and pixel
  accuracy are percentages (divided by 100), SSIM is used as is (clipped at 0);
* unbounded metrics (room_layout's negative L2 loss) are min-max scaled over
  all cells of the benchmark.

Keeping the natural scale is what makes the paper's point visible: mIoU sits
low (0.05-0.26), so its rewards bunch near 0 and a gamma < 1 spreads them.

Transforms:

* gamma (Cassimon et al.): ``r' = r ** gamma``;
* alpha, the exponential shaping of the 2024 agent paper as we implement it:
  ``r' = (exp(alpha * r) - 1) / (exp(alpha) - 1)`` for alpha != 0 (identity at
  0). It fixes 0 and 1 and, for alpha > 0, stretches the high end, where the
  good cells are.

Spread: the standard deviation of the shaped rewards over all cells. The gamma
sweep picks the gamma that maximises it: the transform under which cells are
most distinguishable by reward.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .errors import NasxferError, unknown

NATURAL_SCALE = {"top1": 100.0, "mIoU": 100.0, "acc": 100.0, "accuracy": 100.0, "ssim": 1.0}
MINMAX_METRICS = ("neg_loss",)
DEFAULT_GAMMAS = np.round(np.arange(0.1, 3.0001, 0.05), 2)
TRANSFORMS = ("gamma", "alpha", "none")


@dataclass(frozen=True)
class Normaliser:
    """Affine map of a metric onto [0, 1]: ``(x - low) / (high - low)``, clipped."""

    low: float
    high: float

    @classmethod
    def for_metric(cls, metric: str, values: np.ndarray) -> Normaliser:
        if metric in NATURAL_SCALE:
            return cls(0.0, NATURAL_SCALE[metric])
        if metric in MINMAX_METRICS:
            return cls(float(np.min(values)), float(np.max(values)))
        raise unknown("metric for normalisation", metric, (*NATURAL_SCALE, *MINMAX_METRICS))

    def __call__(self, x) -> np.ndarray:
        return np.clip((np.asarray(x, np.float64) - self.low) / (self.high - self.low), 0.0, 1.0)


def gamma_transform(r, gamma: float) -> np.ndarray:
    if not gamma > 0:
        raise NasxferError(f"gamma must be > 0, got {gamma!r}")
    return np.asarray(r, np.float64) ** gamma


def alpha_transform(r, alpha: float) -> np.ndarray:
    r = np.asarray(r, np.float64)
    if alpha == 0:
        return r
    return np.expm1(alpha * r) / np.expm1(alpha)


def spread(r) -> float:
    """How far apart the rewards are: their standard deviation."""
    return float(np.std(r))


def gamma_sweep(r_norm, gammas=DEFAULT_GAMMAS) -> pd.DataFrame:
    """Spread of ``r_norm ** gamma`` for each gamma: columns gamma, spread."""
    return pd.DataFrame({"gamma": gammas, "spread": [spread(gamma_transform(r_norm, g)) for g in gammas]})


def best_gamma(r_norm, gammas=DEFAULT_GAMMAS) -> float:
    sweep = gamma_sweep(r_norm, gammas)
    return float(sweep["gamma"].iloc[int(np.argmax(sweep["spread"].to_numpy()))])


@dataclass(frozen=True)
class RewardShaper:
    """Metric value -> shaped reward in [0, 1] for one task."""

    normaliser: Normaliser
    transform: str = "gamma"
    param: float = 1.0

    def __call__(self, metric_values) -> np.ndarray:
        r = self.normaliser(metric_values)
        if self.transform == "gamma":
            return gamma_transform(r, self.param)
        if self.transform == "alpha":
            return alpha_transform(r, self.param)
        return r

    @classmethod
    def fit(cls, benchmark, task: str, transform: str = "gamma", param: float | str = "auto") -> RewardShaper:
        """Shaper for `task` from the benchmark's validation values.

        ``param="auto"`` picks gamma by the sweep (for alpha, auto means 0: no shaping).
        Fits are cached per benchmark object: evaluation builds an env per episode.
        """
        return _fit(cls, benchmark, task, transform, param)


@lru_cache(maxsize=256)
def _fit(cls, benchmark, task: str, transform: str, param) -> RewardShaper:
    if transform not in TRANSFORMS:
        raise unknown("reward transform", transform, TRANSFORMS)
    table = benchmark.table(task)
    norm = Normaliser.for_metric(table.metric, table.valid)
    if param == "auto":
        param = best_gamma(norm(table.valid)) if transform == "gamma" else (0.0 if transform == "alpha" else 1.0)
    elif not isinstance(param, (int, float)):
        raise NasxferError(f"reward parameter must be a number or 'auto', got {param!r}")
    if transform == "gamma" and not param > 0:
        raise NasxferError(f"gamma must be > 0, got {param!r}")
    return cls(norm, transform, float(param))

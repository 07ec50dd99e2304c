"""The statistics of the experiments: paired comparisons of active-learning
methods over trials of the same seed; mean and deviation; rank and linear
correlation.

Trial k of every method of a run shares its seed (seed + k): the same initial
labels and initialisations. Differences between two methods are therefore
taken trial by trial, and their mean gets a Student-t interval over the trials.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch
from scipy.stats import t as student_t

CONFIDENCE = 0.95


def area_under_curve(records: list[dict], metric: str) -> float:
    """The mean of ``metric`` over a trial's measurements (its records): the area
    under the learning curve, per measurement, with equal label steps."""
    if not records:
        raise ValueError("a trial without records has no learning curve")
    return statistics.fmean(r[metric] for r in records)


@dataclass(frozen=True)
class Paired:
    """The mean of the per-trial differences ``a - b`` over ``n`` paired
    trials, with its ``CONFIDENCE`` interval [low, high] (t over the trials;
    None for fewer than 2 trials)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    def excludes_zero(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Paired | None:
    """``a - b`` over the trials both have (keys: trial index); None if none."""
    common = sorted(set(a) & set(b))
    if not common:
        return None
    diffs = [a[k] - b[k] for k in common]
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return Paired(mean, None, None, 1)
    half = student_t.ppf(0.5 + CONFIDENCE / 2, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return Paired(mean, mean - half, mean + half, len(diffs))


def mean_std(values: list[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def ranks(values: torch.Tensor) -> torch.Tensor:
    """The rank of each of [N] values, float64 (ties broken by position)."""
    return torch.argsort(torch.argsort(values)).double()


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Rank correlation of two [N] tensors (ties broken by position)."""
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Linear correlation of two [N] tensors."""
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    return float((a * b).sum() / (a.norm() * b.norm()))

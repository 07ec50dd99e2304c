"""Nearest-center distances and greedy k-center selection (paper Algorithm 1)."""

from __future__ import annotations

from types import ModuleType

import torch

from . import checks, ops
from .arrays import numpy_io


def _prepare(x: torch.Tensor, name: str, metric: str) -> torch.Tensor:
    # Cosine distances are 1 - x.y on unit rows; Euclidean ones use the raw rows.
    return checks.unit_rows(x, name) if metric == "cosine" else x


def _common_dtype(*tensors: torch.Tensor) -> torch.dtype:
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


@numpy_io
def min_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    metric: str = "cosine",
    backend: ModuleType = ops,
) -> torch.Tensor:
    """Distance from every row of x to its nearest row of y, never forming the N x M matrix.

    Args:
        x: [N, d] floating features.
        y: [M, d] floating features, M >= 1, on x's device.
        metric: ``"cosine"`` (1 - cos of the angle, rows normalised here) or
            ``"euclidean"`` (L2 distance).
        backend: ``dacs_ext.ops`` or ``dacs_ext.reference.ops``.

    Returns:
        [N] distances, float64 if either input is float64, else float32.
    """
    x = checks.features(x, "x")
    y = checks.features(y, "y", like=(x, "x"))
    metric = checks.choice(metric, "metric", checks.METRICS)
    dtype = _common_dtype(x, y)
    x, y = _prepare(x.to(dtype), "x", metric), _prepare(y.to(dtype), "y", metric)
    return backend.min_distance(x, y, metric)


@numpy_io
def kcenter_greedy(
    unlabeled: torch.Tensor,
    labeled: torch.Tensor | None,
    budget: int,
    *,
    metric: str = "cosine",
    generator: torch.Generator | None = None,
    backend: ModuleType = ops,
) -> torch.Tensor:
    """Greedy k-center selection (Sener & Savarese; paper Algorithm 1, lines 7-10).

    Each step picks the unlabeled row farthest from every center (the labeled
    rows and the rows picked so far); ties go to the lowest index.

    Args:
        unlabeled: [N, d] floating features of the candidates.
        labeled: [M, d] features of the rows already labeled, or None / [0, d]
            when there are none: then the first center is drawn uniformly from
            ``generator``.
        budget: number of rows to pick, 0 <= budget <= N.
        metric: ``"cosine"`` (DACS, 1 - cos) or ``"euclidean"`` (classic core-set).
        generator: source of the first center when there are no labeled rows.
        backend: ``dacs_ext.ops`` or ``dacs_ext.reference.ops``.

    Returns:
        int64 [budget] distinct indices into ``unlabeled``, in pick order.
    """
    x = checks.features(unlabeled, "unlabeled")
    n = x.shape[0]
    budget = checks.integer(budget, "budget", low=0, high=n)
    metric = checks.choice(metric, "metric", checks.METRICS)
    if labeled is not None:
        labeled = checks.features(labeled, "labeled", min_rows=0, like=(x, "unlabeled"))
        if labeled.shape[0] == 0:
            labeled = None
    dtype = _common_dtype(x, labeled) if labeled is not None else x.dtype
    x = _prepare(x.to(dtype), "unlabeled", metric)
    if budget == 0:
        return torch.empty(0, dtype=torch.int64, device=x.device)
    if labeled is not None:
        min_dist = backend.min_distance(x, _prepare(labeled.to(dtype), "labeled", metric), metric)
        return backend.kcenter_greedy(x, min_dist, budget, metric)
    first = int(torch.randint(n, (1,), generator=generator, device=generator.device if generator else "cpu"))
    min_dist = backend.min_distance(x, x[first : first + 1], metric)
    min_dist[first] = float("-inf")
    rest = backend.kcenter_greedy(x, min_dist, budget - 1, metric)
    return torch.cat([torch.tensor([first], dtype=torch.int64, device=x.device), rest])

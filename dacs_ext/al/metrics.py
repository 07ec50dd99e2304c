"""Test metrics of the two task kinds: top-1 accuracy (classification); mean
squared error and the concordance index (regression, DeepDTA's pair)."""

from __future__ import annotations

import torch

METRICS = {"classification": ("accuracy",), "regression": ("mse", "ci")}
"""The metrics each kind of task records, the first the one tables compare."""
LOWER_IS_BETTER = frozenset({"mse"})


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Share (0-1) of rows of logits [N, C] whose argmax is y [N]."""
    return float((logits.argmax(1) == y).double().mean())


def mse(predictions: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error of predictions [N] against y [N], accumulated in float64."""
    return float(((predictions.double() - y.double()) ** 2).mean())


def concordance_index(y: torch.Tensor, predictions: torch.Tensor, *, block: int = 1024) -> float:
    """Concordance index (Gönen and Heller; DeepDTA's CI): over all pairs whose
    true values differ, the share that the predictions order the same way, a
    tied prediction counting one half. Pairs with equal true values are not
    counted. Exact, in O(N^2) time and O(block x N) memory.

    Args:
        y: [N] true values; predictions: [N]. N >= 2, and y must hold two
            different values.
    """
    if y.ndim != 1 or predictions.shape != y.shape:
        raise ValueError(f"y and predictions must be 1-D of the same length, got {tuple(y.shape)} and {tuple(predictions.shape)}")
    y, p = y.double(), predictions.double()
    concordant = torch.zeros((), dtype=torch.float64, device=y.device)
    pairs = torch.zeros((), dtype=torch.float64, device=y.device)
    for start in range(0, y.numel(), block):
        # Each pair once, as (i, j) with y_i > y_j.
        above = y[start : start + block, None] > y[None, :]
        dp = p[start : start + block, None] - p[None, :]
        concordant += (above & (dp > 0)).sum() + 0.5 * (above & (dp == 0)).sum()
        pairs += above.sum()
    if pairs == 0:
        raise ValueError("the concordance index needs two different true values")
    return float(concordant / pairs)


def task_metrics(kind: str, outputs: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The metrics of ``METRICS[kind]`` from the main head's outputs (logits [N, C]
    or predictions [N]) and the targets y [N]."""
    if kind == "classification":
        return {"accuracy": accuracy(outputs, y)}
    return {"mse": mse(outputs, y), "ci": concordance_index(y, outputs)}

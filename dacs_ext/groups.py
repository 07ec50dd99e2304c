"""Density groups of paper section 4.2: Jenks natural breaks (Eq. 9) and the
per-group budget split (Eq. 10)."""

from __future__ import annotations

from types import ModuleType

import torch

from . import _checks, ops


def _values(values, name: str) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [N], got {type(values).__name__}")
    if values.dim() != 1:
        raise ValueError(f"{name} must be 1-D [N], got shape {list(values.shape)}")
    if values.is_complex() or values.dtype == torch.bool:
        raise TypeError(f"{name} must be a real tensor, got {values.dtype}")
    if not values.is_floating_point():
        values = values.double()
    _checks.all_finite(values, name)
    return values


def natural_breaks(values: torch.Tensor, classes: int = 4, *, backend: ModuleType = ops) -> torch.Tensor:
    """Exact Jenks natural breaks (Fisher's optimal 1-D partition).

    Splits the sorted values into ``classes`` contiguous groups with the least
    total within-group sum of squares, by a dynamic programme in
    O(classes * N log N) after a sort (jenkspy's algorithm is O(N^2) and gives
    the same breaks). A CUDA tensor is solved on the CPU and copied back.

    Args:
        values: [N] real values, N >= classes, finite.
        classes: number of groups, >= 2; values must hold at least that many
            distinct values.
        backend: ``dacs_ext.ops`` or ``dacs_ext.reference.ops`` (jenkspy).

    Returns:
        [classes + 1] in values' floating dtype: the minimum, the largest value
        of each group but the last, and the maximum (like ``jenkspy.jenks_breaks``).
    """
    values = _values(values, "values")
    classes = _checks.integer(classes, "classes", low=2)
    if values.numel() < classes:
        raise ValueError(f"values must hold at least classes = {classes} values, got {values.numel()}")
    try:
        return backend.natural_breaks(values, classes)
    except RuntimeError as error:
        # The kernel counts distinct values on its sorted copy, saving a second sort here.
        if "distinct values" not in str(error):
            raise
        raise ValueError(str(error).splitlines()[0].removeprefix("natural_breaks: ")) from None


def density_groups(density: torch.Tensor, groups: int = 4, *, backend: ModuleType = ops) -> torch.Tensor:
    """Density group of every sample (Eq. 9): group 0 the sparsest.

    Args:
        density: [N] densities (``dacs_ext.density``), higher = denser.
        groups: number of groups, >= 2.

    Returns:
        int64 [N] in [0, groups): a sample with density <= the g-th inner break
        (and above the previous one) is in group g.
    """
    density = _values(density, "density")
    breaks = natural_breaks(density, groups, backend=backend)
    return torch.bucketize(density, breaks[1:-1].to(density.dtype), right=False)

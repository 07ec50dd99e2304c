"""Density groups of paper section 4.2: Jenks natural breaks (Eq. 9) and the
per-group budget split (Eq. 10)."""

from __future__ import annotations

import warnings
from types import ModuleType

import torch

from . import checks, ops
from .arrays import numpy_io


def _values(values, name: str) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array [N], got {type(values).__name__}")
    if values.dim() != 1:
        raise ValueError(f"{name} must be 1-D [N], got shape {list(values.shape)}")
    if values.is_complex() or values.dtype == torch.bool:
        raise TypeError(f"{name} must be a real tensor, got {values.dtype}")
    if not values.is_floating_point():
        values = values.double()
    checks.all_finite(values, name)
    return values


@numpy_io
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
    classes = checks.integer(classes, "classes", low=2)
    if values.numel() < classes:
        raise ValueError(f"values must hold at least classes = {classes} values, got {values.numel()}")
    try:
        return backend.natural_breaks(values, classes)
    except RuntimeError as error:
        # The kernel counts distinct values on its sorted copy, saving a second sort here.
        if "distinct values" not in str(error):
            raise
        raise ValueError(str(error).splitlines()[0].removeprefix("natural_breaks: ")) from None


@numpy_io
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


def density_groups_or_fewer(dens: torch.Tensor, groups: int, backend: ModuleType = ops) -> tuple[torch.Tensor, int]:
    """Density groups [N] and their count: ``groups``, or the number of distinct
    densities when that is smaller (one group when all are equal)."""
    try:
        return density_groups(dens, groups, backend=backend), groups
    except ValueError as error:
        # The kernel counts distinct values on its own sorted copy: counting here
        # only on failure keeps a sort off the normal path.
        if "distinct values" not in str(error):
            raise
    used = int(torch.unique(dens).numel())
    warnings.warn(
        f"select: the densities hold only {used} distinct value(s), fewer than groups = {groups}; "
        f"using {used} group(s)", RuntimeWarning, stacklevel=4,
    )
    if used == 1:
        return torch.zeros(dens.shape[0], dtype=torch.int64, device=dens.device), 1
    return density_groups(dens, used, backend=backend), used


@numpy_io
def split_budget(group_sizes: torch.Tensor, budget: int, temperature: float = 0.25) -> torch.Tensor:
    """Per-group budgets of Eq. 10 that sum to ``budget`` exactly.

    The ratios are ``softmax((1 - |C_i| / |U|) / temperature)``; ``ratio * budget``
    is rounded by largest remainder (ties to the lower, sparser group), each quota
    is capped at its group's size, and what a cap cuts off is split again among
    the other groups in proportion to their ratios. The paper's floor loses up to
    ``groups - 1`` samples per cycle; this does not.

    Args:
        group_sizes: int64 [G] sizes |C_i| (zero allowed).
        budget: 0 <= budget <= sum of the sizes.
        temperature: > 0; lower gives the small (sparse) groups more.

    Returns:
        int64 [G] quotas, each within its group's size, summing to budget.
    """
    if not isinstance(group_sizes, torch.Tensor) or group_sizes.dim() != 1 or group_sizes.is_floating_point():
        raise TypeError("group_sizes must be an int64 tensor [G]")
    sizes = group_sizes.to(torch.int64).cpu()
    if bool((sizes < 0).any()):
        raise ValueError(f"group_sizes must be non-negative, got {sizes.tolist()}")
    total = int(sizes.sum())
    budget = checks.integer(budget, "budget", low=0, high=total)
    temperature = checks.positive(temperature, "temperature")
    ratios = torch.softmax((1 - sizes.double() / max(total, 1)) / temperature, dim=0)
    quotas = torch.zeros_like(sizes)
    remaining = budget
    while remaining > 0:
        room = quotas < sizes
        share = torch.where(room, ratios, torch.zeros_like(ratios))
        ideal = share / share.sum() * remaining
        add = ideal.floor().to(torch.int64)
        left = remaining - int(add.sum())
        if left:
            # Largest remainder; the stable sort keeps lower groups first on ties.
            order = torch.sort(torch.where(room, ideal - add, -1.0), descending=True, stable=True).indices
            add[order[:left]] += 1
        wanted = quotas + add
        quotas = torch.minimum(wanted, sizes)
        remaining = int((wanted - quotas).sum())
    return quotas

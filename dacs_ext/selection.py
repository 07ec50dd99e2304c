"""DACS selection (paper Algorithm 1 and section 4.3): density groups, per-group
budgets, k-center greedy inside each group, and the combination with an
uncertainty method."""

from __future__ import annotations

import time
from types import ModuleType

import torch

from . import checks, distributed, ops
from .arrays import numpy_io
from .density import density
from .groups import density_groups_or_fewer, split_budget
from .health import feature_health, warn_if_degenerate
from .kcenter import kcenter_greedy
from .settings import DACSSettings


@numpy_io
def select(
    unlabeled: torch.Tensor,
    labeled: torch.Tensor | None,
    budget: int,
    settings: DACSSettings | str | None = None,
    *,
    generator: torch.Generator | None = None,
    return_details: bool = False,
    backend: ModuleType = ops,
    **changes,
):
    """Density-aware core-set selection (paper Algorithm 1).

    The unlabeled features are L2-normalised, their LSH density estimated
    (``dacs_ext.density``), split into density groups by natural breaks
    (``density_groups``, group 0 the sparsest), the budget split over the groups
    (``split_budget``), and k-center greedy with the cosine metric picks each
    group's quota against the labeled rows and the group's own picks (with
    ``share_centers=True`` also every earlier group's picks).

    Args:
        unlabeled: [N, d] features of the pool (the auxiliary head's output).
        labeled: [M, d] features of the labeled rows, or None / [0, d].
        budget: 0 <= budget <= N samples to pick.
        settings: ``DACSSettings``, or a name (``"paper"``, ``"recommended"``;
            ``DACSSettings.named``), the defaults when None; keyword ``changes``
            such as ``buckets=50, rounds=4`` override single settings. When the
            densities hold fewer distinct values than ``groups`` (features
            collapsed early in training, a tiny pool), as many groups as there are
            distinct values are used, with a ``RuntimeWarning``, rather than
            failing the acquisition. ``expand`` is not used here (see ``DACS``).
        generator: source of the LSH rotation and of any random first center.
        return_details: also return a dict with ``density`` [N], ``groups`` [N],
            ``quotas`` [G], ``groups_used`` (G, below ``groups`` after a fallback),
            ``health`` (``dacs_ext.health.feature_health``'s figures and
            ``groups_used``) and ``seconds`` per stage.
        backend: ``dacs_ext.ops`` or ``dacs_ext.reference.ops``.

    Warns:
        RuntimeWarning when the features are degenerate (``dacs_ext.health``: one
        hash bucket holding over half the rows, over half the pool at cosine
        distance 0 from a labeled or picked row, or an effective rank below 1.5),
        naming each; the selection is still returned.

    Returns:
        int64 [budget] distinct indices into ``unlabeled`` (group by group, in
        pick order), and the details dict when asked for.
    """
    timings = {}
    start = time.perf_counter()
    settings = DACSSettings.of(settings, **changes)
    x = checks.features(unlabeled, "unlabeled", finite=False)
    n = x.shape[0]
    budget = checks.integer(budget, "budget", low=0, high=n)
    x, labeled = checks.unit_inputs(x, labeled)
    timings["prepare"] = time.perf_counter() - start

    start = time.perf_counter()
    dens, keys, num_keys = density(
        x, settings.buckets, rounds=settings.rounds, neighbours=settings.neighbours, generator=generator,
        normalized=True, levels=settings.levels, return_keys=True, backend=backend,
    )
    timings["density"] = time.perf_counter() - start

    start = time.perf_counter()
    group_ids, used = density_groups_or_fewer(dens, settings.groups, backend)
    sizes = torch.bincount(group_ids, minlength=used).cpu()
    quotas = split_budget(sizes, budget, settings.temperature)
    timings["groups"] = time.perf_counter() - start

    start = time.perf_counter()
    picks = []
    for g in range(used):
        if int(quotas[g]) == 0:
            continue
        members = (group_ids == g).nonzero().squeeze(1)
        centers = [labeled] if labeled is not None else []
        if settings.share_centers:
            centers += [x[p] for p in picks]
        centers = torch.cat(centers) if centers else None
        chosen = kcenter_greedy(x[members], centers, int(quotas[g]), metric="cosine", generator=generator, backend=backend)
        picks.append(members[chosen])
    result = torch.cat(picks) if picks else torch.empty(0, dtype=torch.int64, device=x.device)
    timings["kcenter"] = time.perf_counter() - start

    start = time.perf_counter()
    health = feature_health(x, labeled, result, keys, num_keys, settings.buckets, backend=backend)
    health["groups_used"] = used
    warn_if_degenerate(health)
    timings["health"] = time.perf_counter() - start
    if not return_details:
        return result
    details = {"density": dens, "groups": group_ids, "quotas": quotas, "groups_used": used, "health": health, "seconds": timings}
    return result, details


@numpy_io
def expand_and_squeeze(candidates: torch.Tensor, uncertainty: torch.Tensor, budget: int) -> torch.Tensor:
    """Section 4.3: keep the ``budget`` most uncertain of DACS's candidates.

    Args:
        candidates: int64 [C] distinct pool indices proposed by DACS (C >= budget).
        uncertainty: [N] uncertainty score of every pool sample (higher = more
            uncertain), e.g. a predicted loss or an entropy.
        budget: 0 <= budget <= C.

    Returns:
        int64 [budget] of ``candidates``, most uncertain first (ties keep the
        candidates' order).
    """
    if not isinstance(candidates, torch.Tensor) or candidates.dim() != 1 or candidates.is_floating_point():
        raise TypeError("candidates must be an int64 tensor [C] of pool indices")
    if not isinstance(uncertainty, torch.Tensor) or uncertainty.dim() != 1 or not uncertainty.is_floating_point():
        raise TypeError("uncertainty must be a floating tensor [N] over the pool")
    budget = checks.integer(budget, "budget", low=0, high=candidates.numel())
    if candidates.numel() and (int(candidates.min()) < 0 or int(candidates.max()) >= uncertainty.numel()):
        raise ValueError(f"candidates must index the {uncertainty.numel()} uncertainty scores")
    checks.all_finite(uncertainty, "uncertainty")
    scores = uncertainty.to(candidates.device)[candidates]
    order = torch.sort(scores, descending=True, stable=True).indices
    return candidates[order[:budget]]


class DACS:
    """Density-aware core-set as an acquisition strategy object.

    ``DACS(settings, seed=0).select(unlabeled, labeled, budget)`` is
    ``dacs_ext.select`` with these settings (``DACSSettings``; keyword changes
    such as ``DACS(buckets=50)`` apply on top), run across the ranks
    (``distributed.select_replicated``) when torch.distributed is initialised
    with more than one rank. Given an ``uncertainty`` [N],
    ``select`` proposes ``round(settings.expand * budget)`` candidates (capped at
    the pool) and ``expand_and_squeeze`` keeps the ``budget`` most uncertain
    (section 4.3).
    """

    def __init__(self, settings: DACSSettings | str | None = None, *, seed: int | None = None, **changes) -> None:
        self.settings = DACSSettings.of(settings, **changes)
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __repr__(self) -> str:
        return f"DACS({self.settings!r})"

    @numpy_io
    def select(self, unlabeled, labeled, budget, uncertainty=None, *, generator=None, return_details=False):
        """Indices into ``unlabeled`` [budget]; see ``dacs_ext.select``. ``generator``
        overrides the one seeded at construction for this call."""
        generator = generator if generator is not None else self.generator
        # In a multi-process run every rank holds the pool: they select together.
        selector = distributed.select_replicated if distributed.is_active() else select
        if uncertainty is None:
            return selector(unlabeled, labeled, budget, self.settings, generator=generator, return_details=return_details)
        proposed = min(unlabeled.shape[0], int(round(self.settings.expand * budget)))
        out = selector(unlabeled, labeled, proposed, self.settings, generator=generator, return_details=return_details)
        candidates, details = out if return_details else (out, None)
        chosen = expand_and_squeeze(candidates, uncertainty, budget)
        return (chosen, details) if return_details else chosen

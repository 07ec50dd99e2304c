"""DACS selection (paper Algorithm 1 and section 4.3): density groups, per-group
budgets, k-center greedy inside each group, and the combination with an
uncertainty method."""

from __future__ import annotations

import dataclasses
import time
import warnings
from types import ModuleType

import torch

from . import _checks, ops
from .density import density as _density
from .groups import density_groups
from .health import feature_health, warn_if_degenerate
from .kcenter import kcenter_greedy
from .settings import Settings


@dataclasses.dataclass(frozen=True)
class DACSSettings(Settings):
    """Every setting of DACS, in one place: ``select``, ``DACS``,
    ``dacs_ext.al.DACSStrategy``, the experiment presets and the command line take
    their defaults from here. The defaults are the paper's where it states them.

    Attributes:
        buckets: LSH buckets, also the number of chunks (Eq. 6-7); even, >= 2, at
            most the pool size. 100.
        groups: density groups h (Eq. 9), >= 2. 4.
        temperature: tau of Eq. 10, > 0; lower gives the sparse groups more. 0.25.
        rounds: independent LSH rounds whose densities are averaged, >= 1. The paper
            uses 1.
        neighbours: the chunks a chunk reads besides its own: ``"back"`` (Eq. 7),
            ``"both"`` or ``"none"``.
        levels: hash levels of the density, 1 (the paper's flat hash) or 2
            (hierarchical, ``dacs_ext.density``'s ``levels``: for pools of millions,
            where the flat hash's cost grows as N * buckets).
        share_centers: let each group's k-center see the earlier groups' picks (not
            in the paper, which lets a group see only the labeled rows and its own).
        expand: eta of section 4.3, >= 1: combined with an uncertainty method, DACS
            proposes ``round(eta * budget)`` candidates and the uncertainty keeps the
            budget. The paper does not state it: 2.
    """

    buckets: int = 100
    groups: int = 4
    temperature: float = 0.25
    rounds: int = 1
    neighbours: str = "back"
    share_centers: bool = False
    expand: float = 2.0
    levels: int = 1

    def __post_init__(self) -> None:
        self._store(
            buckets=_checks.even_buckets(self.buckets),
            groups=_checks.integer(self.groups, "groups", low=2),
            temperature=_checks.positive(self.temperature, "temperature"),
            rounds=_checks.integer(self.rounds, "rounds", low=1),
            neighbours=_checks.choice(self.neighbours, "neighbours", _checks.NEIGHBOURS),
            share_centers=_checks.boolean(self.share_centers, "share_centers"),
            expand=_checks.at_least(self.expand, "expand", 1.0),
            levels=_checks.integer(self.levels, "levels", low=1, high=2),
        )

    @classmethod
    def named(cls, name: str) -> DACSSettings:
        """A named configuration: ``"paper"`` (the defaults, Algorithm 1 as
        written) or ``"recommended"`` (``NAMED_SETTINGS`` says what it changes;
        the README's ablation gives the evidence)."""
        return cls(**NAMED_SETTINGS[_checks.choice(name, "settings name", tuple(NAMED_SETTINGS))])

    @classmethod
    def of(cls, settings: DACSSettings | str | None = None, **changes) -> DACSSettings:
        """As ``Settings.of``; ``settings`` may also be a name for ``named``."""
        return super().of(cls.named(settings) if isinstance(settings, str) else settings, **changes)


NAMED_SETTINGS: dict[str, dict] = {
    "paper": {},
    # Measured on Repeated Fashion-MNIST (README, "the DACS ablation"): labels spent
    # on copies of one image fall from 526 to 37 of 4,500 and the final accuracy
    # rises 0.7 points; each group's k-center sees the earlier groups' picks, and
    # the density averages 4 hash rounds instead of one noisy one.
    "recommended": {"share_centers": True, "rounds": 4},
}


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
    budget = _checks.integer(budget, "budget", low=0, high=total)
    temperature = _checks.positive(temperature, "temperature")
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
    x = _checks.features(unlabeled, "unlabeled", finite=False)
    n = x.shape[0]
    budget = _checks.integer(budget, "budget", low=0, high=n)
    x, labeled = unit_inputs(x, labeled)
    timings["prepare"] = time.perf_counter() - start

    start = time.perf_counter()
    dens, keys, num_keys = _density(
        x, settings.buckets, rounds=settings.rounds, neighbours=settings.neighbours, generator=generator,
        normalized=True, levels=settings.levels, return_keys=True, backend=backend,
    )
    timings["density"] = time.perf_counter() - start

    start = time.perf_counter()
    group_ids, used = _grouped(dens, settings.groups, backend)
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


def unit_inputs(x: torch.Tensor, labeled: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The rows ``select`` works on: x [N, d] (already checked, N may be 0) and
    labeled [M, d] (checked here) as unit rows in the accumulation dtype;
    labeled None when absent or empty."""
    if labeled is not None:
        labeled = _checks.features(labeled, "labeled", min_rows=0, like=(x, "unlabeled"))
        labeled = _checks.unit_rows(labeled, "labeled") if labeled.shape[0] else None
    x = _checks.unit_rows(x, "unlabeled") if x.shape[0] else x.to(_checks.accumulation_dtype(x.dtype))
    return x, labeled


def _grouped(dens: torch.Tensor, groups: int, backend: ModuleType) -> tuple[torch.Tensor, int]:
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
        f"using {used} group(s)", RuntimeWarning, stacklevel=3,
    )
    if used == 1:
        return torch.zeros(dens.shape[0], dtype=torch.int64, device=dens.device), 1
    return density_groups(dens, used, backend=backend), used


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
    budget = _checks.integer(budget, "budget", low=0, high=candidates.numel())
    if candidates.numel() and (int(candidates.min()) < 0 or int(candidates.max()) >= uncertainty.numel()):
        raise ValueError(f"candidates must index the {uncertainty.numel()} uncertainty scores")
    _checks.all_finite(uncertainty, "uncertainty")
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

    def select(self, unlabeled, labeled, budget, uncertainty=None, *, generator=None, return_details=False):
        """Indices into ``unlabeled`` [budget]; see ``dacs_ext.select``. ``generator``
        overrides the one seeded at construction for this call."""
        from . import distributed  # imports this module

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

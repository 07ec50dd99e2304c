"""Acquisition strategies: given the pool state, pick ``budget`` unlabeled samples.

A strategy names in ``requires`` which model outputs it needs over the whole
pool (fields of ``ModelOutput``: ``"features"``, ``"aux_features"``,
``"logits"``, ``"aux_logits"``, or the output of a head it adds, such as
LearnLoss's ``"predicted_loss"``; or ``MC_LOGITS``, Monte-Carlo dropout passes),
and the loop computes only those. A strategy that trains a head with the model
returns it from ``heads``, one that replaces the main classifier returns the
replacement from ``classifier``, one whose model needs dropout before the main
classifier says its probability in ``classifier_dropout``; one that takes
settings objects names them in ``settings_names`` and takes them as keyword
arguments of those names (``dacs_ext.al.methods`` builds strategies from them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..cdal import cdal_kcenter
from ..density import density
from ..groups import density_groups
from ..kcenter import kcenter_greedy
from ..selection import DACS, expand_and_squeeze
from ..settings import DACSSettings
from .model import KINDS, Head

MC_LOGITS = "mc_logits"
"""The requirement of ``Strategy.mc_passes`` stochastic forward passes over the
pool, dropout active: the main classifier's logits, float32 [T, N, C]
(``training.mc_dropout_logits``; BALD reads them)."""


@dataclass
class PoolState:
    """The pool as a strategy sees it at one cycle.

    Attributes:
        labeled: bool [N], True where the label is known.
        outputs: model outputs over every pool row, each [N, ...], keyed by the
            names the strategy required.
        generator: CPU generator for any randomness of this cycle's selection.
        cycle: index of the cycle (0 = the initial labeled set).
        notes: what the strategy wants kept in the cycle's record (JSON values),
            e.g. that DACS fell back to fewer density groups.
    """

    labeled: torch.Tensor
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    generator: torch.Generator = field(default_factory=torch.Generator)
    cycle: int = 0
    notes: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.outputs:
            raise KeyError(f"the pool state has no {name!r}; a strategy must list it in `requires` (has: {sorted(self.outputs)})")
        return self.outputs[name]

    def unlabeled_indices(self) -> torch.Tensor:
        """int64 [N - M] pool indices without a label, ascending."""
        return (~self.labeled).nonzero().squeeze(1)

    def labeled_indices(self) -> torch.Tensor:
        """int64 [M] pool indices with a label, ascending."""
        return self.labeled.nonzero().squeeze(1)


class Strategy:
    """Base class. ``select(pool, budget)`` returns int64 [budget] distinct pool
    indices that are not labeled (the loop checks this)."""

    name = "strategy"
    requires: tuple[str, ...] = ()
    settings_names: tuple[str, ...] = ()
    kinds: tuple[str, ...] = KINDS
    """The kinds of task (``model.KINDS``) the strategy can serve."""
    classifier_dropout: float = 0.0
    """Probability of a dropout on the features the main classifier reads, which
    the model trains with (``AuxModel.set_classifier_dropout``); 0: none."""
    mc_passes: int = 0
    """T of ``MC_LOGITS``, for a strategy that requires it."""

    def check_kind(self, kind: str) -> None:
        """Raises ValueError if the strategy cannot serve a task of ``kind``."""
        if kind not in self.kinds:
            raise ValueError(f"{self.name} works on {' or '.join(self.kinds)} tasks only, not on a {kind} task")

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        raise NotImplementedError

    def heads(self, tap_channels: tuple[int, ...]) -> list[Head]:
        """The heads this strategy trains with the model, given the widths of the
        backbone's taps (``AuxModel.tap_channels``); none by default."""
        return []

    def classifier(self, feature_dim: int, num_classes: int) -> nn.Module | None:
        """A replacement of the model's main classifier (see
        ``LinearClassifier``), e.g. NCE-Net's prototype head; None keeps it."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_selection(strategy: Strategy, pool: PoolState, budget: int, picked) -> torch.Tensor:
    """The loop's guard: ``picked`` must be ``budget`` distinct unlabeled pool indices."""
    where = f"strategy {strategy.name!r}"
    if not isinstance(picked, torch.Tensor) or picked.dim() != 1 or picked.is_floating_point() or picked.dtype == torch.bool:
        raise TypeError(f"{where} must return an integer tensor [budget], got {picked!r:.80}")
    picked = picked.to(torch.int64)
    n = pool.labeled.numel()
    if picked.numel() != budget:
        raise RuntimeError(f"{where} returned {picked.numel()} indices for a budget of {budget}")
    if picked.numel() and (int(picked.min()) < 0 or int(picked.max()) >= n):
        raise RuntimeError(f"{where} returned indices outside the pool of {n}")
    if torch.unique(picked).numel() != picked.numel():
        raise RuntimeError(f"{where} returned duplicate indices")
    if bool(pool.labeled[picked.to(pool.labeled.device)].any()):
        raise RuntimeError(f"{where} returned already labeled indices")
    return picked


def highest(pool: PoolState, scores: torch.Tensor, budget: int, subset: int) -> torch.Tensor:
    """The ``budget`` unlabeled pool indices with the highest ``scores`` [N]
    (ties: lower index first), among a random ``subset`` of the unlabeled pool
    drawn from ``pool.generator`` when ``subset`` > 0."""
    candidates = pool.unlabeled_indices()
    if 0 < subset < candidates.numel():
        if subset < budget:
            raise ValueError(f"subset = {subset} is smaller than the budget {budget}")
        candidates = candidates[torch.randperm(candidates.numel(), generator=pool.generator)[:subset].sort().values.to(candidates.device)]
    return expand_and_squeeze(candidates, scores, budget)


class Random(Strategy):
    """Uniform sampling without replacement from the unlabeled pool."""

    name = "random"

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        candidates = pool.unlabeled_indices()
        order = torch.randperm(candidates.numel(), generator=pool.generator)[:budget]
        return candidates[order.to(candidates.device)]


class CoreSet(Strategy):
    """Core-set (Sener & Savarese, 2018): greedy k-center, Euclidean, on the
    backbone's penultimate features, with the labeled rows as the first centers."""

    name = "coreset"
    requires = ("features",)

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        features = pool["features"]
        unlabeled, labeled = pool.unlabeled_indices(), pool.labeled_indices()
        picks = kcenter_greedy(
            features[unlabeled], features[labeled], budget, metric="euclidean", generator=pool.generator
        )
        return unlabeled[picks]


class CDAL(Strategy):
    """CDAL (Agarwal et al., 2020), the CS variant: greedy k-center under the
    symmetric KL divergence of the main classifier's softmax outputs, with the
    labeled samples as the first centers (``dacs_ext.cdal.cdal_kcenter``)."""

    name = "cdal"
    requires = ("logits",)
    kinds = ("classification",)

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        log_probs = torch.log_softmax(pool["logits"].float(), dim=1)
        unlabeled, labeled = pool.unlabeled_indices(), pool.labeled_indices()
        picks = cdal_kcenter(log_probs[unlabeled], log_probs[labeled], budget, generator=pool.generator)
        return unlabeled[picks]


class DensityGroupKCenter(Strategy):
    """The paper's section 6.2 (Figure 4): the unlabeled pool split into 3
    density groups (LSH density on the auxiliary features, natural breaks, as
    DACS does), and cosine k-center with the labeled rows as first centers inside
    the sparsest group only (``DensestKCenter``: the densest). When that group holds
    fewer rows than the budget, the next groups toward the other end join it.

    Takes a ``dacs_ext.DACSSettings`` as ``dacs`` for the density (buckets,
    rounds, neighbours); its groups, temperature and center sharing are unused."""

    requires = ("aux_features",)
    settings_names = ("dacs",)
    groups = 3
    region = "sparsest"

    def __init__(self, dacs: DACSSettings | None = None) -> None:
        self.settings = DACSSettings.of(dacs)

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        z = pool["aux_features"]
        unlabeled, labeled = pool.unlabeled_indices(), pool.labeled_indices()
        settings = self.settings
        dens = density(
            z[unlabeled], settings.buckets, rounds=settings.rounds, neighbours=settings.neighbours, generator=pool.generator,
            levels=settings.levels,
        )
        group = density_groups(dens, self.groups)
        # group 0 is the sparsest; widen toward the other end until the budget fits
        reach = [0] if self.region == "sparsest" else [self.groups - 1]
        step = 1 if self.region == "sparsest" else -1
        inside = torch.isin(group, torch.tensor(reach, device=group.device))
        while int(inside.sum()) < budget:
            reach.append(reach[-1] + step)
            inside = torch.isin(group, torch.tensor(reach, device=group.device))
        candidates = unlabeled[inside]
        picks = kcenter_greedy(z[candidates], z[labeled], budget, metric="cosine", generator=pool.generator)
        return candidates[picks]


class DensestKCenter(DensityGroupKCenter):
    region = "densest"


class DACSStrategy(Strategy):
    """DACS (paper section 4, Algorithm 1) on the normalised auxiliary features:
    LSH density, density groups by natural breaks, per-group k-center (cosine).

    Takes a ``dacs_ext.DACSSettings`` as ``dacs`` and/or keyword changes to it
    (buckets=100, groups=4, temperature=0.25 as in the paper, ...); ``expand`` is
    for the combinations with an uncertainty method, which pass ``uncertainty``
    to ``acquire``.
    """

    name = "dacs"
    requires = ("aux_features",)
    settings_names = ("dacs",)

    def __init__(self, dacs: DACSSettings | None = None, **changes) -> None:
        self.dacs = DACS(dacs, **changes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dacs.settings!r})"

    def acquire(self, pool: PoolState, budget: int, uncertainty: torch.Tensor | None = None) -> torch.Tensor:
        """``select``, optionally squeezed by ``uncertainty`` [N] over the whole pool.
        The features' health (``dacs_ext.health``: occupied hash buckets, the
        largest bucket's share, the share at distance 0, the effective rank,
        ``groups_used`` and ``degenerate``, the sentences of a degenerate-features
        warning) is noted in ``pool.notes["dacs_health"]``, for every acquisition
        of a single-process run.

        A model can map samples to all-zero auxiliary features (every backbone unit
        dead for them; seen under NCE-Net, whose classifier ignores the features'
        norm). Such rows have no direction in DACS's cosine geometry, so DACS
        selects among the other rows, and takes zero rows (at random) only when too
        few others are left; their count is noted in
        ``pool.notes["dacs_zero_features"]`` rather than the run failing. In a
        multi-process run the ranks select together (``DACS``), noted in
        ``pool.notes["dacs_ranks"]``."""
        z = pool["aux_features"]
        unlabeled, labeled = pool.unlabeled_indices(), pool.labeled_indices()
        live = z.abs().amax(dim=1) > 0
        dead = unlabeled[~live[unlabeled]]
        if bool((~live).any()):
            pool.notes["dacs_zero_features"] = int((~live).sum())
            unlabeled, labeled = unlabeled[live[unlabeled]], labeled[live[labeled]]
        take = min(budget, unlabeled.numel())
        picks = unlabeled[:0]
        if take:
            score = uncertainty[unlabeled] if uncertainty is not None else None
            chosen, details = self.dacs.select(z[unlabeled], z[labeled], take, score, generator=pool.generator, return_details=True)
            if "health" in details:
                pool.notes["dacs_health"] = details["health"]
            if details.get("ranks", 1) > 1:
                pool.notes["dacs_ranks"] = details["ranks"]
            picks = unlabeled[chosen]
        if take < budget:
            fill = torch.randperm(dead.numel(), generator=pool.generator)[: budget - take].to(dead.device)
            picks = torch.cat([picks, dead[fill]])
        return picks

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        return self.acquire(pool, budget)

"""The standard uncertainty methods of active learning: entropy, margin and least
confidence of the main classifier's softmax, BALD by Monte-Carlo dropout (Gal,
Islam & Ghahramani, "Deep Bayesian Active Learning with Image Data", ICML 2017);
and each one's combination with DACS (paper section 4.3).

Every score is float64 [N], higher = more uncertain, computed from log_softmax
in float64, so finite logits of any size give finite scores (logits of +-1e4
give probabilities of exactly 0 and 1, not a NaN).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from .. import checks
from ..settings import DACSSettings, Settings
from .strategies import MC_LOGITS, DACSStrategy, PoolState, Strategy, highest


def _log_probabilities(logits: torch.Tensor, name: str, dims: str) -> torch.Tensor:
    """float64 log_softmax over the last dimension of ``logits`` (shape ``dims``,
    finite, C >= 2 classes)."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor {dims}, got {getattr(logits, 'dtype', type(logits).__name__)}")
    if logits.dim() != len(dims.split(",")):
        raise ValueError(f"{name} must be {dims}, got shape {list(logits.shape)}")
    if logits.shape[-1] < 2:
        raise ValueError(f"{name} must score at least 2 classes, got shape {list(logits.shape)}")
    checks.all_finite(logits, name)
    return torch.log_softmax(logits.double(), dim=-1)


def _entropy_of(log_p: torch.Tensor) -> torch.Tensor:
    """-sum_c p_c log p_c over the last dimension of log-probabilities (float64);
    a probability of 0 contributes 0 (its log is -inf where two logits differ by
    more than float64's range)."""
    p = log_p.exp()
    return -torch.where(p > 0, p * log_p, 0.0).sum(dim=-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Predictive entropy ``-sum_c p_c log p_c`` of p = softmax(logits), in nats.

    Args:
        logits: floating [N, C], C >= 2, finite.

    Returns:
        float64 [N] in [0, log C].
    """
    return _entropy_of(_log_probabilities(logits, "logits", "[N, C]"))


def _sorted_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """float64 [N, C] softmax(logits) of each row, in descending order."""
    return _log_probabilities(logits, "logits", "[N, C]").exp().sort(dim=-1, descending=True).values


def margin(logits: torch.Tensor) -> torch.Tensor:
    """One minus the margin between the two most probable classes,
    ``1 - (p_(1) - p_(2))`` of p = softmax(logits): 0 for a certain prediction, 1
    where the two lead equally.

    Args:
        logits: floating [N, C], C >= 2, finite.

    Returns:
        float64 [N] in [0, 1]. ``1 - p_(1)`` is summed from the other classes'
        probabilities, so predictions closer to certain than float64 resolves
        next to 1 still rank.
    """
    p = _sorted_probabilities(logits)
    return p[:, 1:].sum(dim=-1) + p[:, 1]


def least_confidence(logits: torch.Tensor) -> torch.Tensor:
    """``1 - max_c p_c`` of p = softmax(logits).

    Args:
        logits: floating [N, C], C >= 2, finite.

    Returns:
        float64 [N] in [0, 1 - 1/C], summed from the other classes' probabilities
        (as ``margin``'s).
    """
    return _sorted_probabilities(logits)[:, 1:].sum(dim=-1)


def mutual_information(mc_logits: torch.Tensor) -> torch.Tensor:
    """BALD's score: the mutual information between the prediction and the model
    weights, estimated from T stochastic (dropout) passes: the entropy of the
    mean prediction minus the mean entropy of each pass's prediction,
    ``H(mean_t p_t) - mean_t H(p_t)``. High where the passes disagree, each
    confident; 0 where they all agree.

    Args:
        mc_logits: floating [T, N, C], T >= 1 passes, C >= 2, finite.

    Returns:
        float64 [N] in [0, log C]. The mean prediction's log is taken as
        ``logsumexp_t log p_t - log T``. Rounding can put the difference a hair
        below 0 where the passes agree; it is clamped to 0, so such rows tie.
    """
    log_p = _log_probabilities(mc_logits, "mc_logits", "[T, N, C]")
    log_mean = torch.logsumexp(log_p, dim=0) - math.log(log_p.shape[0])
    entropy_of_mean, mean_entropy = _entropy_of(log_mean), _entropy_of(log_p).mean(dim=0)
    return (entropy_of_mean - mean_entropy).clamp_min(0)


@dataclasses.dataclass(frozen=True)
class BALDSettings(Settings):
    """BALD's settings. The defaults are common choices for Monte-Carlo dropout
    (Gal et al. 2017 take 20 passes), not tuned here.

    Attributes:
        passes: T, the stochastic forward passes over the pool per acquisition,
            >= 2. 20.
        dropout: probability of the dropout on the features the main classifier
            reads (``AuxModel.set_classifier_dropout``), in [0, 1): the model trains
            with it and the passes sample it. 0 adds none, for a backbone with
            dropout modules of its own; a model with none at all is refused at the
            first acquisition. 0.5.
    """

    passes: int = 20
    dropout: float = 0.5

    def __post_init__(self) -> None:
        self._store(passes=checks.integer(self.passes, "passes", low=2), dropout=checks.dropout_probability(self.dropout, "dropout"))


class UncertaintySampling(Strategy):
    """Acquisition by the highest ``uncertainty`` among the unlabeled rows, ties
    to the lower pool index (``highest``: a stable sort of the unlabeled rows in
    ascending index order). Subclasses say what the uncertainty is."""

    requires = ("logits",)
    kinds = ("classification",)

    def uncertainty(self, pool: PoolState) -> torch.Tensor:
        """float64 [N] over the whole pool, higher = more uncertain."""
        raise NotImplementedError

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        return highest(pool, self.uncertainty(pool), budget, 0)


class Entropy(UncertaintySampling):
    """The highest predictive ``entropy`` of the main classifier."""

    name = "entropy"

    def uncertainty(self, pool: PoolState) -> torch.Tensor:
        return entropy(pool["logits"])


class Margin(UncertaintySampling):
    """The smallest margin between the main classifier's two most probable
    classes (the highest ``margin`` score)."""

    name = "margin"

    def uncertainty(self, pool: PoolState) -> torch.Tensor:
        return margin(pool["logits"])


class LeastConfidence(UncertaintySampling):
    """The lowest probability of the main classifier's predicted class (the
    highest ``least_confidence``)."""

    name = "least-confidence"

    def uncertainty(self, pool: PoolState) -> torch.Tensor:
        return least_confidence(pool["logits"])


class BALD(UncertaintySampling):
    """BALD (Houlsby et al. 2011) with Monte-Carlo dropout (Gal et al. 2017): the
    highest ``mutual_information`` of ``passes`` stochastic forward passes over
    the pool. The model trains with a dropout of probability ``dropout`` before
    its main classifier (``classifier_dropout``), which the passes sample; the
    loop draws their masks under a seed of the trial and the cycle.

    Takes a ``BALDSettings`` as ``bald`` and/or keyword changes to it."""

    name = "bald"
    requires = (MC_LOGITS,)
    settings_names = ("bald",)

    def __init__(self, bald: BALDSettings | None = None, **changes) -> None:
        self.settings = BALDSettings.of(bald, **changes)
        self.classifier_dropout, self.mc_passes = self.settings.dropout, self.settings.passes

    def __repr__(self) -> str:
        return f"BALD({self.settings!r})"

    def uncertainty(self, pool: PoolState) -> torch.Tensor:
        return mutual_information(pool[MC_LOGITS])


class UncertaintyDACS(DACSStrategy):
    """X + DACS (section 4.3), X the uncertainty method ``base``: DACS proposes
    ``round(expand * budget)`` candidates on the auxiliary features and the
    ``budget`` most uncertain under X among them are kept (``acquire``; ties keep
    DACS's pick order). Takes ``dacs`` and X's settings objects."""

    base: type[UncertaintySampling]
    kinds = ("classification",)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # What X needs besides DACS's features, declared once, by X.
        cls.requires = ("aux_features", *cls.base.requires)
        cls.settings_names = ("dacs", *cls.base.settings_names)

    def __init__(self, dacs: DACSSettings | None = None, **base_settings) -> None:
        super().__init__(dacs)
        self.method = self.base(**base_settings)
        self.classifier_dropout, self.mc_passes = self.method.classifier_dropout, self.method.mc_passes

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dacs.settings!r}, {self.method!r})"

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        return self.acquire(pool, budget, self.method.uncertainty(pool))


class EntropyDACS(UncertaintyDACS):
    name, base = "entropy-dacs", Entropy


class MarginDACS(UncertaintyDACS):
    name, base = "margin-dacs", Margin


class LeastConfidenceDACS(UncertaintyDACS):
    name, base = "least-confidence-dacs", LeastConfidence


class BALDDACS(UncertaintyDACS):
    name, base = "bald-dacs", BALD

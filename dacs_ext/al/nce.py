"""NCE-Net (Wan et al., "Nearest Neighbor Classifier Embedded Network for Active
Learning", AAAI 2021): the main classifier replaced by learnable prototypes with
learnable radii, acquisition by how much the prototypes reject a sample; and
its combination with DACS (paper section 4.3)."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .. import _checks
from ..selection import DACSSettings
from ..settings import Settings
from .strategies import DACSStrategy, PoolState, Strategy, highest

SCORES = ("rejection", "confusion")


@dataclasses.dataclass(frozen=True)
class NCESettings(Settings):
    """NCE-Net's settings.

    Attributes:
        score: the uncertainty acquired by, highest first (see ``nce_uncertainty``):
            ``"rejection"`` (default) or ``"confusion"``.
        prototypes: prototypes per class, >= 1. 1.
        subset: NCE-Net alone scores only a random subset of this many unlabeled
            samples each cycle (its public code: 10,000); 0, the default, scores
            the whole pool. The combination with DACS scores DACS's candidates.
    """

    score: str = "rejection"
    prototypes: int = 1
    subset: int = 0

    def __post_init__(self) -> None:
        self._store(
            score=_checks.choice(self.score, "score", SCORES),
            prototypes=_checks.integer(self.prototypes, "prototypes", low=1),
            subset=_checks.integer(self.subset, "subset", low=0),
        )


class NCEClassifier(nn.Module):
    """Nearest-neighbour classifier head: ``prototypes`` learnable prototypes per
    class, each with a learnable radius r. A prototype's score for features f is
    ``exp(-d^2 / (2 sigmoid(r)^2))``, d the distance between the unit vectors of
    f and of the prototype (so d^2 = 2 - 2 cos, in [0, 4]); a class scores the
    best of its prototypes. Scores lie in (0, 1]; the prediction is the argmax.

    ``forward(features [B, F])`` returns scores [B, C]. ``loss`` is binary
    cross-entropy against one-hot labels, summed over the C classes of a row
    (one binary problem per class, at the scale of a softmax cross-entropy).
    """

    def __init__(self, feature_dim: int, num_classes: int, prototypes: int = 1) -> None:
        super().__init__()
        self.num_classes, self.per_class = num_classes, prototypes
        # Unit rows: the score reads only a prototype's direction, and a step
        # turns a prototype of norm r by 1/r of its size, so a randn prototype
        # (norm about sqrt(F)) would barely move.
        self.prototypes = nn.Parameter(F.normalize(torch.randn(num_classes * prototypes, feature_dim), dim=1))
        # sigmoid(0) = 0.5: a prototype starts out accepting features within
        # about 60 degrees of it (score 1/e at d = 2 * 0.5).
        self.radius = nn.Parameter(torch.zeros(num_classes * prototypes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        f, p = F.normalize(features, dim=1), F.normalize(self.prototypes, dim=1)
        d2 = (2 - 2 * f @ p.T).clamp(min=0)
        scores = torch.exp(-d2 / (2 * torch.sigmoid(self.radius) ** 2))
        return scores.view(-1, self.num_classes, self.per_class).amax(dim=2)

    def loss(self, scores: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        target = F.one_hot(y, self.num_classes).to(scores.dtype)
        # Clamped: a score of exactly 1 or 0 would make a log infinite.
        eps = torch.finfo(scores.dtype).eps
        per_row = F.binary_cross_entropy(scores.clamp(eps, 1 - eps), target, reduction="none").sum(dim=1)
        return per_row.mean() if reduction == "mean" else per_row


def nce_uncertainty(scores: torch.Tensor, kind: str = "rejection") -> torch.Tensor:
    """Uncertainty of each row from its class scores s [N, C] in (0, 1], higher =
    more uncertain:

    - ``"rejection"`` (NCE-Net's): ``sum_c (1 - s_c)``, high when every
      prototype rejects the sample (it lies far from all of them);
    - ``"confusion"``: ``sum_c s_c - max_c s_c``, how much the classes other than
      the predicted one also accept the sample. NCE-Net's paper names a
      confusion score without a formula its public code confirms; this is our
      definition.
    """
    kind = _checks.choice(kind, "kind", SCORES)
    if kind == "rejection":
        return (1 - scores).sum(dim=1)
    return scores.sum(dim=1) - scores.amax(dim=1)


class NCENet(Strategy):
    """Acquisition by the highest ``nce_uncertainty`` of the NCE classifier's scores."""

    name = "nce"
    requires = ("logits",)
    settings_names = ("nce",)

    def __init__(self, nce: NCESettings | None = None, **changes) -> None:
        self.settings = NCESettings.of(nce, **changes)

    def __repr__(self) -> str:
        return f"NCENet({self.settings!r})"

    def classifier(self, feature_dim: int, num_classes: int) -> nn.Module:
        return NCEClassifier(feature_dim, num_classes, self.settings.prototypes)

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        return highest(pool, nce_uncertainty(pool["logits"], self.settings.score), budget, self.settings.subset)


class NCENetDACS(DACSStrategy):
    """NCE-Net + DACS (section 4.3): DACS proposes ``expand`` x budget candidates,
    the most uncertain under NCE-Net's score among them are kept."""

    name = "nce-dacs"
    requires = ("aux_features", "logits")
    settings_names = ("dacs", "nce")

    def __init__(self, dacs: DACSSettings | None = None, nce: NCESettings | None = None) -> None:
        super().__init__(dacs)
        self.nce = NCESettings.of(nce)

    def classifier(self, feature_dim: int, num_classes: int) -> nn.Module:
        return NCEClassifier(feature_dim, num_classes, self.nce.prototypes)

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        return self.acquire(pool, budget, nce_uncertainty(pool["logits"], self.nce.score))

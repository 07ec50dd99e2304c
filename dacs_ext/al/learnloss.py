"""LearnLoss (Yoo & Kweon, "Learning Loss for Active Learning", CVPR 2019): a
loss-prediction module trained with the model, acquisition by the highest
predicted loss; and its combination with DACS (paper section 4.3)."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks
from ..nn import head_input
from ..settings import DACSSettings, Settings
from .model import Head, Tapped
from .strategies import DACSStrategy, PoolState, Strategy, highest


@dataclasses.dataclass(frozen=True)
class LearnLossSettings(Settings):
    """LearnLoss's settings (the defaults are its paper's and public code's).

    Attributes:
        margin: xi of the ranking loss, > 0. 1.0.
        weight: weight of the ranking loss in the total loss, >= 0. 1.0.
        width: units of each tap's Linear layer, >= 1. 128.
        subset: LearnLoss alone scores only a random subset of this many
            unlabeled samples each cycle (LearnLoss's public code: 10,000); 0, the
            default, scores the whole pool (cheap here, and the stronger
            baseline). The combination with DACS scores DACS's candidates.
    """

    margin: float = 1.0
    weight: float = 1.0
    width: int = 128
    subset: int = 0

    def __post_init__(self) -> None:
        self._store(
            margin=checks.positive(self.margin, "margin"),
            weight=checks.at_least(self.weight, "weight", 0.0),
            width=checks.integer(self.width, "width", low=1),
            subset=checks.integer(self.subset, "subset", low=0),
        )


def ranking_loss(predicted: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    """LearnLoss's margin ranking loss over the pairs (i, B-1-i) of a batch:
    mean of ``max(0, -sign(l_i - l_j) * (lhat_i - lhat_j) + margin)``, with sign
    -1 on ties (as LearnLoss's code). A batch of one row has no pair: 0.

    Args:
        predicted: [B] predicted losses lhat; target: [B] true losses l (detached).
    """
    half = predicted.shape[0] // 2
    if half == 0:
        return predicted.sum() * 0
    gap = (predicted - predicted.flip(0))[:half]
    sign = torch.where((target - target.flip(0))[:half] > 0, 1.0, -1.0).to(predicted.dtype)
    return torch.clamp(margin - sign * gap, min=0).mean()


class LossPredictionHead(Head):
    """LearnLoss's module: each tap (global average pooled when it is a map) ->
    Linear(width) -> ReLU; concatenated -> Linear -> one predicted loss per row.
    From ``stop_gradient_epoch`` on it reads the taps detached, so its loss no
    longer trains the backbone (LearnLoss's epoch 120 of 200)."""

    output = "predicted_loss"

    def __init__(self, tap_channels: tuple[int, ...], settings: LearnLossSettings | None = None) -> None:
        super().__init__()
        self.settings = LearnLossSettings.of(settings)
        width = self.settings.width
        self.taps = nn.ModuleList(nn.Linear(channels, width) for channels in tap_channels)
        self.out = nn.Linear(width * len(tap_channels), 1)

    def forward(self, tapped: Tapped, epoch: int, stop_gradient_epoch: float) -> torch.Tensor:
        if len(tapped.taps) != len(self.taps):
            raise ValueError(f"the loss-prediction module reads {len(self.taps)} taps, the backbone gave {len(tapped.taps)}")
        parts = []
        for linear, tap in zip(self.taps, tapped.taps):
            tap = head_input(tap, epoch, stop_gradient_epoch)
            parts.append(F.relu(linear(tap.mean(dim=tuple(range(2, tap.dim()))) if tap.dim() > 2 else tap)))
        return self.out(torch.cat(parts, dim=1)).squeeze(1)

    def loss(self, prediction: torch.Tensor, per_sample_loss: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.settings.weight * ranking_loss(prediction, per_sample_loss, self.settings.margin)


class LearnLoss(Strategy):
    """Acquisition by the highest predicted loss of LearnLoss's module."""

    name = "learnloss"
    requires = ("predicted_loss",)
    settings_names = ("learnloss",)

    def __init__(self, learnloss: LearnLossSettings | None = None, **changes) -> None:
        self.settings = LearnLossSettings.of(learnloss, **changes)

    def __repr__(self) -> str:
        return f"LearnLoss({self.settings!r})"

    def heads(self, tap_channels: tuple[int, ...]) -> list[Head]:
        return [LossPredictionHead(tap_channels, self.settings)]

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        return highest(pool, pool["predicted_loss"], budget, self.settings.subset)


class LearnLossDACS(DACSStrategy):
    """LearnLoss + DACS (section 4.3): DACS proposes ``expand`` x budget
    candidates, the highest predicted losses among them are kept."""

    name = "learnloss-dacs"
    requires = ("aux_features", "predicted_loss")
    settings_names = ("dacs", "learnloss")

    def __init__(self, dacs: DACSSettings | None = None, learnloss: LearnLossSettings | None = None) -> None:
        super().__init__(dacs)
        self.learnloss = LearnLossSettings.of(learnloss)

    def heads(self, tap_channels: tuple[int, ...]) -> list[Head]:
        return [LossPredictionHead(tap_channels, self.learnloss)]

    def select(self, pool: PoolState, budget: int) -> torch.Tensor:
        return self.acquire(pool, budget, pool["predicted_loss"])

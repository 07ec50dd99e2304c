"""A backbone with the main classifier and the auxiliary normalised head of
paper section 4.1.2, the model every strategy of a comparison trains (5.1.2)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..nn import NormalizedHead, head_input


class ModelOutput(NamedTuple):
    """What one forward pass gives, B rows of input:

    logits [B, C] of the main classifier, aux_logits [B, C] of the auxiliary
    head, features [B, F] (the backbone's penultimate features, what Core-set
    uses) and aux_features [B, dim] (unit rows, what DACS uses)."""

    logits: torch.Tensor
    aux_logits: torch.Tensor
    features: torch.Tensor
    aux_features: torch.Tensor


class AuxModel(nn.Module):
    """``backbone`` (input -> [B, feature_dim]) followed by a linear classifier
    and a ``NormalizedHead`` of width ``aux_dim`` on the same features.

    Args:
        backbone: any module mapping a batch to [B, feature_dim] features.
        feature_dim: width F of the backbone's output.
        num_classes: C.
        aux_dim: width of the normalised auxiliary features (16 in the paper).
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int, aux_dim: int = 16) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.aux = NormalizedHead(feature_dim, num_classes, dim=aux_dim)

    def forward(self, x: torch.Tensor, *, epoch: int = 0, stop_gradient_epoch: float = float("inf")) -> ModelOutput:
        """From ``stop_gradient_epoch`` on the auxiliary loss no longer reaches
        the backbone (section 5.2.2)."""
        features = self.backbone(x)
        aux_logits, aux_features = self.aux(head_input(features, epoch, stop_gradient_epoch))
        return ModelOutput(self.classifier(features), aux_logits, features, aux_features)

"""The low-dimensional normalised auxiliary head of paper section 4.1.2 (Eq. 3-5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_AUX_WEIGHT = 1.0
"""lambda of Eq. 5; the paper does not state it."""


class NormalizedHead(nn.Module):
    """Auxiliary head: ``z16 = normalize(W^T z)`` (Eq. 3) and a predictor on it.

    Args:
        in_features: width of the backbone features z.
        out_features: classes (classification) or targets (regression).
        dim: width of the normalised features (16 in the paper).
        task: ``"classification"``: a cosine classifier, logits =
            ``scale * cos(z16, w_c)``; ``"regression"``: a linear layer on z16.
        scale: the cosine classifier's scale; learnable from 10.0 when None,
            fixed when a number.
        center: batch-normalise the projection (``BatchNorm1d(dim,
            affine=False)``: centred, unit variance per unit, running statistics
            in eval mode) before normalising it. Backbone features after a ReLU
            share one large mean direction, so ``W^T z`` of every row points about
            the same way; a classification loss spreads the rows apart, a scalar
            regression loss does not (Davis: effective rank 1.0 of 16, every row
            in one LSH bucket; README, "The regression auxiliary head").

    ``forward(features [B, in_features])`` returns ``(prediction [B,
    out_features], z16 [B, dim])``; z16 rows have unit L2 norm and are what DACS
    selects on.
    """

    def __init__(
        self, in_features: int, out_features: int, dim: int = 16, *, task: str = "classification", scale: float | None = None,
        center: bool = False,
    ) -> None:
        super().__init__()
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
        for name, value in (("in_features", in_features), ("out_features", out_features), ("dim", dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.task = task
        self.project = nn.Linear(in_features, dim, bias=False)
        self.center = nn.BatchNorm1d(dim, affine=False) if center else None
        if task == "classification":
            self.weight = nn.Parameter(torch.empty(out_features, dim))
            nn.init.normal_(self.weight)
            if scale is None:
                self.scale = nn.Parameter(torch.tensor(10.0))
            else:
                self.register_buffer("scale", torch.tensor(float(scale)))
        else:
            self.predict = nn.Linear(dim, out_features)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        projected = self.project(features)
        z = F.normalize(self.center(projected) if self.center is not None else projected, dim=1)
        if self.task == "classification":
            return self.scale * (z @ F.normalize(self.weight, dim=1).T), z
        return self.predict(z), z


def head_input(features: torch.Tensor, epoch: int, stop_gradient_epoch: int) -> torch.Tensor:
    """The backbone features as the head should see them: from ``stop_gradient_epoch``
    on they are detached, so the auxiliary loss no longer trains the backbone
    (section 5.2.2)."""
    return features.detach() if epoch >= stop_gradient_epoch else features


def total_loss(main_loss: torch.Tensor, aux_loss: torch.Tensor, aux_weight: float = DEFAULT_AUX_WEIGHT) -> torch.Tensor:
    """Eq. 5: ``L_main + lambda * L_aux`` (lambda defaults to 1.0)."""
    return main_loss + aux_weight * aux_loss

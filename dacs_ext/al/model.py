"""A backbone with the main classifier and the auxiliary normalised head of
paper section 4.1.2, the model every strategy of a comparison trains (5.1.2),
plus the heads a strategy adds (e.g. LearnLoss's loss predictor), fed by the
backbone's feature taps."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import NormalizedHead, head_input


class Tapped(NamedTuple):
    """What a backbone with feature taps returns for B rows of input:
    ``features`` [B, F] (the penultimate features) and ``taps``, its
    intermediate features in depth order, each [B, C_i] or a map [B, C_i, H, W].
    A backbone that returns a plain [B, F] tensor has one tap, its features."""

    features: torch.Tensor
    taps: tuple[torch.Tensor, ...]


class ModelOutput(NamedTuple):
    """What one forward pass gives, B rows of input:

    logits [B, C] of the main classifier (a regression model: its predictions
    [B]), aux_logits [B, C] of the auxiliary head (regression: [B, 1]), features [B, F] (the backbone's penultimate features, what Core-set
    uses), aux_features [B, dim] (unit rows, what DACS uses), taps (the
    backbone's intermediate features, see ``Tapped``) and extras (the outputs
    of the heads strategies added, by name, e.g. ``predicted_loss`` [B])."""

    logits: torch.Tensor
    aux_logits: torch.Tensor
    features: torch.Tensor
    aux_features: torch.Tensor
    taps: tuple[torch.Tensor, ...] = ()
    extras: dict = {}

    def get(self, name: str) -> torch.Tensor:
        """A field or a head's output by name."""
        if name in self._fields and name not in ("taps", "extras"):
            return getattr(self, name)
        return self.extras[name]


class LinearClassifier(nn.Linear):
    """The main classifier of every method but NCE-Net: features [B, F] ->
    logits [B, C], trained with cross-entropy; the prediction is the argmax.

    A replacement (``Strategy.classifier``) keeps this interface: ``forward``
    gives [B, C] scores whose argmax is the prediction, ``loss(scores, y,
    reduction)`` its training loss (``"mean"`` or per row with ``"none"``)."""

    def loss(self, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(logits, y, reduction=reduction)


class LinearRegressor(nn.Linear):
    """The main head of a regression task: features [B, F] -> predictions [B]
    (in ``ModelOutput.logits``), trained with the squared error, so LearnLoss
    predicts each sample's squared error."""

    def __init__(self, in_features: int) -> None:
        super().__init__(in_features, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return super().forward(features).squeeze(1)

    def loss(self, predictions: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.mse_loss(predictions, y, reduction=reduction)


KINDS = ("classification", "regression")
"""What a task predicts: a class out of C (int64 labels), or one real number (float targets)."""


class Head(nn.Module):
    """A module a strategy adds to the model: it reads the backbone's output and
    gives the named output ``output`` (e.g. ``predicted_loss``), and adds a term
    to the training loss.

    Subclasses implement ``forward(tapped: Tapped, epoch, stop_gradient_epoch)
    -> Tensor [B, ...]`` and ``loss(prediction, per_sample_loss [B], y [B]) ->
    scalar``; ``per_sample_loss`` is the main loss of each row, detached.
    """

    output: str = "head"

    def loss(self, prediction: torch.Tensor, per_sample_loss: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class AuxModel(nn.Module):
    """``backbone`` (input -> [B, feature_dim] or ``Tapped``) followed by a linear
    main head and a ``NormalizedHead`` of width ``aux_dim`` on the same
    features, and any heads added with ``add_head``.

    Args:
        backbone: any module mapping a batch to [B, feature_dim] features, or to
            ``Tapped(features, taps)``; a backbone with taps says their widths in
            a ``tap_channels`` attribute.
        feature_dim: width F of the backbone's features.
        num_classes: C for classification; 1 for regression.
        aux_dim: width of the normalised auxiliary features (16 in the paper).
        kind: ``"classification"`` (``LinearClassifier``, logits [B, C];
            auxiliary cosine classifier, cross-entropy) or ``"regression"``
            (``LinearRegressor``, predictions [B]; auxiliary linear regressor on
            the unit features, squared error).
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int, aux_dim: int = 16, *, kind: str = "classification") -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind == "regression" and num_classes != 1:
            raise ValueError(f"a regression model predicts one number: num_classes must be 1, got {num_classes!r}")
        self.backbone = backbone
        self.kind, self.feature_dim, self.num_classes = kind, feature_dim, num_classes
        self.classifier = LinearClassifier(feature_dim, num_classes) if kind == "classification" else LinearRegressor(feature_dim)
        self.aux = NormalizedHead(feature_dim, num_classes, dim=aux_dim, task=kind)
        self.heads = nn.ModuleDict()
        self.tap_channels = tuple(getattr(backbone, "tap_channels", (feature_dim,)))

    def set_classifier(self, classifier: nn.Module) -> None:
        """Replaces the main classifier (see ``LinearClassifier`` for what it must do)."""
        if not callable(getattr(classifier, "loss", None)):
            raise TypeError(f"a classifier needs a loss(scores, y, reduction) method, {type(classifier).__name__} has none")
        self.classifier = classifier

    def add_head(self, head: Head) -> None:
        if head.output in self.heads or head.output in ModelOutput._fields:
            raise ValueError(f"the model already has an output {head.output!r}")
        self.heads[head.output] = head

    def outputs(self) -> tuple[str, ...]:
        """The names ``embed`` can compute: the fields of ``ModelOutput`` with
        tensors, and the heads' outputs."""
        return ("logits", "aux_logits", "features", "aux_features", *self.heads)

    def aux_loss(self, aux_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The auxiliary head's training loss (L_aux of Eq. 5)."""
        if self.kind == "classification":
            return F.cross_entropy(aux_logits, y)
        return F.mse_loss(aux_logits.squeeze(1), y)

    def forward(self, x: torch.Tensor, *, epoch: int = 0, stop_gradient_epoch: float = float("inf")) -> ModelOutput:
        """From ``stop_gradient_epoch`` on the auxiliary loss no longer reaches
        the backbone (section 5.2.2); heads decide the same for themselves."""
        out = self.backbone(x)
        tapped = out if isinstance(out, Tapped) else Tapped(out, (out,))
        features = tapped.features
        aux_logits, aux_features = self.aux(head_input(features, epoch, stop_gradient_epoch))
        extras = {name: head(tapped, epoch, stop_gradient_epoch) for name, head in self.heads.items()}
        return ModelOutput(self.classifier(features), aux_logits, features, aux_features, tapped.taps, extras)

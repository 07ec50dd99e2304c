"""A backbone with the main classifier and the auxiliary normalised head of
paper section 4.1.2, the model every strategy of a comparison trains (5.1.2),
plus the heads a strategy adds (e.g. LearnLoss's loss predictor), fed by the
backbone's feature taps."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks
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
    predicts each sample's squared error.

    The prediction is ``mean + std * (w.f + b)`` with the labeled targets' mean
    and std (``fit_target``, set before each training; buffers, 0 and 1 until
    then): the same functions as a plain linear layer, but a freshly initialised
    one starts at the targets' level instead of at 0. Without it the backbone
    must grow one large activation direction to reach an offset like pKd's 5-10,
    and its features collapse to about one direction of variation (Davis, cycle
    0: 99.6% of the penultimate features' variance, 312 of 512 units dead; README,
    "The regression auxiliary head")."""

    def __init__(self, in_features: int) -> None:
        super().__init__(in_features, 1)
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    @torch.no_grad()
    def fit_target(self, y: torch.Tensor) -> None:
        """Sets the mean and std (population; 0 counts as 1) from the targets y [M]."""
        mean, std = standardization(y)
        self.target_mean.fill_(mean)
        self.target_std.fill_(std)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.target_mean + self.target_std * super().forward(features).squeeze(1)

    def loss(self, predictions: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.mse_loss(predictions, y, reduction=reduction)


def standardization(y: torch.Tensor) -> tuple[float, float]:
    """(mean, std) of the targets y [M] in float64, the population std, 1.0 where it is 0."""
    y = y.double()
    std = float(y.std(unbiased=False)) if y.numel() > 1 else 0.0
    return float(y.mean()), std if std > 0 else 1.0


KINDS = ("classification", "regression")
"""What a task predicts: a class out of C (int64 labels), or one real number (float targets)."""

AUX_TARGETS = ("centered", "standardized", "raw", "bins")
"""What the auxiliary head of a regression model learns (``AuxModel``'s
``aux_target``); README, "The regression auxiliary head", has the measurements
that chose ``"centered"``."""

AUX_BINS = 10
"""Quantile bins of ``aux_target="bins"`` (fewer where the labeled targets tie)."""


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
            (``LinearRegressor``, predictions [B]; the auxiliary head as
            ``aux_target`` says).
        aux_target: regression only, what the auxiliary head learns from the
            unit features (``fit_targets`` sets its statistics from each
            training's labeled targets, kept as buffers): ``"centered"``: as
            ``"standardized"``, on a projection batch-normalised before it is
            normalised (``NormalizedHead``'s ``center``);
            ``"standardized"``: a linear regressor of ``(y - mean) / std``, squared
            error, so residuals are signed from the first step whatever the
            targets' offset; ``"raw"``: a linear regressor of y itself (a unit
            vector's ``w.z + b`` cannot reach an offset like pKd's 5-10 for
            hundreds of steps, and every z is pushed the same way meanwhile: the
            collapse of README's Davis section); ``"bins"``: a cosine classifier
            of y's quantile bin (``AUX_BINS``) on the batch-normalised projection,
            cross-entropy.
    """

    def __init__(
        self, backbone: nn.Module, feature_dim: int, num_classes: int, aux_dim: int = 16, *, kind: str = "classification",
        aux_target: str = "centered",
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind == "regression" and num_classes != 1:
            raise ValueError(f"a regression model predicts one number: num_classes must be 1, got {num_classes!r}")
        if aux_target not in AUX_TARGETS:
            raise ValueError(f"aux_target must be one of {AUX_TARGETS}, got {aux_target!r}")
        self.backbone = backbone
        self.kind, self.feature_dim, self.num_classes = kind, feature_dim, num_classes
        self.classifier = LinearClassifier(feature_dim, num_classes) if kind == "classification" else LinearRegressor(feature_dim)
        self.aux_target = aux_target if kind == "regression" else None
        if self.aux_target == "bins":
            self.aux = NormalizedHead(feature_dim, AUX_BINS, dim=aux_dim, task="classification", center=True)
            self.register_buffer("aux_bin_edges", torch.full((AUX_BINS - 1,), float("inf")))
        else:
            self.aux = NormalizedHead(feature_dim, num_classes, dim=aux_dim, task=kind, center=self.aux_target == "centered")
        if self.aux_target in ("standardized", "centered"):
            self.register_buffer("aux_target_mean", torch.zeros(()))
            self.register_buffer("aux_target_std", torch.ones(()))
        self.heads = nn.ModuleDict()
        self.classifier_dropout: nn.Module = nn.Identity()
        self.tap_channels = tuple(getattr(backbone, "tap_channels", (feature_dim,)))

    def set_classifier(self, classifier: nn.Module) -> None:
        """Replaces the main classifier (see ``LinearClassifier`` for what it must do)."""
        if not callable(getattr(classifier, "loss", None)):
            raise TypeError(f"a classifier needs a loss(scores, y, reduction) method, {type(classifier).__name__} has none")
        self.classifier = classifier

    def set_classifier_dropout(self, p: float) -> None:
        """Puts a dropout of probability ``p`` in [0, 1) on the features the main
        classifier reads (the auxiliary head and the added heads read them
        undropped): the model trains with it, and Monte-Carlo dropout
        (``training.mc_dropout_logits``, BALD) samples it. 0 removes it: no module,
        so the model computes and draws exactly as without this call."""
        p = checks.dropout_probability(p, "classifier dropout p")
        self.classifier_dropout = nn.Dropout(p) if p > 0 else nn.Identity()

    def add_head(self, head: Head) -> None:
        if head.output in self.heads or head.output in ModelOutput._fields:
            raise ValueError(f"the model already has an output {head.output!r}")
        self.heads[head.output] = head

    def outputs(self) -> tuple[str, ...]:
        """The names ``embed`` can compute: the fields of ``ModelOutput`` with
        tensors, and the heads' outputs."""
        return ("logits", "aux_logits", "features", "aux_features", *self.heads)

    @torch.no_grad()
    def fit_targets(self, y: torch.Tensor) -> None:
        """Sets a regression model's target statistics from a training's targets
        y [M] (nothing for classification): the main head's mean and std
        (``LinearRegressor.fit_target``) and the auxiliary head's: the same mean
        and std, or for ``"bins"`` the distinct inner quantiles as the bin edges
        (padded with +inf to ``AUX_BINS - 1``, so the buffer keeps its shape
        across a warm start)."""
        if self.kind != "regression":
            return
        if hasattr(self.classifier, "fit_target"):
            self.classifier.fit_target(y)
        if self.aux_target in ("standardized", "centered"):
            mean, std = standardization(y)
            self.aux_target_mean.fill_(mean)
            self.aux_target_std.fill_(std)
        elif self.aux_target == "bins":
            levels = torch.linspace(0, 1, AUX_BINS + 1, dtype=torch.float64, device=y.device)[1:-1]
            inner = torch.quantile(y.double(), levels).unique()
            self.aux_bin_edges.fill_(float("inf"))
            self.aux_bin_edges[: inner.numel()] = inner.to(self.aux_bin_edges.dtype)

    def target_statistics(self) -> dict:
        """What ``fit_targets`` set, as JSON values: ``{"mean", "std"}`` and, for
        ``"bins"``, ``"bin_edges"`` (the finite ones); ``{}`` for classification."""
        if self.kind != "regression":
            return {}
        stats = {}
        if hasattr(self.classifier, "target_mean"):
            stats.update(mean=float(self.classifier.target_mean), std=float(self.classifier.target_std))
        if self.aux_target == "bins":
            stats["bin_edges"] = [float(e) for e in self.aux_bin_edges if bool(torch.isfinite(e))]
        return stats

    def aux_loss(self, aux_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The auxiliary head's training loss (L_aux of Eq. 5)."""
        if self.kind == "classification":
            return F.cross_entropy(aux_logits, y)
        if self.aux_target == "bins":
            return F.cross_entropy(aux_logits, torch.bucketize(y, self.aux_bin_edges.to(y.dtype), right=True))
        if self.aux_target in ("standardized", "centered"):
            y = (y - self.aux_target_mean.to(y.dtype)) / self.aux_target_std.to(y.dtype)
        return F.mse_loss(aux_logits.squeeze(1), y)

    def forward(self, x: torch.Tensor, *, epoch: int = 0, stop_gradient_epoch: float = float("inf")) -> ModelOutput:
        """From ``stop_gradient_epoch`` on the auxiliary loss no longer reaches
        the backbone (section 5.2.2); heads decide the same for themselves."""
        out = self.backbone(x)
        tapped = out if isinstance(out, Tapped) else Tapped(out, (out,))
        features = tapped.features
        aux_logits, aux_features = self.aux(head_input(features, epoch, stop_gradient_epoch))
        extras = {name: head(tapped, epoch, stop_gradient_epoch) for name, head in self.heads.items()}
        logits = self.classifier(self.classifier_dropout(features))
        return ModelOutput(logits, aux_logits, features, aux_features, tapped.taps, extras)

"""Training with the auxiliary head (Eq. 5), pool embedding and evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import checks
from ..nn import DEFAULT_AUX_WEIGHT, total_loss
from ..settings import Settings
from .metrics import task_metrics
from .model import AuxModel


OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainConfig(Settings):
    """One training run on the labeled set (paper 5.2.2 by default): SGD with
    momentum, the learning rate multiplied by ``lr_drop_factor`` from epoch
    ``lr_drop_epoch`` on, the auxiliary gradient stopped from ``aux_stop_epoch`` on.

    ``weight_decay`` is not stated by the paper; 5e-4 is LearnLoss's, whose
    protocol the paper follows. ``optimizer`` is ``"sgd"`` (with ``momentum``)
    or ``"adam"`` (DeepDTA's; ``momentum`` unused); a ``lr_drop_epoch`` at or
    past ``epochs`` never drops the learning rate. ``bf16`` runs the training
    forward passes under bfloat16 autocast (the losses, the weights and every
    embedding and evaluation stay float32): 1.84x faster per DeepDTA step on a
    CPU with AVX-512 BF16 (tests/benchmarks/README.md). ``channels_last``
    stores the model's 4-D weights channels-last, so convolutions run in NHWC
    (faster with tensor cores); ``compile`` runs the training forward passes
    through ``torch.compile`` (compiled once per cycle)."""

    optimizer: str = "sgd"
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.4
    weight_decay: float = 5e-4
    lr_drop_epoch: int = 160
    lr_drop_factor: float = 0.1
    aux_stop_epoch: int = 120
    aux_weight: float = DEFAULT_AUX_WEIGHT

    def __post_init__(self) -> None:
        self._store(
            optimizer=checks.choice(self.optimizer, "optimizer", OPTIMIZERS),
            **{name: checks.boolean(getattr(self, name), name) for name in ("bf16", "channels_last", "compile")},
            **{name: checks.integer(getattr(self, name), name, low=1) for name in ("epochs", "batch_size")},
            **{name: checks.integer(getattr(self, name), name, low=0) for name in ("lr_drop_epoch", "aux_stop_epoch")},
            **{name: checks.at_least(getattr(self, name), name, 0.0) for name in ("lr", "momentum", "weight_decay", "lr_drop_factor", "aux_weight")},
        )


BF16_TOLERANCE = 0.1
"""Largest relative error bfloat16 autocast may add to a model's features and
outputs before ``train_model`` refuses it. Measured at initialisation (AMD EPYC,
AVX-512, torch 2.13): 0.003-0.004 for the MLP, DeepDTA and ResNet-18 of the
experiments. Where a bf16 kernel is wrong it is far larger: 0.99-1.03 for a lone
Conv1d with 8 input channels and a kernel of 8-12 (oneDNN on an Intel Xeon with
AMX, torch 2.11), 0.33 at the output of a DeepDTA trained through it."""


class UnreliableBF16Error(RuntimeError):
    """bfloat16 autocast changes the model's outputs on this machine far beyond
    bfloat16's rounding: one of its bf16 kernels computes something else."""


@torch.no_grad()
def check_bf16(model: AuxModel, x: torch.Tensor, tolerance: float = BF16_TOLERANCE) -> float:
    """The relative error (Frobenius) that bfloat16 autocast adds to the
    features and outputs of ``model`` on the rows ``x`` [B, ...], in eval mode
    (the mode is restored). Raises ``UnreliableBF16Error`` above ``tolerance``:
    training would fit a function that float32 evaluation does not compute."""
    training = model.training
    model.eval()
    try:
        exact = model(x)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            low = model(x)
    finally:
        model.train(training)
    error = max(
        float((b.float() - a).norm() / a.norm().clamp_min(torch.finfo(torch.float32).tiny))
        for a, b in ((exact.features, low.features), (exact.logits, low.logits))
    )
    if not error <= tolerance:
        raise UnreliableBF16Error(
            f"bf16=True: bfloat16 autocast changes this model's outputs by {error:.1%} relative to float32 on {x.device} "
            f"(rounding gives about 1%); a bf16 kernel of this machine is wrong for this model (seen: oneDNN's bf16 Conv1d "
            f"with 8 input channels on Intel AMX CPUs, torch 2.11). Train without bf16, or try torch.backends.mkldnn.enabled = False"
        )
    return error


def train_model(
    model: AuxModel,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    *,
    progress: bool = False,
    description: str = "epochs",
) -> float:
    """Trains ``model`` in place on x [M, ...] and y [M] (int64 labels, or float
    targets for a regression model) with L_main + lambda * L_aux (L_main the main
    head's loss: cross-entropy unless a strategy replaced the classifier, squared
    error for regression; L_aux ``model.aux_loss``, its target statistics first
    set from y: ``AuxModel.fit_targets``), plus the loss term of every head
    the model carries (given each row's main loss, detached). Batches are
    reshuffled every epoch from ``generator`` (CPU).

    Returns:
        the mean training loss of the last epoch (raises if it is not finite, and
        ``UnreliableBF16Error`` if bf16 autocast miscomputes the model: ``check_bf16``).
    """
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"x and y must have the same, non-zero number of rows, got {x.shape[0]} and {y.shape[0]}")
    if config.bf16:
        check_bf16(model, x[: config.batch_size])
    model.fit_targets(y)
    model.train()
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    forward = torch.compile(model) if config.compile else model
    epoch_loss = float("nan")
    for epoch in tqdm(range(config.epochs), desc=description, leave=False, disable=not progress):
        if epoch == config.lr_drop_epoch:
            for group in optimizer.param_groups:
                group["lr"] *= config.lr_drop_factor
        total, batches = torch.zeros((), device=x.device), 0
        for batch in torch.randperm(x.shape[0], generator=generator).to(x.device).split(config.batch_size):
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.bf16):
                out = forward(x[batch], epoch=epoch, stop_gradient_epoch=config.aux_stop_epoch)
            if config.bf16:  # the losses in float32
                out = out._replace(
                    logits=out.logits.float(), aux_logits=out.aux_logits.float(), extras={k: v.float() for k, v in out.extras.items()}
                )
            main = model.classifier.loss(out.logits, y[batch])
            loss = total_loss(main, model.aux_loss(out.aux_logits, y[batch]), config.aux_weight)
            if model.heads:
                # Computed apart: the mean of these is not bitwise the loss above,
                # and a model without heads must train as it always did.
                per_sample = model.classifier.loss(out.logits.detach(), y[batch], reduction="none")
                for name, head in model.heads.items():
                    loss = loss + head.loss(out.extras[name], per_sample, y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
            batches += 1
        epoch_loss = float(total) / batches
        if not math.isfinite(epoch_loss):
            raise FloatingPointError(f"training diverged at epoch {epoch}: loss {epoch_loss} (lower lr?)")
    return epoch_loss


@torch.no_grad()
def embed(model: AuxModel, x: torch.Tensor, names, *, batch_size: int = 8192) -> dict[str, torch.Tensor]:
    """The model outputs ``names`` (``model.outputs()``: fields of
    ``ModelOutput`` and the heads' outputs) for every row of x [N, ...], in eval
    mode, batch by batch: a dict of [N, ...] tensors."""
    names = tuple(names)
    unknown = set(names) - set(model.outputs())
    if unknown:
        raise ValueError(f"unknown model outputs {sorted(unknown)}; choose from {model.outputs()}")
    model.eval()
    parts = {name: [] for name in names}
    for chunk in x.split(batch_size):
        out = model(chunk)
        for name in names:
            parts[name].append(out.get(name))
    return {name: torch.cat(chunks) for name, chunks in parts.items()}


DROPOUT_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
"""The modules Monte-Carlo dropout samples (dropout called as a function inside
a module's ``forward`` follows that module's mode, which stays eval)."""


@torch.no_grad()
def mc_dropout_logits(model: AuxModel, x: torch.Tensor, passes: int, *, seed: int, batch_size: int = 8192) -> torch.Tensor:
    """The main classifier's logits of ``passes`` (T) stochastic forward passes
    over every row of x [N, ...]: float32 [T, N, C]. Every dropout module
    (``DROPOUT_MODULES``) with p > 0 is active, every other module is in eval mode
    (BatchNorm uses its running statistics, augmentation is off); the model is
    left in eval mode.

    The masks come from the global generators, seeded with ``seed`` for this call
    and restored after it, drawn pass by pass and batch by batch: the same seed,
    model and batch size give the same logits. When the model's only active
    dropout is ``AuxModel.classifier_dropout`` the backbone runs once and only the
    classifier is sampled T times (what the full passes compute, T times cheaper).

    Raises:
        ValueError: the model has no dropout module with p > 0 (every pass would
            be the same, and an uncertainty read from their disagreement 0).
    """
    passes = checks.integer(passes, "passes", low=1)
    active = [m for m in model.modules() if isinstance(m, DROPOUT_MODULES) and m.p > 0]
    if not active:
        raise ValueError(
            f"Monte-Carlo dropout needs dropout in the model, and this {type(model).__name__} has no dropout module with p > 0: "
            "add nn.Dropout to the backbone, or call AuxModel.set_classifier_dropout(p) (BALD does, with BALDSettings.dropout > 0)"
        )
    model.eval()
    if active == [model.classifier_dropout]:
        inputs = embed(model, x, ("features",), batch_size=batch_size)["features"]

        def sample(rows: torch.Tensor) -> torch.Tensor:
            return model.classifier(model.classifier_dropout(rows))
    else:
        inputs = x

        def sample(rows: torch.Tensor) -> torch.Tensor:
            return model(rows).logits

    for module in active:
        module.train()
    try:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            return torch.stack([torch.cat([sample(rows) for rows in inputs.split(batch_size)]) for _ in range(passes)])
    finally:
        model.eval()


def evaluate(model: AuxModel, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 8192) -> dict[str, float]:
    """The test metrics of the model's kind (``metrics.METRICS``) on x [M, ...],
    y [M]: ``{"accuracy": 0-1}`` for classification, ``{"mse", "ci"}`` for regression."""
    outputs = embed(model, x, ("logits",), batch_size=batch_size)["logits"]
    return task_metrics(model.kind, outputs, y)

"""The Repeated-MNIST task (paper 5.2): data, the 3-layer MLP and the presets.

Model: an MLP 784 -> 512 -> 256 -> 10 (three linear layers, ReLU between; the
paper says only "3-layered feed-forward network"). Core-set uses the 256-d
penultimate features, DACS the 16-d auxiliary head on the same features.
"""

from __future__ import annotations

import torch
from torch import nn

from dacs_ext.al import AuxModel, LoopConfig, Tapped, TrainConfig

from .mnist import DEFAULT_DIR, load_mnist, repeated_mnist
from .base import Preset, Task, subset

WIDTHS = (512, 256)
CLASSES = 10
COPIES = 3
"""Each training image is in the pool this many times."""
DATA_SEED = 0
"""The Repeated-MNIST noise is drawn once, the same for every trial and method."""

PRESETS = {
    # Section 5.2.2 exactly: 500 initial labels, 500 per cycle, 10 measurements,
    # 200 epochs, lr 0.1 -> 0.01 at 160, auxiliary gradient stopped at 120.
    "paper": Preset(LoopConfig(500, 500, 10), TrainConfig()),
    # The paper's pool, labels and schedule shape, 40 epochs instead of 200:
    # Random, Core-set and DACS, 3 trials, in about 6 minutes on 2 cores.
    "cpu": Preset(LoopConfig(500, 500, 10), TrainConfig(epochs=40, lr_drop_epoch=32, aux_stop_epoch=24)),
    # Seconds, for tests: 200 training images (600 in the pool), 3 measurements.
    # lr 0.05: at the paper's 0.1, LearnLoss's ranking loss on 20-60 labels made
    # training diverge (NaN) in 4 of 8 seeds (2026-12-05, tests/MARGINS.md).
    "smoke": Preset(
        LoopConfig(20, 20, 3), TrainConfig(epochs=10, batch_size=32, lr=0.05, lr_drop_epoch=8, aux_stop_epoch=6),
        train_limit=200, test_limit=200,
    ),
}


class MLP(nn.Sequential):
    """Linear + ReLU per width. ``forward(x [B, in_features])`` gives
    ``Tapped(features [B, widths[-1]], taps)``: every hidden layer's output is a
    tap (what LearnLoss's module reads)."""

    def __init__(self, in_features: int, widths: tuple[int, ...]) -> None:
        layers, width = [], in_features
        for out in widths:
            layers += [nn.Linear(width, out), nn.ReLU()]
            width = out
        super().__init__(*layers)
        self.tap_channels = tuple(widths)

    def forward(self, x: torch.Tensor) -> Tapped:
        taps = []
        for layer in self:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                taps.append(x)
        return Tapped(x, tuple(taps))


def mlp(in_features: int = 28 * 28, widths: tuple[int, ...] = WIDTHS) -> MLP:
    """The backbone; the classifier on top is the third layer."""
    return MLP(in_features, widths)


def make_model(preset: Preset | None = None) -> AuxModel:
    return AuxModel(mlp(), WIDTHS[-1], CLASSES, aux_dim=preset.aux_dim if preset is not None else 16)


def copies(pool_size: int, order: torch.Tensor) -> int:
    """Labels in ``order`` (int64 pool indices) spent on a copy of an image
    already labeled: pool row i is copy ``i // images`` of image ``i % images``."""
    return order.numel() - torch.unique(order % (pool_size // COPIES)).numel()


def load(data_dir: str, preset: Preset):
    """Pool (Repeated-MNIST training set) and test set as flat float32 images.

    Returns:
        pool_x float32 [3 * N, 784], pool_y int64 [3 * N], test_x float32 [T, 784],
        test_y int64 [T], and the model's inputs (none).
    """
    data = load_mnist(data_dir)
    kept = subset(data.train_labels, preset.train_limit)
    data.train_images, data.train_labels = data.train_images[kept], data.train_labels[kept]
    kept = subset(data.test_labels, preset.test_limit)
    data.test_images, data.test_labels = data.test_images[kept], data.test_labels[kept]
    return (*repeated_mnist(data, copies=COPIES, generator=torch.Generator().manual_seed(DATA_SEED)), {})


TASK = Task(
    name="rmnist",
    title="Repeated-MNIST",
    kind="classification",
    presets=PRESETS,
    default_data_dir=DEFAULT_DIR,
    load=load,
    make_model=make_model,
    copies=copies,
)

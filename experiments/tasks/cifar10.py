"""The CIFAR-10 task (paper 5.2, Table 1): ResNet-18 on CIFAR-10's python batches.

CIFAR-10 is not on these machines and nothing here downloads it: users pass
their own ``cifar-10-batches-py`` folder with ``--data-dir``. It holds
``data_batch_1`` ... ``data_batch_5`` (the pool, 50,000 images) and
``test_batch`` (10,000), each a pickled dict with ``data`` (uint8 [n, 3072],
channel-major 32x32) and ``labels`` (n ints in 0-9). The pickles are read with a
restricted unpickler (``safe_pickle``): dicts, lists, strings, bytes, ints and
numpy arrays, nothing else.

The images stay uint8 [N, 3, 32, 32] on the device. The model's first module
(``CifarInput``) normalises them and, in training mode only, first crops and
flips them, for a whole batch at once on the device: embedding and evaluation
see unaugmented images.

Model: ResNet-18 in its CIFAR variant (a 3x3 stem of stride 1, no max-pool),
written here because torchvision's registry wheel does not import beside the
CPU torch used here. Core-set reads its 512-d pooled features, DACS the 16-d
auxiliary head on them, LearnLoss its four stages.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dacs_ext import checks
from dacs_ext.al import AuxModel, LoopConfig, Tapped, TrainConfig

from . import safe_pickle
from .base import Preset, Task, subset
from .images import read_image_folder

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASSES, CHANNELS, SIDE = 10, 3, 32
PADDING = 4
# Per-channel mean and standard deviation of CIFAR-10's training pixels (0-1
# scale). Some public code uses (0.2023, 0.1994, 0.2010) as the deviation, which
# is the deviation of per-image means, not of pixels.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class DataError(ValueError):
    """A CIFAR-10 folder or batch file that does not hold what the format says."""


@dataclass
class CifarData:
    """uint8 images [N, 3, 32, 32] and int64 labels [N] of the pool (the five
    training batches, in order) and of the test batch."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def read_batch(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch file: uint8 images [n, 3, 32, 32] and int64 labels [n].

    Accepts the keys as bytes (``b"data"``, Python 2's files read as bytes) or as
    strings, ``labels`` as a list or a 1-D integer array, and any n >= 1.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing (a cifar-10-batches-py folder holds {', '.join(TRAIN_BATCHES)} and {TEST_BATCH})")
    batch = safe_pickle.load(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    entries = {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in batch.items()}
    for key in ("data", "labels"):
        if key not in entries:
            raise DataError(f"{path}: no {key!r} entry (has {sorted(map(str, entries))})")
    data, labels = entries["data"], entries["labels"]
    width = CHANNELS * SIDE * SIDE
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width or data.shape[0] == 0:
        described = f"{data.dtype} array of shape {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: 'data' must be a uint8 array [n >= 1, {width}], got a {described}")
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if not isinstance(labels, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise DataError(f"{path}: 'labels' must be a list of ints")
    if len(labels) != data.shape[0]:
        raise DataError(f"{path}: {data.shape[0]} images but {len(labels)} labels")
    bad = [v for v in labels if not 0 <= v < CLASSES]
    if bad:
        raise DataError(f"{path}: label {bad[0]} is outside 0-{CLASSES - 1}")
    images = torch.from_numpy(np.ascontiguousarray(data)).reshape(-1, CHANNELS, SIDE, SIDE)
    return images, torch.tensor(labels, dtype=torch.int64)


def load_cifar10(directory: str) -> CifarData:
    """The pool (``data_batch_1`` ... ``data_batch_5``, concatenated in order)
    and the test set (``test_batch``) of a ``cifar-10-batches-py`` folder."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory} is not a directory; pass your cifar-10-batches-py folder with --data-dir")
    train = [read_batch(os.path.join(directory, name)) for name in TRAIN_BATCHES]
    test_images, test_labels = read_batch(os.path.join(directory, TEST_BATCH))
    return CifarData(torch.cat([x for x, _ in train]), torch.cat([y for _, y in train]), test_images, test_labels)


def write_batch(path: str, images: np.ndarray, labels: list[int]) -> None:
    """Writes uint8 images [n, 3, 32, 32] and their labels as a CIFAR-10 batch
    file (bytes keys, as the originals read in Python 3)."""
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"synthetic", b"labels": list(labels), b"data": images.reshape(len(images), -1)}, f, protocol=2)


def write_synthetic(directory: str, per_batch: int = 10000, test: int = 10000, *, noise: float = 48.0, seed: int = 0) -> None:
    """A ``cifar-10-batches-py`` folder of learnable synthetic images (each
    class a colour and horizontal stripes of its own frequency, 2 to 11 cycles
    per image, plus Gaussian noise of ``noise`` grey levels): ``per_batch``
    images in each training batch, ``test`` in the test batch. For timing on a
    machine without CIFAR-10 and for tests; the defaults give CIFAR-10's sizes.
    The stripes tell every class apart whatever the colours drawn, and the
    training augmentation keeps them (a flip leaves horizontal stripes as they
    are, a crop shifts their phase only)."""
    rng = np.random.default_rng(seed)
    colours = rng.uniform(40, 215, (CLASSES, CHANNELS, 1, 1))
    rows = np.arange(SIDE)[:, None] / SIDE
    stripes = np.stack([np.broadcast_to(np.sin(2 * np.pi * (2 + c) * rows), (SIDE, SIDE)) for c in range(CLASSES)])
    patterns = colours + 30 * stripes[:, None]
    os.makedirs(directory, exist_ok=True)
    for name, n in [*((b, per_batch) for b in TRAIN_BATCHES), (TEST_BATCH, test)]:
        labels = rng.integers(0, CLASSES, n)
        images = patterns[labels] + rng.normal(0, noise, (n, CHANNELS, SIDE, SIDE))
        write_batch(os.path.join(directory, name), np.clip(np.rint(images), 0, 255).astype(np.uint8), labels.tolist())


def random_crop_flip(images: torch.Tensor, padding: int = PADDING, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random crop of the zero-padded image and a horizontal flip with
    probability 1/2, drawn for every image of a batch at once on its device.

    Args:
        images: [B, C, H, W] of any dtype.
        padding: pixels of zeros on each side before cropping H x W.
        generator: on the images' device; None draws from the device's global
            generator (which the active-learning loop seeds per cycle).

    Returns:
        [B, C, H, W], the same dtype: image b is ``padded[b, :, dy:dy+H, dx:dx+W]``,
        flipped along W when its coin says so.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be [B, C, H, W], got shape {list(images.shape)}")
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding!r}")
    b, _, h, w = images.shape
    device = images.device
    dy = torch.randint(0, 2 * padding + 1, (b, 1), generator=generator, device=device)
    dx = torch.randint(0, 2 * padding + 1, (b, 1), generator=generator, device=device)
    flip = torch.randint(0, 2, (b, 1), generator=generator, device=device).bool()
    rows = dy + torch.arange(h, device=device)
    columns = dx + torch.arange(w, device=device)
    columns = torch.where(flip, columns.flip(1), columns)
    padded = F.pad(images, (padding,) * 4)
    batch = torch.arange(b, device=device)[:, None, None, None]
    channel = torch.arange(images.shape[1], device=device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], columns[:, None, None, :]]


class CifarInput(nn.Module):
    """uint8 images [B, 3, H, W] -> float [B, 3, H, W] normalised by channel
    statistics (``mean``, ``std`` on the 0-1 scale; CIFAR-10's by default); in
    training mode (with ``augment``) each image is first randomly cropped and
    flipped (``random_crop_flip``, from the device's global generator, like
    dropout)."""

    def __init__(self, augment: bool = True, mean: tuple[float, ...] = MEAN, std: tuple[float, ...] = STD) -> None:
        super().__init__()
        self.augment = augment
        deviation = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("scale", 1 / (255 * deviation), persistent=False)
        self.register_buffer("shift", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1) / deviation, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"CIFAR images must be uint8 [B, 3, 32, 32], got {images.dtype}")
        if self.training and self.augment:
            images = random_crop_flip(images)
        return images * self.scale - self.shift


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, and the identity (or a strided 1x1
    projection when the shape changes) added before the last ReLU."""

    def __init__(self, channels_in: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Identity()
        if stride != 1 or channels_in != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18, CIFAR variant: a 3x3 stem of stride 1 and no max-pool, then
    four stages of two ``BasicBlock`` each, of ``width`` x (1, 2, 4, 8) channels
    (strides 1, 2, 2, 2), and global average pooling. ``width`` 64 is the
    standard network; smaller widths are for tests and the smoke preset.

    ``forward(x float [B, 3, H, W])`` gives ``Tapped(features [B, 8 * width],
    taps)``, the taps being the four stages' outputs ([B, width * 2^i, H / 2^i,
    W / 2^i]), what LearnLoss's module reads."""

    def __init__(self, width: int = 64, prepare: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        self.prepare = prepare if prepare is not None else nn.Identity()
        self.stem = nn.Sequential(nn.Conv2d(CHANNELS, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        stages, channels_in = [], width
        for i, stride in enumerate((1, 2, 2, 2)):
            channels = width * 2**i
            stages.append(nn.Sequential(BasicBlock(channels_in, channels, stride), BasicBlock(channels, channels, 1)))
            channels_in = channels
        self.stages = nn.ModuleList(stages)
        self.tap_channels = tuple(width * 2**i for i in range(4))

    def forward(self, x: torch.Tensor) -> Tapped:
        x = self.stem(self.prepare(x))
        taps = []
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        return Tapped(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), tuple(taps))


@dataclass(frozen=True)
class CifarPreset(Preset):
    """A CIFAR-10 protocol: the loop, the training, and the ResNet's width."""

    width: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        self._store(width=checks.integer(self.width, "width", low=1))


PRESETS = {
    # Section 5.3: 1,000 initial labels, 1,000 per cycle, 10 measurements; SGD
    # lr 0.1 (x0.1 at 160 of 200 epochs), momentum 0.4, weight decay 5e-4, batch
    # 128, auxiliary gradient stopped at 120 (TrainConfig's defaults). LearnLoss's
    # and NCE-Net's code use momentum 0.9: --train-momentum 0.9. For a GPU.
    "paper": CifarPreset(LoopConfig(1000, 1000, 10), TrainConfig()),
    # The paper's schedule shape in 30 epochs, for quick checks on a GPU.
    "short": CifarPreset(LoopConfig(1000, 1000, 10), TrainConfig(epochs=30, lr_drop_epoch=24, aux_stop_epoch=18)),
    # About 12 minutes a trial on 2 CPU threads (scripts/cifar_speed.py --preset
    # cpu): the paper's 1,000 initial labels and +1,000 a cycle, but 5
    # measurements (1,000 ... 5,000) on a class-stratified quarter of the pool
    # (25,000 images, so 4% ... 20% labelled, the paper's last proportion) and
    # half the test set; 60 epochs a cycle (warm start), drop at 48, auxiliary
    # stop at 36 (the paper's 80% and 60%); ResNet-18 of width 16 (a sixteenth
    # of the multiply-adds) in bf16 autocast and channels-last.
    "cpu": CifarPreset(
        LoopConfig(1000, 1000, 5), TrainConfig(epochs=60, lr_drop_epoch=48, aux_stop_epoch=36, bf16=True, channels_last=True),
        train_limit=25_000, test_limit=5_000, width=16,
    ),
    # Seconds on a CPU, for tests: 300 pool and 200 test images, a ResNet of width 4.
    "smoke": CifarPreset(
        LoopConfig(20, 20, 3), TrainConfig(epochs=2, batch_size=32, lr=0.05, lr_drop_epoch=2, aux_stop_epoch=1),
        train_limit=300, test_limit=200, width=4,
    ),
}


def load(data_dir: str, preset: CifarPreset):
    """Pool and test set of CIFAR-10, as uint8 images: from a
    ``cifar-10-batches-py`` folder, or from an image folder (or its .tar.gz) of
    10 classes of 32 x 32 images (``images.read_image_folder``). The presets'
    limits keep a random, class-stratified subset (``base.subset``).

    Returns:
        pool_x uint8 [N, 3, 32, 32], pool_y int64 [N], test_x uint8 [T, 3, 32, 32],
        test_y int64 [T], and the model's inputs (none).
    """
    if os.path.isfile(os.path.join(data_dir, TRAIN_BATCHES[0])):
        data = load_cifar10(data_dir)
    else:
        folder = read_image_folder(data_dir)
        if len(folder.classes) != CLASSES or folder.train_images.shape[2:] != (SIDE, SIDE):
            raise DataError(
                f"{data_dir}: CIFAR-10 has {CLASSES} classes of {SIDE} x {SIDE} images, this folder {len(folder.classes)} of "
                f"{tuple(folder.train_images.shape[2:])}; use --task images for other image folders"
            )
        data = CifarData(folder.train_images, folder.train_labels, folder.test_images, folder.test_labels)
    pool, test = subset(data.train_labels, preset.train_limit), subset(data.test_labels, preset.test_limit)
    return data.train_images[pool], data.train_labels[pool], data.test_images[test], data.test_labels[test], {}


def make_model(preset: CifarPreset) -> AuxModel:
    """ResNet-18 (CIFAR variant, ``preset.width``) reading uint8 images, with
    the linear classifier and the auxiliary head on its pooled features."""
    backbone = ResNet18(preset.width, prepare=CifarInput())
    return AuxModel(backbone, backbone.tap_channels[-1], CLASSES, preset.aux_dim)


def load_images(data_dir: str, preset: CifarPreset):
    """Any image folder (``images.read_image_folder``: a directory or .tar.gz of
    ``train/<class>/`` and ``test/<class>/``), class-stratified random subsets
    under the preset's limits, and as the model's inputs the class count and the
    pool's per-channel mean and deviation (0-1 scale), which normalise its
    images as CIFAR-10's statistics do CIFAR-10's."""
    folder = read_image_folder(data_dir)
    pool, test = subset(folder.train_labels, preset.train_limit), subset(folder.test_labels, preset.test_limit)
    pool_x = folder.train_images[pool]
    pixels = pool_x.transpose(0, 1).reshape(pool_x.shape[1], -1).double() / 255
    statistics = dict(num_classes=len(folder.classes), mean=tuple(pixels.mean(1).tolist()), std=tuple(pixels.std(1).clamp(min=1e-3).tolist()))
    return pool_x, folder.train_labels[pool], folder.test_images[test], folder.test_labels[test], statistics


def make_images_model(preset: CifarPreset, num_classes: int, mean: tuple[float, ...], std: tuple[float, ...]) -> AuxModel:
    """``make_model``'s ResNet-18 for an image folder's class count and statistics."""
    backbone = ResNet18(preset.width, prepare=CifarInput(mean=mean, std=std))
    return AuxModel(backbone, backbone.tap_channels[-1], num_classes, preset.aux_dim)


IMAGES_TASK = Task(
    name="images",
    title="Image folder (ResNet-18)",
    kind="classification",
    presets=PRESETS,
    default_data_dir=None,
    load=load_images,
    make_model=make_images_model,
)


TASK = Task(
    name="cifar10",
    title="CIFAR-10 (ResNet-18)",
    kind="classification",
    presets=PRESETS,
    default_data_dir=None,
    load=load,
    make_model=make_model,
)

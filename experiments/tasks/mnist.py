"""MNIST-format data (the idx files of MNIST and Fashion-MNIST) and Repeated-MNIST
(paper section 5.2.1). Nothing is downloaded: every loader takes a directory.

Fashion-MNIST, the full 70,000 images, comes from Debian:
``apt-get install dataset-fashion-mnist`` puts it in ``/usr/share/datasets/fashion-mnist``.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# idx magic numbers: two zero bytes, the element type (0x08 = uint8), the rank.
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801


class IdxFormatError(ValueError):
    """An idx file whose header or size is not what its name promises."""


def read_idx(path: str, magic: int) -> np.ndarray:
    """Reads an idx file (raw or .gz) of uint8 with the given magic number.

    Returns:
        uint8 array of the header's shape: [N, rows, cols] for images, [N] for labels.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise IdxFormatError(f"{path}: cannot be read ({error})") from None
    if len(data) < 4:
        raise IdxFormatError(f"{path}: {len(data)} bytes, too short for an idx header")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        raise IdxFormatError(f"{path}: magic number {found:#010x}, expected {magic:#010x}")
    rank = magic & 0xFF
    header = 4 + 4 * rank
    if len(data) < header:
        raise IdxFormatError(f"{path}: truncated header ({len(data)} bytes, need {header})")
    shape = struct.unpack(f">{rank}I", data[4:header])
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise IdxFormatError(f"{path}: {len(data)} bytes, but the header's shape {list(shape)} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def find_idx(directory: str, stem: str) -> str:
    """The path of ``stem`` or ``stem.gz`` in ``directory``."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{directory}: no {stem} or {stem}.gz (MNIST idx files expected)")


@dataclass
class MnistData:
    """uint8 images [N, 28, 28] and int64 labels [N] of a train and a test split."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def load_mnist(directory: str = DEFAULT_DIR) -> MnistData:
    """Loads the four idx files of MNIST or Fashion-MNIST from ``directory``,
    checking magic numbers, sizes, and that images and labels agree in count."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"{directory} is not a directory; for Fashion-MNIST run `apt-get install dataset-fashion-mnist`"
        )
    arrays = {}
    for key, stem in FILES.items():
        arrays[key] = read_idx(find_idx(directory, stem), IMAGES_MAGIC if key.endswith("images") else LABELS_MAGIC)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise IdxFormatError(f"{directory}: {split} has {images.shape[0]} images but {labels.shape[0]} labels")
        if labels.size and int(labels.max()) > 9:
            raise IdxFormatError(f"{directory}: {split} labels go up to {int(labels.max())}, expected 0-9")
    return MnistData(
        train_images=torch.from_numpy(arrays["train_images"].copy()),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_images=torch.from_numpy(arrays["test_images"].copy()),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
    )


def repeated_mnist(
    data: MnistData, *, copies: int = 3, noise_std: float = 0.1, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Repeated-MNIST (paper 5.2.1): normalised images, the training set repeated
    ``copies`` times with N(0, noise_std^2) noise added to every copy; the test set
    is normalised the same way and left untouched.

    Returns:
        train x float32 [copies * N, 784], train y int64 [copies * N],
        test x float32 [M, 784], test y int64 [M]. Copy c of training image i is row
        c * N + i.
    """
    if not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be a positive int, got {copies!r}")
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std!r}")
    train = data.train_images.reshape(len(data.train_images), -1).float() / 255
    mean, std = float(train.mean()), float(train.std())
    train = (train - mean) / std
    test = (data.test_images.reshape(len(data.test_images), -1).float() / 255 - mean) / std
    repeated = train.repeat(copies, 1)
    repeated += noise_std * torch.randn(repeated.shape, generator=generator)
    return repeated, data.train_labels.repeat(copies), test, data.test_labels

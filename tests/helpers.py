"""Input builders and tolerances shared by the tests."""

import gzip
import os
import struct

import numpy as np
import torch

from experiments.mnist import IMAGES_MAGIC, LABELS_MAGIC


def unit_rows(n, d, *, gen, dtype=torch.float64, device="cpu"):
    z = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return torch.nn.functional.normalize(z, dim=1).to(dtype=dtype, device=device)


def tolerance(dtype):
    """(rtol, atol) for comparing the accumulated outputs of the two implementations."""
    return (1e-10, 1e-10) if dtype == torch.float64 else (1e-4, 1e-4)


def idx_bytes(array, magic):
    """An idx file's bytes: magic, the dimensions, then uint8 data."""
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write(path, payload, compress):
    if compress:
        path += ".gz"
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)
    return path


def make_dataset(directory, n_train=12, n_test=5, compress=True, seed=0, learnable=False):
    """Writes the four MNIST idx files into ``directory``. With ``learnable`` each
    image is its class's fixed random template plus pixel noise, so a model can
    learn the labels; otherwise pixels and labels are independent noise."""
    rng = np.random.default_rng(seed)
    labels = {split: rng.integers(0, 10, n) for split, n in (("train", n_train), ("test", n_test))}
    templates = rng.integers(0, 256, (10, 28, 28))
    images = {}
    for split, n in (("train", n_train), ("test", n_test)):
        noise = rng.integers(0, 256, (n, 28, 28))
        images[split] = (0.6 * templates[labels[split]] + 0.4 * noise).round() if learnable else noise
    parts = {
        "train-images-idx3-ubyte": (images["train"], IMAGES_MAGIC),
        "train-labels-idx1-ubyte": (labels["train"], LABELS_MAGIC),
        "t10k-images-idx3-ubyte": (images["test"], IMAGES_MAGIC),
        "t10k-labels-idx1-ubyte": (labels["test"], LABELS_MAGIC),
    }
    for name, (array, magic) in parts.items():
        write(os.path.join(directory, name), idx_bytes(array, magic), compress)
    return parts

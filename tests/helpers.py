"""Input builders and tolerances shared by the tests."""

import gzip
import importlib
import math
import os
import re
import struct
import sys

import numpy as np
import pytest
import torch

import margins
from dacs_ext.al import AuxModel
from experiments.tasks.mnist import IMAGES_MAGIC, LABELS_MAGIC
from experiments.tasks.rmnist import mlp

TIMES = ("train_seconds", "embed_seconds", "select_seconds", "wall_seconds")
"""The fields of a cycle record that vary from run to run."""


def unit_rows(n, d, *, gen, dtype=torch.float64, device="cpu"):
    z = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return torch.nn.functional.normalize(z, dim=1).to(dtype=dtype, device=device)


def assert_missing_library_is_named(monkeypatch, package, module, extra):
    """Importing ``module`` with ``package`` absent raises an ImportError that
    says to install the extra."""
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, module)
    with pytest.raises(ImportError, match=re.escape(f"pip install dacs_ext[{extra}]")):
        importlib.import_module(module)


def tolerance(dtype):
    """(rtol, atol) for comparing the accumulated outputs of the two implementations."""
    return (1e-10, 1e-10) if dtype == torch.float64 else (1e-4, 1e-4)


def without_times(records):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in records]


def blobs(n, d=12, classes=4, *, gen, spread=0.6):
    """Samples of one fixed Gaussian-blob problem (a learnable classification):
    the centers are the same on every call, the samples come from ``gen``."""
    centers = 2 * torch.randn(classes, d, generator=torch.Generator().manual_seed(classes * 1000 + d))
    y = torch.randint(0, classes, (n,), generator=gen)
    return centers[y] + spread * torch.randn(n, d, generator=gen), y


def small_model(d=12, classes=4):
    return AuxModel(mlp(d, (32, 16)), 16, classes, aux_dim=8)


def replay_greedy(x, min_dist, picks, metric, tol):
    """Checks in float64 that every pick of a k-center greedy run from x [N, d] and
    min_dist [N] was a farthest remaining row, up to tol (rows that tie up to
    rounding may come in either order)."""
    x = x.double()
    dist = min_dist.double().clone()
    worst = 0.0
    for pick in picks.tolist():
        short = float(dist.max()) - float(dist[pick])
        assert not short > tol, f"pick {pick} is not a farthest remaining row"
        worst = max(worst, short / tol) if math.isfinite(short) else worst  # infinite: no center yet
        dist[pick] = float("-inf")
        d = (1 - x @ x[pick]).clamp(min=0) if metric == "cosine" else (x - x[pick]).norm(dim=1)
        dist = torch.minimum(dist, d)
    margins.record_share(worst)


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

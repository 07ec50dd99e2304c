"""The features task: active learning on embeddings from a frozen pretrained
model, given as numpy arrays, with the Repeated-MNIST MLP.

A features folder holds four ``.npy`` files:

- ``train.npy``: float32 or float64 [N, d], the pool's features;
- ``train_labels.npy``: integer [N], their classes, 0 ... C-1;
- ``test.npy``: float32 or float64 [T, d], the test set's features (the same d);
- ``test_labels.npy``: integer [T].

The files are opened memory-mapped and only the rows a preset uses are read
(``train_limit``, ``test_limit``: a class-stratified random subset, ``base.subset``,
as every task draws it). The number of classes C is the
largest label of both label files plus one, and at least two distinct classes
must occur. Features are standardised per column with the used pool rows' mean
and standard deviation (a column that does not vary is only centred): embeddings
come at any scale, and the MLP's learning rate is set for inputs of unit scale.

Model: the Repeated-MNIST MLP (``rmnist.mlp``) with input width d: d -> 512 ->
256 -> C, the 16-d auxiliary head on the 256-d features. Presets: Repeated-MNIST's
(``rmnist.PRESETS``), since the model and the labelling budgets are the same;
``paper`` and ``cpu`` label 5,000 rows in all, so the pool needs at least that many.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from dacs_ext.al import AuxModel

from . import rmnist
from .base import Preset, Task, subset

SPLITS = (("train.npy", "train_labels.npy"), ("test.npy", "test_labels.npy"))
"""The (features, labels) files of the pool and of the test set."""
FILES = tuple(name for split in SPLITS for name in split)
PRESETS = rmnist.PRESETS


class FeatureFolderError(ValueError):
    """A features folder whose arrays are not what the layout says."""


def read_array(directory: str, name: str) -> np.ndarray:
    """The array of ``directory/name``, memory-mapped."""
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing (a features folder holds {', '.join(FILES)})")
    try:
        return np.load(path, mmap_mode="r")
    except (ValueError, OSError) as error:
        raise FeatureFolderError(f"{path}: not a readable .npy array ({error})") from None


def check_features(features: np.ndarray, path: str) -> None:
    """Raises ``FeatureFolderError`` unless ``features`` is float32 or float64 [N, d], N, d >= 1."""
    if features.ndim != 2:
        raise FeatureFolderError(f"{path}: features must be 2-D [N, d], got shape {list(features.shape)}")
    if features.dtype not in (np.float32, np.float64):
        raise FeatureFolderError(f"{path}: features must be float32 or float64, got {features.dtype}")
    if min(features.shape) == 0:
        raise FeatureFolderError(f"{path}: features need at least one row and one column, got shape {list(features.shape)}")


def check_labels(labels: np.ndarray, path: str, rows: int, features_path: str) -> None:
    """Raises ``FeatureFolderError`` unless ``labels`` is a non-negative integer
    array [rows], one label per row of ``features_path``."""
    if labels.ndim != 1:
        raise FeatureFolderError(f"{path}: labels must be 1-D [N], got shape {list(labels.shape)}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise FeatureFolderError(f"{path}: labels must be integers (class indices), got {labels.dtype}")
    if labels.shape[0] != rows:
        raise FeatureFolderError(f"{path}: {labels.shape[0]} labels for the {rows} rows of {features_path}")
    negative = np.flatnonzero(labels < 0)
    if negative.size:
        row = int(negative[0])
        raise FeatureFolderError(f"{path}: row {row} has label {int(labels[row])}; labels are class indices 0, 1, ...")


def used_rows(features: np.ndarray, path: str, rows: slice | torch.Tensor) -> np.ndarray:
    """The ``rows`` (``base.subset``'s slice or ascending int64 indices) as
    float32 [n, d], read from the map; raises ``FeatureFolderError`` naming the
    first used row (its row in the file) that is not finite."""
    index = rows if isinstance(rows, slice) else rows.numpy()
    with np.errstate(over="ignore"):  # a float64 beyond float32's range: reported below, by row
        used = np.array(features[index], dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(used).all(axis=1))
    if bad.size:
        row = int(bad[0]) if isinstance(rows, slice) else int(index[bad[0]])
        raise FeatureFolderError(f"{path}: row {row} is not finite in float32 (NaN, infinite, or beyond float32's range)")
    return used


def load_features(directory: str, train_limit: int | None = None, test_limit: int | None = None):
    """Reads and checks a features folder (the module docstring gives the layout).

    Returns:
        train x float32 [n, d] (``train_limit`` rows, ``base.subset``), train y int64 [n],
        test x float32 [t, d] (``test_limit`` rows), test y int64 [t], not yet
        standardised, and the number of classes C.

    Raises:
        FileNotFoundError: the folder or one of its files is missing.
        FeatureFolderError: an array that is not what the layout says, naming
            its file and the problem.
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory} is not a directory (a features folder holds {', '.join(FILES)})")
    arrays = {name: read_array(directory, name) for name in FILES}
    paths = {name: os.path.join(directory, name) for name in FILES}
    for features, labels in SPLITS:
        check_features(arrays[features], paths[features])
        check_labels(arrays[labels], paths[labels], arrays[features].shape[0], paths[features])
    width, test_width = arrays["train.npy"].shape[1], arrays["test.npy"].shape[1]
    if test_width != width:
        raise FeatureFolderError(f"{paths['test.npy']}: {test_width} features per row, {paths['train.npy']} has {width}")
    classes = np.union1d(np.unique(arrays["train_labels.npy"]), np.unique(arrays["test_labels.npy"]))
    if classes.size < 2:
        raise FeatureFolderError(
            f"{directory}: train_labels.npy and test_labels.npy hold {classes.size} class ({classes.tolist()}); "
            "classification needs at least 2"
        )
    split = {}
    for (features, labels), limit in zip(SPLITS, (train_limit, test_limit)):
        all_labels = torch.from_numpy(np.array(arrays[labels], dtype=np.int64))
        rows = subset(all_labels, limit)
        split[features] = torch.from_numpy(used_rows(arrays[features], paths[features], rows))
        split[labels] = all_labels[rows]
    return (*(split[name] for name in FILES), int(classes[-1]) + 1)


def standardize(pool_x: torch.Tensor, test_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pool_x [N, d] and test_x [T, d] standardised per column with pool_x's mean
    and (population) standard deviation, computed in float64; a column of
    standard deviation 0 is divided by 1. Returns float32 tensors."""
    pool = pool_x.double()
    mean, std = pool.mean(dim=0), pool.std(dim=0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return ((pool - mean) / std).float(), ((test_x.double() - mean) / std).float()


def load(data_dir: str, preset: Preset):
    """Pool and test set of a features folder, standardised (``standardize``).

    Returns:
        pool_x float32 [N, d], pool_y int64 [N], test_x float32 [T, d], test_y
        int64 [T], and the model's inputs: ``{"in_features": d, "num_classes": C}``.
    """
    pool_x, pool_y, test_x, test_y, classes = load_features(data_dir, preset.train_limit, preset.test_limit)
    pool_x, test_x = standardize(pool_x, test_x)
    return pool_x, pool_y, test_x, test_y, dict(in_features=pool_x.shape[1], num_classes=classes)


def make_model(preset: Preset, *, in_features: int, num_classes: int) -> AuxModel:
    """The Repeated-MNIST MLP on d = ``in_features`` inputs, C = ``num_classes``."""
    return AuxModel(rmnist.mlp(in_features), rmnist.WIDTHS[-1], num_classes, aux_dim=preset.aux_dim)


TASK = Task(
    name="features",
    title="Frozen features (MLP)",
    kind="classification",
    presets=PRESETS,
    default_data_dir=None,
    load=load,
    make_model=make_model,
)

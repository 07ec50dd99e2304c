"""What the command line needs to know about a task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from dacs_ext import checks
from dacs_ext.al import AuxModel, LoopConfig, TrainConfig
from dacs_ext.settings import Settings


@dataclass(frozen=True)
class Preset(Settings):
    """A protocol: the loop, the training, optional caps on the training and
    test images used (None: all), strategy settings it fixes (settings
    objects by ``dacs_ext.al.SETTINGS`` name; the defaults otherwise), and the
    width of the model's normalised auxiliary features (16 in the paper)."""

    loop: LoopConfig
    train: TrainConfig
    train_limit: int | None = None
    test_limit: int | None = None
    settings: dict = field(default_factory=dict)
    aux_dim: int = 16

    def __post_init__(self) -> None:
        self._store(aux_dim=checks.integer(self.aux_dim, "aux_dim", low=1))

    def to_dict(self) -> dict:
        """The protocol (``config.json``'s ``protocol``): every field but the
        strategy settings, which the config records on their own."""
        return {name: value for name, value in super().to_dict().items() if name != "settings"}


@dataclass(frozen=True)
class Task:
    """``load(data_dir, preset)`` gives (pool_x, pool_y, test_x, test_y,
    model_inputs); ``make_model(preset, **model_inputs)`` a freshly initialised
    model of the task's ``kind`` (``dacs_ext.al.model.KINDS``). ``model_inputs``
    holds what the model needs from the data besides the rows (Davis: every
    drug's and protein's encoded sequence). ``default_data_dir`` None: the data
    is not on this machine, the user passes it (``--data-dir``).
    ``copies(pool_size, order)``, for a task whose pool holds copies of one
    sample (Repeated-MNIST), counts the labels in ``order`` (int64 pool
    indices) spent on a copy of a sample already labeled; None elsewhere."""

    name: str
    title: str
    kind: str
    presets: dict[str, Preset]
    default_data_dir: str | None
    load: Callable
    make_model: Callable[..., AuxModel]
    copies: Callable[[int, torch.Tensor], int] | None = None


SUBSET_SEED = 0
"""The seed of every preset's random subset of a pool or test set: part of the
protocol, the same for every trial."""


def subset(labels: torch.Tensor, limit: int | None, *, classes: bool = True) -> torch.Tensor | slice:
    """Which rows a preset's ``limit`` keeps of a split of N rows with these
    labels [N]: all of them (a slice) when None or >= N, else ``limit`` rows drawn
    at random (``SUBSET_SEED``) in ascending row order; with ``classes`` (int64
    class labels) stratified by class (each class's share rounded by largest
    remainder, rows drawn without replacement inside it). Data written in class
    order (an image folder) would otherwise give a preset's first rows from one
    or two classes."""
    n = labels.shape[0]
    if limit is None or limit >= n:
        return slice(None)
    generator = torch.Generator().manual_seed(SUBSET_SEED)
    if not classes:
        return torch.randperm(n, generator=generator)[:limit].sort().values
    counts = torch.bincount(labels)
    ideal = counts.double() * limit / n
    quotas = ideal.floor().to(torch.int64)
    extra = torch.argsort(ideal - quotas, descending=True, stable=True)[: limit - int(quotas.sum())]
    quotas[extra] += 1
    order = torch.randperm(n, generator=generator)
    kept = torch.cat([order[labels[order] == c][: int(q)] for c, q in enumerate(quotas.tolist())])
    return kept.sort().values


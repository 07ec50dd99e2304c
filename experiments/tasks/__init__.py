"""The tasks of the paper's experiments: Repeated-MNIST (``rmnist``), Davis
drug-target affinity (``davis``) and CIFAR-10 (``cifar10``); any image folder
with CIFAR-10's pipeline (``images``); and ``features``, a user's embeddings from
a frozen model as ``.npy`` files. Each has its loader, model and presets;
``all_tasks`` is the registry the command line reads."""

from __future__ import annotations

from . import cifar10, davis, features, rmnist
from .base import Preset, Task


def all_tasks() -> dict[str, Task]:
    """Every task by its ``--task`` name."""
    return {task.name: task for task in (rmnist.TASK, davis.TASK, cifar10.TASK, cifar10.IMAGES_TASK, features.TASK)}


__all__ = ["Preset", "Task", "all_tasks"]

"""What the command line needs to know about a task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from dacs_ext.al import AuxModel, LoopConfig, TrainConfig


@dataclass(frozen=True)
class Preset:
    """A protocol: the loop, the training, optional caps on the training and
    test images used (None: all), and strategy settings it fixes (settings
    objects by ``dacs_ext.al.SETTINGS`` name; the defaults otherwise)."""

    loop: LoopConfig
    train: TrainConfig
    train_limit: int | None = None
    test_limit: int | None = None
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(loop=self.loop.to_dict(), train=self.train.to_dict(), train_limit=self.train_limit, test_limit=self.test_limit)


@dataclass(frozen=True)
class Task:
    """``load(data_dir, preset)`` gives (pool_x, pool_y, test_x, test_y,
    model_inputs); ``make_model(preset, **model_inputs)`` a freshly initialised
    model of the task's ``kind`` (``dacs_ext.al.model.KINDS``). ``model_inputs``
    holds what the model needs from the data besides the rows (Davis: every
    drug's and protein's encoded sequence). ``default_data_dir`` None: the data
    is not on this machine, the user passes it (``--data-dir``)."""

    name: str
    title: str
    kind: str
    presets: dict[str, Preset]
    default_data_dir: str | None
    load: Callable
    make_model: Callable[..., AuxModel]


def all_tasks() -> dict[str, Task]:
    from . import cifar10, davis, rmnist

    return {task.name: task for task in (rmnist.TASK, davis.TASK, cifar10.TASK)}

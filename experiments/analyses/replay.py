"""A recorded trial trained again: the models of a run directory's cycles,
rebuilt from its records alone (training is deterministic on one kind of CPU),
never unpickled."""

from __future__ import annotations

import functools

import torch

from dacs_ext.al import evaluate, make_strategy
from dacs_ext.al.loop import labeled_order, retrained

from ..report import collect
from ..runner import RunError, preset_of, settings_of
from ..tasks import all_tasks


class Replay:
    """A run directory's trial, its models trained again cycle by cycle from the
    records: ``models()`` yields ``(cycle, model)``."""

    def __init__(self, out: str, method: str, trial: int) -> None:
        self.config, runs = collect(out)
        if method not in runs or len(runs[method]) <= trial:
            raise RunError(f"{out} has no records of {method!r}, trial {trial}")
        self.records = runs[method][trial]
        self.spec, self.preset = all_tasks()[self.config["task"]], preset_of(self.config)
        self.pool_x, self.pool_y, self.test_x, self.test_y, self.inputs = self.spec.load(self.config["data_dir"], self.preset)
        self.method, self.seed = method, self.config["seed"] + trial
        self.order = labeled_order(self.records)

    def models(self, last: int | None = None):
        last = len(self.records) - 1 if last is None else last
        warm = self.preset.loop.warm_start
        yield from ((c, m) for c, m, _ in retrained(
            functools.partial(self.spec.make_model, self.preset, **self.inputs), self.pool_x, self.pool_y, self.records,
            self.preset.train, seed=self.seed, cycles=range(0 if warm else last, last + 1), warm_start=warm,
            strategy=make_strategy(self.method, settings_of(self.config)),
        ))

    def model_at(self, cycle: int):
        """The model ``cycle`` trained (under warm start, every cycle before it is retrained too)."""
        for _, model in self.models(last=cycle):
            pass
        return model

    def labeled(self, cycle: int) -> torch.Tensor:
        """bool [N]: the pool rows labeled when ``cycle`` trained."""
        mask = torch.zeros(len(self.pool_x), dtype=torch.bool)
        mask[self.order[: self.records[cycle]["labeled"]]] = True
        return mask

    def acquired(self, cycle: int) -> torch.Tensor:
        """int64: the pool rows that the model of ``cycle`` chose."""
        return self.order[self.records[cycle]["labeled"] : self.records[cycle + 1]["labeled"]]

    def check(self, model, cycle: int) -> float:
        """The test accuracy of the retrained model; raises if it is not the recorded one."""
        accuracy = evaluate(model, self.test_x, self.test_y)["accuracy"]
        if abs(accuracy - self.records[cycle]["accuracy"]) > 1e-9:
            raise RunError(
                f"retraining {self.method} cycle {cycle} gave test accuracy {accuracy:.6f}, the records say "
                f"{self.records[cycle]['accuracy']:.6f}: training is not reproducible here (another machine or torch?)"
            )
        return accuracy

"""``python -m experiments run``: every method x trial of a task, resumable,
into a run directory laid out as ``experiments.layout`` says."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Callable

import torch

import dacs_ext
from dacs_ext import machine
from dacs_ext.al import SETTINGS, STRATEGIES, TrainConfig, make_strategy, run_trial
from dacs_ext.files import atomic_write_json

from .layout import CONFIG, trial_directory
from .tasks import Preset, Task, all_tasks


class RunError(Exception):
    """A run that cannot start as asked (its message says why)."""


def resolve_settings(preset_settings: dict, changes: dict[str, dict] | None) -> dict:
    """Every strategy settings object: the defaults, or the preset's, with the
    command line's ``changes`` (``{settings name: {field: value}}``) applied."""
    changes = changes or {}
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise RunError(f"unknown strategy settings {', '.join(unknown)}; known: {', '.join(SETTINGS)}")
    return {name: changed(name, preset_settings.get(name), changes.get(name), cls.of) for name, cls in SETTINGS.items()}


def changed(option: str, base, changes: dict | None, apply: Callable):
    """``apply(base, **changes)``; a bad value is a ``RunError`` that names its
    command-line option (``--{option}-{field}``)."""
    changes = changes or {}
    for field, value in changes.items():
        try:
            apply(base, **{field: value})
        except (TypeError, ValueError) as error:
            raise RunError(f"--{option}-{field.replace('_', '-')}: {error}") from None
    try:
        return apply(base, **changes)
    except (TypeError, ValueError) as error:  # fields fine alone, wrong together
        raise RunError(f"--{option}-*: {error}") from None


def resolve_training(preset_train: TrainConfig, changes: dict | None) -> TrainConfig:
    """The preset's training with the command line's ``changes`` (``{field: value}``) applied."""
    return changed("train", preset_train, changes, dataclasses.replace)


def resolve_preset(
    spec: Task, preset: str, warm_start: bool, training: dict | None, aux_dim: int | None, loop: dict | None = None,
    affinity: str | None = None,
) -> Preset:
    """The task's ``preset`` with the run's changes: warm start or not, fields
    of its training and of its loop (``{field: value}``; e.g. ``{"budget": 100}``
    for the paper's small-budget protocol), the auxiliary width and the affinity
    transform of a task that has one (Davis; None: the preset's)."""
    base = spec.presets[preset]
    if affinity is not None:
        if not hasattr(base, "affinity"):
            raise RunError(f"--affinity: task {spec.name} has no affinity transform (Davis has)")
        try:
            base = dataclasses.replace(base, affinity=affinity)
        except ValueError as error:
            raise RunError(f"--affinity: {error}") from None
    cycles = changed("loop", dataclasses.replace(base.loop, warm_start=warm_start), loop, dataclasses.replace)
    changes = dict(loop=cycles, train=resolve_training(base.train, training))
    if aux_dim is not None:
        changes["aux_dim"] = aux_dim
    try:
        return dataclasses.replace(base, **changes)
    except ValueError as error:
        raise RunError(f"--aux-dim: {error}") from None


def preset_of(config: dict) -> Preset:
    """The protocol that a run's ``config.json`` records, as the preset that ran."""
    protocol = config["protocol"]
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    loop = dict(protocol["loop"])
    return resolve_preset(
        all_tasks()[config["task"]], config["preset"], loop.pop("warm_start"), defaults | protocol["train"], protocol.get("aux_dim"), loop,
        protocol.get("affinity"),
    )


def build_config(
    task: str, methods: list[str], trials: int, preset: str, seed: int, data_dir: str | None, warm_start: bool = True,
    settings: dict[str, dict] | None = None, training: dict | None = None, aux_dim: int | None = None, loop: dict | None = None,
    affinity: str | None = None,
) -> dict:
    tasks = all_tasks()
    if task not in tasks:
        raise RunError(f"--task must be one of {', '.join(tasks)}, got {task!r}")
    spec = tasks[task]
    if preset not in spec.presets:
        raise RunError(f"--preset must be one of {', '.join(spec.presets)}, got {preset!r}")
    unknown = [m for m in methods if m not in STRATEGIES]
    if unknown or not methods:
        raise RunError(f"--methods must be a comma-separated list of {', '.join(STRATEGIES)}, got {','.join(methods)!r}")
    refused = [m for m in methods if spec.kind not in STRATEGIES[m].strategy.kinds]
    if refused:
        raise RunError(f"--methods: {', '.join(refused)} work on classification tasks only; task {task} is {spec.kind}")
    if len(set(methods)) != len(methods):
        raise RunError(f"--methods lists a method twice: {','.join(methods)}")
    if not isinstance(trials, int) or trials < 1:
        raise RunError(f"--trials must be >= 1, got {trials}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RunError(f"--seed must be a non-negative integer, got {seed!r}")
    chosen = resolve_preset(spec, preset, warm_start, training, aux_dim, loop, affinity).to_dict()
    if data_dir is None and spec.default_data_dir is None:
        raise RunError(f"--data-dir: task {task} has no data on this machine; pass the folder that holds it")
    resolved = resolve_settings(spec.presets[preset].settings, settings)
    return dict(
        task=task, methods=methods, trials=trials, preset=preset, seed=seed,
        data_dir=os.path.abspath(data_dir or spec.default_data_dir), protocol=chosen,
        settings={name: value.to_dict() for name, value in resolved.items()},
    )


def settings_of(config: dict) -> dict:
    """The settings objects a run's config records (``config["settings"]``)."""
    return {name: SETTINGS[name](**values) for name, values in config["settings"].items()}


def environment(device: torch.device) -> dict:
    return dict(
        torch=torch.__version__, dacs_ext=dacs_ext.__version__, threads=torch.get_num_threads(),
        device=torch.cuda.get_device_name(device) if device.type == "cuda" else machine.cpu_model(),
        kernels=machine.kernel_isa(), cpu_paths=machine.torch_paths(),
    )


def prepare(out: str, config: dict, resume: bool, device: torch.device) -> None:
    """Writes the run's config into ``out``, or checks that the one there matches
    (``resume``; a stored run that lacks methods gets them)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise RunError(f"--out {out} is a file, not a run directory")
    path = os.path.join(out, CONFIG)
    if os.path.exists(path):
        if not resume:
            raise RunError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        with open(path) as f:
            stored = json.load(f)
        # Settings objects, and fields, that a later version added were used by
        # no method of the stored run: they hold their defaults there.
        stored["settings"] = {name: SETTINGS[name]().to_dict() | stored.get("settings", {}).get(name, {}) for name in SETTINGS}
        # Likewise training fields a later version added (e.g. the optimizer) held
        # their defaults.
        if "train" in stored.get("protocol", {}):
            defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
            stored["protocol"]["train"] = defaults | stored["protocol"]["train"]
            stored["protocol"].setdefault("aux_dim", Preset.aux_dim)
        differ = sorted(k for k in config if stored.get(k) != config[k])
        if differ == ["methods"] and set(stored["methods"]) <= set(config["methods"]):
            # Adding methods to a finished comparison: every method-trial is
            # seeded on its own, so the new ones run as if they had been there.
            atomic_write_json(dict(stored, methods=config["methods"]), path)
            return
        if differ:
            raise RunError(f"--resume with different settings than {path}: {', '.join(differ)}")
        return
    atomic_write_json(dict(config, environment=environment(device)), path)


def run(
    out: str, *, task: str, methods: list[str], trials: int, preset: str, seed: int = 0, data_dir: str | None = None,
    resume: bool = False, warm_start: bool = True, settings: dict[str, dict] | None = None, training: dict | None = None,
    aux_dim: int | None = None, loop: dict | None = None, affinity: str | None = None, device: str = "cpu", progress: bool = True,
) -> None:
    """Runs (or resumes) every method for every trial; trial k uses seed + k.
    ``warm_start=False`` starts every cycle from a fresh initialisation
    (``config.json`` records which protocol ran, under ``protocol.loop``).
    ``settings`` changes strategy settings, ``{"dacs": {"rounds": 4}}`` for
    example; ``config.json`` records every setting under ``settings``.
    ``training`` changes fields of the preset's ``TrainConfig``, ``{"momentum":
    0.9}`` for example (recorded under ``protocol.train``); ``loop`` fields of its
    ``LoopConfig``, ``{"budget": 100}`` for example (``protocol.loop``); ``aux_dim``
    the width of the auxiliary features (``protocol.aux_dim``); ``affinity`` the
    Davis task's transform of its values (``protocol.affinity``)."""
    config = build_config(task, methods, trials, preset, seed, data_dir, warm_start, settings, training, aux_dim, loop, affinity)
    try:
        dev = torch.device(device)
    except RuntimeError as error:
        raise RunError(f"--device: {error}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RunError("--device cuda: no CUDA device is available")
    spec = all_tasks()[task]
    chosen = preset_of(config)
    # Loaded before the run directory is written: a bad --data-dir leaves nothing behind.
    try:
        *tensors, model_inputs = spec.load(config["data_dir"], chosen)
    except FileNotFoundError as error:
        raise RunError(f"--data-dir: {error}") from None
    prepare(out, config, resume, dev)
    pool_x, pool_y, test_x, test_y = (t.to(dev) for t in tensors)
    make_model = functools.partial(spec.make_model, chosen, **model_inputs)
    for trial in range(trials):
        for method in methods:
            run_trial(
                make_strategy(method, settings_of(config)), make_model, pool_x, pool_y, test_x, test_y, chosen.loop, chosen.train,
                seed=seed + trial, directory=trial_directory(out, method, trial), progress=progress,
                description=f"{method} trial {trial + 1}/{trials}",
            )

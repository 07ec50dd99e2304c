"""``python -m experiments analyze ablation``: DACS with one setting changed at a
time around the paper's defaults, each point a run of its own, and what each
setting does to accuracy, selection time, labels spent on copies, and how well
the LSH density ranks the samples.

    python -m experiments analyze ablation --out DIR [--task rmnist] [--preset cpu] [--trials 3] [--axes buckets,groups]

``DIR/points/<axis>=<value>/`` (and ``DIR/points/default/``, the paper's
settings; ``DIR/points/reference/``, Random and Core-set) are ordinary run
directories, resumable: the command continues where a killed one stopped.
``DIR/ablation.md``, ``ablation.json`` and ``ablation.png`` hold the summary.
"""

from __future__ import annotations

import io
import json
import math
import os
import statistics
from dataclasses import dataclass

import torch

import dacs_ext
from dacs_ext.al import embed
from dacs_ext.files import atomic_write_bytes
from dacs_ext.al.loop import acquisition_generator, labeled_order

from ..layout import CONFIG
from ..report import collect, report
from ..runner import RunError, run, settings_of
from ..stats import mean_std, spearman
from ..tasks import Preset, all_tasks
from .replay import Replay

NEIGHBOURS = 20
"""k of the exact k-NN density that the LSH density is ranked against."""
QUALITY_SAMPLE = 5000
"""Unlabeled rows on which the density is compared (against every unlabeled row)."""
SUMMARY = "ablation"


@dataclass(frozen=True)
class Axis:
    """One setting varied: a field of ``DACSSettings`` (``field``) or, with
    ``field`` "aux_dim", the width of the model's auxiliary features."""

    field: str
    values: tuple

    def changes(self, value) -> dict:
        """The ``run`` arguments that set this axis to ``value``."""
        return {"aux_dim": value} if self.field == "aux_dim" else {"settings": {"dacs": {self.field: value}}}


AXES = {
    "buckets": Axis("buckets", (20, 50, 100, 200, 500)),
    "groups": Axis("groups", (2, 3, 4, 5, 6)),
    "temperature": Axis("temperature", (0.1, 0.25, 0.5, 1.0, math.inf)),
    "rounds": Axis("rounds", (1, 4, 16)),
    "neighbours": Axis("neighbours", ("back", "both")),
    "share_centers": Axis("share_centers", (False, True)),
    "aux_dim": Axis("aux_dim", (8, 16, 32)),
}
DEFAULTS = dict(dacs_ext.DACSSettings().to_dict(), aux_dim=Preset.aux_dim)
REFERENCE_METHODS = ("random", "coreset")


def point_name(axis: str, value) -> str:
    """The folder of one point: ``default`` for the paper's value of every axis."""
    return "default" if value == DEFAULTS[axis] else f"{axis}={value}"


def points(axes: list[str]) -> dict[str, dict]:
    """``{folder: run arguments}`` for the default point and every other value of ``axes``."""
    chosen = {"default": {}}
    for axis in axes:
        for value in AXES[axis].values:
            chosen.setdefault(point_name(axis, value), AXES[axis].changes(value))
    return chosen


@dataclass(frozen=True)
class Features:
    """The auxiliary features a DACS selection saw: ``unlabeled`` [U, d] and
    ``labeled`` [L, d] rows, the budget, and the generator seed of that cycle."""

    unlabeled: torch.Tensor
    labeled: torch.Tensor
    budget: int
    seed: int
    cycle: int


def features_at(out: str, trial: int = 0, cycle: int | None = None) -> Features:
    """The features of the DACS run in ``out`` at ``cycle`` (default: the
    middle one) of ``trial``: the cycle's model is retrained from the records
    (training is deterministic) and embeds the pool."""
    replay = Replay(out, "dacs", trial)
    cycle = len(replay.records) // 2 if cycle is None else cycle
    z = embed(replay.model_at(cycle), replay.pool_x, ("aux_features",))["aux_features"]
    labeled = replay.labeled(cycle)
    return Features(z[~labeled], z[labeled], replay.preset.loop.budget, replay.seed, cycle)


def density_quality(features: Features, settings: dacs_ext.DACSSettings) -> float:
    """Spearman correlation between the LSH density that DACS with ``settings``
    computes on ``features`` (with that cycle's generator) and the exact k-NN
    density, on ``QUALITY_SAMPLE`` random unlabeled rows."""
    _, details = dacs_ext.select(
        features.unlabeled, features.labeled, features.budget, settings,
        generator=acquisition_generator(features.seed, features.cycle), return_details=True,
    )
    sample = torch.randperm(len(features.unlabeled), generator=torch.Generator().manual_seed(0))[:QUALITY_SAMPLE]
    return spearman(details["density"][sample].double(), dacs_ext.knn_density(features.unlabeled.double(), NEIGHBOURS, sample))


def summarize_point(out: str, method: str, copies) -> dict:
    """Final and mean accuracy over trials, seconds per selection, and labels
    spent on copies (``copies(pool_size, order)``; None where the task has no copies)."""
    config, runs = collect(out)
    trials = [t for t in runs[method] if len(t) == config["protocol"]["loop"]["measurements"]]
    if not trials:
        raise RunError(f"{out}: no finished trial of {method}")
    pool_size = round(trials[0][0]["labeled"] / trials[0][0]["proportion"])
    selections = [r["select_seconds"] for t in trials for r in t[:-1]]
    summary = dict(
        trials=len(trials),
        final=dict(zip(("mean", "std"), mean_std([100 * t[-1]["accuracy"] for t in trials]))),
        mean=dict(zip(("mean", "std"), mean_std([100 * statistics.fmean(r["accuracy"] for r in t) for t in trials]))),
        select_seconds=statistics.fmean(selections),
    )
    if copies is not None:
        summary["copies"] = statistics.fmean(copies(pool_size, labeled_order(t)) for t in trials)
    return summary


def ablation(
    out: str, *, task: str = "rmnist", preset: str = "cpu", trials: int = 3, axes: list[str] | None = None, seed: int = 0,
    data_dir: str | None = None, progress: bool = True,
) -> str:
    """Runs (or resumes) every point and the reference methods, then writes the
    summary; returns the Markdown."""
    axes = list(AXES) if axes is None else axes
    unknown = [a for a in axes if a not in AXES]
    if unknown or not axes:
        raise RunError(f"--axes must be a comma-separated list of {', '.join(AXES)}, got {','.join(axes)!r}")
    tasks = all_tasks()
    if task not in tasks or tasks[task].kind != "classification":
        raise RunError(f"--task: the ablation needs a classification task ({', '.join(n for n, t in tasks.items() if t.kind == 'classification')}), got {task!r}")
    spec = tasks[task]
    common = dict(task=task, trials=trials, preset=preset, seed=seed, data_dir=data_dir, resume=True, progress=progress)
    directory = lambda name: os.path.join(out, "points", name)  # noqa: E731
    run(directory("reference"), methods=list(REFERENCE_METHODS), **common)
    report(directory("reference"))
    chosen = points(axes)
    for name, changes in chosen.items():
        run(directory(name), methods=["dacs"], **common, **changes)
        report(directory(name))  # each point's own table and plot

    copies = spec.copies
    results = {"reference": {m: summarize_point(directory("reference"), m, copies) for m in REFERENCE_METHODS}, "axes": {}}
    summaries = {name: summarize_point(directory(name), "dacs", copies) for name in chosen}
    # Density quality on the same features for every setting (the default
    # point's model), so that it measures the setting and not the model its
    # acquisitions trained; an auxiliary width has features of its own.
    default_features = features_at(directory("default"))
    quality = {}
    for name, changes in chosen.items():
        features = features_at(directory(name)) if "aux_dim" in changes else default_features
        quality[name] = density_quality(features, settings_of(collect(directory(name))[0])["dacs"])
    for axis in axes:
        rows = []
        for value in AXES[axis].values:
            name = point_name(axis, value)
            rows.append(dict(value=value, point=name, **summaries[name], spearman=quality[name]))
        results["axes"][axis] = rows
    with open(os.path.join(directory("default"), CONFIG)) as f:
        config = json.load(f)
    results["run"] = dict(task=task, preset=preset, trials=trials, seed=seed, environment=config.get("environment", {}))
    text = markdown(results)
    atomic_write_bytes(os.path.join(out, f"{SUMMARY}.md"), text.encode())
    atomic_write_bytes(os.path.join(out, f"{SUMMARY}.json"), json.dumps(results, indent=1, default=str).encode())
    atomic_write_bytes(os.path.join(out, f"{SUMMARY}.png"), plot(results))
    return text


def _cell(stat: dict) -> str:
    return f"{stat['mean']:.1f} ± {stat['std']:.1f}"


def markdown(results: dict) -> str:
    run_info = results["run"]
    env = run_info["environment"]
    has_copies = "copies" in results["reference"]["coreset"]
    header = "| value | final accuracy | mean accuracy | s per selection |" + (" copies labeled |" if has_copies else "") + " Spearman with exact 20-NN density |"
    rule = "|---" * (header.count("|") - 1) + "|"
    lines = [
        f"DACS ablation on {run_info['task']}, preset {run_info['preset']}, {run_info['trials']} trials per point (seed {run_info['seed']}): "
        "one setting changed at a time around the paper's (buckets 100, groups 4, temperature 0.25, 1 round, neighbours back, "
        "no shared centers, 16-d auxiliary features). Accuracy in %, mean ± standard deviation over trials; final = at the last "
        "measurement, mean = over all measurements. Copies: labels spent on a copy of an image already labeled, at the end. "
        f"Spearman: LSH density against the exact {NEIGHBOURS}-NN density on {QUALITY_SAMPLE} unlabeled rows, on the features of the "
        "default point's model (trial 0, middle cycle; each auxiliary width on its own model's).",
        "",
        "Reference: " + "; ".join(
            f"{m}: final {_cell(s['final'])}, mean {_cell(s['mean'])}" + (f", copies {s['copies']:.0f}" if has_copies else "")
            for m, s in results["reference"].items()
        ) + ".",
        "",
    ]
    for axis, rows in results["axes"].items():
        lines += [f"### {axis}", "", header, rule]
        for row in rows:
            value = f"**{row['value']}** (paper)" if row["point"] == "default" else str(row["value"])
            cells = [value, _cell(row["final"]), _cell(row["mean"]), f"{row['select_seconds']:.3f}"]
            if has_copies:
                cells.append(f"{row['copies']:.0f}")
            cells.append(f"{row['spearman']:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(f"Machine: {env.get('device', '?')}, torch {env.get('torch', '?')}, {env.get('threads', '?')} thread(s).")
    return "\n".join(lines) + "\n"


def plot(results: dict) -> bytes:
    """Final accuracy against each axis's values (error bars: one standard
    deviation), Core-set's final accuracy as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = results["axes"]
    figure, panels = plt.subplots(1, len(axes), figsize=(3.2 * len(axes), 3.2), squeeze=False, sharey=True)
    coreset = results["reference"]["coreset"]["final"]["mean"]
    for panel, (axis, rows) in zip(panels[0], axes.items()):
        labels = [str(r["value"]) for r in rows]
        panel.errorbar(range(len(rows)), [r["final"]["mean"] for r in rows], yerr=[r["final"]["std"] for r in rows], marker="o", capsize=3)
        panel.axhline(coreset, color="grey", linestyle="--", label="Core-set")
        panel.set_xticks(range(len(rows)), labels)
        panel.set_title(axis)
    panels[0][0].set_ylabel("final test accuracy (%)")
    panels[0][0].legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()

"""``python -m experiments report DIR``: the paper-style table (mean and
standard deviation over trials per labeled proportion) and the accuracy plot."""

from __future__ import annotations

import io
import json
import os
import statistics

from dacs_ext.al.files import atomic_write_bytes, read_jsonl

from dacs_ext.al import STRATEGIES

from .layout import CONFIG, PLOT, TABLE, cycles_path
from .runner import RunError


def label(config: dict, method: str) -> str:
    """A method's name in tables and plots: its title and the settings of the run
    that differ from the method's defaults, e.g. ``DACS (rounds=4)``."""
    return STRATEGIES[method].label(config.get("settings", {})) if method in STRATEGIES else method


def collect(out: str) -> tuple[dict, dict[str, list[list[dict]]]]:
    """The run's config and, per method, the records of every trial that has any."""
    path = os.path.join(out, CONFIG)
    if not os.path.exists(path):
        raise RunError(f"{out}: no {CONFIG}; not a run directory")
    with open(path) as f:
        config = json.load(f)
    runs = {}
    for method in config["methods"]:
        trials = []
        for trial in range(config["trials"]):
            cycles = cycles_path(out, method, trial)
            if os.path.exists(cycles):
                trials.append(read_jsonl(cycles))
        runs[method] = trials
    return config, runs


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(runs: dict[str, list[list[dict]]]) -> dict[str, list[dict]]:
    """Per method, per cycle: labeled count, proportion, accuracy mean/std (in
    %) over the trials that reached that cycle, and how many did."""
    table = {}
    for method, trials in runs.items():
        rows = []
        for cycle in range(max((len(t) for t in trials), default=0)):
            reached = [t[cycle] for t in trials if len(t) > cycle]
            mean, std = _mean_std([100 * r["accuracy"] for r in reached])
            rows.append(dict(labeled=reached[0]["labeled"], proportion=reached[0]["proportion"], mean=mean, std=std, trials=len(reached)))
        table[method] = rows
    return table


def markdown(config: dict, runs: dict[str, list[list[dict]]]) -> str:
    table = summarize(runs)
    labeled = sorted({row["labeled"]: row["proportion"] for rows in table.values() for row in rows}.items())
    best = {}
    for count, _ in labeled:
        means = [row["mean"] for rows in table.values() for row in rows if row["labeled"] == count]
        best[count] = max(means)
    lines = [
        f"Top-1 test accuracy (%), mean ± standard deviation over trials; task {config['task']}, "
        f"preset {config['preset']}, {config['trials']} trial(s), seed {config['seed']}. Best mean in bold.",
        "",
        "| Method | " + " | ".join(f"{100 * p:.2f}% ({c})" for c, p in labeled) + " |",
        "|---|" + "---|" * len(labeled),
    ]
    for method, rows in table.items():
        by_count = {row["labeled"]: row for row in rows}
        cells = []
        for count, _ in labeled:
            row = by_count.get(count)
            if row is None:
                cells.append("")
                continue
            text = f"{row['mean']:.1f} ± {row['std']:.1f}"
            if len(table) > 1 and row["mean"] == best[count]:
                text = f"**{text}**"
            if row["trials"] < config["trials"]:
                text += f" (n={row['trials']})"
            cells.append(text)
        lines.append(f"| {label(config, method)} | " + " | ".join(cells) + " |")
    lines += ["", "Seconds per method, summed over trials and cycles (the share of the wall time spent in selection in brackets):", ""]
    lines += ["| Method | wall | training | embedding | selection |", "|---|---|---|---|---|"]
    for method, trials in runs.items():
        records = [r for t in trials for r in t]
        total = {k: sum(r[f"{k}_seconds"] for r in records) for k in ("wall", "train", "embed", "select")}
        share = 100 * total["select"] / total["wall"] if total["wall"] else 0.0
        lines.append(
            f"| {label(config, method)} | {total['wall']:.1f} | {total['train']:.1f} | {total['embed']:.1f} | "
            f"{total['select']:.1f} ({share:.1f}%) |"
        )
    env = config.get("environment", {})
    if env:
        lines += ["", f"Machine: {env.get('device')}, torch {env.get('torch')}, {env.get('threads')} thread(s)."]
    return "\n".join(lines) + "\n"


def plot(config: dict, runs: dict[str, list[list[dict]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for method, rows in summarize(runs).items():
        if not rows:
            continue
        x = [100 * r["proportion"] for r in rows]
        mean = [r["mean"] for r in rows]
        ax.plot(x, mean, marker="o", label=label(config, method))
        ax.fill_between(x, [m - r["std"] for m, r in zip(mean, rows)], [m + r["std"] for m, r in zip(mean, rows)], alpha=0.2)
    ax.set_xlabel("labeled proportion of the pool (%)")
    ax.set_ylabel("top-1 test accuracy (%)")
    ax.set_title(f"{config['task']}, preset {config['preset']}, {config['trials']} trial(s): mean ± std")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    atomic_write_bytes(path, png.getvalue())


def report(out: str) -> str:
    """Writes ``results.md`` and ``accuracy.png`` into ``out``; returns the table."""
    config, runs = collect(out)
    if not any(runs.values()):
        raise RunError(f"{out}: no cycle has finished yet")
    text = markdown(config, runs)
    atomic_write_bytes(os.path.join(out, TABLE), text.encode())
    plot(config, runs, os.path.join(out, PLOT))
    return text

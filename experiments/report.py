"""``python -m experiments report DIR``: the paper-style tables (mean and
standard deviation over trials per labeled proportion, one per metric the
task records), each metric's area under the learning curve with paired
differences between methods (``stats``), and the plot of its first metric."""

from __future__ import annotations

import io
import json
import os
import statistics

from dacs_ext.files import atomic_write_bytes, read_jsonl

from dacs_ext.al import STRATEGIES
from dacs_ext.al.metrics import LOWER_IS_BETTER, METRICS

from .layout import CONFIG, TABLE, cycles_path, plot_name
from .runner import RunError
from .stats import CONFIDENCE, area_under_curve, mean_std, paired_difference


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


# How each metric a run records is shown: its description, the factor applied
# and the digits kept. The first metric of a task kind is the one plotted.
SHOWN = {
    "accuracy": ("Top-1 test accuracy (%)", 100.0, 1),
    "mse": ("Test mean squared error (lower is better)", 1.0, 3),
    "ci": ("Test concordance index", 1.0, 3),
}


def metrics_of(runs: dict[str, list[list[dict]]]) -> tuple[str, ...]:
    """The metrics the run's records hold: those of one task kind
    (``dacs_ext.al.metrics.METRICS``), read from the records themselves."""
    first = next((t[0] for trials in runs.values() for t in trials if t), {})
    for names in METRICS.values():
        if all(name in first for name in names):
            return names
    raise RunError(f"the records hold none of the known metrics ({', '.join(m for names in METRICS.values() for m in names)})")


def summarize(runs: dict[str, list[list[dict]]], metric: str = "accuracy") -> dict[str, list[dict]]:
    """Per method, per cycle: labeled count, proportion, mean/std of ``metric``
    (scaled as ``SHOWN`` says, accuracy in %) over the trials that reached that
    cycle, and how many did."""
    scale = SHOWN[metric][1]
    table = {}
    for method, trials in runs.items():
        rows = []
        for cycle in range(max((len(t) for t in trials), default=0)):
            reached = [t[cycle] for t in trials if len(t) > cycle]
            mean, std = mean_std([scale * r[metric] for r in reached])
            rows.append(dict(labeled=reached[0]["labeled"], proportion=reached[0]["proportion"], mean=mean, std=std, trials=len(reached)))
        table[method] = rows
    return table


def metric_table(config: dict, runs: dict[str, list[list[dict]]], metric: str) -> list[str]:
    table = summarize(runs, metric)
    title, _, digits = SHOWN[metric]
    pick = min if metric in LOWER_IS_BETTER else max
    labeled = sorted({row["labeled"]: row["proportion"] for rows in table.values() for row in rows}.items())
    best = {count: pick(row["mean"] for rows in table.values() for row in rows if row["labeled"] == count) for count, _ in labeled}
    lines = [
        f"{title}, mean ± standard deviation over trials; task {config['task']}, "
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
            text = f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}"
            if len(table) > 1 and row["mean"] == best[count]:
                text = f"**{text}**"
            if row["trials"] < config["trials"]:
                text += f" (n={row['trials']})"
            cells.append(text)
        lines.append(f"| {label(config, method)} | " + " | ".join(cells) + " |")
    return lines


# The methods every other one is compared with, trial by trial.
BASELINES = ("random", "coreset")


def complete_trials(config: dict, trials: list[list[dict]]) -> dict[int, list[dict]]:
    """The trials (by index) that reached every measurement of the run's loop."""
    measurements = config["protocol"]["loop"]["measurements"]
    return {k: t for k, t in enumerate(trials) if len(t) == measurements}


def comparisons(method: str, methods: list[str]) -> list[str]:
    """What ``method`` is compared with: the baselines, and for a combination
    ``<base>-dacs`` its base method (did adding DACS help?)."""
    base = method[: -len("-dacs")] if method.endswith("-dacs") else None
    return [b for b in (*BASELINES, base) if b is not None and b in methods and b != method]


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}"


def paired_table(config: dict, runs: dict[str, list[list[dict]]], metric: str) -> list[str]:
    """Each method's area under the learning curve (the mean of ``metric`` over
    the measurements, mean ± std over complete trials) and its paired difference
    to each method of ``comparisons``, with the t interval over trials."""
    title, scale, digits = SHOWN[metric]
    aucs = {m: {k: scale * area_under_curve(t, metric) for k, t in complete_trials(config, trials).items()} for m, trials in runs.items()}
    finals = {m: {k: scale * t[-1][metric] for k, t in complete_trials(config, trials).items()} for m, trials in runs.items()}
    better = "lower" if metric in LOWER_IS_BETTER else "higher"
    lines = [
        f"{title}: area under the learning curve (AUC, the mean over the measurements) and the last measurement, "
        f"mean ± std over complete trials; each difference is paired by trial (same seed), "
        f"mean [{CONFIDENCE:.0%} t interval over trials], `*` where the interval excludes 0 ({better} is better).",
        "",
        "| Method | trials | AUC | last | AUC - Random | AUC - Core-set | AUC - base method | last - Random | last - Core-set | last - base method |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    methods = list(runs)
    for method in methods:
        if not aucs[method]:
            continue
        cells = []
        for values in (aucs, finals):
            mean, std = mean_std(list(values[method].values()))
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        for values in (aucs, finals):
            against = comparisons(method, methods)
            for slot in (*BASELINES, "base"):
                other = slot if slot in BASELINES else next((b for b in against if b not in BASELINES), None)
                paired = paired_difference(values[method], values[other]) if other in against else None
                if paired is None:
                    cells.append("")
                elif paired.low is None:
                    cells.append(f"{_signed(paired.mean, digits)} (1 trial)")
                else:
                    mark = "*" if paired.excludes_zero() else ""
                    base = f" vs {label(config, other)}" if slot == "base" else ""
                    cells.append(f"{_signed(paired.mean, digits)} [{_signed(paired.low, digits)}, {_signed(paired.high, digits)}]{mark}{base}")
        lines.append(f"| {label(config, method)} | {len(aucs[method])} | " + " | ".join(cells) + " |")
    return lines


def adjacent_share(acquired: list[int], within: int = 3) -> float:
    """The share of consecutive picks whose pool indices are 1..``within`` apart:
    near 0 for any selection that does not follow the pool's order."""
    if len(acquired) < 2:
        return 0.0
    return sum(1 <= abs(b - a) <= within for a, b in zip(acquired, acquired[1:])) / (len(acquired) - 1)


def acquisition_table(config: dict, runs: dict[str, list[list[dict]]]) -> list[str]:
    """What each method did, over every acquisition of every trial: the largest
    share of consecutive picks 1-3 pool indices apart (a selection that fell
    back to the pool's order), and, where the records hold DACS's feature
    health, its worst figures and how many acquisitions warned."""
    lines = [
        "Acquisitions, worst over every cycle of every trial: consecutive picks 1-3 pool indices apart (pool-order runs), "
        "and for DACS its features' health (`dacs_ext.health`): fewest density chunks holding a pick, fewest occupied "
        "hash buckets, largest bucket's share, lowest effective rank, and the acquisitions with a degenerate-features warning.",
        "",
        "| Method | acquisitions | adjacent picks | chunks picked | occupied buckets | largest bucket | effective rank | warned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, trials in runs.items():
        records = [r for t in trials for r in t if r.get("acquired")]
        if not records:
            continue
        adjacent = max(adjacent_share(r["acquired"]) for r in records)
        health = [r["notes"]["dacs_health"] for r in records if "dacs_health" in r.get("notes", {})]
        cells = [f"{adjacent:.1%}"]
        if health:
            cells += [
                f"{min(h['chunks_picked'] for h in health)} of {health[0]['chunks']}",
                f"{min(h['occupied_buckets'] for h in health)} of {health[0]['buckets']}",
                f"{max(h['largest_bucket_share'] for h in health):.0%}",
                f"{min(h['effective_rank'] for h in health):.2f}",
                f"{sum(bool(h['degenerate']) for h in health)} of {len(health)}",
            ]
        else:
            cells += [""] * 5
        lines.append(f"| {label(config, method)} | {len(records)} | " + " | ".join(cells) + " |")
    return lines


def markdown(config: dict, runs: dict[str, list[list[dict]]]) -> str:
    lines = []
    for metric in metrics_of(runs):
        lines += metric_table(config, runs, metric) + [""]
    for metric in metrics_of(runs):
        lines += paired_table(config, runs, metric) + [""]
    lines += acquisition_table(config, runs) + [""]
    lines += ["Seconds per method, summed over trials and cycles (the share of the wall time spent in selection in brackets):", ""]
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
        kernels = f", dacs_ext kernels built for {env['kernels']}" if env.get("kernels") else ""
        lines += ["", f"Machine: {env.get('device')}, torch {env.get('torch')}, {env.get('threads')} thread(s){kernels}."]
    return "\n".join(lines) + "\n"


def plot(config: dict, runs: dict[str, list[list[dict]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    metric = metrics_of(runs)[0]
    for method, rows in summarize(runs, metric).items():
        if not rows:
            continue
        x = [100 * r["proportion"] for r in rows]
        mean = [r["mean"] for r in rows]
        ax.plot(x, mean, marker="o", label=label(config, method))
        ax.fill_between(x, [m - r["std"] for m, r in zip(mean, rows)], [m + r["std"] for m, r in zip(mean, rows)], alpha=0.2)
    ax.set_xlabel("labeled proportion of the pool (%)")
    ax.set_ylabel(SHOWN[metric][0])
    ax.set_title(f"{config['task']}, preset {config['preset']}, {config['trials']} trial(s): mean ± std")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    atomic_write_bytes(path, png.getvalue())


def _plot_file(out: str, runs: dict[str, list[list[dict]]]) -> str:
    return os.path.join(out, plot_name(metrics_of(runs)[0]))


def plot_path(out: str) -> str:
    """Where ``report`` puts the run's plot."""
    return _plot_file(out, collect(out)[1])


def report(out: str) -> str:
    """Writes ``results.md`` and the plot (``layout.plot_name``) into ``out``; returns the tables."""
    config, runs = collect(out)
    if not any(runs.values()):
        raise RunError(f"{out}: no cycle has finished yet")
    text = markdown(config, runs)
    atomic_write_bytes(os.path.join(out, TABLE), text.encode())
    plot(config, runs, _plot_file(out, runs))
    return text

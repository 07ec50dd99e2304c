"""``python -m experiments analyze fig1|fig3|fig4|fig5``: the paper's analyses
(section 3, Figure 1; section 6, Figures 3-5) on any classification task.

    python -m experiments analyze fig1 --out DIR [--labels 3000]   # density against informativeness
    python -m experiments analyze fig3 --out DIR [--budget 100]    # small budgets, and why DACS wins or loses there
    python -m experiments analyze fig4 --out DIR                   # k-center inside the densest / sparsest group
    python -m experiments analyze fig5 RUN --out DIR               # informativeness and diversity of what a run acquired

Each writes ``DIR/<fig>.md``, ``.json`` and ``.png``. Figures 1, 3 and 4 run
what they need into ``DIR/run`` (an ordinary run directory, resumable); every
model they measure is trained again from that run's records (training is
deterministic), never loaded from a pickle. Figure 5 reads any run directory.
"""

from __future__ import annotations

import io
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

import dacs_ext
from dacs_ext.al import DACSStrategy, embed, make_strategy
from dacs_ext.files import atomic_write_bytes
from dacs_ext.al.loop import acquisition_generator, labeled_order

from ..report import collect, label, report, summarize
from ..runner import RunError, run, settings_of
from ..stats import mean_std, pearson, spearman
from ..tasks import all_tasks
from .replay import Replay

NEIGHBOURS = 20
"""k of the exact k-NN density (the paper's Figure 1)."""
FIG3_METHODS = ("random", "coreset", "learnloss", "dacs", "dacs-shared", "dacs-recommended")
FIG4_METHODS = ("random", "dacs", "kcenter-densest", "kcenter-sparsest")
FIG5_METHODS = ("random", "coreset", "learnloss", "dacs")
SAMPLE = 2000
"""Unlabeled rows on which Figure 3's neighbourhood purity is measured."""
PLOT_POINTS = 5000
"""Points drawn per scatter plot (the correlations use every row)."""


def classification_task(task: str):
    tasks = all_tasks()
    if task not in tasks or tasks[task].kind != "classification":
        names = ", ".join(n for n, t in tasks.items() if t.kind == "classification")
        raise RunError(f"--task: this analysis needs a classification task ({names}), got {task!r}")
    return tasks[task]


def write(out: str, name: str, results: dict, text: str, png: bytes) -> None:
    os.makedirs(out, exist_ok=True)
    atomic_write_bytes(os.path.join(out, f"{name}.md"), text.encode())
    atomic_write_bytes(os.path.join(out, f"{name}.json"), json.dumps(results, indent=1, default=str).encode())
    atomic_write_bytes(os.path.join(out, f"{name}.png"), png)


def png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# Figure 1 ------------------------------------------------------------------


def fig1(
    out: str, *, task: str = "rmnist", preset: str = "cpu", labels: int = 3000, seed: int = 0, neighbours: int = NEIGHBOURS,
    data_dir: str | None = None, progress: bool = True,
) -> str:
    """Density against informativeness on the unlabeled pool of a model trained
    on ``labels`` random labels: exact k-NN density (minus the mean cosine
    distance to the ``neighbours`` nearest rows) and the LSH density (the
    paper's settings) of the auxiliary features, against prediction entropy
    and the true loss; Pearson and Spearman correlations."""
    classification_task(task)
    directory = os.path.join(out, "run")
    run(directory, task=task, methods=["random"], trials=1, preset=preset, seed=seed, data_dir=data_dir, resume=True,
        loop=dict(initial=labels, measurements=1), progress=progress)
    report(directory)
    replay = Replay(directory, "random", 0)
    (_, model), = replay.models()
    accuracy = replay.check(model, 0)
    outputs = embed(model, replay.pool_x, ("aux_features", "logits"))
    unlabeled = ~replay.labeled(0)
    z, logits, y = outputs["aux_features"][unlabeled], outputs["logits"][unlabeled].float(), replay.pool_y[unlabeled]
    log_p = torch.log_softmax(logits, dim=1)
    measures = dict(entropy=-(log_p.exp() * log_p).sum(1), loss=F.nll_loss(log_p, y, reduction="none"))
    start = time.perf_counter()
    measures["exact"] = dacs_ext.knn_density(z, neighbours)
    exact_seconds = time.perf_counter() - start
    settings = dacs_ext.DACSSettings()
    start = time.perf_counter()
    measures["lsh"] = dacs_ext.density(z, settings.buckets, generator=torch.Generator().manual_seed(seed))
    lsh_seconds = time.perf_counter() - start
    pairs = [("exact", "entropy"), ("exact", "loss"), ("lsh", "entropy"), ("lsh", "loss"), ("lsh", "exact")]
    correlations = {f"{a}~{b}": dict(pearson=pearson(measures[a], measures[b]), spearman=spearman(measures[a], measures[b])) for a, b in pairs}
    groups = {name: dacs_ext.density_groups(measures[name].double(), settings.groups) for name in ("exact", "lsh")}
    results = dict(
        task=task, preset=preset, labels=labels, seed=seed, neighbours=neighbours, rows=int(unlabeled.sum()), test_accuracy=accuracy,
        exact_seconds=exact_seconds, lsh_seconds=lsh_seconds, threads=torch.get_num_threads(), correlations=correlations,
        group_agreement=float((groups["exact"] == groups["lsh"]).double().mean()),
        entropy_by_exact_group=[float(measures["entropy"][groups["exact"] == g].mean()) for g in range(settings.groups)],
    )
    text = fig1_markdown(results)
    write(out, "fig1", results, text, fig1_plot(measures, seed))
    return text


def fig1_markdown(r: dict) -> str:
    names = {"exact": f"exact {r['neighbours']}-NN density", "lsh": "LSH density", "entropy": "prediction entropy", "loss": "true loss"}
    lines = [
        f"Figure 1 on {r['task']} (preset {r['preset']}): a model trained on {r['labels']} random labels (seed {r['seed']}, "
        f"test accuracy {100 * r['test_accuracy']:.1f}%), measured on all {r['rows']:,} unlabeled pool rows. Densities are of the "
        "16-d auxiliary features DACS reads; higher is denser. The paper (CIFAR-10) reports Spearman -0.71 with entropy and "
        "-0.27 with loss.",
        "",
        "| pair | Pearson | Spearman |",
        "|---|---|---|",
    ]
    for key, c in r["correlations"].items():
        a, b = key.split("~")
        lines.append(f"| {names[a]} vs {names[b]} | {c['pearson']:.3f} | {c['spearman']:.3f} |")
    lines += [
        "",
        f"- The LSH density (100 buckets, 1 round) and the exact density put a row in the same of 4 natural-breaks groups "
        f"{100 * r['group_agreement']:.1f}% of the time.",
        "- Mean prediction entropy by exact-density group, sparsest first: "
        + ", ".join(f"{e:.3f}" for e in r["entropy_by_exact_group"]) + ".",
        f"- Exact {r['neighbours']}-NN over {r['rows']:,} rows (`dacs_ext.knn_density`, tiled): {r['exact_seconds']:.1f} s; "
        f"LSH density: {r['lsh_seconds']:.2f} s ({r['threads']} threads).",
    ]
    return "\n".join(lines) + "\n"


def fig1_plot(measures: dict, seed: int) -> bytes:
    plt = pyplot()
    rows = torch.randperm(len(measures["exact"]), generator=torch.Generator().manual_seed(seed))[:PLOT_POINTS]
    figure, panels = plt.subplots(1, 4, figsize=(16, 3.8))
    for panel, (x, y) in zip(panels, [("exact", "entropy"), ("exact", "loss"), ("lsh", "entropy"), ("lsh", "exact")]):
        panel.scatter(measures[x][rows].float(), measures[y][rows].float(), s=2, alpha=0.3)
        panel.set_xlabel(f"{x} density")
        panel.set_ylabel(y if y != "exact" else "exact density")
        panel.set_title(f"Spearman {spearman(measures[x], measures[y]):.2f}")
    return png(figure)


# Figures 3 and 4 -------------------------------------------------------------


def trails(table: dict, method: str, reference: str = "coreset") -> list[int]:
    """Labeled counts at which ``method``'s mean accuracy is below the
    reference's by more than one standard deviation (the larger of the two)."""
    by_count = {row["labeled"]: row for row in table[reference]}
    return [
        row["labeled"] for row in table[method]
        if row["labeled"] in by_count and by_count[row["labeled"]]["mean"] - row["mean"] > max(row["std"], by_count[row["labeled"]]["std"])
    ]


def copies_table(config: dict, runs: dict, copies) -> dict[str, list[float]]:
    """Per method, per measurement: labels spent on copies (mean over trials)."""
    table = {}
    for method, trials in runs.items():
        done = [t for t in trials if t]
        pool = round(done[0][0]["labeled"] / done[0][0]["proportion"])
        table[method] = [
            statistics.fmean(copies(pool, labeled_order(t)[: t[c]["labeled"]]) for t in done if len(t) > c)
            for c in range(max(len(t) for t in done))
        ]
    return table


def purity(features: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor, k: int = NEIGHBOURS) -> float:
    """Mean share of each row's k nearest other rows (cosine) that share its label."""
    unit = F.normalize(features.float(), dim=1)
    near = dacs_ext.knn_indices(unit, k, rows)
    return float((labels[near] == labels[rows, None]).double().mean())


def why_dacs(directory: str, method: str, sample: int = SAMPLE) -> dict:
    """What DACS saw at its first acquisition (trial 0, cycle 0): how well its
    auxiliary features and the backbone's features group the labels, and how
    its density groups, quotas and picks relate to the model's uncertainty."""
    replay = Replay(directory, method, 0)
    (_, model), = replay.models(last=0)
    outputs = embed(model, replay.pool_x, ("aux_features", "features", "logits"))
    unlabeled = (~replay.labeled(0)).nonzero().squeeze(1)
    rows = unlabeled[torch.randperm(len(unlabeled), generator=torch.Generator().manual_seed(0))[:sample]]
    strategy = make_strategy(method, settings_of(replay.config))
    z = outputs["aux_features"]
    labeled = replay.labeled(0).nonzero().squeeze(1)
    picks, details = dacs_ext.select(
        z[unlabeled], z[labeled], replay.config["protocol"]["loop"]["budget"], strategy.dacs.settings,
        generator=acquisition_generator(replay.seed, 0), return_details=True,
    )
    if not torch.equal(unlabeled[picks], replay.acquired(0)):
        raise RunError(f"replaying {method}'s first acquisition did not give the recorded picks")
    log_p = torch.log_softmax(outputs["logits"].float()[unlabeled], dim=1)
    entropy = -(log_p.exp() * log_p).sum(1)
    wrong = log_p.argmax(1) != replay.pool_y[unlabeled]
    group = details["groups"]
    used = details["groups_used"]
    return dict(
        labeled=int(replay.records[0]["labeled"]),
        purity_aux=purity(z, replay.pool_y, rows), purity_features=purity(outputs["features"], replay.pool_y, rows),
        group_sizes=torch.bincount(group, minlength=used).tolist(), quotas=details["quotas"].tolist(),
        group_entropy=[float(entropy[group == g].mean()) for g in range(used)],
        group_error=[float(wrong[group == g].double().mean()) for g in range(used)],
        picked_entropy=float(entropy[picks].mean()), pool_entropy=float(entropy.mean()),
    )


def fig3(
    out: str, *, task: str = "rmnist", preset: str = "cpu", budget: int = 100, initial: int | None = None,
    measurements: int | None = None, methods: tuple[str, ...] = FIG3_METHODS, trials: int = 3, seed: int = 0,
    data_dir: str | None = None, progress: bool = True,
) -> str:
    """The preset's protocol with ``budget`` labels per cycle (the paper's
    Figure 3: the same initial set, queries of 100), every method beside
    Core-set, and what DACS saw at its first acquisition."""
    spec = classification_task(task)
    loop = {"budget": budget} | ({"initial": initial} if initial else {}) | ({"measurements": measurements} if measurements else {})
    directory = os.path.join(out, "run")
    run(directory, task=task, methods=list(methods), trials=trials, preset=preset, seed=seed, data_dir=data_dir, resume=True,
        loop=loop, progress=progress)
    report(directory)
    config, runs = collect(directory)
    table = summarize(runs)
    results = dict(
        task=task, preset=preset, trials=trials, seed=seed, loop=config["protocol"]["loop"],
        environment=config.get("environment", {}),
        titles={m: label(config, m) for m in runs}, accuracy=table,
        trails_coreset={m: trails(table, m) for m in runs if m != "coreset"} if "coreset" in runs else {},
        seconds={m: sum(r["wall_seconds"] for t in trials_ for r in t) for m, trials_ in runs.items()},
    )
    if spec.copies is not None:
        results["copies"] = copies_table(config, runs, spec.copies)
    results["why"] = {m: why_dacs(directory, m) for m in runs if type(make_strategy(m)) is DACSStrategy}
    text = fig3_markdown(results)
    write(out, "fig3", results, text, curves_plot(results, "Figure 3: queries of {budget}".format(budget=budget)))
    return text


def accuracy_lines(results: dict) -> list[str]:
    table, titles = results["accuracy"], results["titles"]
    counts = [row["labeled"] for row in next(iter(table.values()))]
    lines = ["| Method | " + " | ".join(str(c) for c in counts) + " |", "|---|" + "---|" * len(counts)]
    for method, rows in table.items():
        lines.append(f"| {titles[method]} | " + " | ".join(f"{r['mean']:.1f} ± {r['std']:.1f}" for r in rows) + " |")
    return lines


def fig3_markdown(r: dict) -> str:
    loop, env = r["loop"], r["environment"]
    lines = [
        f"Figure 3 on {r['task']}, preset {r['preset']} with {loop['initial']} initial labels and {loop['budget']} per cycle, "
        f"{loop['measurements']} measurements, {r['trials']} trials (seed {r['seed']}). Test accuracy (%), mean ± std.",
        "",
        *accuracy_lines(r),
        "",
    ]
    if r["trails_coreset"]:
        lines.append("Measurements at which a method trails Core-set by more than one standard deviation (the larger of the two):")
        lines.append("")
        lines += [f"- {r['titles'][m]}: {', '.join(map(str, counts)) or 'none'}" for m, counts in r["trails_coreset"].items()]
        lines.append("")
    if "copies" in r:
        lines += ["Labels spent on copies of an image already labeled (mean over trials):", "", "| Method | " + " | ".join(
            str(row["labeled"]) for row in next(iter(r["accuracy"].values()))) + " |", "|---|" + "---|" * loop["measurements"]]
        lines += [f"| {r['titles'][m]} | " + " | ".join(f"{c:.0f}" for c in copies) + " |" for m, copies in r["copies"].items()]
        lines.append("")
    for method, why in r["why"].items():
        lines += [
            f"What {r['titles'][method]} saw at its first acquisition (trial 0, {why['labeled']} labels):",
            f"- label purity of the 20 nearest neighbours: {why['purity_aux']:.3f} in the auxiliary features DACS reads, "
            f"{why['purity_features']:.3f} in the backbone's features Core-set reads;",
            f"- density groups (sparsest first): sizes {why['group_sizes']}, quotas {why['quotas']}, mean prediction entropy "
            + ", ".join(f"{e:.3f}" for e in why["group_entropy"]) + ", error rate " + ", ".join(f"{e:.3f}" for e in why["group_error"]) + ";",
            f"- mean entropy of its picks {why['picked_entropy']:.3f} against {why['pool_entropy']:.3f} over the unlabeled pool.",
            "",
        ]
    lines.append(f"Machine: {env.get('device', '?')}, torch {env.get('torch', '?')}, {env.get('threads', '?')} thread(s); "
                 + ", ".join(f"{r['titles'][m]} {s:.0f} s" for m, s in r["seconds"].items()) + " (summed cycle wall time).")
    return "\n".join(lines) + "\n"


def curves_plot(results: dict, title: str) -> bytes:
    """Accuracy against labels (one standard deviation shaded), and labels spent on copies where the task has them."""
    plt = pyplot()
    panels_n = 2 if "copies" in results else 1
    figure, panels = plt.subplots(1, panels_n, figsize=(6.5 * panels_n, 4.2), squeeze=False)
    for method, rows in results["accuracy"].items():
        x = [row["labeled"] for row in rows]
        mean, std = [row["mean"] for row in rows], [row["std"] for row in rows]
        panels[0][0].plot(x, mean, marker="o", markersize=3, label=results["titles"][method])
        panels[0][0].fill_between(x, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.15)
        if panels_n == 2:
            panels[0][1].plot(x, results["copies"][method], marker="o", markersize=3, label=results["titles"][method])
    panels[0][0].set(xlabel="labeled samples", ylabel="test accuracy (%)", title=title)
    panels[0][0].legend(fontsize=7)
    if panels_n == 2:
        panels[0][1].set(xlabel="labeled samples", ylabel="labels spent on copies", title="copies of one image")
    return png(figure)


def fig4(
    out: str, *, task: str = "rmnist", preset: str = "cpu", methods: tuple[str, ...] = FIG4_METHODS, trials: int = 3, seed: int = 0,
    data_dir: str | None = None, progress: bool = True,
) -> str:
    """The paper's section 6.2: k-center inside the densest or the sparsest of 3
    density groups only, beside Random and DACS."""
    spec = classification_task(task)
    directory = os.path.join(out, "run")
    run(directory, task=task, methods=list(methods), trials=trials, preset=preset, seed=seed, data_dir=data_dir, resume=True, progress=progress)
    report(directory)
    config, runs = collect(directory)
    table = summarize(runs)
    results = dict(
        task=task, preset=preset, trials=trials, seed=seed, titles={m: label(config, m) for m in runs}, accuracy=table,
        mean_accuracy={m: dict(zip(("mean", "std"), mean_std([statistics.fmean(100 * r["accuracy"] for r in t) for t in runs[m]]))) for m in runs},
        environment=config.get("environment", {}),
    )
    if spec.copies is not None:
        results["copies"] = copies_table(config, runs, spec.copies)
    env = results["environment"]
    text = "\n".join([
        f"Figure 4 on {task}, preset {preset}, {trials} trials (seed {seed}): k-center (cosine, auxiliary features) inside one of "
        "3 density groups. Test accuracy (%), mean ± std.",
        "",
        *accuracy_lines(results),
        "",
        "Mean accuracy over all measurements: " + "; ".join(
            f"{results['titles'][m]} {s['mean']:.1f} ± {s['std']:.1f}" for m, s in results["mean_accuracy"].items()) + ".",
        *([""] + ["Labels spent on copies at the end: " + "; ".join(
            f"{results['titles'][m]} {c[-1]:.0f}" for m, c in results["copies"].items()) + "."] if "copies" in results else []),
        "",
        f"Machine: {env.get('device', '?')}, torch {env.get('torch', '?')}, {env.get('threads', '?')} thread(s).",
    ]) + "\n"
    write(out, "fig4", results, text, curves_plot(results, "Figure 4: dense against sparse"))
    return text


# Figure 5 ------------------------------------------------------------------


def acquired_quality(model, replay: Replay, cycle: int) -> dict:
    """Informativeness (mean -log p(y|x) of the acquired rows under the model
    that chose them, over log C) and diversity (mean pairwise cosine distance
    of their backbone features) of what ``cycle`` acquired."""
    rows = replay.acquired(cycle)
    outputs = embed(model, replay.pool_x[rows], ("features", "logits"))
    log_p = torch.log_softmax(outputs["logits"].float(), dim=1)
    information = float(F.nll_loss(log_p, replay.pool_y[rows])) / math.log(log_p.shape[1])
    unit = F.normalize(outputs["features"].double(), dim=1)
    n = len(rows)
    diversity = float((n * n - (unit @ unit.T).sum()) / (n * (n - 1)))  # mean of 1 - cos over ordered pairs i != j
    return dict(information=information, diversity=diversity)


def fig5(run_dir: str, out: str, *, methods: tuple[str, ...] = FIG5_METHODS, trials: int | None = None) -> str:
    """Per cycle, the informativeness and diversity of what each method of a
    run acquired, from its records: each cycle's model is trained again (and
    checked against the recorded test accuracy)."""
    config, runs = collect(run_dir)
    classification_task(config["task"])
    missing = [m for m in methods if m not in runs]
    if missing:
        raise RunError(f"{run_dir} has no records of {', '.join(missing)}; it holds {', '.join(runs)}")
    trials = trials or config["trials"]
    per = {m: [] for m in methods}
    start = time.perf_counter()
    for method in methods:
        for trial in range(trials):
            replay = Replay(run_dir, method, trial)
            cycles = []
            for cycle, model in replay.models(last=len(replay.records) - 2):
                replay.check(model, cycle)
                cycles.append(dict(labeled=replay.records[cycle]["labeled"], **acquired_quality(model, replay, cycle)))
            per[method].append(cycles)
    table = {
        m: [dict(labeled=t[0][c]["labeled"], **{k: dict(zip(("mean", "std"), mean_std([x[c][k] for x in t]))) for k in ("information", "diversity")})
            for c in range(len(t[0]))]
        for m, t in per.items()
    }
    env = config.get("environment", {})
    results = dict(run=run_dir, task=config["task"], preset=config["preset"], trials=trials, titles={m: label(config, m) for m in methods},
                   table=table, seconds=time.perf_counter() - start)
    counts = [row["labeled"] for row in next(iter(table.values()))]
    lines = [
        f"Figure 5 on {config['task']} (run `{run_dir}`, preset {config['preset']}, {trials} trials): what each cycle acquired, "
        "measured under the model that chose it (each retrained from the records; its test accuracy matched the recorded one). "
        "Informativeness: mean -log p(y|x) over log C (1 = a uniform guess). Diversity: mean pairwise cosine distance of the "
        "acquired rows' backbone features. Columns: labeled count of the choosing cycle.",
        "",
    ]
    for key, title in (("information", "Informativeness"), ("diversity", "Diversity")):
        lines += [f"{title}:", "", "| Method | " + " | ".join(map(str, counts)) + " | mean |", "|---|" + "---|" * (len(counts) + 1)]
        for m, rows in table.items():
            lines.append(f"| {results['titles'][m]} | " + " | ".join(f"{r[key]['mean']:.3f}" for r in rows)
                         + f" | {statistics.fmean(r[key]['mean'] for r in rows):.3f} |")
        lines.append("")
    lines.append(f"Retraining and measuring took {results['seconds']:.0f} s (machine of the run: {env.get('device', '?')}, "
                 f"{torch.get_num_threads()} threads here).")
    text = "\n".join(lines) + "\n"
    plt = pyplot()
    figure, panels = plt.subplots(1, 2, figsize=(12, 4.2))
    for panel, key in zip(panels, ("information", "diversity")):
        for m, rows in table.items():
            panel.errorbar([r["labeled"] for r in rows], [r[key]["mean"] for r in rows], yerr=[r[key]["std"] for r in rows],
                           marker="o", markersize=3, capsize=2, label=results["titles"][m])
        panel.set(xlabel="labeled samples (choosing cycle)", ylabel=key, title=f"Figure 5: {key}")
    panels[0].legend(fontsize=7)
    write(out, "fig5", results, text, png(figure))
    return text

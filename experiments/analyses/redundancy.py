"""What each method labeled in a Repeated-MNIST run: how many labels went to
copies of an image already labeled (the redundancy Repeated-MNIST is built to
expose), and how balanced the classes of the labeled set are; and, replaying a
DACS cycle, why DACS picked what it picked (density quality, groups, quotas).

    python -m experiments analyze redundancy DIR [--replay dacs:0:3 ...]   # writes DIR/analysis.md and prints it
"""

from __future__ import annotations

import os
import statistics

import torch

import dacs_ext
from dacs_ext.al import DACSStrategy, embed, evaluate, make_strategy
from dacs_ext.files import atomic_write_bytes
from dacs_ext.al.loop import acquisition_generator, labeled_order

from ..layout import ANALYSIS, cycles_path
from ..report import collect, label
from ..runner import RunError, settings_of
from ..stats import spearman
from ..tasks import rmnist
from ..tasks.base import subset
from ..tasks.mnist import FILES, LABELS_MAGIC, find_idx, read_idx
from .replay import Replay


def class_counts(order: torch.Tensor, labels: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """int64 [classes] labeled samples per class; ``labels`` [images] of the original images."""
    return torch.bincount(labels[order % labels.numel()], minlength=classes)


def analyse(out: str) -> str:
    config, runs = collect(out)
    if config["task"] != "rmnist":
        raise RunError(f"{out}: analysis is for rmnist runs, this one is {config['task']!r}")
    labels = torch.from_numpy(read_idx(find_idx(config["data_dir"], FILES["train_labels"]), LABELS_MAGIC).astype("int64"))
    labels = labels[subset(labels, config["protocol"]["train_limit"])]  # the images the run's pool repeats
    lines = [
        "Labels spent on copies of an already labeled image (mean over trials, at each labeled count), "
        "and the class balance of the final labeled set (smallest / largest class, mean over trials).",
        "",
    ]
    header_written = False
    for method in config["methods"]:
        per_trial = []
        for records in runs[method]:
            counts, order = [r["labeled"] for r in records], labeled_order(records)
            per_trial.append((counts, [rmnist.copies(rmnist.COPIES * labels.numel(), order[:c]) for c in counts], class_counts(order[: counts[-1]], labels)))
        if not per_trial:
            continue
        counts = per_trial[0][0]
        if not header_written:
            header_written = True
            lines += ["| Method | " + " | ".join(str(c) for c in counts) + " | smallest / largest class |", "|---|" + "---|" * (len(counts) + 1)]
        copies = [statistics.fmean(t[1][i] for t in per_trial if len(t[1]) > i) for i in range(len(counts))]
        smallest = statistics.fmean(int(t[2].min()) for t in per_trial)
        largest = statistics.fmean(int(t[2].max()) for t in per_trial)
        lines.append(f"| {label(config, method)} | " + " | ".join(f"{c:.1f}" for c in copies) + f" | {smallest:.0f} / {largest:.0f} |")
    return "\n".join(lines) + "\n"


def exact_density(queries: torch.Tensor, z: torch.Tensor, neighbours: int, *, block: int = 512) -> torch.Tensor:
    """Eq. 8's kernel ``sum sigmoid(s) * s`` over each query's ``neighbours``
    most similar rows of z (itself excluded): the density LSH approximates.

    Args:
        queries: [Q, d] unit rows that are also rows of z; z: [N, d] unit rows.
    """
    out = []
    for chunk in queries.split(block):
        s = torch.topk(chunk @ z.T, neighbours + 1, dim=1).values[:, 1:]
        out.append((torch.sigmoid(s) * s).sum(1))
    return torch.cat(out)


def replay(out: str, method: str, trial: int, cycle: int, *, sample: int = 5000) -> str:
    """Retrains ``method``'s model of ``cycle`` in ``trial`` from the records
    (training is deterministic; under warm start every cycle up to it is
    retrained), checks it reproduces the recorded accuracy and acquisition,
    and measures the DACS selection it made: the LSH density against the exact
    neighbourhood density, the density groups and quotas, and the copies of one
    image among the picks."""
    if not os.path.exists(cycles_path(out, method, trial)):
        raise RunError(f"--replay: {out} has no records of {method!r}, trial {trial} ({cycles_path(out, method, trial)})")
    replay_of = Replay(out, method, trial)
    records, order = replay_of.records, replay_of.order
    if not 0 <= cycle < len(records) - 1:
        raise RunError(f"--replay: cycle must be in [0, {len(records) - 2}] (a finished cycle that acquired), got {cycle}")
    strategy = make_strategy(method, settings_of(replay_of.config))
    if type(strategy) is not DACSStrategy:
        raise RunError(f"--replay is for the methods that are DACS alone (dacs, dacs-shared), got {method!r}")
    seed, count, budget = replay_of.seed, records[cycle]["labeled"], replay_of.preset.loop.budget
    model = replay_of.model_at(cycle)
    accuracy = evaluate(model, replay_of.test_x, replay_of.test_y)["accuracy"]
    z = embed(model, replay_of.pool_x, ("aux_features",))["aux_features"]
    labeled = replay_of.labeled(cycle)
    unlabeled = (~labeled).nonzero().squeeze(1)
    settings = strategy.dacs.settings
    picks, details = dacs_ext.select(
        z[unlabeled], z[labeled], budget, settings, generator=acquisition_generator(seed, cycle), return_details=True
    )
    same = torch.equal(unlabeled[picks], order[count : count + budget])

    # Density quality on a random sample of the unlabeled rows.
    n_unlabeled, buckets = len(unlabeled), settings.buckets
    chunks_read = {"none": 1, "back": 2, "both": 3}[settings.neighbours]
    neighbours = chunks_read * n_unlabeled // buckets  # how many rows the LSH sum covers
    rows = torch.randperm(n_unlabeled, generator=torch.Generator().manual_seed(0))[:sample]
    unit = torch.nn.functional.normalize(z[unlabeled].double(), dim=1)
    exact = exact_density(unit[rows], unit, neighbours)
    lsh = details["density"][rows].double()
    rho = spearman(lsh, exact)
    exact_groups = dacs_ext.density_groups(exact, settings.groups)
    agree = float((exact_groups == details["groups"][rows]).double().mean())

    groups_of = details["groups"]
    pairs, twice, split_pairs, one_group = copies_in_groups(unlabeled, picks, groups_of, images=len(z) // 3)

    sizes, quotas = torch.bincount(groups_of, minlength=details["groups_used"]), details["quotas"]
    per_group_picks = torch.bincount(groups_of[picks], minlength=details["groups_used"])
    return "\n".join([
        f"### Replay of {method}, trial {trial}, cycle {cycle} ({count} labeled, picking {budget})",
        "",
        f"- Reproduced: test accuracy {100 * accuracy:.2f}% (recorded {100 * records[cycle]['accuracy']:.2f}%), "
        f"acquisition {'identical to' if same else 'DIFFERENT from'} the recorded one.",
        f"- Density groups (0 = sparsest) sizes {sizes.tolist()}, quotas {quotas.tolist()}, picks {per_group_picks.tolist()}.",
        f"- LSH density ({buckets} buckets, {settings.rounds} round) against the exact kernel sum over each sample's "
        f"{neighbours} nearest neighbours, on {len(rows)} random unlabeled samples: Spearman {rho:.3f}; "
        f"the two put a sample in the same density group {100 * agree:.1f}% of the time.",
        f"- Images whose three copies are all unlabeled: all three copies in one density group for {100 * one_group:.1f}% of them.",
        f"- Picks that are a copy of another pick of this cycle: {pairs} of {budget}; "
        f"{split_pairs} of the {twice} images picked twice had their copies picked by different groups.",
        "",
    ])


def copies_in_groups(unlabeled: torch.Tensor, picks: torch.Tensor, groups_of: torch.Tensor, images: int) -> tuple[int, int, int, float]:
    """Copies of one image in a Repeated-MNIST acquisition (pool row i is image
    i % images): picks that copy another pick; images picked twice, and how many
    of them had their copies picked by different density groups; the share of
    images with all three copies unlabeled whose copies share one group.

    Args:
        unlabeled: int64 [U] pool rows; picks: int64 [B] indices into them;
        groups_of: int64 [U] each unlabeled row's density group.
    """
    image = unlabeled % images
    picked_images = image[picks]
    pairs = picks.numel() - torch.unique(picked_images).numel()
    picked_counts = torch.bincount(picked_images, minlength=images)
    split_pairs = 0
    for img in picked_images[picked_counts[picked_images] > 1].unique():
        split_pairs += int(torch.unique(groups_of[picks[picked_images == img]]).numel() > 1)
    full = torch.bincount(image, minlength=images) == 3
    by_image = torch.full((images, 3), -1, dtype=torch.int64)
    slot = torch.div(unlabeled, images, rounding_mode="floor")
    by_image[image, slot] = groups_of
    copies = by_image[full]
    return pairs, int((picked_counts > 1).sum()), split_pairs, float((copies == copies[:, :1]).all(1).double().mean())


def redundancy(out: str, replays: list[str] = ()) -> str:
    """``analyse(out)`` and each replayed cycle (``METHOD:TRIAL:CYCLE``), written
    to ``out``'s analysis file (``layout.ANALYSIS``); returns the text."""
    text = analyse(out)
    for spec in replays:
        parts = spec.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise RunError(f"--replay takes METHOD:TRIAL:CYCLE, e.g. dacs:0:3, got {spec!r}")
        text += "\n" + replay(out, parts[0], int(parts[1]), int(parts[2]))
    atomic_write_bytes(os.path.join(out, ANALYSIS), text.encode())
    return text

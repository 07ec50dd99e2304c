"""What each method labeled in a Repeated-MNIST run: how many labels went to
copies of an image already labeled (the redundancy Repeated-MNIST is built to
expose), and how balanced the classes of the labeled set are.

    python -m experiments.analysis DIR      # writes DIR/analysis.md and prints it
"""

from __future__ import annotations

import os
import statistics
import sys

import torch

from dacs_ext.al.files import atomic_write_bytes
from dacs_ext.al.loop import CHECKPOINT

from .mnist import FILES, LABELS_MAGIC, _find, read_idx
from .report import NAMES, collect
from .runner import RunError, trial_directory

ANALYSIS = "analysis.md"


def copies_labeled(order: torch.Tensor, images: int) -> int:
    """Labels spent on a copy of an image already labeled: pool row i is copy
    ``i // images`` of image ``i % images``."""
    return order.numel() - torch.unique(order % images).numel()


def class_counts(order: torch.Tensor, labels: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """int64 [classes] labeled samples per class; ``labels`` [images] of the original images."""
    return torch.bincount(labels[order % labels.numel()], minlength=classes)


def analyse(out: str) -> str:
    config, runs = collect(out)
    if config["task"] != "rmnist":
        raise RunError(f"{out}: analysis is for rmnist runs, this one is {config['task']!r}")
    labels = torch.from_numpy(read_idx(_find(config["data_dir"], FILES["train_labels"]), LABELS_MAGIC).astype("int64"))
    limit = config["protocol"]["train_limit"]
    labels = labels[:limit] if limit is not None else labels
    lines = [
        "Labels spent on copies of an already labeled image (mean over trials, at each labeled count), "
        "and the class balance of the final labeled set (smallest / largest class, mean over trials).",
        "",
    ]
    header = None
    for method in config["methods"]:
        per_trial = []
        for trial in range(len(runs[method])):
            path = os.path.join(trial_directory(out, method, trial), CHECKPOINT)
            state = torch.load(path, weights_only=True)
            counts = [r["labeled"] for r in state["records"]]
            order = state["labeled"]
            per_trial.append((counts, [copies_labeled(order[:c], labels.numel()) for c in counts], class_counts(order[: counts[-1]], labels)))
        if not per_trial:
            continue
        counts = per_trial[0][0]
        if header is None:
            header = counts
            lines += ["| Method | " + " | ".join(str(c) for c in counts) + " | smallest / largest class |", "|---|" + "---|" * (len(counts) + 1)]
        copies = [statistics.fmean(t[1][i] for t in per_trial if len(t[1]) > i) for i in range(len(counts))]
        smallest = statistics.fmean(int(t[2].min()) for t in per_trial)
        largest = statistics.fmean(int(t[2].max()) for t in per_trial)
        lines.append(f"| {NAMES.get(method, method)} | " + " | ".join(f"{c:.1f}" for c in copies) + f" | {smallest:.0f} / {largest:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        text = analyse(args[0])
    except (RunError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    atomic_write_bytes(os.path.join(args[0], ANALYSIS), text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The layout of a run directory, the one place that names its files::

    config.json                      what was run (checked again on --resume)
    <method>/trial-<k>/cycles.jsonl  one JSON line per cycle, with the pool indices it acquired
    <method>/trial-<k>/checkpoint.pt what --resume needs (never committed: cycles.jsonl has the results)
    results.md, <metric>.png         the tables and the plot of the task's first metric
                                     (accuracy.png, mse.png; ``report``)
    analysis.md                      ``python -m experiments analyze redundancy``

The two per-trial files are what ``dacs_ext.al.run_trial`` writes into its
``directory``; their names come from there.
"""

from __future__ import annotations

import os

from dacs_ext.al.loop import CHECKPOINT, CYCLES

CONFIG = "config.json"
TABLE = "results.md"
ANALYSIS = "analysis.md"

__all__ = ["CONFIG", "TABLE", "plot_name", "ANALYSIS", "CHECKPOINT", "CYCLES", "trial_directory", "cycles_path"]


def trial_directory(out: str, method: str, trial: int) -> str:
    return os.path.join(out, method, f"trial-{trial}")


def cycles_path(out: str, method: str, trial: int) -> str:
    return os.path.join(trial_directory(out, method, trial), CYCLES)


def plot_name(metric: str) -> str:
    """The plot's file name: the metric it shows (accuracy.png, mse.png)."""
    return f"{metric}.png"

"""Command line of the experiments.

    python -m experiments run --task rmnist --methods random,coreset,dacs --trials 3 --preset paper --out DIR
    python -m experiments run ... --out DIR --resume      # continue the run in DIR (or start it)
    python -m experiments report DIR                      # table and plot of a (partial) run
    python -m experiments analyze ablation --out DIR      # DACS, one setting changed at a time

Strategy settings: --dacs-rounds 4 --dacs-neighbours both --dacs-share-centers ...
(one option per field of each settings object, e.g. dacs_ext.DACSSettings).
Training: --train-momentum 0.9 --train-bf16 --train-channels-last --train-compile ...
(one option per field of dacs_ext.al.TrainConfig; unset ones keep the preset's).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from dacs_ext.al import SETTINGS, STRATEGIES, TrainConfig

from . import ablation as ablation_module
from .layout import TABLE
from .report import plot_path, report
from .runner import RunError, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("run", help="run (or --resume) active learning for each method and trial")
    start.add_argument("--task", default="rmnist")
    start.add_argument("--methods", default="random,coreset,dacs", help=f"comma-separated: {', '.join(STRATEGIES)}")
    start.add_argument("--trials", type=int, default=3)
    start.add_argument("--preset", default="cpu", help="paper, cpu or smoke")
    start.add_argument("--out", required=True, help="run directory")
    start.add_argument("--seed", type=int, default=0, help="trial k uses seed + k")
    start.add_argument("--data-dir", default=None, help="the task's data (default: the task's own, e.g. Debian's Fashion-MNIST)")
    start.add_argument("--device", default="cpu")
    start.add_argument("--resume", action="store_true", help="continue the run in --out if there is one (a finished run is only reported)")
    start.add_argument(
        "--fresh-init", action="store_true",
        help="start every cycle from a fresh initialisation (by default each cycle keeps training the previous cycle's model, as the paper does)",
    )
    start.add_argument("--aux-dim", type=int, default=None, help="width of the auxiliary features DACS reads (default: the preset's, 16)")
    start.add_argument("--no-progress", action="store_true")
    groups = {name: (cls, f"{name} settings", f"fields of {cls.__name__}; unset ones keep the preset's (the defaults)") for name, cls in SETTINGS.items()}
    groups[TRAINING] = (TrainConfig, "training", "fields of dacs_ext.al.TrainConfig; unset ones keep the preset's")
    for name, (cls, title, description) in groups.items():
        group = start.add_argument_group(title, description)
        for f in dataclasses.fields(cls):
            flag = f"--{name}-{f.name.replace('_', '-')}"
            if isinstance(f.default, bool):
                group.add_argument(flag, dest=f"{name}.{f.name}", action=argparse.BooleanOptionalAction, default=None)
            else:
                group.add_argument(
                    flag, dest=f"{name}.{f.name}", metavar=f.name.upper(), type=type(f.default), default=None, help=f"default {f.default}"
                )
    show = commands.add_parser("report", help="write and print the table and plot of a run")
    show.add_argument("out")
    analyze = commands.add_parser("analyze", help="the paper's analyses and the DACS ablation")
    analyses = analyze.add_subparsers(dest="analysis", required=True)
    ablate = analyses.add_parser(
        "ablation", help="DACS with one setting changed at a time (experiments/ablation.py)",
        description=ablation_module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ablate.add_argument("--out", required=True, help="directory of the points' runs and the summary (resumable)")
    ablate.add_argument("--task", default="rmnist")
    ablate.add_argument("--preset", default="cpu")
    ablate.add_argument("--trials", type=int, default=3)
    ablate.add_argument("--seed", type=int, default=0)
    ablate.add_argument("--axes", default=",".join(ablation_module.AXES), help=f"comma-separated, of: {', '.join(ablation_module.AXES)}")
    ablate.add_argument("--data-dir", default=None)
    ablate.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "analyze":
            text = ablation_module.ablation(
                args.out, task=args.task, preset=args.preset, trials=args.trials, seed=args.seed,
                axes=[a for a in args.axes.split(",") if a], data_dir=args.data_dir, progress=not args.no_progress,
            )
            print(text)
            print(f"summary: {os.path.join(args.out, ablation_module.SUMMARY)}.md, .json, .png")
            return 0
        if args.command == "run":
            changes = settings_changes(args)
            run(
                args.out, task=args.task, methods=[m for m in args.methods.split(",") if m], trials=args.trials,
                preset=args.preset, seed=args.seed, data_dir=args.data_dir, resume=args.resume,
                warm_start=not args.fresh_init, settings=changes, training=changes.pop(TRAINING, None), aux_dim=args.aux_dim, device=args.device,
                progress=not args.no_progress,
            )
        print(report(args.out))
        print(f"table: {os.path.join(args.out, TABLE)}\nplot:  {plot_path(args.out)}")
    except (RunError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; every finished cycle is saved: add --resume to continue in {args.out}", file=sys.stderr)
        return 130
    return 0


TRAINING = "train"
"""The prefix of the training options (``--train-epochs``)."""


def settings_changes(args: argparse.Namespace) -> dict[str, dict]:
    """The settings given on the command line: ``{settings name: {field: value}}``,
    the training's under ``TRAINING``."""
    changes = {}
    for dest, value in vars(args).items():
        if "." in dest and value is not None:
            name, field = dest.split(".", 1)
            changes.setdefault(name, {})[field] = value
    return changes


if __name__ == "__main__":
    sys.exit(main())

"""Command line of the experiments.

    python -m experiments run --task rmnist --methods random,coreset,dacs --trials 3 --preset paper --out DIR
    python -m experiments run ... --out DIR --resume      # continue the run in DIR (or start it)
    python -m experiments report DIR                      # table and plot of a (partial) run
    python -m experiments analyze ablation --out DIR      # DACS, one setting changed at a time
    python -m experiments analyze fig1|fig3|fig4 --out DIR  # the paper's analyses (fig5 RUN --out DIR)
    python -m experiments analyze redundancy DIR          # labels spent on copies (Repeated-MNIST), DACS replays

Strategy settings: --dacs-rounds 4 --dacs-neighbours both --dacs-share-centers ...
(one option per field of each settings object, e.g. dacs_ext.DACSSettings).
Training: --train-momentum 0.9 --train-bf16 --train-channels-last --train-compile ...
(one option per field of dacs_ext.al.TrainConfig; unset ones keep the preset's).
Loop: --loop-initial 500 --loop-budget 100 --loop-measurements 10 (the paper's
small-budget protocol; fields of dacs_ext.al.LoopConfig, warm start aside).

Across processes: torchrun --nproc-per-node 2 -m experiments run ... runs the
same trials on every rank (same seeds, so the same models and pool features)
and DACS selects across the ranks (dacs_ext.distributed.select_replicated, on a
gloo group); rank 0 writes --out, rank r > 0 writes --out.rank<r>.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from dacs_ext.al import SETTINGS, STRATEGIES, LoopConfig, TrainConfig

from .analyses import ablation as ablation_module
from .analyses import figures, redundancy
from .tasks.davis import AFFINITIES
from .layout import ANALYSIS, TABLE
from .report import plot_path, report
from .runner import RunError, run


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            run_command(args)
        elif args.command == "analyze":
            print(analyze_command(args))
            return 0
        print(report(args.out))
        print(f"table: {os.path.join(args.out, TABLE)}\nplot:  {plot_path(args.out)}")
    except (RunError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; every finished cycle is saved: add --resume to continue in {args.out}", file=sys.stderr)
        return 130
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Every command: ``run``, ``report`` and ``analyze`` with its analyses."""
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser(commands.add_parser("run", help="run (or --resume) active learning for each method and trial"))
    commands.add_parser("report", help="write and print the table and plot of a run").add_argument("out")
    analyze = commands.add_parser("analyze", help="the paper's analyses, the DACS ablation and the redundancy of a run's labels")
    analyses = analyze.add_subparsers(dest="analysis", required=True)
    ablation_parser(analyses)
    figure_parsers(analyses)
    redundancy_parser(analyses)
    return parser


def run_parser(start: argparse.ArgumentParser) -> None:
    """The ``run`` command's options, one per field of every settings object."""
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
    start.add_argument(
        "--affinity", choices=AFFINITIES, default=None,
        help="davis: how the folder's values become targets: pkd = -log10(Kd / 1e9), Kd in nM (the default); none = as they are",
    )
    start.add_argument("--no-progress", action="store_true")
    groups = {name: (cls, f"{name} settings", f"fields of {cls.__name__}; unset ones keep the preset's (the defaults)") for name, cls in SETTINGS.items()}
    groups[TRAINING] = (TrainConfig, "training", "fields of dacs_ext.al.TrainConfig; unset ones keep the preset's")
    groups[LOOP] = (LoopConfig, "loop", "fields of dacs_ext.al.LoopConfig; unset ones keep the preset's (warm start: --fresh-init)")
    for name, (cls, title, description) in groups.items():
        group = start.add_argument_group(title, description)
        for f in dataclasses.fields(cls):
            if cls is LoopConfig and f.name == "warm_start":
                continue
            flag = f"--{name}-{f.name.replace('_', '-')}"
            if isinstance(f.default, bool):
                group.add_argument(flag, dest=f"{name}.{f.name}", action=argparse.BooleanOptionalAction, default=None)
            else:
                group.add_argument(
                    flag, dest=f"{name}.{f.name}", metavar=f.name.upper(), type=type(f.default), default=None, help=f"default {f.default}"
                )


def run_command(args: argparse.Namespace) -> None:
    """``run``: joins the process group under torchrun, resolves the settings
    given on the command line and runs (or resumes) every method and trial."""
    rank = join_process_group()
    if rank:
        args.out = f"{args.out}.rank{rank}"
    changes = settings_changes(args)
    run(
        args.out, task=args.task, methods=[m for m in args.methods.split(",") if m], trials=args.trials,
        preset=args.preset, seed=args.seed, data_dir=args.data_dir, resume=args.resume,
        warm_start=not args.fresh_init, settings=changes, training=changes.pop(TRAINING, None), loop=changes.pop(LOOP, None),
        aux_dim=args.aux_dim, affinity=args.affinity, device=args.device, progress=not args.no_progress,
    )


def analyze_command(args: argparse.Namespace) -> str:
    """``analyze``: runs one analysis; returns its text and where it was written."""
    if args.analysis == "redundancy":
        return redundancy.redundancy(args.out, args.replay) + f"\nwritten to {os.path.join(args.out, ANALYSIS)}"
    if args.analysis == "ablation":
        text = ablation_module.ablation(
            args.out, task=args.task, preset=args.preset, trials=args.trials, seed=args.seed,
            axes=[a for a in args.axes.split(",") if a], data_dir=args.data_dir, progress=not args.no_progress,
        )
        return text + f"\nsummary: {os.path.join(args.out, ablation_module.SUMMARY)}.md, .json, .png"
    return run_figure(args) + f"\nsummary: {os.path.join(args.out, args.analysis)}.md, .json, .png"


def ablation_parser(analyses) -> None:
    """The ``analyze ablation`` command (``experiments/analyses/ablation.py``)."""
    ablate = analyses.add_parser(
        "ablation", help="DACS with one setting changed at a time",
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


def redundancy_parser(analyses) -> None:
    """The ``analyze redundancy`` command (``experiments/analyses/redundancy.py``)."""
    parser = analyses.add_parser(
        "redundancy", help="labels spent on copies and class balance of a Repeated-MNIST run; replays of DACS cycles",
        description=redundancy.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", help="run directory")
    parser.add_argument("--replay", action="append", default=[], metavar="METHOD:TRIAL:CYCLE", help="replay a DACS cycle (repeatable)")


def figure_parsers(analyses) -> None:
    """The ``analyze fig1|fig3|fig4|fig5`` commands (``experiments/analyses/figures.py``)."""
    helps = {
        "fig1": "density against prediction entropy and loss (exact k-NN and LSH)",
        "fig3": "small budgets (queries of 100), and what DACS saw",
        "fig4": "k-center inside the densest or the sparsest density group",
        "fig5": "informativeness and diversity of what a run's methods acquired",
    }
    for name, text in helps.items():
        figure = analyses.add_parser(name, help=text, description=figures.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == "fig5":
            figure.add_argument("run", help="a run directory holding the methods")
        figure.add_argument("--out", required=True, help="directory of the outputs" + (" and of the run (resumable)" if name != "fig5" else ""))
        default_methods = {"fig3": figures.FIG3_METHODS, "fig4": figures.FIG4_METHODS, "fig5": figures.FIG5_METHODS}.get(name)
        if default_methods:
            figure.add_argument("--methods", default=",".join(default_methods), help=f"comma-separated, of: {', '.join(STRATEGIES)}")
        if name == "fig5":
            figure.add_argument("--trials", type=int, default=None, help="the first N trials (default: all)")
            continue
        figure.add_argument("--task", default="rmnist")
        figure.add_argument("--preset", default="cpu")
        figure.add_argument("--seed", type=int, default=0)
        figure.add_argument("--data-dir", default=None)
        figure.add_argument("--no-progress", action="store_true")
        if name == "fig1":
            figure.add_argument("--labels", type=int, default=3000, help="random labels the model trains on")
        else:
            figure.add_argument("--trials", type=int, default=3)
        if name == "fig3":
            figure.add_argument("--budget", type=int, default=100, help="labels per cycle")
            figure.add_argument("--initial", type=int, default=None, help="initial labels (default: the preset's)")
            figure.add_argument("--measurements", type=int, default=None, help="default: the preset's")


def join_process_group() -> int:
    """Under torchrun (WORLD_SIZE > 1 in the environment) joins the gloo process
    group (once) and returns this rank; 0 otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return dist.get_rank()


def run_figure(args: argparse.Namespace) -> str:
    methods = tuple(m for m in getattr(args, "methods", "").split(",") if m)
    if args.analysis == "fig5":
        return figures.fig5(args.run, args.out, methods=methods, trials=args.trials)
    common = dict(task=args.task, preset=args.preset, seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress)
    if args.analysis == "fig1":
        return figures.fig1(args.out, labels=args.labels, **common)
    if args.analysis == "fig3":
        return figures.fig3(args.out, budget=args.budget, initial=args.initial, measurements=args.measurements, methods=methods,
                            trials=args.trials, **common)
    return figures.fig4(args.out, methods=methods, trials=args.trials, **common)


TRAINING = "train"
"""The prefix of the training options (``--train-epochs``)."""
LOOP = "loop"
"""The prefix of the loop options (``--loop-budget``)."""


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

"""Command line of the experiments.

    python -m experiments run --task rmnist --methods random,coreset,dacs --trials 3 --preset paper --out DIR
    python -m experiments run ... --out DIR --resume      # continue the run in DIR (or start it)
    python -m experiments report DIR                      # table and plot of a (partial) run
"""

from __future__ import annotations

import argparse
import os
import sys

from dacs_ext.al import STRATEGIES

from .layout import PLOT, TABLE
from .report import report
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
        help="start every cycle from a fresh initialisation instead of training on the previous cycle's model (the paper's protocol)",
    )
    start.add_argument("--no-progress", action="store_true")
    show = commands.add_parser("report", help="write and print the table and plot of a run")
    show.add_argument("out")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            run(
                args.out, task=args.task, methods=[m for m in args.methods.split(",") if m], trials=args.trials,
                preset=args.preset, seed=args.seed, data_dir=args.data_dir, resume=args.resume,
                warm_start=not args.fresh_init, device=args.device, progress=not args.no_progress,
            )
        print(report(args.out))
        print(f"table: {os.path.join(args.out, TABLE)}\nplot:  {os.path.join(args.out, PLOT)}")
    except (RunError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; every finished cycle is saved: add --resume to continue in {args.out}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

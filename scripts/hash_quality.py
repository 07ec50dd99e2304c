"""Density quality of the flat and the two-level LSH hash on real features: the
Spearman correlation of ``dacs_ext.density`` with the exact 20-NN density
(``dacs_ext.knn_density``) at equal chunk sizes, and the time of each.

    python scripts/hash_quality.py RUN [--sample 5000] [--buckets 20,100,500,2000] [--json FILE]

RUN is a run directory whose first trial's first cycle trained the model (e.g.
``python -m experiments analyze fig1``'s ``DIR/run``, committed under
experiments/results/analyses/fig1-rmnist-cpu/run); the model is trained again from
its records and embeds the pool, and the unlabeled rows' auxiliary features are hashed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dacs_ext  # noqa: E402
from dacs_ext.al import embed  # noqa: E402
from dacs_ext.density import level_buckets  # noqa: E402
from experiments.stats import spearman  # noqa: E402
from experiments.analyses.replay import Replay  # noqa: E402
from experiments.report import collect  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--sample", type=int, default=5000, help="rows whose exact density is computed (against all rows)")
    parser.add_argument("--buckets", default="20,100,500,2000")
    parser.add_argument("--rounds", default="1,4")
    parser.add_argument("--seeds", type=int, default=3, help="rotations per setting (mean and spread of the correlation)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    replay = Replay(args.run, next(iter(collect(args.run)[1])), 0)
    (_, model), = replay.models(last=0)
    replay.check(model, 0)
    z = embed(model, replay.pool_x, ("aux_features",))["aux_features"][~replay.labeled(0)]
    rows = torch.randperm(len(z), generator=torch.Generator().manual_seed(0))[: args.sample]
    start = time.perf_counter()
    exact = dacs_ext.knn_density(z, 20, rows)
    print(f"{len(z):,} rows, d = {z.shape[1]}; exact 20-NN density of {len(rows):,} of them in {time.perf_counter() - start:.1f} s")
    print("| buckets (rows per chunk) | rounds | flat: Spearman | flat: seconds | two levels (k x k): Spearman | two levels: seconds |")
    print("|---|---|---|---|---|---|")
    results = []
    for buckets in (int(b) for b in args.buckets.split(",")):
        for rounds in (int(r) for r in args.rounds.split(",")):
            row = dict(buckets=buckets, rounds=rounds, rows_per_chunk=len(z) / buckets)
            for levels in (1, 2):
                rhos, seconds = [], []
                for seed in range(args.seeds):
                    start = time.perf_counter()
                    dens = dacs_ext.density(z, buckets, rounds=rounds, levels=levels, generator=torch.Generator().manual_seed(seed))
                    seconds.append(time.perf_counter() - start)
                    rhos.append(spearman(dens[rows].double(), exact))
                mean = sum(rhos) / len(rhos)
                row[levels] = dict(spearman=rhos, mean=mean, spread=max(rhos) - min(rhos), seconds=min(seconds))
            k = level_buckets(buckets, 2)[0]
            results.append(row)
            print(
                f"| {buckets} ({row['rows_per_chunk']:.0f}) | {rounds} | {row[1]['mean']:.3f} (±{row[1]['spread'] / 2:.3f}) | "
                f"{row[1]['seconds']:.3f} | {row[2]['mean']:.3f} (±{row[2]['spread'] / 2:.3f}), {k} x {k} | {row[2]['seconds']:.3f} |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(run=args.run, rows=len(z), sample=len(rows), threads=torch.get_num_threads(), results=results), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

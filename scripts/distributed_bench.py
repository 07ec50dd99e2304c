"""Times dacs_ext.distributed.select on gloo ranks spawned on this machine, per
stage, with the bytes each rank sends, beside dacs_ext.select in one process on
the same pool.

    python scripts/distributed_bench.py [--rows 4000000] [--world 4] [--threads 1] [--candidates 32] [--out FILE.md]

Pool: torch.randn rows, d = 16, float32, chunks of about 1,800 rows (buckets =
2 round(N / 3,600)); 10,000 labeled rows, budget 1,000; each rank holds N / world
pool rows and 10,000 / world labeled rows. Printed (and written to --out): one
Markdown table, per stage the slowest rank's seconds and the bytes one rank
sends on average, then the totals. Ranks share the machine's cores, so on a
2-core machine 4 ranks run oversubscribed: a test of the communication pattern,
not of the speed-up.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

STAGES = ("prepare", "hash", "sort", "exchange", "density", "return", "groups", "labeled", "kcenter")


def pool(rows: int, labeled: int):
    g = torch.Generator().manual_seed(0)
    return torch.randn(rows, 16, generator=g), torch.randn(labeled, 16, generator=g)


def rank_main(rank: int, world: int, store: str, rows: int, threads: int, candidates: int, results: str) -> None:
    import dacs_ext.distributed as distributed

    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(minutes=30))
    x, labeled = pool(rows, 10_000)
    cut = lambda t: t[t.shape[0] * rank // world : t.shape[0] * (rank + 1) // world]  # noqa: E731
    shard, mine_labeled = cut(x).clone(), cut(labeled).clone()
    del x, labeled
    buckets = max(2, round(rows / 3_600) * 2)
    dist.barrier()
    start = time.perf_counter()
    picks, details = distributed.select(shard, mine_labeled, 1_000, buckets=buckets, candidates_per_rank=candidates,
                                        generator=torch.Generator().manual_seed(1), return_details=True)
    seconds = time.perf_counter() - start
    torch.save(dict(picks=picks + rows * rank // world, call_seconds=seconds, **details), os.path.join(results, f"rank{rank}.pt"))
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--world", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank and for the single process")
    parser.add_argument("--candidates", type=int, default=32, help="candidates_per_rank of the k-center exchanges")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import dacs_ext

    torch.set_num_threads(args.threads)
    x, labeled = pool(args.rows, 10_000)
    buckets = max(2, round(args.rows / 3_600) * 2)
    start = time.perf_counter()
    want = dacs_ext.select(x, labeled, 1_000, buckets=buckets, generator=torch.Generator().manual_seed(1))
    single = time.perf_counter() - start
    del x, labeled

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        mp.start_processes(rank_main, args=(args.world, os.path.join(tmp, "store"), args.rows, args.threads, args.candidates, tmp),
                           nprocs=args.world, join=True, start_method="spawn")
        wall = time.perf_counter() - start
        ranks = [torch.load(os.path.join(tmp, f"rank{r}.pt")) for r in range(args.world)]
    got = torch.cat([r["picks"] for r in ranks])
    equal = sorted(got.tolist()) == sorted(want.tolist())
    lines = [
        f"{args.world} gloo ranks on one machine ({os.cpu_count()} cores, {args.threads} torch thread(s) each), torch {torch.__version__}; "
        f"N = {args.rows:,} rows, d = 16, {buckets} buckets, 10,000 labeled, budget 1,000, "
        f"{args.candidates} k-center candidate(s) per rank and exchange. "
        f"Picks equal to one process's: {equal}.",
        "",
        "| stage | seconds (slowest rank) | bytes sent per rank (mean) | collectives per rank |",
        "|---|---|---|---|",
    ]
    for stage in STAGES:
        secs = max(r["seconds"].get(stage, 0.0) for r in ranks)
        sent = sum(r["bytes_sent"].get(stage, 0) for r in ranks) / args.world
        calls = max(r["collectives"].get(stage, 0) for r in ranks)
        lines.append(f"| {stage} | {secs:.2f} | {sent / 2**20:,.1f} MiB | {calls:,} |")
    total = max(r["call_seconds"] for r in ranks)
    lines += [
        f"| **distributed.select** | **{total:.2f}** | {sum(sum(r['bytes_sent'].values()) for r in ranks) / args.world / 2**20:,.1f} MiB | |",
        f"| dacs_ext.select, one process | {single:.2f} | | |",
        "",
        f"Wall time with process start-up: {wall:.1f} s.",
    ]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())

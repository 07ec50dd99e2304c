"""dacs_ext.distributed.select on gloo process groups of 1 to 4 ranks spawned
here: the picks, mapped to global indices, equal dacs_ext.select on the
concatenated pool exactly, for random pools, uneven and empty shards and varied
settings; a rank that fails makes the others raise instead of hanging."""

from __future__ import annotations

import datetime
import os
import time
import warnings

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import dacs_ext
from dacs_ext import distributed

# Each spawned group gets this long to finish (it takes a few seconds).
DEADLINE = 120


def spawn(worker, world: int, tmp_path, *args) -> None:
    """Runs worker(rank, world, store, *args) in `world` fresh processes joined in
    one gloo group; fails the test if any raises or the group outlives DEADLINE."""
    store = str(tmp_path / f"store-{world}-{time.monotonic_ns()}")
    context = mp.start_processes(worker, args=(world, store, *args), nprocs=world, join=False, start_method="spawn")
    end = time.monotonic() + DEADLINE
    while not context.join(timeout=max(1.0, end - time.monotonic())):
        if time.monotonic() > end:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the {world}-rank group did not finish within {DEADLINE} s")


def join(rank: int, world: int, store: str, timeout_s: float = 60, backend: str = "gloo") -> None:
    torch.set_num_threads(1)
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_s))


def random_case(seed: int, world: int) -> dict:
    """A pool, labeled rows, their cuts into shards (some empty), a budget and
    settings, all from `seed`: the same on every rank."""
    g = torch.Generator().manual_seed(seed)
    pick = lambda low, high: int(torch.randint(low, high, (1,), generator=g))  # noqa: E731
    n, d, m = pick(30, 400), pick(1, 20), pick(0, 30) * (seed % 5 != 0)
    cuts = lambda size: [0, *sorted(torch.randint(0, size + 1, (world - 1,), generator=g).tolist()), size]  # noqa: E731
    pool_cuts = cuts(n)
    if seed % 4 == 1 and world > 1:  # a run of empty shards in the middle
        pool_cuts = [0] + [pool_cuts[1]] * (world - 1) + [n]
    pool = torch.randn(n, d, generator=g, dtype=torch.float64 if seed % 7 == 3 else torch.float32)
    if seed % 6 == 5:  # every row twice, far apart: k-center ties across shards
        pool = torch.cat([pool[: n // 2], pool[: n - n // 2]])
    return dict(
        pool=pool,
        labeled=torch.randn(m, d, generator=g),
        pool_cuts=pool_cuts,
        labeled_cuts=cuts(m),
        budget=pick(0, min(n, 50) + 1),
        settings=dict(
            buckets=2 * pick(1, min(12, n // 2) + 1),
            rounds=pick(1, 3),
            neighbours=("back", "both", "none")[seed % 3],
            levels=1 + seed % 2,
            share_centers=seed % 4 < 2,
            groups=pick(2, 5),
        ),
    )


def equivalence_worker(rank: int, world: int, store: str, seeds: list[int], backend: str = "gloo") -> None:
    join(rank, world, store, backend=backend)
    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    for seed in seeds:
        case = random_case(seed, world)
        p, q = case["pool_cuts"], case["labeled_cuts"]
        case["pool"] = case["pool"].to(device)
        labeled = case["labeled"].to(case["pool"])
        # 1 candidate per rank: one pick per all-gather; more: several when certain.
        mine = distributed.select(case["pool"][p[rank] : p[rank + 1]], labeled[q[rank] : q[rank + 1]],
                                  case["budget"], generator=torch.Generator().manual_seed(seed),
                                  candidates_per_rank=(1, 3, 32)[seed % 3], **case["settings"])
        assert mine.dtype == torch.int64
        everyone = [None] * world
        assert mine.device == device
        dist.all_gather_object(everyone, (mine + p[rank]).tolist())
        want = dacs_ext.select(case["pool"], labeled if labeled.shape[0] else None, case["budget"],
                               generator=torch.Generator().manual_seed(seed), **case["settings"]).tolist()
        for r in range(world):
            # Each rank's picks: the single-process picks in its shard, in pick order.
            expected = [i for i in want if p[r] <= i < p[r + 1]]
            assert everyone[r] == expected, f"seed {seed}, rank {r}: {everyone[r]} != {expected} (all: {want})"
        if seed % 4 == 0:  # every rank holds the whole pool: the whole sequence back on each
            again = distributed.select_replicated(case["pool"], labeled if labeled.shape[0] else None, case["budget"],
                                                  generator=torch.Generator().manual_seed(seed), **case["settings"])
            assert again.tolist() == want, f"seed {seed}: replicated {again.tolist()} != {want}"
    dist.destroy_process_group()


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_picks_equal_single_process_select(tmp_path, world):
    spawn(equivalence_worker, world, tmp_path, list(range(100 * world, 100 * world + 16)))


def quiet_worker(rank: int, world: int, store: str) -> None:
    join(rank, world, store)
    g = torch.Generator().manual_seed(rank)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning (e.g. torch's about strided inputs) fails the rank
        distributed.select(torch.randn(3000, 16, generator=g), torch.randn(20, 16, generator=g), 100,
                           generator=torch.Generator().manual_seed(0))
    dist.destroy_process_group()


def test_a_healthy_selection_prints_no_warning(tmp_path):
    spawn(quiet_worker, 2, tmp_path)


@pytest.mark.cuda
@pytest.mark.skipif(not (torch.cuda.is_available() and dist.is_nccl_available()), reason="no CUDA device with NCCL")
def test_nccl_picks_equal_single_process_select(tmp_path):
    # One GPU: one NCCL rank, CUDA tensors and kernels on both sides.
    spawn(equivalence_worker, 1, tmp_path, list(range(16)), "nccl")


def bad_input_worker(rank: int, world: int, store: str, kind: str, results: str) -> None:
    join(rank, world, store)
    pool = torch.randn(50, 6, generator=torch.Generator().manual_seed(rank))
    if kind == "nan" and rank == 1:
        pool[3, 2] = float("nan")
    if kind == "width" and rank == 1:
        pool = pool[:, :5]
    budget = 7 if kind != "budget" or rank != 2 else 8
    try:
        candidates = 4 if kind == "candidates" and rank == 2 else 32
        distributed.select(pool, None, budget, generator=torch.Generator().manual_seed(0), candidates_per_rank=candidates)
        outcome = "returned"
    except Exception as error:  # noqa: BLE001 - the test records what each rank raised
        outcome = f"{type(error).__name__}: {error}"
    with open(os.path.join(results, f"rank{rank}"), "w") as f:
        f.write(outcome)
    dist.destroy_process_group()


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("nan", ["RankFailedError: distributed.select: rank 1 failed: ValueError: unlabeled contains NaN",
                 "ValueError: unlabeled contains NaN", "RankFailedError: distributed.select: rank 1 failed"]),
        ("width", ["ValueError: distributed.select: the ranks disagree on the feature width d: [6, 5, 6]"] * 3),
        ("budget", ["ValueError: distributed.select: the ranks disagree on the budget: ['7', '7', '8']"] * 3),
        ("candidates", ["ValueError: distributed.select: the ranks disagree on the candidates_per_rank: [32, 32, 4]"] * 3),
    ],
)
def test_bad_input_on_one_rank_raises_on_every_rank(tmp_path, kind, expected):
    results = tmp_path / "results"
    results.mkdir()
    spawn(bad_input_worker, 3, tmp_path, kind, str(results))
    for rank in range(3):
        assert (results / f"rank{rank}").read_text().startswith(expected[rank])


def failing_worker(rank: int, world: int, store: str, results: str) -> None:
    join(rank, world, store, timeout_s=10)
    if rank == 1:
        # A fault inside the density stage, after the collectives have begun.
        def broken(*args, **kwargs):
            raise RuntimeError("injected fault")

        distributed._chunk_densities = broken
    start = time.monotonic()
    try:
        distributed.select(torch.randn(300, 8), None, 20, generator=torch.Generator().manual_seed(1))
        outcome = "returned"
    except Exception as error:  # noqa: BLE001
        outcome = f"{type(error).__name__} after {time.monotonic() - start:.1f} s: {error}"
    with open(os.path.join(results, f"rank{rank}"), "w") as f:
        f.write(outcome)
    # Leave without tearing down the broken group: its destructor may abort the
    # process (seen with gloo), which the spawner would report as a crash.
    os._exit(0)


def test_a_rank_failing_mid_selection_makes_the_others_raise(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    spawn(failing_worker, 3, tmp_path, str(results))
    outcomes = [(results / f"rank{r}").read_text() for r in range(3)]
    assert "injected fault" in outcomes[1], outcomes
    for outcome in (outcomes[0], outcomes[2]):
        assert outcome != "returned" and float(outcome.split(" after ")[1].split(" s")[0]) < 30, outcomes

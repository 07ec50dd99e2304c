"""DACS selection over a pool sharded across the ranks of a torch.distributed
process group, without gathering the pool's features (issue 14).

Every rank passes its own shard; the picks equal those of ``dacs_ext.select`` on
the shards concatenated in rank order, exactly. Per stage:

1. one rotation, drawn on every rank from the same ``generator`` state; each rank
   hashes its own rows (``density.hash_keys``);
2. the stable global order by bucket, from an all-gather of per-rank bucket counts
   [world, buckets]: a row's sorted position is its bucket's start, plus the rows
   of that bucket on lower ranks, plus its place among its own rank's rows of that
   bucket;
3. the sorted order is cut into the equal chunks of ``dacs_ext.density``, each rank
   owning a contiguous run of chunks; one all-to-all moves every row to the owner
   of its chunk and to the owner(s) that read the chunk as a neighbour;
4. each owner computes its chunks' densities from its chunks and their neighbour
   chunks alone (``chunk_density`` with explicit bounds: bit for bit what one
   process computes), and a second all-to-all returns them to the rows' ranks;
5. natural breaks on the all-gathered densities (one float per row), group sizes
   and quotas as ``dacs_ext.select`` computes them;
6. k-center greedy per group: each pick is one all-gather of every rank's
   candidate (its farthest row's distance, global index and features); every rank
   takes the same best (the largest distance, the lowest global index on ties)
   and lowers its own rows' distances to it.

The labeled rows (in active learning far fewer than the pool) are all-gathered:
every pool row needs its distance to each of them.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable

import torch
import torch.distributed as dist

from . import _checks, ops
from .density import hash_keys, level_buckets, random_rotation
from .selection import DACSSettings, _grouped, split_budget


# torch 2.13 deprecates all_gather_into_tensor for all_gather_single; older torch lacks the latter.
_all_gather_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor


class RankFailedError(RuntimeError):
    """Another rank of the group failed its input checks in ``distributed.select``."""


def select(
    unlabeled: torch.Tensor,
    labeled: torch.Tensor | None,
    budget: int,
    settings: DACSSettings | str | None = None,
    *,
    group: dist.ProcessGroup | None = None,
    generator: torch.Generator | None = None,
    return_details: bool = False,
    **changes,
):
    """``dacs_ext.select`` over a pool sharded across the ranks of ``group``.

    Every rank of the group calls it with its own shard and the same ``budget``,
    settings and ``generator`` seed; the picks are those of ``dacs_ext.select`` on
    the shards concatenated in rank order, exactly. Works with gloo (CPU tensors)
    and NCCL (CUDA tensors).

    Args:
        unlabeled: [N_r, d] this rank's pool rows; N_r may be 0.
        labeled: [M_r, d] this rank's labeled rows, or None / [0, d].
        budget: 0 <= budget <= the pool's size (the sum of N_r), the same on every rank.
        settings: as for ``dacs_ext.select`` (``DACSSettings``, a name, or None),
            with keyword ``changes``; the same on every rank.
        group: the process group (default: the world).
        generator: a CPU generator in the same state on every rank (the rotation,
            and a first center when no rank has labeled rows); None draws a seed on
            rank 0 and shares it.
        return_details: also return a dict of this rank's ``seconds`` (wall time
            on the host), ``bytes_sent`` (payload sent to other ranks) and
            ``collectives`` per stage: prepare, sort, exchange, density, return,
            groups, labeled, kcenter.

    Returns:
        int64 [P_r] indices into this rank's ``unlabeled`` of the picks that fall
        in its shard, in global pick order (group by group, as ``select``); the
        P_r of all ranks sum to ``budget``. With ``return_details``, (picks, details).

    Raises:
        ValueError / TypeError: bad input on this rank, or ranks that disagree on
            d, dtype, budget or settings (then on every rank).
        RankFailedError: another rank's input was bad.

    A rank that fails later (an error inside a kernel, a lost process) leaves the
    others in a collective until the process group's timeout (``timeout=`` of
    ``init_process_group``), or until the transport sees the peer gone.
    """
    settings = DACSSettings.of(settings, **changes)
    comm = _Comm(group)
    with comm.stage("prepare"):
        x, labeled = _agreed(comm, lambda: _local_input(unlabeled, labeled))
        comm.device = x.device
        sizes = comm.all_gather_counts(x.shape[0])
        starts = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(sizes, 0)])
        offset, n = int(starts[comm.rank]), int(starts[-1])
        description = (x.shape[1], str(x.dtype), repr(budget), repr(settings))
        _agreed(comm, lambda: _same_everywhere(comm, description, budget, n, settings))
        if generator is None:
            seed = comm.all_gather_counts(int(torch.randint(2**62, (1,))) if comm.rank == 0 else 0)[0]
            generator = torch.Generator().manual_seed(int(seed))

    dens = _density(comm, x, starts, settings, generator)
    with comm.stage("groups"):
        group_ids, used = _grouped(comm.all_gather_rows(dens), settings.groups, ops)
        quotas = split_budget(torch.bincount(group_ids, minlength=used).cpu(), budget, settings.temperature)
        local_groups = group_ids[offset : offset + x.shape[0]]
    with comm.stage("labeled"):
        centers = comm.all_gather_rows(labeled if labeled is not None else x.new_empty((0, x.shape[1])))
    picks, picked_rows = [], []
    with comm.stage("kcenter"):
        for g in range(used):
            if int(quotas[g]) == 0:
                continue
            members = (local_groups == g).nonzero().squeeze(1)
            known = ([centers] if centers.shape[0] else []) + (picked_rows if settings.share_centers else [])
            chosen, rows = _kcenter(comm, x[members], torch.cat(known) if known else None, int(quotas[g]), generator)
            picks.append(torch.where(chosen >= 0, members[chosen.clamp(min=0)] if members.numel() else chosen, -1))
            picked_rows.append(rows)
    mine = torch.cat(picks) if picks else torch.empty(0, dtype=torch.int64, device=x.device)
    mine = mine[mine >= 0]
    if not return_details:
        return mine
    return mine, {"seconds": comm.seconds, "bytes_sent": comm.sent, "collectives": comm.calls}


def _local_input(unlabeled, labeled) -> tuple[torch.Tensor, torch.Tensor | None]:
    """This rank's rows as ``select`` prepares them: unit rows in the accumulation dtype."""
    x = _checks.features(unlabeled, "unlabeled", min_rows=0, finite=False)
    if labeled is not None:
        labeled = _checks.features(labeled, "labeled", min_rows=0, like=(x, "unlabeled"))
        labeled = _checks.unit_rows(labeled, "labeled") if labeled.shape[0] else None
    x = _checks.unit_rows(x, "unlabeled") if x.shape[0] else x.to(_checks.accumulation_dtype(x.dtype))
    return x, labeled


def _same_everywhere(comm: "_Comm", description: tuple, budget: int, n: int, settings: DACSSettings) -> None:
    everyone = comm.all_gather_object(description)
    for i, name in enumerate(("feature width d", "dtype", "budget", "settings")):
        values = [d[i] for d in everyone]
        if len(set(values)) > 1:
            raise ValueError(f"distributed.select: the ranks disagree on the {name}: {values}")
    _checks.integer(budget, "budget", low=0, high=n)
    if n < 2:
        raise ValueError(f"distributed.select: the pool needs at least 2 rows over all ranks, got {n}")
    if settings.buckets > n:
        raise ValueError(f"buckets must be at most the number of samples N = {n}, got {settings.buckets}")


def _agreed(comm: "_Comm", fn: Callable):
    """fn() on every rank; when it raised a ValueError or TypeError anywhere, every
    rank raises (the failing rank its own error, the others RankFailedError), so
    none waits in a later collective for a rank that left."""
    try:
        result, failure = fn(), None
    except (ValueError, TypeError) as error:
        result, failure = None, error
    failures = comm.all_gather_object(None if failure is None else f"{type(failure).__name__}: {failure}")
    if failure is not None:
        raise failure
    for rank, message in enumerate(failures):
        if message is not None:
            raise RankFailedError(f"distributed.select: rank {rank} failed: {message}")
    return result


class _Comm:
    """The collectives of one call on ``group``, with tensors on ``device``; per
    stage (``stage``) it adds up the host's seconds, the payload bytes this rank
    sends to the others and the number of collectives."""

    def __init__(self, group) -> None:
        self.group = group
        self.world, self.rank = dist.get_world_size(group), dist.get_rank(group)
        self.device = torch.device("cpu")
        self.current = "prepare"
        self.seconds: dict[str, float] = {}
        self.sent: dict[str, int] = {}
        self.calls: dict[str, int] = {}

    @contextlib.contextmanager
    def stage(self, name: str):
        self.current, start = name, time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def _count(self, payload_bytes: int) -> None:
        self.sent[self.current] = self.sent.get(self.current, 0) + payload_bytes
        self.calls[self.current] = self.calls.get(self.current, 0) + 1

    def all_gather_object(self, obj) -> list:
        out = [None] * self.world
        dist.all_gather_object(out, obj, group=self.group)
        self._count(0)
        return out

    def all_gather_counts(self, count: int) -> torch.Tensor:
        """[world] int64 on the CPU: every rank's ``count``."""
        mine = torch.tensor([count], dtype=torch.int64, device=self.device)
        return self.all_gather_candidate(mine).view(-1).cpu()

    def all_gather_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Every rank's rows [R_r, ...] concatenated in rank order."""
        sizes = self.all_gather_counts(rows.shape[0])
        longest = int(sizes.max())
        padded = rows.new_zeros((longest, *rows.shape[1:]))
        padded[: rows.shape[0]] = rows
        everyone = self.all_gather_candidate(padded.view(-1)).view(self.world * longest, *rows.shape[1:])
        keep = torch.cat([torch.arange(r * longest, r * longest + int(s)) for r, s in enumerate(sizes)])
        return everyone[keep.to(rows.device)]

    def all_gather_candidate(self, candidate: torch.Tensor) -> torch.Tensor:
        """[world, K]: every rank's candidate [K]."""
        out = candidate.new_empty(self.world * candidate.numel())
        _all_gather_single(out, candidate, group=self.group)
        self._count(candidate.numel() * candidate.element_size() * (self.world - 1))
        return out.view(self.world, -1)

    def all_to_all(self, rows: torch.Tensor, destinations: torch.Tensor) -> torch.Tensor:
        """Sends rows[i] to rank destinations[i]; returns what this rank receives,
        grouped by sending rank, each sender's rows in their order."""
        order = torch.sort(destinations, stable=True).indices
        send = torch.bincount(destinations, minlength=self.world)
        receive = torch.empty_like(send)
        dist.all_to_all_single(receive, send, group=self.group)
        out = rows.new_empty((int(receive.sum()), *rows.shape[1:]))
        dist.all_to_all_single(out, rows[order].contiguous(), receive.tolist(), send.tolist(), group=self.group)
        row_bytes = math.prod(rows.shape[1:]) * rows.element_size()
        self._count(send.element_size() * (self.world - 1))
        self._count(int(send.sum() - send[self.rank]) * row_bytes)
        return out


def _density(comm: _Comm, x: torch.Tensor, starts: torch.Tensor, settings: DACSSettings, generator) -> torch.Tensor:
    """``dacs_ext.density`` of this rank's unit rows x [N_r, d] (global rows
    starts[rank]..; starts [world + 1]), computed across the ranks; [N_r]."""
    n, offset, device = int(starts[-1]), int(starts[comm.rank]), x.device
    chunks, rounds, neighbours = settings.buckets, settings.rounds, settings.neighbours
    per_level = level_buckets(chunks, settings.levels)
    columns = sum(k // 2 for k in per_level)
    with comm.stage("hash"):
        rotation = random_rotation(x.shape[1], 2 * columns, rounds, generator=generator, dtype=x.dtype, device=device)
        keys = hash_keys(x, rotation, per_level, ops)
    begins = torch.arange(chunks + 1, dtype=torch.int64) * n // chunks
    owner = (torch.searchsorted(torch.arange(comm.world + 1) * chunks // comm.world, torch.arange(chunks), right=True) - 1).to(device)
    held, own = _held_chunks(owner.cpu(), comm.rank, chunks, neighbours)
    index = torch.arange(offset, offset + x.shape[0], device=device)
    result = torch.zeros(x.shape[0], dtype=_checks.accumulation_dtype(x.dtype), device=device)
    for r in range(rounds):
        with comm.stage("sort"):
            position = _sorted_positions(comm, keys[r], math.prod(per_level))
        with comm.stage("exchange"):
            chunk = torch.searchsorted(begins.to(device), position.contiguous(), right=True) - 1
            # Each row goes to its chunk's owner and to the owners that read its
            # chunk as a neighbour, each rank once.
            readers = [owner[chunk]] + ([owner[(chunk + 1) % chunks]] if neighbours != "none" else [])
            readers += [owner[(chunk - 1) % chunks]] if neighbours == "both" else []
            targets = torch.stack(readers)
            first = torch.stack([(targets[i] != targets[:i]).all(dim=0) for i in range(len(readers))])
            row = torch.arange(x.shape[0], device=device).expand_as(targets)[first]
            got_rows = comm.all_to_all(x[row], targets[first])
            got_index = comm.all_to_all(torch.stack([position, index], dim=1)[row], targets[first])
        with comm.stage("density"):
            dens, home = _chunk_densities(got_rows, got_index, held, own, begins, neighbours)
        with comm.stage("return"):
            home_rank = torch.searchsorted(starts[1:].to(device), home, right=True)
            back, back_index = comm.all_to_all(dens, home_rank), comm.all_to_all(home, home_rank)
            result.index_add_(0, back_index - offset, back)
    return result / rounds if rounds > 1 else result


def _held_chunks(owner: torch.Tensor, rank: int, chunks: int, neighbours: str) -> tuple[list[int], slice]:
    """The chunks this rank holds rows of, in the order of its local array, and
    the slice of them it owns: the back neighbour of its first chunk, its own
    chunks, the ahead neighbour of its last (when not the same chunk), so that
    chunk_density's cyclic neighbours over the local list are the global ones."""
    own = (owner == rank).nonzero().squeeze(1).tolist()
    if not own or len(own) == chunks or neighbours == "none":
        return own, slice(0, len(own))
    back, ahead = (own[0] - 1) % chunks, (own[-1] + 1) % chunks
    return [back, *own] + ([ahead] if neighbours == "both" and ahead != back else []), slice(1, 1 + len(own))


def _sorted_positions(comm: _Comm, keys: torch.Tensor, num_keys: int) -> torch.Tensor:
    """The position [N_r] of each local row in the stable sort by key of all
    ranks' keys concatenated in rank order."""
    counts = torch.bincount(keys, minlength=num_keys)
    per_rank = comm.all_gather_candidate(counts)  # [world, num_keys]
    total = per_rank.sum(dim=0)
    before = torch.cumsum(total, 0) - total + per_rank[: comm.rank].sum(dim=0) - (torch.cumsum(counts, 0) - counts)
    order = ops.bucket_sort(keys, num_keys)
    position = torch.empty_like(keys)
    position[order] = before[keys[order]] + torch.arange(keys.numel(), device=keys.device)
    return position


def _chunk_densities(rows, index, held, own, begins, neighbours) -> tuple[torch.Tensor, torch.Tensor]:
    """The densities of the rows of this rank's own chunks, from the received rows
    [R, d] of the held chunks and their (sorted position, global index) [R, 2];
    returns the densities and the rows' global indices."""
    if not held:
        return rows.new_empty(0, dtype=_checks.accumulation_dtype(rows.dtype)), index[:, 1]
    position = index[:, 0]
    n, device = int(begins[-1]), rows.device
    slot_of_chunk = torch.full((begins.numel() - 1,), -1, dtype=torch.int64)
    slot_of_chunk[held] = torch.arange(len(held))
    chunk = torch.searchsorted(begins.to(device), position.contiguous(), right=True) - 1
    order = torch.sort(slot_of_chunk.to(device)[chunk] * n + position).indices
    sizes = begins[1:][held] - begins[:-1][held]
    bounds = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(sizes, 0)])
    dens = ops.chunk_density(rows[order], len(held), neighbours, bounds)
    keep = slice(int(bounds[own.start]), int(bounds[own.stop]))
    return dens[keep], index[order][keep, 1]


def _kcenter(comm: _Comm, x: torch.Tensor, centers: torch.Tensor | None, budget: int, generator):
    """``kcenter_greedy`` (cosine, as ``select`` calls it) over one group's rows
    of all ranks: x [n_r, d] this rank's (unit rows, global member indices in rank
    order), centers [C, d] the known centers, the same on every rank, or None.
    Returns the local member index of each pick, -1 where another rank holds it
    [budget], and the picked rows as ``select`` holds them [budget, d]."""
    sizes = comm.all_gather_counts(x.shape[0])
    offset, members = int(sizes[: comm.rank].sum()), int(sizes.sum())
    d = x.shape[1]
    prepared = _checks.unit_rows(x, "unlabeled") if x.shape[0] else x
    chosen = torch.full((budget,), -1, dtype=torch.int64, device=x.device)
    rows = x.new_empty((budget, d))
    dist_ = torch.empty(x.shape[0], dtype=_checks.accumulation_dtype(x.dtype), device=x.device)

    def lower(center: torch.Tensor, pick: int) -> None:
        nonlocal dist_
        if x.shape[0]:
            lowered = ops.min_distance(prepared, center[None], "cosine")
            dist_ = torch.where(lowered < dist_, lowered, dist_)  # as the kernel: a NaN keeps the old
            if 0 <= pick - offset < x.shape[0]:
                dist_[pick - offset] = float("-inf")

    start = 0
    if centers is not None:
        if x.shape[0]:
            dist_ = ops.min_distance(prepared, _checks.unit_rows(centers.to(x.dtype), "labeled"), "cosine")
    else:
        first = int(torch.randint(members, (1,), generator=generator, device=generator.device))
        holder = _candidates(comm, x, prepared, offset, first - offset if 0 <= first - offset < x.shape[0] else None)
        best = int((holder[:, 1] == first).nonzero()[0])
        dist_.fill_(float("inf"))
        _take(holder[best], 0, first, offset, x, chosen, rows, lower)
        start = 1
    for step in range(start, budget):
        candidates = _candidates(comm, x, prepared, offset, _farthest(dist_), dist_)
        best = _best(candidates)
        if best is None:
            raise ValueError(f"kcenter_greedy: budget {budget} exceeds the {step} rows whose min_dist is not -inf")
        _take(candidates[best], step, int(candidates[best, 1]), offset, x, chosen, rows, lower)
    return chosen, rows


def _candidates(comm, x, prepared, offset, local, dist_=None) -> torch.Tensor:
    """Every rank's candidate [world, 2 + 2d] in float64 (exact for float32):
    (distance, global member index, the row as select holds it, the row as
    kcenter_greedy normalises it); -inf distance where a rank has none."""
    d = x.shape[1]
    candidate = torch.full((2 + 2 * d,), float("-inf"), dtype=torch.float64, device=x.device)
    if local is not None:
        candidate[0] = float(dist_[local]) if dist_ is not None else 0.0
        candidate[1] = float(offset + local)
        candidate[2 : 2 + d] = x[local].double()
        candidate[2 + d :] = prepared[local].double()
    return comm.all_gather_candidate(candidate)


def _take(candidate, step, pick, offset, x, chosen, rows, lower) -> None:
    d = x.shape[1]
    rows[step] = candidate[2 : 2 + d].to(x.dtype)
    if 0 <= pick - offset < x.shape[0]:
        chosen[step] = pick - offset
    lower(candidate[2 + d :].to(x.dtype), pick)


def _farthest(dist_: torch.Tensor) -> int | None:
    """The local row with the largest distance, the lowest index on ties; None when
    none is above -inf."""
    if dist_.numel() == 0 or not bool(dist_.max() > float("-inf")):
        return None
    return int((dist_ == dist_.max()).nonzero()[0])


def _best(candidates: torch.Tensor) -> int | None:
    """The rank whose candidate has the largest distance, the lowest global index
    on ties; None when every distance is -inf."""
    values = candidates[:, 0]
    if not bool(values.max() > float("-inf")):
        return None
    tied = (values == values.max()).nonzero().squeeze(1)
    return int(tied[candidates[tied, 1].argmin()])


__all__ = ["select", "RankFailedError"]

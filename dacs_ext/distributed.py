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
6. k-center greedy per group: an all-gather of every rank's farthest rows
   (distance, global index, features) and of the distance of its next one; every
   rank runs the same greedy steps on them (the largest distance, the lowest
   global index on ties) for as long as no row left behind can be farther, then
   lowers its own rows' distances by the picks (``_kcenter``).

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

from . import checks, ops
from .density import hash_keys, level_buckets, random_rotation
from .groups import density_groups_or_fewer, split_budget
from .health import feature_health, warn_if_degenerate
from .settings import DACSSettings


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
    candidates_per_rank: int = 32,
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
        candidates_per_rank: rows each rank sends per k-center exchange; the
            greedy then takes as many picks as are certain from them (1: one
            all-gather per pick). The picks do not depend on it.
        return_details: also return a dict of this rank's ``seconds`` (wall time
            on the host), ``bytes_sent`` (payload sent to other ranks) and
            ``collectives`` per stage: prepare, sort, exchange, density, return,
            groups, labeled, kcenter; ``groups_used`` (as ``select``'s),
            ``steps`` [P_r], each local pick's place in the global pick order,
            and ``ranks``, the group's size.

    Returns:
        int64 [P_r] indices into this rank's ``unlabeled`` of the picks that fall
        in its shard, in global pick order (group by group, as ``select``); the
        P_r of all ranks sum to ``budget``. With ``return_details``, (picks, details).

    Raises:
        ValueError / TypeError: bad input on this rank, or ranks that disagree on
            d, dtype, budget, settings or candidates_per_rank (then on every rank).
        RankFailedError: another rank's input was bad.

    A rank that fails later (an error inside a kernel, a lost process) leaves the
    others in a collective until the process group's timeout (``timeout=`` of
    ``init_process_group``), or until the transport sees the peer gone.
    """
    settings = DACSSettings.of(settings, **changes)
    candidates_per_rank = checks.integer(candidates_per_rank, "candidates_per_rank", low=1)
    comm = _Comm(group)
    with comm.stage("prepare"):
        x, labeled = _agreed(comm, lambda: _local_input(unlabeled, labeled))
        comm.device = x.device
        sizes = comm.all_gather_counts(x.shape[0])
        starts = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(sizes, 0)])
        offset, n = int(starts[comm.rank]), int(starts[-1])
        description = (x.shape[1], str(x.dtype), repr(budget), repr(settings), candidates_per_rank)
        _agreed(comm, lambda: _same_everywhere(comm, description, budget, n, settings))
        if generator is None:
            seed = comm.all_gather_counts(int(torch.randint(2**62, (1,))) if comm.rank == 0 else 0)[0]
            generator = torch.Generator().manual_seed(int(seed))

    dens, keys = _density(comm, x, starts, settings, generator)
    with comm.stage("groups"):
        group_ids, used = density_groups_or_fewer(comm.all_gather_rows(dens), settings.groups)
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
            chosen, rows = _kcenter(
                comm, x[members], torch.cat(known) if known else None, int(quotas[g]), generator, candidates_per_rank
            )
            picks.append(torch.where(chosen >= 0, members[chosen.clamp(min=0)] if members.numel() else chosen, -1))
            picked_rows.append(rows)
    everyone = torch.cat(picks) if picks else torch.empty(0, dtype=torch.int64, device=x.device)
    held = everyone >= 0
    if not return_details:
        return everyone[held]
    steps = held.nonzero().squeeze(1)
    return everyone[held], {"seconds": comm.seconds, "bytes_sent": comm.sent, "collectives": comm.calls,
                            "groups_used": used, "steps": steps, "ranks": comm.world, "keys": keys}


def is_active(group: dist.ProcessGroup | None = None) -> bool:
    """Whether torch.distributed is initialised with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def select_replicated(
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
    """``select`` across the ranks when every rank holds the whole pool (a
    multi-process run whose ranks all embed it): each rank selects on its
    contiguous share of ``unlabeled`` [N, d] and ``labeled`` [M, d] with
    ``distributed.select``, and every rank gets the whole pick sequence back,
    int64 [budget], equal to ``dacs_ext.select`` (with ``return_details``, the
    details dict of this rank's ``distributed.select`` and ``health``, as
    ``select``'s, with its warning)."""
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    share = lambda t: t[t.shape[0] * rank // world : t.shape[0] * (rank + 1) // world]  # noqa: E731
    offset = unlabeled.shape[0] * rank // world
    mine, details = select(
        share(unlabeled), share(labeled) if labeled is not None else None, budget, settings,
        group=group, generator=generator, return_details=True, **changes,
    )
    comm = _Comm(group)
    comm.device = mine.device
    pairs = comm.all_gather_rows(torch.stack([details["steps"], mine + offset], dim=1))
    picks = torch.empty(budget, dtype=torch.int64, device=mine.device)
    picks[pairs[:, 0]] = pairs[:, 1]
    # Every rank holds the pool: each measures the health ``select`` would.
    x, centers = checks.unit_inputs(unlabeled, labeled)
    chosen = DACSSettings.of(settings, **changes)
    num_keys = math.prod(level_buckets(chosen.buckets, chosen.levels))
    health = feature_health(x, centers, picks, details.pop("keys"), num_keys, chosen.buckets)
    details["health"] = dict(health, groups_used=details["groups_used"])
    warn_if_degenerate(details["health"], stacklevel=3)
    return (picks, details) if return_details else picks


def _local_input(unlabeled, labeled) -> tuple[torch.Tensor, torch.Tensor | None]:
    """This rank's rows as ``select`` prepares them (its shard may be empty)."""
    return checks.unit_inputs(checks.features(unlabeled, "unlabeled", min_rows=0, finite=False), labeled)


def _same_everywhere(comm: "_Comm", description: tuple, budget: int, n: int, settings: DACSSettings) -> None:
    everyone = comm.all_gather_object(description)
    for i, name in enumerate(("feature width d", "dtype", "budget", "settings", "candidates_per_rank")):
        values = [d[i] for d in everyone]
        if len(set(values)) > 1:
            raise ValueError(f"distributed.select: the ranks disagree on the {name}: {values}")
    checks.integer(budget, "budget", low=0, high=n)
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
        return self.all_gather_same_size(mine).view(-1).cpu()

    def all_gather_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Every rank's rows [R_r, ...] concatenated in rank order."""
        sizes = self.all_gather_counts(rows.shape[0])
        longest = int(sizes.max())
        padded = rows.new_zeros((longest, *rows.shape[1:]))
        padded[: rows.shape[0]] = rows
        everyone = self.all_gather_same_size(padded.view(-1)).view(self.world * longest, *rows.shape[1:])
        keep = torch.cat([torch.arange(r * longest, r * longest + int(s)) for r, s in enumerate(sizes)])
        return everyone[keep.to(rows.device)]

    def all_gather_same_size(self, tensor: torch.Tensor) -> torch.Tensor:
        """[world, K]: every rank's tensor, all of K elements."""
        out = tensor.new_empty(self.world * tensor.numel())
        _all_gather_single(out, tensor, group=self.group)
        self._count(tensor.numel() * tensor.element_size() * (self.world - 1))
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
    starts[rank]..; starts [world + 1]), computed across the ranks: [N_r], and
    every rank's hash keys, int64 [rounds, N] in global row order."""
    n, offset, device = int(starts[-1]), int(starts[comm.rank]), x.device
    chunks, rounds, neighbours = settings.buckets, settings.rounds, settings.neighbours
    per_level = level_buckets(chunks, settings.levels)
    columns = sum(k // 2 for k in per_level)
    with comm.stage("hash"):
        rotation = random_rotation(x.shape[1], 2 * columns, rounds, generator=generator, dtype=x.dtype, device=device)
        keys = hash_keys(x, rotation, per_level, ops)
        every_key = comm.all_gather_rows(keys.T.contiguous()).T  # [rounds, N], for the health figures
    begins = torch.arange(chunks + 1, dtype=torch.int64) * n // chunks
    owner = (torch.searchsorted(torch.arange(comm.world + 1) * chunks // comm.world, torch.arange(chunks), right=True) - 1).to(device)
    held, own = _held_chunks(owner.cpu(), comm.rank, chunks, neighbours)
    index = torch.arange(offset, offset + x.shape[0], device=device)
    result = torch.zeros(x.shape[0], dtype=checks.accumulation_dtype(x.dtype), device=device)
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
    return (result / rounds if rounds > 1 else result), every_key


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
    per_rank = comm.all_gather_same_size(counts)  # [world, num_keys]
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
        return rows.new_empty(0, dtype=checks.accumulation_dtype(rows.dtype)), index[:, 1].contiguous()
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
    # Contiguous: the indices feed torch.searchsorted, which warns on a strided view.
    return dens[keep], index[order][keep, 1].contiguous()


def _kcenter(comm: _Comm, x: torch.Tensor, centers: torch.Tensor | None, budget: int, generator, candidates: int):
    """``kcenter_greedy`` (cosine, as ``select`` calls it) over one group's rows
    of all ranks: x [n_r, d] this rank's (unit rows, global member indices in rank
    order), centers [C, d] the known centers, the same on every rank, or None.
    Returns the local member index of each pick, -1 where another rank holds it
    [budget], and the picked rows as ``select`` holds them [budget, d].

    Each exchange all-gathers every rank's ``candidates`` farthest rows and the
    distance T of its next one (no row it did not send is farther). Every rank
    then runs the same greedy steps on the candidates alone while the farthest is
    strictly beyond every rank's T (the first step of an exchange always: the
    farthest row of all is a candidate), so several picks cost one collective
    and the picks stay those of the one-pick-per-collective greedy. Distances only
    decrease, so a row not sent cannot overtake a candidate beyond T."""
    sizes = comm.all_gather_counts(x.shape[0])
    offset, members = int(sizes[: comm.rank].sum()), int(sizes.sum())
    prepared = checks.unit_rows(x, "unlabeled") if x.shape[0] else x
    chosen = torch.full((budget,), -1, dtype=torch.int64, device=x.device)
    rows = x.new_empty((budget, x.shape[1]))
    dist_ = torch.full((x.shape[0],), float("inf"), dtype=checks.accumulation_dtype(x.dtype), device=x.device)
    step = 0
    if centers is not None:
        if x.shape[0]:
            dist_ = ops.min_distance(prepared, checks.unit_rows(centers.to(x.dtype), "labeled"), "cosine")
    else:
        first = int(torch.randint(members, (1,), generator=generator, device=generator.device))
        mine = torch.tensor([first - offset] if 0 <= first - offset < x.shape[0] else [], dtype=torch.int64, device=x.device)
        sent = _exchange(comm, x, prepared, offset, dist_, mine, float("-inf"), 1)
        step = _greedy(sent, 1, 0, chosen, rows, offset, x, prepared, dist_)
    while step < budget:
        local, threshold = _farthest(dist_, candidates)
        sent = _exchange(comm, x, prepared, offset, dist_, local, threshold, candidates)
        taken = _greedy(sent, budget, step, chosen, rows, offset, x, prepared, dist_)
        if taken == step:
            raise ValueError(f"kcenter_greedy: budget {budget} exceeds the {step} rows whose min_dist is not -inf")
        step = taken
    return chosen, rows


def _farthest(dist_: torch.Tensor, count: int) -> tuple[torch.Tensor, float]:
    """The local rows [<= count] farthest first (by distance, then the lower
    index), above -inf, and the largest distance among the rows not in it
    (-inf when there is none)."""
    if dist_.numel() <= count:
        return (dist_ > float("-inf")).nonzero().squeeze(1), float("-inf")
    cut = float(torch.topk(dist_, count + 1).values[-1])
    beyond = (dist_ > cut).nonzero().squeeze(1)
    at_cut = (dist_ == cut).nonzero().squeeze(1)[: count - beyond.numel()] if cut > float("-inf") else beyond[:0]
    return torch.cat([beyond, at_cut]), cut


def _exchange(comm, x, prepared, offset, dist_, local, threshold: float, count: int) -> torch.Tensor:
    """All-gathers every rank's candidates: [world * count, 3 + 2d] float64 (exact
    for float32) rows of (distance, global member index, this rank's T, the row as
    select holds it, the row as kcenter_greedy normalises it); unused slots have
    distance -inf and index +inf."""
    d = x.shape[1]
    payload = torch.full((count, 3 + 2 * d), float("-inf"), dtype=torch.float64, device=x.device)
    payload[:, 1] = float("inf")
    payload[:, 2] = threshold
    k = local.numel()
    if k:
        payload[:k, 0] = dist_[local].double()
        payload[:k, 1] = (offset + local).double()
        payload[:k, 3 : 3 + d] = x[local].double()
        payload[:k, 3 + d :] = prepared[local].double()
    return comm.all_gather_same_size(payload.view(-1)).view(comm.world * count, 3 + 2 * d)


def _greedy(sent, budget: int, step: int, chosen, rows, offset, x, prepared, dist_) -> int:
    """Greedy steps on the exchanged candidates ``sent`` while they are certain
    (see ``_kcenter``), from pick ``step``; records the picks in chosen / rows,
    lowers this rank's dist_ by them; returns the next step."""
    d = x.shape[1]
    value, index, bound = sent[:, 0].clone(), sent[:, 1], float(sent[:, 2].max())
    centers = sent[:, 3 + d :].to(x.dtype)
    picked = []
    while step < budget:
        top = value.max()
        if not bool(top > float("-inf")) or (picked and not bool(top > bound)):
            break
        tied = (value == top).nonzero().squeeze(1)
        best = int(tied[index[tied].argmin()])
        pick = int(index[best])
        rows[step] = sent[best, 3 : 3 + d].to(x.dtype)
        if 0 <= pick - offset < x.shape[0]:
            chosen[step] = pick - offset
        picked.append(best)
        # The candidates' distances as their own ranks lower them (the same kernel).
        lowered = ops.min_distance(centers, centers[best : best + 1], "cosine").double()
        value = torch.where(lowered < value, lowered, value)
        value[best] = float("-inf")
        step += 1
    if picked and x.shape[0]:
        # min over the picks of each distance equals lowering pick by pick: the
        # distance is monotone in the dot, and the kernel keeps the largest dot.
        lowered = ops.min_distance(prepared, centers[picked], "cosine")
        dist_.copy_(torch.where(lowered < dist_, lowered, dist_))
        mine = index[picked].long() - offset
        dist_[mine[(mine >= 0) & (mine < x.shape[0])]] = float("-inf")
    return step


__all__ = ["select", "select_replicated", "is_active", "RankFailedError"]

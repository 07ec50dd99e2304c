"""An independent oracle for dacs_ext's public pipeline: ``density``,
``density_groups``, ``split_budget``, ``kcenter_greedy`` and ``select``; and
CDAL's symmetric-KL k-center (``kcenter_greedy`` with ``metric="symmetric_kl"``).

Written from the paper (Eq. 6-10, Algorithm 1) and the semantics that README.md
and the package's docstrings fix, sharing no code with dacs_ext (torch only). It
is plain and slow on purpose: float64 throughout, one chunk, group or pick at a
time, no tiling, no kernels.

The semantics it encodes:
- Rows are L2-normalised (cosine geometry everywhere in DACS).
- Rotations: ``torch.randn(rounds, d, buckets // 2, dtype=float64)`` from the
  generator, drawn before anything else. A row's bucket is the first maximum of
  ``[zR ; -zR]`` (Eq. 6).
- Rows are sorted stably by bucket and cut into ``buckets`` chunks,
  ``[floor(c N / k), floor((c + 1) N / k))``. A row's density is
  ``sum sigmoid(s) * s`` with ``s = z_i . z_j`` over every other row j of its own
  chunk and of the neighbour chunks: ``back`` is chunk c - 1 (chunk 0 wraps to
  k - 1), ``both`` adds c + 1, ``none`` reads no other chunk; a chunk is read once
  even when it is reached both ways (Eq. 7-8). Rounds are averaged.
- Groups: Fisher's optimal partition of the sorted densities into h classes (the
  least total within-class sum of squares, Eq. 9); group g holds the values above
  the (g-1)-th class maximum and up to the g-th, so group 0 is the sparsest.
- Quotas (Eq. 10): ratios ``softmax((1 - |C_i| / |U|) / tau)``, ``ratio * budget``
  rounded by largest remainder (ties to the lower group), each quota capped at its
  group's size, the cut-off part split again over the groups with room in
  proportion to their ratios, until the whole budget is placed.
- k-center greedy: repeatedly pick the candidate farthest from every center
  (lowest index on ties; a picked row is never picked again); cosine distance is
  ``max(0, 1 - cos)``, Euclidean the L2 distance, and CDAL's symmetric KL, on
  rows of log-probabilities, ``0.5 sum_c (p_c - q_c)(log p_c - log q_c)``. With no centers the first pick
  is ``torch.randint(N, (1,), generator)``.
- select: groups visited sparsest first, each group's k-center seeded by the
  labeled rows and, with ``share_centers``, the picks of earlier groups; the
  result lists the groups' picks in that order.
"""

from __future__ import annotations

import torch


def unit(z: torch.Tensor) -> torch.Tensor:
    z = z.detach().to("cpu", torch.float64)
    return z / z.norm(dim=1, keepdim=True)


def draw_rotation(generator: torch.Generator, rounds: int, d: int, buckets: int) -> torch.Tensor:
    return torch.randn(rounds, d, buckets // 2, generator=generator, dtype=torch.float64)


def chunk_reads(c: int, chunks: int, neighbours: str) -> list[int]:
    reads = {c}
    if neighbours in ("back", "both"):
        reads.add((c - 1) % chunks)
    if neighbours == "both":
        reads.add((c + 1) % chunks)
    return sorted(reads)


def hash_levels(buckets: int, levels: int) -> list[int]:
    """Buckets per level: [buckets], or twice the least even k with k * k >= buckets."""
    if levels == 1:
        return [buckets]
    k = 2
    while k * k < buckets:
        k += 2
    return [k, k]


def hash_buckets(z: torch.Tensor, r: torch.Tensor, per_level: list[int]) -> list[int]:
    """Each unit row's bucket under one round's rotation r [d, sum(k // 2)]:
    argmax of [zR, -zR] per level, b1 * k2 + b2 across two levels."""
    bucket, first = [0] * z.shape[0], 0
    for count in per_level:
        projection = z @ r[:, first : first + count // 2]
        level = torch.cat([projection, -projection], dim=1).argmax(dim=1).tolist()
        bucket = [b * count + c for b, c in zip(bucket, level)]
        first += count // 2
    return bucket


def density(z, buckets, *, rounds=1, neighbours="back", rotation=None, generator=None, levels=1) -> torch.Tensor:
    """[N] densities of the rows of z [N, d]; with two levels a row's bucket is
    b1 * k + b2, b1 from the first k/2 rotation columns, b2 from the next k/2."""
    z = unit(z)
    n, d = z.shape
    per_level = hash_levels(buckets, levels)
    width = sum(k // 2 for k in per_level)
    r = rotation if rotation is not None else draw_rotation(generator, rounds, d, 2 * width)
    r = r.to("cpu", torch.float64).reshape(rounds, d, width)
    total = torch.zeros(n, dtype=torch.float64)
    for k in range(rounds):
        bucket = hash_buckets(z, r[k], per_level)
        order = sorted(range(n), key=lambda i: (bucket[i], i))
        bounds = [c * n // buckets for c in range(buckets + 1)]
        chunk = [order[bounds[c] : bounds[c + 1]] for c in range(buckets)]
        for c in range(buckets):
            rows = torch.tensor(chunk[c], dtype=torch.int64)
            keys = torch.tensor([j for o in chunk_reads(c, buckets, neighbours) for j in chunk[o]], dtype=torch.int64)
            s = z[rows] @ z[keys].T
            w = torch.sigmoid(s) * s
            w[rows[:, None] == keys[None, :]] = 0
            total[rows] += w.sum(dim=1)
    return total / rounds


def natural_breaks(values: torch.Tensor, classes: int) -> list[float]:
    """jenkspy's format: [min, max of class 0, ..., max of class classes-2, max]."""
    v = values.detach().to("cpu", torch.float64).sort().values
    n = v.numel()
    # sse[i, j]: within-class sum of squares of v[i..j]; inf where j < i.
    sse = torch.full((n, n), float("inf"), dtype=torch.float64)
    for i in range(n):
        part = v[i:] - v[i]  # shifted for accuracy
        count = torch.arange(1, n - i + 1, dtype=torch.float64)
        sse[i, i:] = (part * part).cumsum(0) - part.cumsum(0) ** 2 / count
    sse.clamp_(min=0)
    # best[c][j]: least cost of v[0..j] in c + 1 classes; start[c][j]: first index of the last class.
    best, start = [sse[0].clone()], [torch.zeros(n, dtype=torch.int64)]
    for c in range(1, classes):
        previous = torch.cat([torch.tensor([float("inf")], dtype=torch.float64), best[-1][:-1]])  # v[0..i-1]
        cost = previous[:, None] + sse  # [start i, end j]
        value, where = cost.min(dim=0)
        best.append(value)
        start.append(where)
    ends, j = [], n - 1
    for c in range(classes - 1, 0, -1):
        i = int(start[c][j])
        ends.append(i - 1)
        j = i - 1
    return [float(v[0])] + [float(v[e]) for e in reversed(ends)] + [float(v[-1])]


def density_groups(values: torch.Tensor, groups: int) -> torch.Tensor:
    inner = natural_breaks(values, groups)[1:-1]
    return torch.tensor([sum(b < x for b in inner) for x in values.tolist()], dtype=torch.int64)


def split_budget(sizes: list[int], budget: int, temperature: float) -> list[int]:
    total = sum(sizes)
    ratios = torch.softmax((1 - torch.tensor(sizes, dtype=torch.float64) / max(total, 1)) / temperature, 0).tolist()
    quotas, left = [0] * len(sizes), budget
    while left:
        room = [g for g in range(len(sizes)) if quotas[g] < sizes[g]]
        mass = sum(ratios[g] for g in room)
        ideal = {g: ratios[g] / mass * left for g in room}
        add = {g: int(ideal[g]) for g in room}
        by_remainder = sorted(room, key=lambda g: -(ideal[g] - add[g]))  # stable: lower group first
        for g in by_remainder[: left - sum(add.values())]:
            add[g] += 1
        left = 0
        for g in room:
            take = min(add[g], sizes[g] - quotas[g])
            quotas[g] += take
            left += add[g] - take
    return quotas


def distances(x: torch.Tensor, center: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "cosine":
        return (1 - x @ center).clamp(min=0)
    if metric == "symmetric_kl":  # rows are log-probabilities
        return (0.5 * (x.exp() - center.exp()) * (x - center)).sum(dim=1).clamp(min=0)
    return (x - center).norm(dim=1)


def kcenter_greedy(x, centers, budget, *, metric="cosine", generator=None) -> list[int]:
    """Indices into x [N, d] in pick order; centers [M, d] or None."""
    x = unit(x) if metric == "cosine" else x.detach().to("cpu", torch.float64)
    n = x.shape[0]
    picks = []
    if budget == 0:
        return picks
    if centers is None or centers.shape[0] == 0:
        picks.append(int(torch.randint(n, (1,), generator=generator)))
        centers = x[picks]
    else:
        centers = unit(centers) if metric == "cosine" else centers.detach().to("cpu", torch.float64)
    nearest = torch.stack([distances(x, c, metric) for c in centers]).min(dim=0).values
    for p in picks:
        nearest = torch.minimum(nearest, distances(x, x[p], metric))
    while len(picks) < budget:
        candidates = nearest.clone()
        candidates[picks] = float("-inf")
        pick = int(candidates.argmax())
        picks.append(pick)
        nearest = torch.minimum(nearest, distances(x, x[pick], metric))
    return picks


def select(unlabeled, labeled, budget, *, buckets=100, groups=4, temperature=0.25, rounds=1, neighbours="back",
           share_centers=False, generator=None) -> list[int]:
    """Algorithm 1: indices into unlabeled [N, d], group by group in pick order."""
    x = unit(unlabeled)
    anchors = unit(labeled) if labeled is not None and labeled.shape[0] else None
    r = draw_rotation(generator, rounds, x.shape[1], buckets)
    group = density_groups(density(x, buckets, rounds=rounds, neighbours=neighbours, rotation=r), groups)
    quotas = split_budget([int((group == g).sum()) for g in range(groups)], budget, temperature)
    picks = []
    for g in range(groups):
        if quotas[g] == 0:
            continue
        members = (group == g).nonzero().squeeze(1)
        seeds = [anchors] if anchors is not None else []
        if share_centers and picks:
            seeds.append(x[picks])
        centers = torch.cat(seeds) if seeds else None
        chosen = kcenter_greedy(x[members], centers, quotas[g], metric="cosine", generator=generator)
        picks += members[chosen].tolist()
    return picks

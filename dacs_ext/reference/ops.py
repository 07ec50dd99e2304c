"""Pure-PyTorch twins of the ``dacs`` ops: the oracle of the tests and the rival
of the benchmarks.

Each function has the schema and semantics of ``torch.ops.dacs.<name>`` (see
``csrc/<op>.cpp``) and is written as fast as plain PyTorch allows: batched
``bmm`` over chunk pairs, ``F.silu`` for ``sigmoid(s) * s``, tiled distance
matrices bounded in memory, and no host synchronisation inside the greedy loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checks import accumulation_dtype

# Elements of the largest temporary matrix a tiled computation may form.
TILE_ELEMENTS = 1 << 24


def lsh_buckets(z: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """z [N, d], rotation [rounds, d, k/2] -> int64 [rounds, N]: argmax([zR ; -zR]),
    the first maximum: the first maximum of zR if it is at least minus the
    minimum, else k/2 + the first minimum. Tiled over the rows, so that no
    [N, k/2] projection (nor its negation) is formed."""
    acc = accumulation_dtype(z.dtype)
    z, rotation = z.to(acc), rotation.to(acc)
    half = rotation.shape[-1]
    out = torch.empty(rotation.shape[0], z.shape[0], dtype=torch.int64, device=z.device)
    step = max(1, TILE_ELEMENTS // max(1, half * rotation.shape[0]))
    for i in range(0, z.shape[0], step):
        projection = torch.matmul(z[i : i + step], rotation)  # [rounds, rows, k/2]
        high, high_at = projection.max(dim=-1)
        low, low_at = projection.min(dim=-1)
        out[:, i : i + step] = torch.where(high >= -low, high_at, half + low_at)
    return out


def bucket_sort(buckets: torch.Tensor, num_buckets: int) -> torch.Tensor:
    """buckets [N] int64 in [0, num_buckets) -> order [N]: stable sort by bucket."""
    if buckets.numel() and (int(buckets.min()) < 0 or int(buckets.max()) >= num_buckets):
        raise RuntimeError(f"buckets must hold values in [0, num_buckets = {num_buckets})")
    return torch.sort(buckets, stable=True).indices


def _neighbour_chunks(chunks: int, neighbours: str) -> list[list[int]]:
    """For each chunk, the distinct other chunks it reads (see csrc/common/dacs_math.h)."""
    table = []
    for c in range(chunks):
        others = []
        if neighbours in ("back", "both"):
            back = (c - 1) % chunks
            if back != c:
                others.append(back)
            if neighbours == "both":
                ahead = (c + 1) % chunks
                if ahead not in (c, back):
                    others.append(ahead)
        table.append(others)
    return table


def chunk_density(z_sorted: torch.Tensor, chunks: int, neighbours: str, bounds: torch.Tensor | None = None) -> torch.Tensor:
    """z_sorted [N, d] -> [N]: Eq. 8 over the own chunk and its neighbour chunk(s);
    chunk c is rows [bounds[c], bounds[c + 1]) of bounds [chunks + 1], by default
    the equal split."""
    n, d = z_sorted.shape
    device = z_sorted.device
    z = z_sorted.to(accumulation_dtype(z_sorted.dtype))
    begins = bounds.to(device) if bounds is not None else torch.arange(chunks + 1, device=device) * n // chunks
    sizes = begins[1:] - begins[:-1]
    rows = int(sizes.max())
    # Chunks padded to `rows` with a zero row (index n), whose weight silu(0) is 0.
    slot = torch.arange(rows, device=device)
    index = torch.where(slot < sizes[:, None], begins[:-1, None] + slot, n)
    padded = torch.cat([z, z.new_zeros(1, d)])[index]  # [chunks, rows, d]
    table = _neighbour_chunks(chunks, neighbours)
    width = max(len(t) for t in table)
    # A missing neighbour (fewer than `width`) reads the all-zero chunk `chunks`.
    others = torch.tensor(
        [t + [chunks] * (width - len(t)) for t in table], dtype=torch.int64, device=device
    )
    padded_plus = torch.cat([padded, padded.new_zeros(1, rows, d)])

    out = z.new_zeros(n + 1)
    diagonal = torch.arange(rows, device=device)
    batch = max(1, TILE_ELEMENTS // (rows * rows * (1 + width)))
    for c0 in range(0, chunks, batch):
        c1 = min(chunks, c0 + batch)
        own = padded[c0:c1]
        keys = torch.cat([own, padded_plus[others[c0:c1]].flatten(1, 2)], dim=1)
        weights = F.silu(torch.bmm(own, keys.transpose(1, 2)))
        weights[:, diagonal, diagonal] = 0
        out.index_add_(0, index[c0:c1].flatten(), weights.sum(dim=2).flatten())
    return out[:n]


def min_distance(x: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    """x [N, d], y [M, d] -> [N]: distance to the nearest row of y, tiled over x."""
    acc = accumulation_dtype(x.dtype)
    x, y = x.to(acc), y.to(acc)
    out = x.new_empty(x.shape[0])
    step = max(1, TILE_ELEMENTS // max(1, y.shape[0]))
    y_sq = (y * y).sum(dim=1)
    for i in range(0, x.shape[0], step):
        tile = x[i : i + step]
        if metric == "cosine":
            out[i : i + step] = (1 - (tile @ y.T).amax(dim=1)).clamp_(min=0)
        else:
            sq = torch.addmm(y_sq, tile, y.T, alpha=-2).add_((tile * tile).sum(dim=1, keepdim=True))
            out[i : i + step] = sq.amin(dim=1).clamp_(min=0).sqrt_()
    return out


def kcenter_greedy(
    x: torch.Tensor, min_dist: torch.Tensor, budget: int, metric: str, center_side: torch.Tensor | None = None
) -> torch.Tensor:
    """x [N, d], min_dist [N] -> int64 [budget]: greedy farthest-point picks; a
    picked row j becomes the center center_side[j] [d] (default x[j])."""
    acc = accumulation_dtype(x.dtype)
    x = x.to(acc)
    c = x if center_side is None else center_side.to(acc)
    dist = min_dist.clone()
    picks = torch.empty(budget, dtype=torch.int64, device=x.device)
    picked_values = dist.new_empty(budget)
    x_sq, c_sq = (x * x).sum(dim=1), (c * c).sum(dim=1)
    for step in range(budget):
        pick = torch.argmax(dist)
        picks[step] = pick
        picked_values[step] = dist[pick]
        dist[pick] = float("-inf")
        center = c[pick]
        if metric == "cosine":
            candidate = (1 - x @ center).clamp_(min=0)
        else:
            candidate = (x_sq + c_sq[pick] - 2 * (x @ center)).clamp_(min=0).sqrt_()
        torch.minimum(dist, candidate, out=dist)
    if budget and bool((picked_values == float("-inf")).any()):
        raise RuntimeError(f"kcenter_greedy: budget {budget} exceeds the rows whose min_dist is not -inf")
    return picks


def natural_breaks(values: torch.Tensor, classes: int) -> torch.Tensor:
    """values [N] -> [classes + 1]: jenkspy's exact (O(N^2)) Fisher-Jenks breaks.

    jenkspy is imported here, so the package itself does not need it."""
    import jenkspy

    distinct = int(torch.unique(values).numel())
    if distinct < classes:
        raise RuntimeError(
            f"natural_breaks: values must hold at least classes = {classes} distinct values, got {distinct}"
        )
    breaks = jenkspy.jenks_breaks(values.detach().double().cpu().numpy(), n_classes=classes)
    return torch.tensor(breaks, dtype=torch.float64).to(dtype=values.dtype, device=values.device)

"""LSH density estimation of paper section 4.1.2 (Eq. 6-8)."""

from __future__ import annotations

import math
from types import ModuleType

import torch

from . import checks, ops
from .arrays import numpy_io


def random_rotation(
    d: int,
    buckets: int,
    rounds: int = 1,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Gaussian random rotations for Eq. 6, as Reformer draws them.

    Returns a tensor [rounds, d, buckets // 2] drawn on the generator's device
    (CPU when ``generator`` is None) and moved to ``device``.
    """
    source = generator.device if generator is not None else torch.device("cpu")
    r = torch.randn(rounds, d, buckets // 2, generator=generator, dtype=torch.float64, device=source)
    return r.to(device=device if device is not None else source, dtype=dtype)


def level_buckets(buckets: int, levels: int = 1) -> tuple[int, ...]:
    """The buckets of each hash level: ``(buckets,)`` for the paper's flat hash;
    for two levels the smallest even k with k * k >= buckets, twice (k * k ordered
    buckets for k projections per row instead of buckets / 2)."""
    if levels == 1:
        return (buckets,)
    k = max(2, math.isqrt(buckets - 1) + 1)
    return (k + k % 2,) * 2


def _check_rotation(rotation, z: torch.Tensor, buckets: int, rounds: int) -> torch.Tensor:
    if not isinstance(rotation, torch.Tensor):
        raise TypeError(f"rotation must be a torch.Tensor or numpy array, got {type(rotation).__name__}")
    if rotation.dim() == 2:
        rotation = rotation.unsqueeze(0)
    expected = [rounds, z.shape[1], buckets // 2]
    if rotation.dim() != 3 or list(rotation.shape) != expected:
        raise ValueError(
            f"rotation must be [rounds, d, buckets // 2] = {expected} "
            f"(or [d, buckets // 2] for one round), got shape {list(rotation.shape)}"
        )
    if not rotation.is_floating_point():
        raise TypeError(f"rotation must be a floating tensor, got {rotation.dtype}")
    checks.same_device(z, "z", rotation, "rotation")
    if not bool(torch.isfinite(rotation).all()):
        raise ValueError("rotation contains NaN or infinite values")
    return rotation.to(z.dtype)


@numpy_io
def density(
    z: torch.Tensor,
    buckets: int = 100,
    *,
    rounds: int = 1,
    neighbours: str = "back",
    rotation: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    normalized: bool = False,
    levels: int = 1,
    return_keys: bool = False,
    backend: ModuleType = ops,
):
    """Local density of every sample by LSH chunks (paper Eq. 6-8); higher is denser.

    The rows are hashed into ``buckets`` buckets by a random rotation
    (Eq. 6), stably sorted by bucket, cut into ``buckets`` chunks of equal size
    (sizes differ by at most one), and each sample's density is
    ``sum_j sigmoid(z_i . z_j) * (z_i . z_j)`` over the other samples of its chunk
    and the neighbour chunk(s) (Eq. 7-8).

    Args:
        z: [N, d] features, N >= 2, any floating dtype, on CPU or CUDA.
        buckets: number of LSH buckets and of chunks, even, 2 <= buckets <= N.
        rounds: independent hashing rounds whose densities are averaged.
        neighbours: ``"back"`` (Eq. 7: own chunk and the previous one, chunk 0
            wrapping to the last), ``"both"`` (also the next one) or ``"none"``.
        rotation: [rounds, d, buckets // 2] (or [d, buckets // 2]) fixed rotation;
            drawn from ``generator`` when None. With two levels [rounds, d, k]
            (``level_buckets``: k // 2 columns per level).
        generator: source of the random rotation, for reproducible results.
        normalized: whether the rows of z are already unit length; otherwise
            they are L2-normalised here (an all-zero row is an error).
        levels: 1, the paper's flat hash (buckets / 2 projections per row), or 2,
            hierarchical: a first rotation sorts the rows into k buckets and a
            second one, the same for all, into k sub-buckets (``level_buckets``:
            k * k >= buckets ordered buckets for k projections per row); the
            order is then cut into ``buckets`` chunks as before. For large
            ``buckets``: the flat hash grows as N * buckets, that is N^2 at a
            fixed chunk size.
        return_keys: also return the hash keys, int64 [rounds, N] in
            ``[0, num_keys)``, and ``num_keys`` (``buckets`` for the flat hash,
            k * k for two levels): what ``dacs_ext.health`` reads.
        backend: the op implementation (``dacs_ext.ops`` or
            ``dacs_ext.reference.ops``); the rest of the pipeline is shared.

    Returns:
        [N] densities, float64 for float64 input and float32 otherwise; with
        ``return_keys``, ``(densities, keys, num_keys)``.
    """
    z = checks.features(z, "z", min_rows=2, finite=normalized)
    n = z.shape[0]
    buckets = checks.even_buckets(buckets)
    if buckets > n:
        raise ValueError(f"buckets must be at most the number of samples N = {n}, got {buckets}")
    rounds = checks.integer(rounds, "rounds", low=1)
    neighbours = checks.choice(neighbours, "neighbours", checks.NEIGHBOURS)
    levels = checks.integer(levels, "levels", low=1, high=2)
    if not normalized:
        z = checks.unit_rows(z, "z")
    per_level = level_buckets(buckets, levels)
    columns = sum(k // 2 for k in per_level)
    if rotation is None:
        rotation = random_rotation(
            z.shape[1], 2 * columns, rounds, generator=generator, dtype=z.dtype, device=z.device
        )
    else:
        rotation = _check_rotation(rotation, z, 2 * columns, rounds)

    hashed = hash_keys(z, rotation, per_level, backend)
    result = torch.zeros(n, dtype=checks.accumulation_dtype(z.dtype), device=z.device)
    for r in range(rounds):
        order = backend.bucket_sort(hashed[r], math.prod(per_level))
        result.index_add_(0, order, backend.chunk_density(z[order], buckets, neighbours))
    result = result / rounds if rounds > 1 else result
    return (result, hashed, math.prod(per_level)) if return_keys else result


def hash_keys(z: torch.Tensor, rotation: torch.Tensor, per_level: tuple[int, ...], backend: ModuleType = ops) -> torch.Tensor:
    """The sort key of every row per round, int64 [rounds, N] in [0, prod(per_level)):
    Eq. 6 level by level, key = b_1 * k_2 + b_2, so rows order by level 1 first.
    z [N, d] unit rows; rotation [rounds, d, sum(k // 2 for k in per_level)]."""
    hashed, start = torch.zeros((), dtype=torch.int64, device=z.device), 0
    for k in per_level:
        hashed = hashed * k + backend.lsh_buckets(z, rotation[..., start : start + k // 2])
        start += k // 2
    return hashed


def _nearest(z: torch.Tensor, k, queries) -> tuple[torch.Tensor, torch.Tensor]:
    """The cosine similarities [Q, k] (descending) and indices of each query's k
    most similar other rows, tiled over the queries so that a [tile, N]
    similarity matrix of at most ``reference.ops.TILE_ELEMENTS`` elements exists at a time."""
    from .reference.ops import TILE_ELEMENTS

    z = checks.features(z, "z", min_rows=2)
    k = checks.integer(k, "k", low=1, high=z.shape[0] - 1)
    if queries is None:
        queries = torch.arange(z.shape[0], device=z.device)
    if not isinstance(queries, torch.Tensor) or queries.dtype != torch.int64 or queries.dim() != 1:
        raise TypeError(f"queries must be an int64 tensor [Q] of row indices, got {queries!r:.80}")
    if queries.numel() and not (0 <= int(queries.min()) and int(queries.max()) < z.shape[0]):
        raise ValueError(f"queries must be row indices in [0, {z.shape[0]}), got values in [{int(queries.min())}, {int(queries.max())}]")
    norms = z.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("z has an all-zero row, which has no cosine neighbours")
    unit = z.to(checks.accumulation_dtype(z.dtype)) / norms.to(checks.accumulation_dtype(z.dtype))
    queries = queries.to(z.device)
    step = max(1, TILE_ELEMENTS // z.shape[0])
    values, indices = [], []
    for rows in queries.split(step):
        similarity = unit[rows] @ unit.T
        similarity[torch.arange(len(rows), device=z.device), rows] = -float("inf")  # not its own neighbour
        top = torch.topk(similarity, k, dim=1)
        values.append(top.values)
        indices.append(top.indices)
    empty = unit.new_empty(0, k)
    return torch.cat(values) if values else empty, torch.cat(indices) if indices else empty.long()


@numpy_io
def knn_density(z: torch.Tensor, k: int = 20, queries: torch.Tensor | None = None) -> torch.Tensor:
    """Exact k-NN density, what the LSH ``density`` approximates (the paper's
    section 3): minus the mean cosine distance from each row to its k nearest
    other rows, so that higher is denser. Costs O(N^2 d) time, tiled in memory.

    Args:
        z: [N, d] features (any norm; an all-zero row is an error).
        k: neighbours, 1 <= k < N.
        queries: int64 [Q] rows to measure (default: every row).

    Returns:
        [Q] (float64 for float64 z, else float32).
    """
    similarity, _ = _nearest(z, k, queries)
    return similarity.mean(dim=1) - 1


@numpy_io
def knn_indices(z: torch.Tensor, k: int, queries: torch.Tensor | None = None) -> torch.Tensor:
    """int64 [Q, k]: the k rows of z [N, d] nearest (cosine) to each query row
    (int64 [Q], default every row), nearest first, the row itself excluded."""
    return _nearest(z, k, queries)[1]

"""Is a feature matrix fit for density-aware selection? Figures that expose
collapsed features, which DACS would otherwise select from silently.

DACS reads geometry: a hash of directions (Eq. 6), densities from dot products
(Eq. 8) and cosine distances (Algorithm 1). When a model maps every row to about
one direction, the hash puts the rows in one bucket, the densities are equal up
to rounding, the distances clamp to 0 and k-center takes the lowest indices: the
selection is then the pool's order, with a plausible-looking result.
``dacs_ext.select`` computes these figures on every call, returns them with
``return_details=True`` and warns (``RuntimeWarning``) when one crosses its
threshold.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import torch

from . import ops

SAMPLE_ROWS = 2048
"""Rows (evenly spaced, no random draw) on which the effective rank and the
zero-distance share are measured: a fixed cost whatever the pool size."""

ZERO_DISTANCE = 1e-5
"""A cosine distance at or below this counts as 0: an angle under 0.26 degrees,
about 10x the rounding of a float32 dot product of 16 unit components."""

LARGEST_BUCKET_LIMIT = 0.5
"""Degenerate when one hash bucket holds more than this share of the rows and
more than 4 times its even share (so a hash of 2-8 buckets never counts). The
largest of 100 buckets holds about 5% of isotropic 16-d rows."""

ZERO_DISTANCE_LIMIT = 0.5
"""Degenerate when more than this share of the pool rows lies at distance 0
from a labeled or picked row: k-center could not tell them apart."""

EFFECTIVE_RANK_LIMIT = 1.5
"""Degenerate when the features' effective rank is below this: they span about
one direction (a rank-1 matrix has 1.0)."""


def sample_rows(n: int, rows: int = SAMPLE_ROWS) -> torch.Tensor:
    """int64 [min(n, rows)] evenly spaced row indices in [0, n)."""
    if n <= rows:
        return torch.arange(n)
    return torch.linspace(0, n - 1, rows, dtype=torch.float64).round().to(torch.int64)


def effective_rank(x: torch.Tensor) -> float:
    """exp of the entropy of the normalised singular values of x [S, d] (Roy and
    Vetterli, 2007): 1.0 for rank 1, d for d equal singular values; not centred,
    so unit rows around one direction score about 1. 0.0 for an all-zero x."""
    s = torch.linalg.svdvals(x.double())
    if float(s.sum()) == 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def bucket_figures(keys: torch.Tensor, num_keys: int) -> tuple[int, float]:
    """(occupied buckets, largest bucket's share of the rows) of the hash keys
    int64 [rounds, N] in [0, num_keys); over several rounds, the worst round
    (fewest occupied, largest share)."""
    occupied, largest = num_keys, 0.0
    for round_keys in keys:
        counts = torch.bincount(round_keys, minlength=num_keys)
        occupied = min(occupied, int((counts > 0).sum()))
        largest = max(largest, float(counts.max()) / max(round_keys.numel(), 1))
    return occupied, largest


def chunks_picked(keys: torch.Tensor, num_keys: int, chunks: int, picked: torch.Tensor, backend: ModuleType = ops) -> int:
    """How many of the ``chunks`` equal chunks of the first round's bucket order
    (rows stably sorted by key, as ``density`` cuts them) hold a picked row.
    keys int64 [rounds, N] in [0, num_keys); picked int64 [B] row indices."""
    n = keys.shape[1]
    order = backend.bucket_sort(keys[0], num_keys)
    position = torch.empty_like(order)
    position[order] = torch.arange(n, device=order.device)
    bounds = torch.arange(chunks + 1, device=order.device) * n // chunks
    chunk = torch.searchsorted(bounds, position[picked], right=True) - 1
    return int(chunk.unique().numel())


def feature_health(
    x: torch.Tensor,
    labeled: torch.Tensor | None,
    picked: torch.Tensor,
    keys: torch.Tensor,
    num_keys: int,
    chunks: int,
    *,
    backend: ModuleType = ops,
) -> dict:
    """The health figures of one selection.

    Args:
        x: [N, d] unit rows of the pool the selection read (N >= 1).
        labeled: [M, d] unit rows of the labeled set, or None.
        picked: int64 [B] the rows of x the selection picked.
        keys: int64 [rounds, N] the LSH keys the density hashed x with.
        num_keys: the number of distinct keys (the buckets of the hash).
        chunks: the chunks the density cut the bucket order into.
        backend: ``dacs_ext.ops`` or ``dacs_ext.reference.ops``.

    Returns:
        ``buckets`` (num_keys), ``occupied_buckets``, ``largest_bucket_share``,
        ``zero_distance_share`` (of the sampled rows left unpicked, those whose
        nearest labeled or picked row is within ``ZERO_DISTANCE``; None when
        there are neither or no row is left), ``effective_rank`` (of the sampled
        rows), ``sampled_rows``, ``chunks_picked`` (of ``chunks``: how widely the
        picks spread over the density's chunks; ``chunks_picked``) and ``degenerate``: a list of
        sentences, one per figure past its limit (empty when healthy).
    """
    occupied, largest = bucket_figures(keys, num_keys)
    rows = sample_rows(x.shape[0]).to(x.device)
    sample = x[rows]
    centers = torch.cat(([labeled] if labeled is not None else []) + [x[picked]])
    left = ~torch.isin(rows, picked)
    zero_share = None
    if centers.shape[0] and bool(left.any()):
        nearest = backend.min_distance(sample[left], centers.to(x.dtype), "cosine")
        zero_share = float((nearest <= ZERO_DISTANCE).double().mean())
    rank = effective_rank(sample)
    degenerate = []
    if largest > max(LARGEST_BUCKET_LIMIT, 4 / num_keys):
        degenerate.append(
            f"one hash bucket holds {largest:.0%} of the rows ({occupied} of {num_keys} buckets occupied): the densities and "
            f"chunks follow the pool's order"
        )
    if zero_share is not None and zero_share > ZERO_DISTANCE_LIMIT:
        degenerate.append(
            f"{zero_share:.0%} of the pool rows lie at cosine distance 0 from a labeled or picked row: k-center cannot tell "
            f"them apart and takes the lowest indices"
        )
    if rank < EFFECTIVE_RANK_LIMIT:
        degenerate.append(f"the features' effective rank is {rank:.2f} of {x.shape[1]}: they span about one direction")
    return dict(
        buckets=num_keys, occupied_buckets=occupied, largest_bucket_share=largest, zero_distance_share=zero_share,
        effective_rank=rank, sampled_rows=int(sample.shape[0]), chunks_picked=chunks_picked(keys, num_keys, chunks, picked, backend), chunks=chunks,
        degenerate=degenerate,
    )


def warn_if_degenerate(health: dict, stacklevel: int = 4) -> None:
    """The ``RuntimeWarning`` of ``select`` when ``health["degenerate"]`` names anything."""
    if health["degenerate"]:
        warnings.warn(f"select: degenerate features: {'; '.join(health['degenerate'])}", RuntimeWarning, stacklevel=stacklevel)

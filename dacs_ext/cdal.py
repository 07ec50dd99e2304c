"""CDAL's selection (Agarwal et al., "Contextual Diversity for Active Learning",
ECCV 2020, the CS variant for classification): greedy k-center where the
distance between two samples is the symmetric KL divergence of their class
distributions.

With p, q the class distributions of two samples,

    d(p, q) = 0.5 KL(p || q) + 0.5 KL(q || p) = 0.5 sum_c (p_c - q_c)(log p_c - log q_c)
            = 0.5 (h_p + h_q - [p, log p] . [log q, q]),   h_p = sum_c p_c log p_c,

so with ``[p, log p]`` for the rows and ``[log q, q]`` for the centers the
distance is one inner product plus two per-row terms: tiles of a matrix product,
as for the Euclidean distance, and the N x M matrix is never formed.
"""

from __future__ import annotations

import torch

from . import _checks

# Rows of unlabeled per tile of the initial distances: about 16M distances, 64 MiB in float32.
_TILE_ELEMENTS = 1 << 24


def _log_probs(log_probs: torch.Tensor, name: str, *, min_rows: int = 1) -> torch.Tensor:
    log_probs = _checks.features(log_probs, name, min_rows=min_rows)
    _checks.all_finite(log_probs, name)
    total = log_probs.double().logsumexp(dim=1)
    if log_probs.shape[0] and float(total.abs().max()) > 1e-3:
        worst = float(total[total.abs().argmax()].exp())
        raise ValueError(f"{name} must hold log-probabilities (rows whose exp sums to 1, e.g. log_softmax), a row sums to {worst:.4g}")
    return log_probs


def _sides(log_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[p, log p] [N, 2C] (row side), [log p, p] [N, 2C] (center side) and h [N]."""
    p = log_probs.exp()
    return torch.cat([p, log_probs], dim=1), torch.cat([log_probs, p], dim=1), (p * log_probs).sum(dim=1)


def symmetric_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Row-wise symmetric KL divergence ``0.5 KL(p||q) + 0.5 KL(q||p)``.

    Args:
        log_p, log_q: [N, C] log-probabilities (e.g. ``log_softmax`` of logits).

    Returns:
        [N] divergences, >= 0.
    """
    log_p, log_q = _log_probs(log_p, "log_p"), _log_probs(log_q, "log_q")
    _checks.same_width(log_p, "log_p", log_q, "log_q")
    return (0.5 * (log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=1).clamp(min=0)


def cdal_kcenter(
    unlabeled: torch.Tensor,
    labeled: torch.Tensor | None,
    budget: int,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Greedy k-center under the symmetric KL divergence: each step picks the
    unlabeled row whose divergence to its nearest center (the labeled rows and
    the rows picked so far) is largest; ties go to the lowest index.

    Args:
        unlabeled: [N, C] log-probabilities of the candidates (``log_softmax``).
        labeled: [M, C] log-probabilities of the labeled samples, or None / [0, C]:
            then the first center is drawn uniformly from ``generator``.
        budget: rows to pick, 0 <= budget <= N.
        generator: source of the first center when there are no labeled rows.

    Returns:
        int64 [budget] distinct indices into ``unlabeled``, in pick order.
    """
    x = _log_probs(unlabeled, "unlabeled")
    n = x.shape[0]
    budget = _checks.integer(budget, "budget", low=0, high=n)
    if labeled is not None:
        labeled = _log_probs(labeled, "labeled", min_rows=0)
        _checks.same_width(x, "unlabeled", labeled, "labeled")
        _checks.same_device(x, "unlabeled", labeled, "labeled")
        if labeled.shape[0] == 0:
            labeled = None
    picks = torch.empty(budget, dtype=torch.int64, device=x.device)
    if budget == 0:
        return picks
    dtype = torch.promote_types(x.dtype, labeled.dtype) if labeled is not None else x.dtype
    rows, centers, h = _sides(x.to(dtype))
    min_dist = torch.full((n,), float("inf"), dtype=dtype, device=x.device)
    if labeled is not None:
        _, label_centers, label_h = _sides(labeled.to(dtype))
        tile = max(1, _TILE_ELEMENTS // label_centers.shape[0])
        for start in range(0, n, tile):
            d = torch.addmm(label_h.unsqueeze(0), rows[start : start + tile], label_centers.T, alpha=-1)
            min_dist[start : start + tile] = 0.5 * (d + h[start : start + tile, None]).amin(dim=1)
        start_at = 0
    else:
        picks[0] = int(torch.randint(n, (1,), generator=generator, device=generator.device if generator else "cpu"))
        start_at = 1
    for step in range(budget):
        if step >= start_at:
            picks[step] = torch.argmax(min_dist)
        pick = picks[step]
        new = 0.5 * (h + h[pick] - rows @ centers[pick])
        torch.minimum(min_dist, new, out=min_dist)
        min_dist[pick] = float("-inf")
    return picks

"""CDAL's selection (Agarwal et al., "Contextual Diversity for Active Learning",
ECCV 2020, the CS variant for classification): greedy k-center where the
distance between two samples is the symmetric KL divergence of their class
distributions.

With p, q the class distributions of two samples and h_p = sum_c p_c log p_c,

    d(p, q) = 0.5 KL(p || q) + 0.5 KL(q || p) = 0.5 sum_c (p_c - q_c)(log p_c - log q_c)
            = 0.5 (h_p + h_q - p . log q - log p . q),

so with a sample written as a row [p, log p, h_p, 1] and as a center
[log q, q, -1, -h_q], row . center = -2 d(p, q): one inner product. The
min-distance and k-center kernels of the package take exactly that (their
cosine pairing, 1 - row . center = 1 + 2 d, which orders like d), tiled, so the
N x M matrix is never formed, and the k-center kernel's lazy greedy applies
since distances to the centers only ever decrease.
"""

from __future__ import annotations

from types import ModuleType

import torch

from . import checks, ops
from .arrays import numpy_io


def _log_probs(log_probs: torch.Tensor, name: str, *, min_rows: int = 1) -> torch.Tensor:
    log_probs = checks.features(log_probs, name, min_rows=min_rows)
    checks.all_finite(log_probs, name)
    total = log_probs.double().logsumexp(dim=1)
    if log_probs.shape[0] and float(total.abs().max()) > 1e-3:
        worst = float(total[total.abs().argmax()].exp())
        raise ValueError(f"{name} must hold log-probabilities (rows whose exp sums to 1, e.g. log_softmax), a row sums to {worst:.4g}")
    return log_probs


def _sides(log_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample as a row [p, log p, h, 1] and as a center [log p, p, -1, -h],
    both [N, 2C + 2]: row_i . center_j = -2 d(i, j)."""
    p = log_probs.exp()
    h = (p * log_probs).sum(dim=1, keepdim=True)
    one = torch.ones_like(h)
    return torch.cat([p, log_probs, h, one], dim=1), torch.cat([log_probs, p, -one, -h], dim=1)


@numpy_io
def symmetric_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Row-wise symmetric KL divergence ``0.5 KL(p||q) + 0.5 KL(q||p)``.

    Args:
        log_p, log_q: [N, C] log-probabilities (e.g. ``log_softmax`` of logits).

    Returns:
        [N] divergences, >= 0.
    """
    log_p, log_q = _log_probs(log_p, "log_p"), _log_probs(log_q, "log_q")
    checks.same_width(log_p, "log_p", log_q, "log_q")
    return (0.5 * (log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=1).clamp(min=0)


@numpy_io
def cdal_kcenter(
    unlabeled: torch.Tensor,
    labeled: torch.Tensor | None,
    budget: int,
    *,
    generator: torch.Generator | None = None,
    backend: ModuleType = ops,
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
        backend: ``dacs_ext.ops`` or ``dacs_ext.reference.ops``.

    Returns:
        int64 [budget] distinct indices into ``unlabeled``, in pick order.
    """
    x = _log_probs(unlabeled, "unlabeled")
    n = x.shape[0]
    budget = checks.integer(budget, "budget", low=0, high=n)
    if labeled is not None:
        labeled = _log_probs(labeled, "labeled", min_rows=0)
        checks.same_width(x, "unlabeled", labeled, "labeled")
        checks.same_device(x, "unlabeled", labeled, "labeled")
        if labeled.shape[0] == 0:
            labeled = None
    if budget == 0:
        return torch.empty(0, dtype=torch.int64, device=x.device)
    dtype = torch.promote_types(x.dtype, labeled.dtype) if labeled is not None else x.dtype
    rows, centers = _sides(x.to(dtype))
    if labeled is not None:
        min_dist = backend.min_distance(rows, _sides(labeled.to(dtype))[1], "cosine")
        return backend.kcenter_greedy(rows, min_dist, budget, "cosine", centers)
    first = int(torch.randint(n, (1,), generator=generator, device=generator.device if generator else "cpu"))
    min_dist = backend.min_distance(rows, centers[first : first + 1], "cosine")
    min_dist[first] = float("-inf")
    rest = backend.kcenter_greedy(rows, min_dist, budget - 1, "cosine", centers)
    return torch.cat([torch.tensor([first], dtype=torch.int64, device=x.device), rest])

"""The exact k-NN density and neighbours (``dacs_ext.knn_density``,
``knn_indices``) against a brute-force loop in plain Python, and their errors."""

import pytest
import torch

import dacs_ext


def brute_force(z, k, queries):
    """Per query: the k other rows by descending cosine similarity (lower index first on ties)."""
    rows = z.tolist()

    def cosine(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)

    out = []
    for q in queries:
        others = sorted((j for j in range(len(rows)) if j != q), key=lambda j: (-cosine(rows[q], rows[j]), j))[:k]
        out.append((others, -sum(1 - cosine(rows[q], rows[j]) for j in others) / k))
    return out


@pytest.mark.parametrize("n, d, k", [(60, 5, 6), (33, 1, 4), (7, 16, 6)])
def test_knn_against_brute_force(gen, n, d, k, monkeypatch):
    z = torch.randn(n, d, generator=gen, dtype=torch.float64) * torch.rand(n, 1, generator=gen, dtype=torch.float64).add(0.5)
    queries = torch.randperm(n, generator=gen)[: max(1, n // 2)]
    monkeypatch.setattr("dacs_ext.reference.ops.TILE_ELEMENTS", 3 * n)  # 3 query rows per tile
    expected = brute_force(z, k, queries.tolist())
    torch.testing.assert_close(dacs_ext.knn_density(z, k, queries), torch.tensor([e[1] for e in expected], dtype=torch.float64))
    near = dacs_ext.knn_indices(z, k, queries)
    unit = z / z.norm(dim=1, keepdim=True)
    chosen = (unit[queries, None, :] * unit[near]).sum(-1)  # the similarities of the neighbours found
    torch.testing.assert_close(chosen, torch.stack([(unit[q] * unit[e[0]]).sum(-1) for q, e in zip(queries, expected)]))
    assert not (near == queries[:, None]).any()
    if d > 1:  # no ties: the very rows
        assert near.tolist() == [e[0] for e in expected]
    every = dacs_ext.knn_density(z.float(), k)
    assert every.dtype == torch.float32 and every.shape == (n,)
    torch.testing.assert_close(every[queries], dacs_ext.knn_density(z, k, queries).float(), atol=1e-5, rtol=1e-5)


def test_copies_are_each_others_nearest(gen):
    base = torch.randn(20, 4, generator=gen)
    z = torch.cat([base, 3 * base])  # row i and i + 20 point the same way
    near = dacs_ext.knn_indices(z, 1)
    assert near.squeeze(1).tolist() == [*range(20, 40), *range(20)]
    torch.testing.assert_close(dacs_ext.knn_density(z, 1), torch.zeros(40), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda z: dacs_ext.knn_density(z, 10), ValueError, "k must be in"),
        (lambda z: dacs_ext.knn_density(z, 0), ValueError, "k must be in"),
        (lambda z: dacs_ext.knn_density(z[0], 2), ValueError, "z must be 2-D"),
        (lambda z: dacs_ext.knn_density(z.long(), 2), TypeError, "z must be a floating tensor"),
        (lambda z: dacs_ext.knn_density(torch.cat([z, z.new_zeros(1, 3)]), 2), ValueError, "all-zero row"),
        (lambda z: dacs_ext.knn_density(z.masked_fill(z > 1, float("nan")), 2), ValueError, "NaN"),
        (lambda z: dacs_ext.knn_density(z, 2, torch.tensor([0.0])), TypeError, "queries must be an int64"),
        (lambda z: dacs_ext.knn_indices(z, 2, torch.tensor([10])), ValueError, r"queries must be row indices in \[0, 10\)"),
        (lambda z: dacs_ext.knn_indices(z, 2, torch.tensor([-1])), ValueError, "queries must be row indices"),
    ],
)
def test_knn_rejects(gen, call, error, message):
    z = torch.randn(10, 3, generator=gen) + 0.1
    with pytest.raises(error, match=message):
        call(z)

"""Property tests (hypothesis): random shapes, bucket counts and data, the
kernels always agreeing with their reference twins and keeping their invariants
(tests/api/test_oracle.py checks the semantics against the independent oracle)."""

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dacs_ext
from dacs_ext import ops
from dacs_ext.reference import ops as ref

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def features(seed, n, d, duplicates):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    if duplicates and n > 1:
        z[n // 2 :] = z[: n - n // 2].clone()
    return z


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(2, 400), d=st.integers(1, 20), half_buckets=st.integers(1, 40),
       rounds=st.integers(1, 3), neighbours=st.sampled_from(["back", "both", "none"]), duplicates=st.booleans())
def test_density_agrees_with_reference(seed, n, d, half_buckets, rounds, neighbours, duplicates):
    buckets = min(2 * half_buckets, n - n % 2)
    z = features(seed, n, d, duplicates)
    kwargs = dict(rounds=rounds, neighbours=neighbours)
    got = dacs_ext.density(z, buckets, generator=torch.Generator().manual_seed(seed), **kwargs)
    want = dacs_ext.reference.density(z, buckets, generator=torch.Generator().manual_seed(seed), **kwargs)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(0, 3000), k=st.integers(1, 300))
def test_bucket_sort_is_a_stable_permutation(seed, n, k):
    buckets = torch.randint(k, (n,), generator=torch.Generator().manual_seed(seed))
    order = ops.bucket_sort(buckets, k)
    assert torch.equal(order, ref.bucket_sort(buckets, k))
    assert torch.equal(order.sort().values, torch.arange(n))
    sorted_buckets = buckets[order]
    assert bool((sorted_buckets[1:] >= sorted_buckets[:-1]).all())


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(1, 300), m=st.integers(1, 50), d=st.integers(1, 16),
       metric=st.sampled_from(["cosine", "euclidean"]), budget_share=st.floats(0, 1))
def test_kcenter_greedy_agrees_with_reference(seed, n, m, d, metric, budget_share):
    x = features(seed, n, d, False)
    labeled = features(seed + 1, m, d, False)
    budget = int(budget_share * n)
    got = dacs_ext.kcenter_greedy(x, labeled, budget, metric=metric)
    assert torch.equal(got, dacs_ext.reference.kcenter_greedy(x, labeled, budget, metric=metric))
    assert len(set(got.tolist())) == budget
    # Each pick's distance to the labeled rows is at least the min_distance of the pool's
    # farthest remaining row at its step; in particular the first pick is the global farthest.
    if budget:
        first = dacs_ext.min_distance(x, labeled, metric=metric)
        assert float(first[got[0]]) == float(first.max())

"""The package's pipeline against the independent oracle (tests/oracle.py): fresh
random float64 inputs of random sizes, every output element, and hand-built cases
whose answer is known."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dacs_ext
import oracle

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
NEIGHBOURS = st.sampled_from(["back", "both", "none"])


def features(seed, n, d, duplicates=False):
    """[n, d] float64; with duplicates, row n // 2 + j is a copy of row j."""
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if duplicates:
        z[n // 2 :] = z[: n - n // 2].clone()
    return z


def even_buckets(n, share, chunk_rows=1):
    """An even bucket count in [2, n // chunk_rows] chosen by share in [0, 1]."""
    top = max(2, (n // chunk_rows) - (n // chunk_rows) % 2)
    return 2 + 2 * int(share * (top - 2) // 2)


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(2, 300), d=st.integers(1, 20), share=st.floats(0, 1),
       rounds=st.integers(1, 3), neighbours=NEIGHBOURS, duplicates=st.booleans())
def test_density(device, seed, n, d, share, rounds, neighbours, duplicates):
    z = features(seed, n, d, duplicates)
    buckets = even_buckets(n, share)
    got = dacs_ext.density(z.to(device), buckets, rounds=rounds, neighbours=neighbours, generator=torch.Generator().manual_seed(seed))
    want = oracle.density(z, buckets, rounds=rounds, neighbours=neighbours, generator=torch.Generator().manual_seed(seed))
    assert got.shape == (n,) and got.dtype == torch.float64
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(1, 250), d=st.integers(1, 12), labeled_rows=st.integers(0, 30),
       budget_share=st.floats(0, 1), metric=st.sampled_from(["cosine", "euclidean"]), duplicates=st.booleans(),
       none_for_empty=st.booleans())
def test_kcenter_greedy(device, seed, n, d, labeled_rows, budget_share, metric, duplicates, none_for_empty):
    x = features(seed, n, d, duplicates)
    labeled = features(seed + 1, labeled_rows, d)
    if labeled_rows == 0 and none_for_empty:
        labeled = None
    # Copies of a row tie up to rounding, so with duplicates the picks are compared
    # as the points they are (row i and its copy are one point); up to the number of
    # distinct points every pick is then unambiguous.
    distinct = n - n // 2 if duplicates else n
    budget = int(budget_share * distinct)
    got = dacs_ext.kcenter_greedy(
        x.to(device), None if labeled is None else labeled.to(device), budget, metric=metric,
        generator=torch.Generator().manual_seed(seed),
    )
    want = oracle.kcenter_greedy(x, labeled, budget, metric=metric, generator=torch.Generator().manual_seed(seed))
    assert got.dtype == torch.int64 and got.device.type == device.type
    assert len(set(got.tolist())) == budget
    point = (lambda i: i if i < n // 2 else i - n // 2) if duplicates else (lambda i: i)  # see features()
    assert [point(i) for i in got.tolist()] == [point(i) for i in want]


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(24, 400), d=st.integers(2, 16), share=st.floats(0, 1),
       groups=st.integers(2, 5), temperature=st.sampled_from([0.05, 0.25, 1.0, 4.0]), rounds=st.integers(1, 3),
       neighbours=NEIGHBOURS, share_centers=st.booleans(), labeled_rows=st.integers(0, 40), budget_share=st.floats(0, 1))
def test_select(device, seed, n, d, share, groups, temperature, rounds, neighbours, share_centers, labeled_rows, budget_share):
    z = features(seed, n, d)
    labeled = features(seed + 1, labeled_rows, d) if labeled_rows else None
    # At least four rows a chunk, so that densities differ and groups exist.
    settings_ = dict(buckets=even_buckets(n, share, 4), groups=groups, temperature=temperature, rounds=rounds,
                     neighbours=neighbours, share_centers=share_centers)
    budget = int(budget_share * n)
    got = dacs_ext.select(z.to(device), None if labeled is None else labeled.to(device), budget,
                          generator=torch.Generator().manual_seed(seed), **settings_)
    want = oracle.select(z, labeled, budget, generator=torch.Generator().manual_seed(seed), **settings_)
    assert got.tolist() == want


@pytest.mark.parametrize("sizes", [[100, 200, 300, 400], [1, 5000, 5000, 5000], [3, 4, 5, 6], [0, 10, 10, 10],
                                   [7, 1000], [50, 50], [2, 3, 1000], [9, 9, 9], [1, 1, 1, 1, 996]])
@pytest.mark.parametrize("temperature", [0.01, 0.25, 1.0])
def test_split_budget(sizes, temperature):
    for budget in sorted({0, 1, sum(sizes) // 3, sum(sizes) // 2, sum(sizes) - 1, sum(sizes)}):
        got = dacs_ext.split_budget(torch.tensor(sizes), budget, temperature)
        assert got.tolist() == oracle.split_budget(sizes, budget, temperature)


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(6, 400), classes=st.integers(2, 6))
def test_density_groups(seed, n, classes):
    values = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).exp()
    assert torch.equal(dacs_ext.density_groups(values, classes), oracle.density_groups(values, classes))


# Hand-built cases with known answers.

SIGMOID_1 = 1 / (1 + math.exp(-1))


@pytest.mark.parametrize(
    "neighbours, expected",
    [
        ("none", [SIGMOID_1, SIGMOID_1, 0.0, 0.0]),
        # Chunk 0 = {a, b} also reads chunk 1 = {c, d} (its back neighbour wraps), and chunk 1 reads chunk 0.
        ("back", [2 * SIGMOID_1 - 1, 2 * SIGMOID_1 - 1, 0.0, 2 * (SIGMOID_1 - 1)]),
        ("both", [2 * SIGMOID_1 - 1, 2 * SIGMOID_1 - 1, 0.0, 2 * (SIGMOID_1 - 1)]),  # with 2 chunks back = ahead
    ],
)
def test_density_by_hand(device, neighbours, expected):
    # a = b = (1, 0), c = (0, 1), d = (-1, 0); R = [[1], [0]] projects on the first
    # axis: a, b and c (projection 0: the first maximum, bucket 0) go to bucket 0, d to
    # bucket 1. Sorted stably: a, b, c, d; two chunks {a, b}, {c, d}. The weight
    # sigmoid(s) * s is sigmoid(1) for s = 1, 0 for s = 0, sigmoid(-1) * -1 = sigmoid(1) - 1 for s = -1.
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    rotation = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    want = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(oracle.density(z, 2, neighbours=neighbours, rotation=rotation), want, rtol=0, atol=1e-15)
    got = dacs_ext.density(z.to(device), 2, neighbours=neighbours, rotation=rotation.to(device))
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=1e-15)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_labeled_row_on_a_pool_row(device, metric):
    # Labeled e1 sits on pool row 0. -e1 is the farthest; then e2 and e3 tie (lowest
    # index first); the row under the labeled one comes last.
    eye = torch.eye(3, dtype=torch.float64)
    pool = torch.stack([eye[0], eye[1], -eye[0], eye[2]])
    for implementation in (dacs_ext.kcenter_greedy, oracle.kcenter_greedy):
        picks = implementation(pool.to(device), eye[:1].to(device), 4, metric=metric)
        assert list(picks if isinstance(picks, list) else picks.tolist()) == [2, 1, 3, 0]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_ties_go_to_the_lowest_index(device, metric):
    # Eight orthonormal rows, no labeled rows: after the random first center every
    # other row is at the same distance, so they come in index order.
    pool = torch.eye(8, dtype=torch.float64)
    for seed in range(6):
        first = int(torch.randint(8, (1,), generator=torch.Generator().manual_seed(seed)))
        want = [first] + [i for i in range(8) if i != first]
        got = dacs_ext.kcenter_greedy(pool.to(device), None, 8, metric=metric, generator=torch.Generator().manual_seed(seed))
        assert got.tolist() == want == oracle.kcenter_greedy(pool, None, 8, metric=metric, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_duplicates_of_the_first_center(device, metric):
    # Rows 0-2 are one point, rows 3-4 another. Whatever the first center, the whole
    # pool comes back once each: the first center is never picked again.
    pool = torch.tensor([[1.0, 0, 0]] * 3 + [[0, 1.0, 0]] * 2, dtype=torch.float64)
    for seed in range(8):
        got = dacs_ext.kcenter_greedy(pool.to(device), None, 5, metric=metric, generator=torch.Generator().manual_seed(seed))
        assert sorted(got.tolist()) == [0, 1, 2, 3, 4]
        # After the first center, the other point's lowest row, then the leftover rows in index order.
        first = int(got[0])
        other = 3 if first < 3 else 0
        assert got.tolist()[:2] == [first, other]
        assert got.tolist()[2:] == sorted(set(range(5)) - {first, other})


def two_clusters(sparse=100, dense=900, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    center = torch.nn.functional.normalize(torch.randn(d, generator=g, dtype=torch.float64), dim=0)
    loose = torch.randn(sparse, d, generator=g, dtype=torch.float64)  # all over the far half of the sphere
    loose -= 2 * (loose @ center).clamp(min=0)[:, None] * center
    tight = center + 0.01 * torch.randn(dense, d, generator=g, dtype=torch.float64)
    return torch.cat([loose, tight])


def test_select_two_clusters_by_hand(device):
    # 100 rows spread over the half of the sphere facing away from a tight cluster of
    # 900. With two buckets (two chunks, each reading the other) every density sums
    # over the whole pool, so the two density groups are the two clusters. Eq. 10 with
    # tau = 0.25: ratios softmax([0.9, 0.1] / 0.25) = [0.9608, 0.0392], so 50 picks
    # split 48.04 / 1.96 -> floors 48 / 1, and the larger remainder (0.96, the dense
    # group's) takes the last: quotas [48, 2]. 30 labeled rows sit on sparse rows 0-29:
    # the 48 sparse picks avoid them.
    pool = two_clusters()
    labeled = pool[:30].clone()
    picks, details = dacs_ext.select(pool.to(device), labeled.to(device), 50, buckets=2, groups=2,
                                     generator=torch.Generator().manual_seed(0), return_details=True)
    assert details["groups"].cpu().tolist() == [0] * 100 + [1] * 900
    assert details["quotas"].tolist() == [48, 2]
    picks = picks.tolist()
    assert all(30 <= p < 100 for p in picks[:48]) and all(p >= 100 for p in picks[48:])
    assert picks == oracle.select(pool, labeled, 50, buckets=2, groups=2, generator=torch.Generator().manual_seed(0))

"""Every dacs op against its pure-PyTorch twin on fresh random inputs, every
output element checked."""

import pytest
import torch

from dacs_ext import ops
from dacs_ext.reference import ops as ref

from helpers import replay_greedy, tolerance, unit_rows

FLOATS = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def assert_buckets_valid(z, rotation, got):
    """Checks lsh_buckets output [r, N] element by element against float64 projections:
    equal to the reference wherever the top-2 margin exceeds rounding, and always a
    maximum up to rounding."""
    proj = torch.matmul(z.double(), rotation.double())
    scores = torch.cat([proj, -proj], dim=-1)
    expected = scores.argmax(dim=-1)
    top2 = scores.topk(2, dim=-1).values
    clear = (top2[..., 0] - top2[..., 1]) > 1e-2
    assert torch.equal(got[clear], expected[clear].to(got.device))
    chosen = scores.gather(-1, got.to(scores.device).unsqueeze(-1)).squeeze(-1)
    assert bool((chosen >= top2[..., 0] - 1e-2).all())


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n,d,k", [(2, 1, 2), (37, 3, 10), (500, 16, 100), (1001, 7, 6), (33, 16, 64), (17, 5, 130), (300, 33, 200)])
def test_lsh_buckets(device, gen, dtype, n, d, k):
    z = unit_rows(n, d, gen=gen, dtype=dtype, device=device)
    rotation = torch.randn(2, d, k // 2, generator=gen, dtype=torch.float64).to(dtype=dtype, device=device)
    got = ops.lsh_buckets(z, rotation)
    assert got.dtype == torch.int64 and got.shape == (2, n)
    assert int(got.min()) >= 0 and int(got.max()) < k
    if dtype == torch.float64:
        assert torch.equal(got, ref.lsh_buckets(z, rotation))
    else:
        assert_buckets_valid(z, rotation, got)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("half", [1, 5, 32, 33, 70, 129])
@pytest.mark.parametrize("period", [None, 16])
@pytest.mark.parametrize("d", [6, 40])
def test_lsh_buckets_exact_on_integers_with_ties(device, gen, dtype, half, period, d):
    # Small integers project exactly in any summation order and tie often: every
    # bucket must be the first maximum of [p ; -p], computed here in plain Python.
    # With a period, the rotation's columns repeat every 16, so every maximum ties
    # with later columns in the same and in other lanes of 16 and 32 columns.
    # d = 40 is wider than the rows the CUDA kernel keeps resident (16).
    z = torch.randint(-3, 4, (45, d), generator=gen).to(dtype)
    rotation = torch.randint(-2, 3, (2, d, half), generator=gen).to(dtype)
    if period:
        rotation = rotation[:, :, torch.arange(half) % min(period, half)]
    expected = []
    for r in range(2):
        row = []
        for i in range(45):
            p = [sum(int(z[i, k]) * int(rotation[r, k, j]) for k in range(d)) for j in range(half)]
            scores = p + [-v for v in p]
            row.append(scores.index(max(scores)))
        expected.append(row)
    got = ops.lsh_buckets(z.to(device), rotation.to(device))
    assert got.tolist() == expected


def test_lsh_buckets_ties_pick_first_maximum(device):
    # A zero row projects to zeros everywhere: the first bucket wins.
    z = torch.zeros(3, 4, device=device)
    rotation = torch.ones(1, 4, 5, device=device)
    assert torch.equal(ops.lsh_buckets(z, rotation), torch.zeros(1, 3, dtype=torch.int64, device=device))


def test_ops_that_read_back_to_the_host_are_tagged_cudagraph_unsafe():
    # Their CUDA paths synchronise (a range check, a failure check, a CPU solve).
    for name in ["lsh_buckets", "bucket_sort", "chunk_density", "min_distance", "kcenter_greedy", "natural_breaks"]:
        tagged = torch.Tag.cudagraph_unsafe in getattr(torch.ops.dacs, name).default.tags
        assert tagged == (name in {"bucket_sort", "kcenter_greedy", "natural_breaks"}), name


@pytest.mark.parametrize("n,k", [(1, 1), (10, 1), (1000, 7), (200_000, 100), (5, 1000)])
def test_bucket_sort_is_stable(device, gen, n, k):
    buckets = torch.randint(k, (n,), generator=gen).to(device)
    got = ops.bucket_sort(buckets, k)
    assert torch.equal(got, ref.bucket_sort(buckets, k))
    assert torch.equal(got.cpu(), torch.sort(buckets.cpu(), stable=True).indices)


def test_bucket_sort_empty(device):
    assert ops.bucket_sort(torch.empty(0, dtype=torch.int64, device=device), 3).numel() == 0


@pytest.mark.parametrize("neighbours", ["back", "both", "none"])
@pytest.mark.parametrize("n,d,chunks", [(2, 1, 1), (2, 3, 2), (23, 5, 3), (37, 16, 4), (1000, 16, 7), (3001, 8, 100)])
def test_chunk_density(device, gen, neighbours, n, d, chunks):
    z = unit_rows(n, d, gen=gen, device=device)
    got = ops.chunk_density(z, chunks, neighbours)
    torch.testing.assert_close(got, ref.chunk_density(z, chunks, neighbours), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("neighbours", ["back", "both", "none"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_chunk_density_given_bounds(device, gen, neighbours, dtype):
    # Chunks of 1 to 140 rows at random bounds, against the reference.
    z = unit_rows(700, 9, gen=gen, dtype=dtype, device=device)
    cuts = torch.randperm(699, generator=gen)[:11].sort().values + 1
    bounds = torch.cat([torch.tensor([0]), cuts, torch.tensor([700])])
    got = ops.chunk_density(z, 12, neighbours, bounds)
    rtol, atol = (1e-10, 1e-10) if dtype == torch.float64 else (1e-5, 1e-5)
    torch.testing.assert_close(got, ref.chunk_density(z, 12, neighbours, bounds), rtol=rtol, atol=atol)


@pytest.mark.parametrize("neighbours", ["back", "both"])
@pytest.mark.parametrize("n,chunks", [(1000, 10), (1003, 7), (4099, 31)])
def test_chunk_density_of_a_shard_equals_the_whole(device, gen, neighbours, n, chunks):
    # Distributed selection computes chunks [c0, c1) from their rows and the
    # neighbour chunks alone, with bounds: bit for bit the single-call densities.
    z = unit_rows(n, 16, gen=gen, dtype=torch.float32, device=device)
    whole = ops.chunk_density(z, chunks, neighbours)
    begins = torch.arange(chunks + 1) * n // chunks
    for c0, c1 in [(1, 3), (2, 3), (3, chunks - 1)]:
        first, last = c0 - 1, c1 + (neighbours == "both")  # chunks held: [first, last)
        local = z[begins[first] : begins[last]]
        part = ops.chunk_density(local, last - first, neighbours, begins[first : last + 1] - begins[first])
        held = slice(int(begins[c0] - begins[first]), int(begins[c1] - begins[first]))
        assert torch.equal(part[held], whole[begins[c0] : begins[c1]])


@pytest.mark.parametrize("dtype", FLOATS[1:])
def test_chunk_density_low_precision_accumulates_in_float32(device, gen, dtype):
    z = unit_rows(2000, 16, gen=gen, dtype=dtype, device=device)
    got = ops.chunk_density(z, 10, "back")
    assert got.dtype == torch.float32
    rtol, atol = tolerance(torch.float32)
    torch.testing.assert_close(got, ref.chunk_density(z, 10, "back"), rtol=rtol, atol=atol)


def test_chunk_density_unnormalised_rows_use_the_exact_weight(device, gen):
    # Dots beyond the polynomial range of unit rows take sigmoid(s) * s with exp.
    z = 3 * unit_rows(600, 4, gen=gen, dtype=torch.float32, device=device)
    torch.testing.assert_close(ops.chunk_density(z, 6, "both"), ref.chunk_density(z, 6, "both"), rtol=1e-4, atol=1e-3)


def test_chunk_density_duplicated_rows(device, gen):
    z = unit_rows(50, 6, gen=gen, device=device).repeat(4, 1)
    torch.testing.assert_close(ops.chunk_density(z, 8, "back"), ref.chunk_density(z, 8, "back"), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("n,m,d", [(1, 1, 1), (5, 3, 2), (999, 77, 16), (4000, 1000, 5)])
def test_min_distance(device, gen, metric, n, m, d):
    x = unit_rows(n, d, gen=gen, device=device)
    y = unit_rows(m, d, gen=gen, device=device)
    torch.testing.assert_close(ops.min_distance(x, y, metric), ref.min_distance(x, y, metric), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("dtype", FLOATS[1:])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_min_distance_low_precision(device, gen, dtype, metric):
    x = unit_rows(700, 16, gen=gen, dtype=dtype, device=device)
    y = unit_rows(300, 16, gen=gen, dtype=dtype, device=device)
    got = ops.min_distance(x, y, metric)
    assert got.dtype == torch.float32
    # The reference expands |x - y|^2, which loses ~1e-3 near zero in float32.
    torch.testing.assert_close(got, ref.min_distance(x, y, metric), rtol=1e-4, atol=2e-3)


def test_min_distance_to_itself_is_zero(device, gen):
    x = unit_rows(300, 9, gen=gen, device=device)
    for metric in ("cosine", "euclidean"):
        assert float(ops.min_distance(x, x, metric).abs().max()) < 1e-7


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("n,m,d,budget", [(1, 1, 1, 1), (10, 2, 3, 10), (3000, 50, 16, 200), (5000, 1, 4, 64)])
def test_kcenter_greedy_matches_reference_indices(device, gen, metric, n, m, d, budget):
    x = unit_rows(n, d, gen=gen, device=device)
    min_dist = ref.min_distance(x, unit_rows(m, d, gen=gen, device=device), metric)
    assert torch.equal(ops.kcenter_greedy(x, min_dist, budget, metric), ref.kcenter_greedy(x, min_dist, budget, metric))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_greedy_switch_from_lazy_to_eager(device, gen, metric):
    # 3,000 identical rows, labeled far enough to be picked after a few other
    # rows: once one is picked, the next step would refresh all the others, so the
    # CPU kernel switches from its lazy steps to full sweeps.
    spread = unit_rows(2000, 8, gen=gen, device=device)
    min_dist = torch.cat([ref.min_distance(spread, spread[:20], metric), torch.zeros(3000, dtype=torch.float64, device=device)])
    min_dist[2000:] = min_dist[:2000].quantile(0.995)
    x = torch.cat([spread, -spread[:1].repeat(3000, 1)])
    got = ops.kcenter_greedy(x, min_dist, 60, metric)
    assert torch.equal(got, ref.kcenter_greedy(x, min_dist, 60, metric))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("duplicates", [0, 3000])
def test_kcenter_greedy_with_a_center_side(device, gen, metric, duplicates):
    # A picked row j lowers row i to pair(x_i, c_j) with c another [N, d]; with
    # 3,000 copies the CPU kernel also switches to its eager sweeps.
    x = unit_rows(2000, 8, gen=gen, device=device)
    if duplicates:
        x = torch.cat([x, -x[:1].repeat(duplicates, 1)])
    c = x + 0.3 * unit_rows(x.shape[0], 8, gen=gen, device=device)
    min_dist = ref.min_distance(x, c[:20], metric)
    if duplicates:
        min_dist[2000:] = min_dist[:2000].quantile(0.995)
    got = ops.kcenter_greedy(x, min_dist, 60, metric, c)
    assert torch.equal(got, ref.kcenter_greedy(x, min_dist, 60, metric, c))
    assert not torch.equal(got, ops.kcenter_greedy(x, min_dist, 60, metric))
    assert torch.equal(ops.kcenter_greedy(x, min_dist, 60, metric, x), ops.kcenter_greedy(x, min_dist, 60, metric))


@pytest.mark.parametrize("dtype", FLOATS[1:])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_greedy_low_precision_picks_farthest(device, gen, dtype, metric):
    x = unit_rows(2000, 16, gen=gen, dtype=dtype, device=device)
    min_dist = ops.min_distance(x, x[:10], metric)
    picks = ops.kcenter_greedy(x, min_dist, 100, metric)
    assert len(set(picks.tolist())) == 100
    replay_greedy(x.cpu(), min_dist.cpu(), picks.cpu(), metric, tol=1e-3)


def test_kcenter_greedy_duplicates_and_exclusions(device, gen):
    x = unit_rows(40, 3, gen=gen, device=device).repeat(3, 1)
    min_dist = torch.full((120,), float("inf"), dtype=torch.float64, device=device)
    min_dist[::2] = float("-inf")  # excluded rows are never picked
    # The 20 distinct odd rows come first, exactly as in the reference; after them
    # every remaining distance is zero up to rounding, so only validity is checked.
    assert torch.equal(ops.kcenter_greedy(x, min_dist, 20, "cosine"), ref.kcenter_greedy(x, min_dist, 20, "cosine"))
    got = ops.kcenter_greedy(x, min_dist, 60, "cosine")
    assert len(set((got % 40).tolist()[:20])) == 20
    assert bool((got % 2 == 1).all()) and len(set(got.tolist())) == 60


def test_kcenter_greedy_zero_budget(device, gen):
    x = unit_rows(5, 2, gen=gen, device=device)
    assert ops.kcenter_greedy(x, torch.zeros(5, dtype=torch.float64, device=device), 0, "cosine").numel() == 0


def test_non_contiguous_inputs(device, gen):
    wide = unit_rows(400, 32, gen=gen, device=device)
    z = wide[:, ::2]  # strided view
    zc = z.contiguous()
    assert not z.is_contiguous()
    rotation = torch.randn(1, 16, 8, generator=gen, dtype=torch.float64).to(device).transpose(1, 2).contiguous().transpose(1, 2)
    assert torch.equal(ops.lsh_buckets(z, rotation), ops.lsh_buckets(zc, rotation))
    assert torch.equal(ops.chunk_density(z, 4, "both"), ops.chunk_density(zc, 4, "both"))
    assert torch.equal(ops.min_distance(z, z[::3], "cosine"), ops.min_distance(zc, zc[::3].contiguous(), "cosine"))
    md = torch.full((800,), float("inf"), dtype=torch.float64, device=device)[::2]
    assert torch.equal(ops.kcenter_greedy(z, md, 20, "euclidean"), ops.kcenter_greedy(zc, md.contiguous(), 20, "euclidean"))
    buckets = torch.randint(5, (100,), generator=gen).to(device)
    assert torch.equal(ops.bucket_sort(buckets[::2], 5), ops.bucket_sort(buckets[::2].contiguous(), 5))

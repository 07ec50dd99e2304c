"""The kernels at the sizes where tiles, warps and blocks change (issue 13's GPU
cases): chunk sizes and widths around the CUDA block and tile sizes, NaN rows,
k-center ties far apart, budget = N, unpickable rows, grid-stride loops, and
every op on a side stream. Each runs on cpu and, where there is one, cuda,
against the pure-PyTorch reference in float64."""

import pytest
import torch

from dacs_ext import ops
from dacs_ext.reference import ops as ref

from helpers import replay_greedy, unit_rows


@pytest.mark.parametrize("neighbours", ["back", "both", "none"])
@pytest.mark.parametrize("d", [1, 15, 16, 17, 33])
@pytest.mark.parametrize("chunk", [31, 33, 127, 129, 255, 257])
def test_chunk_density_around_block_sizes(device, gen, neighbours, d, chunk):
    chunks = 3
    n = chunk * chunks + 2  # not a multiple of the chunk count: sizes differ by one
    z = unit_rows(n, d, gen=gen, device=device)
    torch.testing.assert_close(ops.chunk_density(z, chunks, neighbours), ref.chunk_density(z, chunks, neighbours), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("n,m", [(255, 256), (256, 257), (257, 255), (513, 1)])
def test_min_distance_around_tile_sizes(device, gen, metric, n, m):
    x, y = unit_rows(n, 16, gen=gen, device=device), unit_rows(m, 16, gen=gen, device=device)
    torch.testing.assert_close(ops.min_distance(x, y, metric), ref.min_distance(x, y, metric), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_min_distance_nan_rows(device, gen, metric):
    # A NaN row of x is nearer to nothing (distance inf); a NaN row of y is
    # nearest to nothing (ignored). The Python API refuses NaN before this.
    x, y = unit_rows(300, 8, gen=gen, device=device), unit_rows(260, 8, gen=gen, device=device)
    x[7] = float("nan")
    y[100] = float("nan")
    got = ops.min_distance(x, y, metric)
    keep = torch.arange(260, device=device) != 100
    want = ref.min_distance(x, y[keep], metric)
    want[7] = float("inf")
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_identical_rows_pick_the_lowest_indices(device, gen, metric):
    x = unit_rows(1, 5, gen=gen, device=device).repeat(600, 1)
    min_dist = torch.full((600,), float("inf"), dtype=torch.float64, device=device)
    # All rows tie at every step: the lowest index remaining wins each time.
    assert ops.kcenter_greedy(x, min_dist, 50, metric).tolist() == list(range(50))


def test_kcenter_farthest_ties_far_apart_go_to_the_lower_index(device, gen):
    n = 70_000
    x = torch.zeros(n, 2, dtype=torch.float64, device=device)
    x[:, 0] = 1.0
    x[5, :] = torch.tensor([0.0, 1.0])  # two rows at the same, largest distance
    x[n - 3, :] = torch.tensor([0.0, -1.0])
    min_dist = (1 - x[:, 0]).clamp(min=0)  # distance to the center (1, 0)
    picks = ops.kcenter_greedy(x, min_dist, 2, "cosine")
    assert picks.tolist() == [5, n - 3]
    assert torch.equal(picks, ref.kcenter_greedy(x, min_dist, 2, "cosine"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kcenter_orders_signed_bounds_and_signed_zeros_as_floats(device, gen, dtype):
    # min_dist as a caller may pass it: negative bounds, and -0.0 equal to +0.0 (a
    # tie, so the lower index first). Rows far apart, so no pick lowers another's
    # bound below these.
    x = torch.eye(6, dtype=dtype, device=device)
    min_dist = torch.tensor([-0.0, 0.0, -1.5, -0.25, -1e-30, -0.0], dtype=dtype, device=device)
    got = ops.kcenter_greedy(x, min_dist, 6, "cosine")
    assert got.tolist() == [0, 1, 5, 4, 3, 2]
    assert torch.equal(got, ref.kcenter_greedy(x, min_dist, 6, "cosine"))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_budget_equal_to_n(device, gen, metric):
    x = unit_rows(300, 6, gen=gen, device=device)
    min_dist = torch.full((300,), float("inf"), dtype=torch.float64, device=device)
    got = ops.kcenter_greedy(x, min_dist, 300, metric)
    assert sorted(got.tolist()) == list(range(300))
    want = ref.kcenter_greedy(x, min_dist, 300, metric)
    assert torch.equal(got[:100], want[:100])  # later steps tie at zero up to rounding


def test_kcenter_every_row_unpickable(device, gen):
    x = unit_rows(40, 3, gen=gen, device=device)
    min_dist = torch.full((40,), float("-inf"), dtype=torch.float64, device=device)
    with pytest.raises(RuntimeError, match="exceeds the 0 rows whose min_dist is not -inf"):
        ops.kcenter_greedy(x, min_dist, 1, "cosine")
    assert ops.kcenter_greedy(x, min_dist, 0, "cosine").numel() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_unaligned_rows_give_the_packed_answer(device, gen, dtype, metric):
    # Rows starting one element past a 16-byte boundary cannot be read 16 bytes at
    # a time; the CUDA kernel's scalar loads must sum in the same order.
    x = unit_rows(5000, 16, gen=gen, dtype=dtype, device=device)
    flat = torch.empty(x.numel() + 1, dtype=dtype, device=device)
    shifted = flat[1:].view(5000, 16)
    shifted.copy_(x)
    min_dist = ops.min_distance(x, x[:20], metric)
    got = ops.kcenter_greedy(shifted, min_dist, 40, metric)
    assert torch.equal(got, ops.kcenter_greedy(x, min_dist, 40, metric))
    replay_greedy(x, min_dist, got, metric, tol={torch.float64: 1e-10, torch.float32: 1e-5}.get(dtype, 2e-2))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_rows_too_wide_for_a_shared_center(device, gen, metric):
    # 6,500 float64 columns (52 kB) exceed the 48 kB the CUDA kernel stages.
    x = unit_rows(400, 6500, gen=gen, device=device)
    min_dist = ref.min_distance(x, x[:3], metric)
    got = ops.kcenter_greedy(x, min_dist, 25, metric)
    assert torch.equal(got, ref.kcenter_greedy(x, min_dist, 25, metric))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kcenter_large_n_exercises_grid_stride_loops(device, gen, metric):
    x = unit_rows(300_001, 8, gen=gen, device=device)
    min_dist = ref.min_distance(x, x[:10], metric)
    got = ops.kcenter_greedy(x, min_dist, 30, metric)
    assert torch.equal(got, ref.kcenter_greedy(x, min_dist, 30, metric))


@pytest.mark.cuda
def test_every_op_on_a_side_stream(gen):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    z = unit_rows(5000, 16, gen=gen, device="cuda").float()
    rotation = torch.randn(2, 16, 50, generator=gen).float().cuda()
    min_dist = ops.min_distance(z, z[:20], "cosine")
    calls = {
        "lsh_buckets": lambda: ops.lsh_buckets(z, rotation),
        "bucket_sort": lambda: ops.bucket_sort(ops.lsh_buckets(z, rotation)[0], 100),
        "chunk_density": lambda: ops.chunk_density(z, 37, "both"),
        "min_distance": lambda: ops.min_distance(z, z[:300], "euclidean"),
        "kcenter_greedy": lambda: ops.kcenter_greedy(z, min_dist, 40, "cosine"),
        "natural_breaks": lambda: ops.natural_breaks(z[:, 0].double(), 4),
    }
    default = {name: call() for name, call in calls.items()}
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        on_side = {name: call() for name, call in calls.items()}
    side.synchronize()
    for name in calls:
        assert torch.equal(on_side[name], default[name]), name

"""Every bad input is a clear exception naming the argument: never a crash, a
hang, a NaN or a wrong answer."""

import pytest
import torch

import dacs_ext
from dacs_ext import ops

Z = torch.nn.functional.normalize(torch.randn(20, 4, generator=torch.Generator().manual_seed(0)))
ROT = torch.randn(1, 4, 5, generator=torch.Generator().manual_seed(1))


def with_value(t, value, index=(3, 1)):
    t = t.clone()
    t[index] = value
    return t


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: dacs_ext.density(Z[0], 2), ValueError, "z must be 2-D"),
        (lambda: dacs_ext.density(Z[None], 2), ValueError, "z must be 2-D"),
        (lambda: dacs_ext.density(Z.tolist(), 2), TypeError, "z must be a torch.Tensor or numpy array"),
        (lambda: dacs_ext.density((Z * 100).long(), 2), TypeError, "z must be a floating tensor"),
        (lambda: dacs_ext.density(Z, 10, rotation=torch.randn(1, 3, 5)), ValueError, "rotation must be"),
        (lambda: dacs_ext.density(Z, 10, rotation=torch.randn(2, 4, 5)), ValueError, "rotation must be"),
        (lambda: dacs_ext.density(Z, 10, rotation=torch.randn(4, 5).to("meta")), ValueError, "rotation must be on z's device"),
        (lambda: dacs_ext.density(Z, 10, rotation=with_value(ROT, float("nan"), (0, 1, 1))), ValueError, "rotation contains NaN"),
        (lambda: dacs_ext.density(Z, 5), ValueError, "buckets must be even"),
        (lambda: dacs_ext.density(Z, 0), ValueError, "buckets must be >= 2, got 0"),
        (lambda: dacs_ext.density(Z, 2.0), TypeError, "buckets must be an int"),
        (lambda: dacs_ext.density(Z, 22), ValueError, "buckets must be at most the number of samples"),
        (lambda: dacs_ext.density(Z[:1], 2), ValueError, "z must have at least 2 row"),
        (lambda: dacs_ext.density(Z[:0], 2), ValueError, "z must have at least 2 row"),
        (lambda: dacs_ext.density(Z[:, :0], 2), ValueError, "at least one feature column"),
        (lambda: dacs_ext.density(with_value(Z, float("nan")), 2), ValueError, "z contains NaN or infinite"),
        (lambda: dacs_ext.density(with_value(Z, float("inf")), 2), ValueError, "z contains NaN or infinite"),
        (lambda: dacs_ext.density(with_value(Z, 0.0, 5), 2), ValueError, "all-zero row"),
        (lambda: dacs_ext.density(Z, 2, neighbours="forward"), ValueError, "neighbours must be one of"),
        (lambda: dacs_ext.density(Z, 2, rounds=0), ValueError, "rounds must be >= 1, got 0"),
        (lambda: dacs_ext.min_distance(Z, Z[:, :3]), ValueError, "y must have d = 4"),
        (lambda: dacs_ext.min_distance(Z, Z[:0]), ValueError, "y must have at least 1 row"),
        (lambda: dacs_ext.min_distance(Z[:0], Z), ValueError, "x must have at least 1 row"),
        (lambda: dacs_ext.min_distance(Z, Z, metric="manhattan"), ValueError, "metric must be one of"),
        (lambda: dacs_ext.min_distance(Z, Z.to("meta")), ValueError, "y must be on x's device"),
        (lambda: dacs_ext.min_distance(Z, with_value(Z, float("-inf"))), ValueError, "y contains NaN"),
        (lambda: dacs_ext.min_distance(Z.int(), Z), TypeError, "x must be a floating tensor"),
        (lambda: dacs_ext.kcenter_greedy(Z, Z[:2], -1), ValueError, "budget must be in"),
        (lambda: dacs_ext.kcenter_greedy(Z, Z[:2], 21), ValueError, "budget must be in"),
        (lambda: dacs_ext.kcenter_greedy(Z, Z[:2], 2.5), TypeError, "budget must be an int"),
        (lambda: dacs_ext.kcenter_greedy(Z, Z[:2, :3], 2), ValueError, "labeled must have d = 4"),
        (lambda: dacs_ext.kcenter_greedy(Z, Z[0], 2), ValueError, "labeled must be 2-D"),
        (lambda: dacs_ext.kcenter_greedy(Z, Z.to("meta"), 2), ValueError, "labeled must be on unlabeled's device"),
        (lambda: dacs_ext.kcenter_greedy(Z, Z, 2, metric="l1"), ValueError, "metric must be one of"),
        (lambda: dacs_ext.kcenter_greedy(Z[:0], None, 0), ValueError, "unlabeled must have at least 1 row"),
        (lambda: dacs_ext.kcenter_greedy(with_value(Z, float("nan")), None, 2), ValueError, "unlabeled contains NaN"),
        (lambda: dacs_ext.kcenter_greedy(with_value(Z, 0.0, 2), None, 2), ValueError, "all-zero row"),
    ],
)
def test_python_api_rejects(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_zero_rows_are_fine_for_euclidean():
    x = with_value(Z, 0.0, 2)
    assert dacs_ext.kcenter_greedy(x, None, 5, metric="euclidean").numel() == 5


def on(z, values, dtype=torch.int64):
    return torch.tensor(values, dtype=dtype, device=z.device)


# Each call gets z = Z and rot = ROT on the test's device, so the CUDA kernels'
# own error paths (the out-of-range bucket flag, the k-center budget failure,
# NaN distances) run on a GPU.
@pytest.mark.parametrize(
    "call,message",
    [
        (lambda z, rot: ops.lsh_buckets(z[0], rot), "z must be 2-D"),
        (lambda z, rot: ops.lsh_buckets(z.long(), rot), "z must be a floating tensor"),
        (lambda z, rot: ops.lsh_buckets(z, rot[0]), "rotation must be 3-D"),
        (lambda z, rot: ops.lsh_buckets(z, rot[:, :3]), "rotation must have d = 4"),
        (lambda z, rot: ops.lsh_buckets(z, rot.double()), "rotation must have z's dtype"),
        (lambda z, rot: ops.bucket_sort(on(z, [0, 5, 1]), 5), r"buckets must hold values in \[0, num_buckets = 5\)"),
        (lambda z, rot: ops.bucket_sort(on(z, [0, -1]), 5), "buckets must hold values"),
        (lambda z, rot: ops.bucket_sort(on(z, [0.0, 1.0], torch.float32), 5), "buckets must be int64"),
        (lambda z, rot: ops.bucket_sort(on(z, [[0, 1]]), 5), "buckets must be 1-D"),
        (lambda z, rot: ops.bucket_sort(on(z, [0, 1]), 0), "num_buckets must be at least 1"),
        (lambda z, rot: ops.chunk_density(z[:1], 1, "back"), "at least 2 rows"),
        (lambda z, rot: ops.chunk_density(z, 21, "back"), r"chunks must be in \[1, N = 20\]"),
        (lambda z, rot: ops.chunk_density(z, 0, "back"), "chunks must be in"),
        (lambda z, rot: ops.chunk_density(z, 2, "sideways"), "neighbours must be 'back', 'both' or 'none'"),
        (lambda z, rot: ops.chunk_density(z, 2, "back", torch.tensor([0, 20])), r"bounds must be an int64 CPU tensor \[chunks \+ 1 = 3\]"),
        (lambda z, rot: ops.chunk_density(z, 2, "back", torch.tensor([0.0, 5.0, 20.0])), "bounds must be an int64 CPU tensor"),
        (lambda z, rot: ops.chunk_density(z, 2, "back", torch.tensor([0, 5, 19])), "bounds must run from 0 to N = 20"),
        (lambda z, rot: ops.chunk_density(z, 2, "back", torch.tensor([1, 5, 20])), "bounds must run from 0 to N = 20"),
        (lambda z, rot: ops.chunk_density(z, 2, "back", torch.tensor([0, 0, 20])), "bounds must be strictly increasing"),
        (lambda z, rot: ops.chunk_density(z, 3, "back", torch.tensor([0, 9, 8, 20])), "bounds must be strictly increasing"),
        (lambda z, rot: ops.min_distance(z, z[:0], "cosine"), "y must have at least one row"),
        (lambda z, rot: ops.min_distance(z, z[:, :2], "cosine"), "same width"),
        (lambda z, rot: ops.min_distance(z, z.double(), "cosine"), "y must have x's dtype"),
        (lambda z, rot: ops.min_distance(z, z, "hamming"), "metric must be 'cosine' or 'euclidean'"),
        (lambda z, rot: ops.kcenter_greedy(z, on(z, [0.0] * 19, torch.float32), 2, "cosine"), "min_dist must be 1-D"),
        (lambda z, rot: ops.kcenter_greedy(z, on(z, [0.0] * 20, torch.float64), 2, "cosine"), "min_dist must be Float"),
        (lambda z, rot: ops.kcenter_greedy(z, on(z, [0.0] * 20, torch.float32), 21, "cosine"), r"budget must be in \[0, N = 20\]"),
        (lambda z, rot: ops.kcenter_greedy(z, on(z, [0.0] * 20, torch.float32), -1, "cosine"), "budget must be in"),
        (lambda z, rot: ops.kcenter_greedy(z, on(z, [float("-inf")] * 20, torch.float32), 1, "cosine"), "exceeds the 0 rows"),
        (lambda z, rot: ops.kcenter_greedy(z, on(z, [float("nan")] * 20, torch.float32), 1, "cosine"), "exceeds the 0 rows"),
        (lambda z, rot: ops.kcenter_greedy(z, on(z, [0.0] * 20, torch.float32), 2, "cosine", z[:5]), "center_side must have x's shape"),
        (lambda z, rot: ops.kcenter_greedy(z, on(z, [0.0] * 20, torch.float32), 2, "cosine", z.double()), "center_side must have x's dtype"),
        (lambda z, rot: ops.kcenter_greedy(z, on(z, [1.0] * 3 + [float("-inf")] * 17, torch.float32), 4, "euclidean"),
         "budget 4 exceeds the 3 rows"),
    ],
)
def test_ops_reject(device, call, message):
    with pytest.raises(RuntimeError, match=message):
        call(Z.to(device), ROT.to(device))


def test_kcenter_greedy_op_survives_nan_distances(device):
    # NaN rows are never the maximum; the others are still picked in order.
    md = torch.ones(20, device=device)
    md[::2] = float("nan")
    picks = ops.kcenter_greedy(Z.to(device), md, 10, "cosine")
    assert sorted(picks.tolist()) == list(range(1, 20, 2))


def test_chunk_density_bounds_on_the_gpu_are_refused(device):
    if device.type == "cpu":
        pytest.skip("bounds on another device than the CPU need a GPU")
    z = Z.to(device)
    with pytest.raises(RuntimeError, match="bounds must be an int64 CPU tensor"):
        ops.chunk_density(z, 2, "back", torch.tensor([0, 5, 20], device=device))

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
        (lambda: dacs_ext.density(Z.numpy(), 2), TypeError, "z must be a torch.Tensor"),
        (lambda: dacs_ext.density((Z * 100).long(), 2), TypeError, "z must be a floating tensor"),
        (lambda: dacs_ext.density(Z, 10, rotation=torch.randn(1, 3, 5)), ValueError, "rotation must be"),
        (lambda: dacs_ext.density(Z, 10, rotation=torch.randn(2, 4, 5)), ValueError, "rotation must be"),
        (lambda: dacs_ext.density(Z, 10, rotation=torch.randn(4, 5).to("meta")), ValueError, "rotation must be on z's device"),
        (lambda: dacs_ext.density(Z, 10, rotation=with_value(ROT, float("nan"), (0, 1, 1))), ValueError, "rotation contains NaN"),
        (lambda: dacs_ext.density(Z, 5), ValueError, "buckets must be even"),
        (lambda: dacs_ext.density(Z, 0), ValueError, "buckets must be in"),
        (lambda: dacs_ext.density(Z, 2.0), TypeError, "buckets must be an int"),
        (lambda: dacs_ext.density(Z, 22), ValueError, "buckets must be at most the number of samples"),
        (lambda: dacs_ext.density(Z[:1], 2), ValueError, "z must have at least 2 row"),
        (lambda: dacs_ext.density(Z[:0], 2), ValueError, "z must have at least 2 row"),
        (lambda: dacs_ext.density(Z[:, :0], 2), ValueError, "at least one feature column"),
        (lambda: dacs_ext.density(with_value(Z, float("nan")), 2), ValueError, "z contains NaN or infinite"),
        (lambda: dacs_ext.density(with_value(Z, float("inf")), 2), ValueError, "z contains NaN or infinite"),
        (lambda: dacs_ext.density(with_value(Z, 0.0, 5), 2), ValueError, "all-zero row"),
        (lambda: dacs_ext.density(Z, 2, neighbours="forward"), ValueError, "neighbours must be one of"),
        (lambda: dacs_ext.density(Z, 2, rounds=0), ValueError, "rounds must be in"),
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


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: ops.lsh_buckets(Z[0], ROT), "z must be 2-D"),
        (lambda: ops.lsh_buckets(Z.long(), ROT), "z must be a floating tensor"),
        (lambda: ops.lsh_buckets(Z, ROT[0]), "rotation must be 3-D"),
        (lambda: ops.lsh_buckets(Z, torch.randn(1, 3, 5)), "rotation must have d = 4"),
        (lambda: ops.lsh_buckets(Z, ROT.double()), "rotation must have z's dtype"),
        (lambda: ops.bucket_sort(torch.tensor([0, 5, 1]), 5), r"buckets must hold values in \[0, num_buckets = 5\)"),
        (lambda: ops.bucket_sort(torch.tensor([0, -1]), 5), "buckets must hold values"),
        (lambda: ops.bucket_sort(torch.tensor([0.0, 1.0]), 5), "buckets must be int64"),
        (lambda: ops.bucket_sort(torch.tensor([[0, 1]]), 5), "buckets must be 1-D"),
        (lambda: ops.bucket_sort(torch.tensor([0, 1]), 0), "num_buckets must be at least 1"),
        (lambda: ops.chunk_density(Z[:1], 1, "back"), "at least 2 rows"),
        (lambda: ops.chunk_density(Z, 21, "back"), r"chunks must be in \[1, N = 20\]"),
        (lambda: ops.chunk_density(Z, 0, "back"), "chunks must be in"),
        (lambda: ops.chunk_density(Z, 2, "sideways"), "neighbours must be 'back', 'both' or 'none'"),
        (lambda: ops.min_distance(Z, Z[:0], "cosine"), "y must have at least one row"),
        (lambda: ops.min_distance(Z, Z[:, :2], "cosine"), "same width"),
        (lambda: ops.min_distance(Z, Z.double(), "cosine"), "y must have x's dtype"),
        (lambda: ops.min_distance(Z, Z, "hamming"), "metric must be 'cosine' or 'euclidean'"),
        (lambda: ops.kcenter_greedy(Z, torch.zeros(19), 2, "cosine"), "min_dist must be 1-D"),
        (lambda: ops.kcenter_greedy(Z, torch.zeros(20, dtype=torch.float64), 2, "cosine"), "min_dist must be Float"),
        (lambda: ops.kcenter_greedy(Z, torch.zeros(20), 21, "cosine"), r"budget must be in \[0, N = 20\]"),
        (lambda: ops.kcenter_greedy(Z, torch.zeros(20), -1, "cosine"), "budget must be in"),
        (lambda: ops.kcenter_greedy(Z, torch.full((20,), float("-inf")), 1, "cosine"), "exceeds the 0 rows"),
        (lambda: ops.kcenter_greedy(Z, torch.full((20,), float("nan")), 1, "cosine"), "exceeds the 0 rows"),
    ],
)
def test_ops_reject(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


def test_kcenter_greedy_op_survives_nan_distances():
    # NaN rows are never the maximum; the others are still picked in order.
    md = torch.ones(20)
    md[::2] = float("nan")
    picks = ops.kcenter_greedy(Z, md, 10, "cosine")
    assert bool((picks % 2 == 1).all())

"""torch.library.opcheck on every op (schema, fake kernel, dispatch) and the ops
inside torch.compile(fullgraph=True)."""

import os

import pytest
import torch

import dacs_ext
from dacs_ext import ops

import conftest
from helpers import unit_rows


def sample_calls(device, gen):
    z = unit_rows(300, 8, gen=gen, dtype=torch.float32, device=device)
    rotation = torch.randn(2, 8, 5, generator=gen).to(device)
    buckets = torch.randint(10, (300,), generator=gen).to(device)
    min_dist = torch.rand(300, generator=gen).to(device)
    return [
        (torch.ops.dacs.lsh_buckets.default, (z, rotation)),
        (torch.ops.dacs.bucket_sort.default, (buckets, 10)),
        (torch.ops.dacs.chunk_density.default, (z, 10, "back")),
        (torch.ops.dacs.chunk_density.default, (z.double(), 7, "both")),
        (torch.ops.dacs.chunk_density.default, (z, 3, "both", torch.tensor([0, 5, 200, 300]))),
        (torch.ops.dacs.min_distance.default, (z, z[:40], "cosine")),
        (torch.ops.dacs.min_distance.default, (z.half(), z[:40].half(), "euclidean")),
        (torch.ops.dacs.kcenter_greedy.default, (z, min_dist, 25, "cosine")),
        (torch.ops.dacs.kcenter_greedy.default, (z.double(), min_dist.double(), 0, "euclidean")),
    ]


@pytest.mark.parametrize("index", range(8))
def test_opcheck(device, gen, index):
    op, args = sample_calls(device, gen)[index]
    torch.library.opcheck(op, args)


def test_fake_kernels_give_shapes_and_dtypes():
    with torch._subclasses.fake_tensor.FakeTensorMode():
        z = torch.empty(100, 16, dtype=torch.float16)
        assert ops.lsh_buckets(z, torch.empty(3, 16, 4, dtype=torch.float16)).shape == (3, 100)
        assert ops.chunk_density(z, 4, "back").dtype == torch.float32
        assert ops.min_distance(z.double(), z.double(), "cosine").dtype == torch.float64
        assert ops.kcenter_greedy(z, torch.empty(100), 7, "cosine").shape == (7,)
        assert ops.bucket_sort(torch.empty(100, dtype=torch.int64), 4).dtype == torch.int64


def test_torch_compile_fullgraph(device, gen):
    def acquisition(z, rotation, labeled):
        hashed = ops.lsh_buckets(z, rotation)
        order = ops.bucket_sort(hashed[0], 20)
        dens = torch.zeros(z.shape[0], device=z.device).index_add(0, order, ops.chunk_density(z[order], 20, "back"))
        min_dist = ops.min_distance(z, labeled, "cosine")
        return dens, ops.kcenter_greedy(z, min_dist, 10, "cosine")

    z = unit_rows(500, 16, gen=gen, dtype=torch.float32, device=device)
    rotation = torch.randn(1, 16, 10, generator=gen).to(device)
    labeled = z[:5]
    compiled = torch.compile(acquisition, fullgraph=True, backend="aot_eager")
    eager = acquisition(z, rotation, labeled)
    out = compiled(z, rotation, labeled)
    assert torch.equal(out[0], eager[0]) and torch.equal(out[1], eager[1])
    assert torch.equal(eager[0], dacs_ext.density(z, 20, rotation=rotation, normalized=True))


def test_cuda_kernels_are_registered_exactly_when_built():
    # What build_info says and what the dispatcher holds agree for every op with
    # a CUDA kernel (natural_breaks always registers CUDA, as a copy to its CPU kernel).
    for name in ("lsh_buckets", "bucket_sort", "chunk_density", "min_distance", "kcenter_greedy"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"dacs::{name}", "CPU")
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"dacs::{name}", "CUDA") == ops.WITH_CUDA


@pytest.mark.skipif(
    not torch.cuda.is_available() and os.environ.get("DACS_EXT_REQUIRE_CUDA") != "1",
    reason="no CUDA device (set DACS_EXT_REQUIRE_CUDA=1 to make this a failure)",
)
def test_a_gpu_machine_runs_the_cuda_kernels():
    assert torch.cuda.is_available(), "DACS_EXT_REQUIRE_CUDA=1 but torch sees no CUDA device"
    assert ops.WITH_CUDA, conftest.MISSING_CUDA_KERNELS


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ops.lsh_buckets(torch.empty(10, 4), torch.empty(1, 3, 2)), "rotation must be"),
        (lambda: ops.lsh_buckets(torch.empty(10), torch.empty(1, 3, 2)), "z must be 2-D"),
        (lambda: ops.bucket_sort(torch.empty(10), 4), "buckets must be an int64"),
        (lambda: ops.chunk_density(torch.empty(10, 4), 11, "back"), r"chunks must be in \[1, N = 10\]"),
        (lambda: ops.min_distance(torch.empty(10, 4), torch.empty(3, 5), "cosine"), "must share d"),
        (lambda: ops.kcenter_greedy(torch.empty(10, 4), torch.empty(10), 11, "cosine"), r"budget must be in \[0, N = 10\]"),
        (lambda: ops.natural_breaks(torch.empty(10, 2), 4), "values must be 1-D"),
    ],
)
def test_fake_kernels_check_their_arguments(call, message):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(), pytest.raises(RuntimeError, match=message):
        call()

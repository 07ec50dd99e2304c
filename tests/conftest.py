"""Shared fixtures: every test that takes `device` runs on the CPU and, when a
GPU is present, on CUDA (skipped otherwise, never silently dropped)."""

import pytest
import torch

import dacs_ext

CUDA_READY = torch.cuda.is_available() and dacs_ext.ops.WITH_CUDA


@pytest.fixture(
    params=[
        "cpu",
        pytest.param(
            "cuda",
            marks=[pytest.mark.cuda, pytest.mark.skipif(not CUDA_READY, reason="no CUDA device or no CUDA kernels")],
        ),
    ]
)
def device(request):
    return torch.device(request.param)


@pytest.fixture
def gen():
    """A fresh, seeded CPU generator for each test."""
    return torch.Generator().manual_seed(20261125)


def unit_rows(n, d, *, gen, dtype=torch.float64, device="cpu"):
    z = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return torch.nn.functional.normalize(z, dim=1).to(dtype=dtype, device=device)


def tolerance(dtype):
    """(rtol, atol) for comparing the accumulated outputs of the two implementations."""
    return (1e-10, 1e-10) if dtype == torch.float64 else (1e-4, 1e-4)

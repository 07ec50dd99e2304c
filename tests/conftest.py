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

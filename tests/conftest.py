"""Shared fixtures: every test that takes `device` runs on the CPU and, when a
GPU is present, on CUDA. Without a GPU the CUDA cases are skipped; with a GPU
but a library built without its CUDA kernels they fail, so that a CPU-only
build cannot pass for a tested CUDA path."""

import pytest
import torch

import dacs_ext

CUDA_DEVICE = torch.cuda.is_available()
MISSING_CUDA_KERNELS = (
    "a CUDA device is present but dacs_ext was built without its CUDA kernels; rebuild with a CUDA toolkit "
    "(pip install --no-build-isolation --force-reinstall .) or unset DACS_EXT_CPU_ONLY"
)


@pytest.fixture(
    params=["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not CUDA_DEVICE, reason="no CUDA device")])]
)
def device(request):
    if request.param == "cuda" and not dacs_ext.ops.WITH_CUDA:
        pytest.fail(MISSING_CUDA_KERNELS)
    return torch.device(request.param)


@pytest.fixture
def gen():
    """A fresh, seeded CPU generator for each test."""
    return torch.Generator().manual_seed(20261125)

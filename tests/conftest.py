"""Shared fixtures: every test that takes `device` runs on the CPU and, when a
GPU is present, on CUDA. Without a GPU the CUDA cases are skipped; with a GPU
but a library built without its CUDA kernels they fail, so that a CPU-only
build cannot pass for a tested CUDA path."""

import os

import pytest
import torch

import dacs_ext
import margins
from dacs_ext import machine

# scripts/margins.py's "no-onednn" path: convolutions without oneDNN, a third
# rounding of the same networks.
if os.environ.get("DACS_TEST_ONEDNN") == "0":
    torch.backends.mkldnn.enabled = False
if os.environ.get(margins.FILE_VARIABLE):
    torch.testing.assert_close = margins.recording_assert_close(torch.testing.assert_close)

CUDA_DEVICE = torch.cuda.is_available()
MISSING_CUDA_KERNELS = (
    "a CUDA device is present but dacs_ext was built without its CUDA kernels; rebuild with a CUDA toolkit "
    "(pip install --no-build-isolation --force-reinstall .) or unset DACS_EXT_CPU_ONLY"
)


def pytest_report_header(config):
    # Every verdict and timing names the machine behind it (CPU model, the
    # instruction set the kernels were built for, torch's paths, threads).
    return f"where: {machine.describe()}"


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


def pytest_generate_tests(metafunc):
    # A test that trains takes `training_seed`: one seed by default, the seeds of
    # DACS_TEST_SEEDS when measuring margins (scripts/margins.py).
    if "training_seed" in metafunc.fixturenames:
        metafunc.parametrize("training_seed", margins.seeds(), ids=lambda s: f"seed{s}")


@pytest.fixture
def margin():
    """Threshold checks that record how far they were from failing (tests/margins.py)."""
    return margins.Margin()

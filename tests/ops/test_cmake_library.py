"""The library CMake builds for libtorch users loads with torch.ops.load_library
and computes what the pip-built one computes. The test builds it when cmake
exists, or loads the one DACS_EXT_CMAKE_LIBRARY names."""

import io
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

from dacs_ext.reference import ops as ref

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def cmake_library(tmp_path_factory):
    built = os.environ.get("DACS_EXT_CMAKE_LIBRARY")
    if built:
        return built
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed and DACS_EXT_CMAKE_LIBRARY is not set")
    build = tmp_path_factory.mktemp("cmake-build")
    subprocess.run(["cmake", "-S", ROOT, "-B", str(build), f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "-j2"], check=True, capture_output=True)
    return str(build / "libdacs_ext.so")


def test_cmake_library_loads_and_runs(cmake_library):
    # A fresh interpreter: the dacs namespace may be registered only once per process.
    script = textwrap.dedent(
        f"""
        import sys
        import torch
        torch.ops.load_library({cmake_library!r})
        g = torch.Generator().manual_seed(0)
        z = torch.nn.functional.normalize(torch.randn(500, 8, generator=g, dtype=torch.float64))
        rotation = torch.randn(1, 8, 5, generator=g, dtype=torch.float64)
        order = torch.ops.dacs.bucket_sort(torch.ops.dacs.lsh_buckets(z, rotation)[0], 10)
        dens = torch.ops.dacs.chunk_density(z[order], 10, "back")
        picks = torch.ops.dacs.kcenter_greedy(z, torch.ops.dacs.min_distance(z, z[:3], "cosine"), 5, "cosine")
        torch.save((order, dens, picks), sys.stdout.buffer)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    order, dens, picks = torch.load(io.BytesIO(out.stdout))

    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(500, 8, generator=g, dtype=torch.float64))
    rotation = torch.randn(1, 8, 5, generator=g, dtype=torch.float64)
    assert torch.equal(order, ref.bucket_sort(ref.lsh_buckets(z, rotation)[0], 10))
    torch.testing.assert_close(dens, ref.chunk_density(z[order], 10, "back"), rtol=1e-10, atol=1e-10)
    assert torch.equal(picks, ref.kcenter_greedy(z, ref.min_distance(z, z[:3], "cosine"), 5, "cosine"))

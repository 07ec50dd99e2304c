"""Builds dacs_ext's operator library against the installed torch.

Install with ``pip install --no-build-isolation .`` so the library is compiled
against the torch that will load it. CUDA kernels are built when torch has CUDA
and a CUDA toolkit is found; ``DACS_EXT_CPU_ONLY=1`` forces a CPU-only build.
``DACS_EXT_MARCH`` sets the ``-march`` of the CPU kernels (default ``native``:
the library is compiled on the machine that runs it).
"""

import glob
import os

import torch
from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def source_files(with_cuda):
    # The same folders CMakeLists.txt globs: there is no second source list.
    patterns = ["csrc/*.cpp", "csrc/cpu/*.cpp"] + (["csrc/cuda/*.cu"] if with_cuda else [])
    return sorted(f for p in patterns for f in glob.glob(p, root_dir=ROOT))


def want_cuda():
    if os.environ.get("DACS_EXT_CPU_ONLY", "0") not in ("", "0"):
        return False, "DACS_EXT_CPU_ONLY is set"
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} has no CUDA"
    if CUDA_HOME is None:
        return False, "no CUDA toolkit found (set CUDA_HOME)"
    return True, f"torch CUDA {torch.version.cuda}, toolkit at {CUDA_HOME}"


def writebuild_info(with_cuda, march):
    # Read at import to refuse a library built against another torch.
    with open(os.path.join(ROOT, "dacs_ext", "build_info.py"), "w") as f:
        f.write(
            "# Written by setup.py at build time.\n"
            f"TORCH_VERSION = {torch.__version__!r}\n"
            f"WITH_CUDA = {with_cuda!r}\n"
            f"MARCH = {march!r}\n"
        )


with_cuda, reason = want_cuda()
march = os.environ.get("DACS_EXT_MARCH", "native")
print(f"dacs_ext: building {'CPU and CUDA' if with_cuda else 'CPU-only'} kernels ({reason}), -march={march or 'default'}")
writebuild_info(with_cuda, march)

# 512-bit vectors in the compiler's own loops (the tiles' folds and weights) where
# the -march has them: GCC keeps those at 256 bits on AVX-512 machines by default
# (lsh_buckets 1M rows / 2,222 buckets 14% -> 24% of sgemm, density at 180,000 rows
# 116 -> 102 ms on a Sapphire Rapids, 2 threads); a no-op on AVX2.
cxx_flags = ["-O3", "-std=c++20", "-fopenmp", "-mprefer-vector-width=512"] + ([f"-march={march}"] if march else [])
nvcc_flags = [
    "-O3",
    "-std=c++20",
    "--expt-relaxed-constexpr",
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_90,code=sm_90",
    # PTX too, so that GPUs newer than sm_90 compile the kernels at load time.
    "-gencode=arch=compute_90,code=compute_90",
]
extension = (CUDAExtension if with_cuda else CppExtension)(
    name="dacs_ext._C",
    sources=source_files(with_cuda),
    extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags} if with_cuda else cxx_flags,
    extra_link_args=["-fopenmp"],
)

setup(
    packages=find_packages(include=["dacs_ext", "dacs_ext.*"]),
    ext_modules=[extension],
    cmdclass={"build_ext": BuildExtension},
)

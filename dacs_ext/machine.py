"""Where a result came from: the CPU model, the instruction set the loaded kernels
were compiled for, and the vector paths torch's own kernels take.

Two machines of the same kind can differ here (AMD EPYC with AVX2, Intel Xeon with
AVX-512 and AMX), and both the library's kernels and torch's (ATen, MKL, oneDNN)
then round differently. Benchmarks, experiment records and the test command name
these so that a number or a failure can be traced to the machine behind it.
``python -m dacs_ext.machine`` prints :func:`describe`.
"""

from __future__ import annotations

import os
import platform

import torch

from . import ops

_TORCH_PATH_VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")
"""Environment variables that move torch's CPU kernels to another instruction set."""


def cpu_model() -> str:
    """The CPU's model name and its logical CPU count, e.g. ``"AMD EPYC 7B13, 2 vCPU"``."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} vCPU"
    except OSError:
        pass
    return f"{platform.machine() or 'unknown CPU'}, {os.cpu_count()} vCPU"


def kernel_isa() -> str:
    """The vector extensions the loaded ``dacs`` library was compiled with (its
    ``-march``), e.g. ``"x86-64 AVX2 FMA AVX-512F AVX-512BW AVX-512VL AMX-TILE"``."""
    return ops.cpu_isa()


def torch_paths() -> str:
    """The instruction set of torch's dispatched CPU kernels, and any variable that
    changed the path of ATen, MKL or oneDNN."""
    chosen = [f"{name}={os.environ[name]}" for name in _TORCH_PATH_VARIABLES if name in os.environ]
    mkldnn = "" if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled else ", oneDNN off"
    return f"ATen {torch.backends.cpu.get_cpu_capability()}{mkldnn}" + (f" ({', '.join(chosen)})" if chosen else "")


def describe() -> str:
    """One line naming the CPU, the kernels' instruction set, torch and its paths."""
    cuda = f", CUDA kernels: {'built' if ops.WITH_CUDA else 'not built'}"
    return (
        f"CPU: {cpu_model()}; dacs_ext kernels built for: {kernel_isa()}{cuda}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {torch_paths()}"
    )


if __name__ == "__main__":
    print(describe())

"""dacs_ext.machine names where a result came from: the CPU, and the instruction
set the loaded kernels were compiled for, checked against the CPU's own flags."""

import os
import platform
import subprocess
import sys

import pytest
import torch

from dacs_ext import build_info, machine

# The name cpu_isa gives each extension, and the flag /proc/cpuinfo gives it.
CPU_FLAGS = {
    "AVX2": "avx2", "FMA": "fma", "AVX-512F": "avx512f", "AVX-512BW": "avx512bw", "AVX-512VL": "avx512vl",
    "AVX-512BF16": "avx512_bf16", "AVX-512FP16": "avx512_fp16", "AMX-TILE": "amx_tile",
}


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    pytest.skip("/proc/cpuinfo lists no flags")


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the extension names are x86's")
def test_the_kernels_name_the_extensions_they_were_built_with():
    claimed = machine.kernel_isa().split()
    assert claimed[0] == "x86-64" and set(claimed[1:]) <= set(CPU_FLAGS), claimed
    flags = cpu_flags()
    # A library using an extension the CPU lacks would die of an illegal instruction.
    assert all(CPU_FLAGS[name] in flags for name in claimed[1:]), (claimed, sorted(flags & set(CPU_FLAGS.values())))
    if build_info.MARCH == "native":  # built here: every extension the CPU has
        assert set(claimed[1:]) == {name for name, flag in CPU_FLAGS.items() if flag in flags}, claimed


def test_describe_names_the_cpu_the_kernels_and_torch():
    line = machine.describe()
    assert machine.cpu_model() in line and machine.kernel_isa() in line and torch.__version__ in line
    assert f"{torch.get_num_threads()} threads" in line and f"ATen {torch.backends.cpu.get_cpu_capability()}" in line
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    if model:
        assert machine.cpu_model() == f"{model}, {os.cpu_count()} vCPU"


def test_the_command_names_variables_that_move_torchs_paths():
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", MKL_ENABLE_INSTRUCTIONS="AVX2")
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    out = subprocess.run([sys.executable, "-m", "dacs_ext.machine"], env=env, capture_output=True, text=True, check=True).stdout
    assert "ATen DEFAULT" in out and "(ATEN_CPU_CAPABILITY=default, MKL_ENABLE_INSTRUCTIONS=AVX2)" in out, out
    assert out.startswith("CPU: ") and "dacs_ext kernels built for: " in out

"""The benchmark JSON's machine_info names where the run took place: the CPU
model, the instruction set the kernels were built for, threads, torch, and the
same process's sgemm rate, the limit that report.py sets each kernel's GFLOP/s
beside."""

import torch

import cases
from dacs_ext import machine


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["dacs_ext"] = dict(
        cpu_model=machine.cpu_model(),
        kernel_isa=machine.kernel_isa(),
        torch_paths=machine.torch_paths(),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        device=cases.device_name(),
        sgemm_gflops=round(cases.sgemm_gflops(), 1),
    )

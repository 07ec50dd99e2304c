"""tests/benchmarks/report.py turns pytest-benchmark JSON into the committed tables:
the growth table's exponents and speed-ups, on made-up timings."""

import json
import os
import subprocess
import sys

import cases

HERE = os.path.dirname(os.path.abspath(__file__))


def bench(median, implementation, **params):
    return dict(group="g", params=dict(implementation=implementation, **params), stats=dict(median=median),
                extra_info=dict(device="cpu", threads=2, torch="x", peak_extra_mb=12.0))


def test_growth_table_exponents_and_speed_ups(tmp_path):
    data = dict(
        machine_info=dict(processor="p", python_version="3", cpu=dict(brand_raw="Some CPU")),
        datetime="2026-11-26T00:00:00",
        benchmarks=[
            bench(0.002, "extension", op="a", n=100),
            bench(0.010, "reference", op="a", n=100),
            bench(0.200, "extension", op="a", n=1000),  # 100x the time for 10x the rows: exponent 2
            bench(0.600, "extension", op="a", n=10000),  # 3x for 10x: exponent log(3) / log(10)
            bench(0.050, "extension", op="b", n=100),
        ],
    )
    path = tmp_path / "scale.json"
    path.write_text(json.dumps(data))
    out = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), str(path)],
                         check=True, capture_output=True, text=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| a |") or line.startswith("| b |")]
    assert rows == [
        "| a | 100 | 2.0 ms | 10.0 ms | 5.0x | 12 MiB |  |",
        "| a | 1,000 | 200.0 ms |  |  | 12 MiB | 2.00 |",
        "| a | 10,000 | 600.0 ms |  |  | 12 MiB | 0.48 |",
        "| b | 100 | 50.0 ms |  |  | 12 MiB |  |",
    ]
    assert "Machine: Some CPU, 2 threads" in out


def test_main_table_names_the_machine_and_sets_gflops_beside_sgemm(tmp_path):
    # 4e9 flops in 20 ms: 200 GFLOP/s, 50% of an sgemm of 400 GFLOP/s.
    ext = bench(0.020, "extension", case="dots")
    ext["extra_info"]["flops"] = 4e9
    ref = bench(0.100, "reference", case="dots")
    plain = bench(0.010, "extension", case="picks")
    plain["extra_info"]["flops"] = None
    ours = dict(cpu_model="Some CPU, 2 vCPU", kernel_isa="x86-64 AVX2 FMA", torch_paths="ATen AVX2", threads=2, torch="x",
                device="cpu", sgemm_gflops=400.0)
    data = dict(
        machine_info=dict(processor="p", python_version="3", cpu=dict(brand_raw="Other"), dacs_ext=ours),
        datetime="2026-12-06T00:00:00",
        benchmarks=[ref, ext, bench(0.050, "reference", case="picks"), plain, bench(1.5, "extension", case="alone")],
    )
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    out = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), str(path)],
                         check=True, capture_output=True, text=True).stdout
    assert out.splitlines()[0] == (
        "Machine: Some CPU, 2 vCPU, kernels built for x86-64 AVX2 FMA, 2 threads, torch x, Python 3, 2026-12-06; "
        "same-process sgemm (2048 x 2048, float32): 400.0 GFLOP/s."
    )
    assert "| dots | 20.0 ms | 100.0 ms | 5.0x | 200.0 (50% of sgemm) | 12 MiB | 12 MiB |" in out
    assert "| picks | 10.0 ms | 50.0 ms | 5.0x |  | 12 MiB | 12 MiB |" in out
    assert "| alone | 1500.0 ms | not run | - |  | 12 MiB | - |" in out  # cases.NO_REFERENCE


def test_flop_counts_by_hand():
    # 10 rows in 3 chunks of 3, 3 and 4 rows (c * 10 // 3); "back" pairs: chunk 0
    # with itself (3 pairs) and with chunk 2 (3 x 4), chunk 1: 3 + 3 x 3, chunk 2:
    # 6 + 4 x 3; 45 pairs of 2 d flops.
    assert cases.chunk_pair_flops(10, 8, 3) == 2 * 8 * 45
    assert cases.hash_flops(1000, 16, 100) == 2 * 1000 * 16 * 50
    assert cases.hash_flops(1000, 16, 100, rounds=3) == 3 * 2 * 1000 * 16 * 50

"""tests/benchmarks/report.py turns pytest-benchmark JSON into the committed tables:
the growth table's exponents and speed-ups, on made-up timings."""

import json
import os
import subprocess
import sys

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

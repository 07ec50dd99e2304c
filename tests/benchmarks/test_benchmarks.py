"""Extension against the pure-PyTorch reference, side by side in one run.

    pytest tests/benchmarks --benchmark-json=bench.json   # time them
    python tests/benchmarks/report.py bench.json          # the table in README.md

CI runs them once with --benchmark-disable so they keep working; the peak
memory probe then is skipped too.
"""

import pytest

import cases


@pytest.mark.parametrize("implementation", ["extension", "reference"])
@pytest.mark.parametrize("case", list(cases.CASES))
def test_benchmark(benchmark, case, implementation):
    fn = cases.CASES[case]()(cases.IMPLEMENTATIONS[implementation])
    benchmark.group = case
    slow = implementation == "reference"
    result = benchmark.pedantic(fn, rounds=1 if slow else 5, warmup_rounds=0 if slow else 1, iterations=1)
    assert result is not None
    if not benchmark.disabled:
        benchmark.extra_info["peak_extra_mb"] = round(cases.peak_extra_mb(case, implementation), 1)

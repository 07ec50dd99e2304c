"""Extension against the pure-PyTorch reference, side by side in one run.

    pytest tests/benchmarks --benchmark-json=bench.json   # time them
    python tests/benchmarks/report.py bench.json          # the table in README.md

Before the extension is timed, its output is checked against the reference's
(the reference of each case runs first and leaves its output for that). CI runs
them once with --benchmark-disable so they keep working and keep agreeing; the
peak memory probe then is skipped.
"""

import pytest

import cases

REFERENCE_OUTPUTS = {}


def reference_output(case: str):
    if case in cases.NO_REFERENCE:
        return None
    if case not in REFERENCE_OUTPUTS:  # the extension's benchmark was run alone
        REFERENCE_OUTPUTS[case] = cases.CASES[case]().call(cases.IMPLEMENTATIONS["reference"])()
    return REFERENCE_OUTPUTS[case]


@pytest.mark.parametrize("implementation", ["reference", "extension"])
@pytest.mark.parametrize("case", list(cases.CASES))
def test_benchmark(benchmark, case, implementation):
    spec = cases.CASES[case]()
    fn = spec.call(cases.IMPLEMENTATIONS[implementation])
    benchmark.group = case
    if implementation == "reference" and case in cases.NO_REFERENCE:
        pytest.skip(f"{case}: the reference would take hours")
    if implementation == "extension":
        spec.check(fn(), reference_output(case))
        benchmark.pedantic(fn, rounds=5, warmup_rounds=0, iterations=1)  # the check call was the warm-up
    else:
        # One cold round on the CPU, where the references take up to a minute; on a
        # GPU they are fast, and a cold first call would time CUDA's start-up.
        warm = cases.DEVICE.type == "cuda" and case not in cases.JENKSPY_REFERENCES
        REFERENCE_OUTPUTS[case] = benchmark.pedantic(fn, rounds=3 if warm else 1, warmup_rounds=int(warm), iterations=1)
    if not benchmark.disabled:
        cases.record_extra_info(benchmark, spec, case, implementation)

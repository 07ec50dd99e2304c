"""Cost growth (issue 13): density and select with the flat and the two-level
hash, and k-center, at 10^5, 10^6 and 10^7 rows, the extension beside the
reference where the reference is affordable (cases.scale_has_reference).

    pytest tests/benchmarks/test_scale.py -m "slow or not slow" --benchmark-json=scale.json
    python tests/benchmarks/report.py scale.json   # time, peak memory, growth exponent

The 10^7 cases are marked slow: the default run (and CI) leaves them out.
"""

import pytest

import cases

REFERENCE_OUTPUTS = {}
SIZES = [pytest.param(n, marks=pytest.mark.slow) if n >= 10_000_000 else n for n in cases.SCALE_SIZES]


@pytest.mark.parametrize("implementation", ["reference", "extension"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op", cases.SCALE_OPS)
def test_scale(benchmark, op, n, implementation):
    name = f"{op}-{cases._count(n)}"
    if implementation == "reference" and not cases.scale_has_reference(op, n):
        pytest.skip(f"{name}: the reference takes minutes here")
    spec = cases.SCALE_CASES[name]()
    fn = spec.call(cases.IMPLEMENTATIONS[implementation])
    benchmark.group = f"scale {op}"
    if implementation == "extension":
        want = REFERENCE_OUTPUTS.get(name)
        if want is None and cases.scale_has_reference(op, n):  # the extension's benchmark was run alone
            want = spec.call(cases.IMPLEMENTATIONS["reference"])()
        spec.check(fn(), want)
        benchmark.pedantic(fn, rounds=3 if n < 10_000_000 else 1, warmup_rounds=0, iterations=1)
    else:
        REFERENCE_OUTPUTS[name] = benchmark.pedantic(fn, rounds=1, warmup_rounds=int(cases.DEVICE.type == "cuda"), iterations=1)
    if not benchmark.disabled:
        cases.record_extra_info(benchmark, spec, name, implementation)

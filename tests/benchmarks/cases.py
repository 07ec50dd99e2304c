"""The benchmark cases of the issue: extension and reference on the same inputs.

Each case builds its inputs from a fixed seed and gives a callable per
implementation, so pytest-benchmark and the peak-memory probe time exactly the
same work, and a check that the extension's output agrees with the reference's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import torch

import dacs_ext

IMPLEMENTATIONS = {"extension": dacs_ext, "reference": dacs_ext.reference}
# DACS_EXT_BENCH_DEVICE=cuda runs every case on the GPU, the reference too
# (pure PyTorch on the same device is the fair rival there).
DEVICE = torch.device(os.environ.get("DACS_EXT_BENCH_DEVICE", "cpu"))


def device_name() -> str:
    return torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else "cpu"


@dataclass(frozen=True)
class Case:
    """``call(api)`` gives the timed callable of one implementation;
    ``check(extension_output, reference_output)`` raises if they disagree;
    ``flops`` counts the multiply-adds (x2) of the case's dot products where
    they are its work (the hash's projections, the pair terms), None elsewhere:
    the report sets that rate beside the same process's sgemm."""

    call: Callable[[ModuleType], Callable[[], torch.Tensor]]
    check: Callable[[torch.Tensor, torch.Tensor], None]
    flops: float | None = None


def sgemm_gflops(size: int = 2048, rounds: int = 10) -> float:
    """The machine's dense float32 rate in this process, GFLOP/s: the fastest of
    ``rounds`` products of two ``size`` x ``size`` matrices by torch's BLAS on
    its threads, after one warm-up. What a kernel of dot products could reach
    here at best; the fastest rather than the median, since a 2-vCPU guest's
    slow rounds are the neighbours', not the BLAS's."""
    a, b = _features(size, size, 20), _features(size, size, 21)
    _finished(lambda: a @ b)()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        _finished(lambda: a @ b)()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times) / 1e9


def hash_flops(n: int, d: int, buckets: int, rounds: int = 1) -> float:
    """Eq. 6's projections: each row times a [d, buckets / 2] rotation per round."""
    return 2.0 * n * d * (buckets // 2) * rounds


def chunk_pair_flops(n: int, d: int, chunks: int) -> float:
    """Eq. 7's dot products with the previous chunk ("back"): each pair of a
    chunk once, and each row against the previous chunk's rows; the chunks are
    the equal cuts of the sorted order (sizes differing by at most one)."""
    sizes = [(c + 1) * n // chunks - c * n // chunks for c in range(chunks)]
    pairs = sum(m * (m - 1) // 2 + m * sizes[c - 1] for c, m in enumerate(sizes))
    return 2.0 * d * pairs


def _features(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)).to(DEVICE)


def _finished(fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """fn, returning only once the device has finished its work: a GPU call
    returns when its kernels are queued, and that is not what is timed."""
    if DEVICE.type != "cuda":
        return fn

    def call() -> torch.Tensor:
        out = fn()
        torch.cuda.synchronize(DEVICE)
        return out

    return call


def _close_float32(got: torch.Tensor, want: torch.Tensor) -> None:
    # float32 sums of thousands of terms, accumulated in another order.
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max()))


def density(n: int) -> Case:
    z = _features(n, 16, 0)
    rotation = dacs_ext.random_rotation(16, 100, generator=torch.Generator().manual_seed(1)).to(DEVICE)
    return Case(lambda api: _finished(lambda: api.density(z, 100, rotation=rotation)), _close_float32,
                hash_flops(n, 16, 100) + chunk_pair_flops(n, 16, 100))


def lsh_buckets(n: int, buckets: int) -> Case:
    """The hash of Eq. 6 alone, at the sizes where its cost grows: buckets grow
    with N to keep chunks of about 1,800 rows (issue 13)."""
    z = _features(n, 16, 11)
    rotation = dacs_ext.random_rotation(16, buckets, generator=torch.Generator().manual_seed(12)).to(DEVICE)

    def check(got: torch.Tensor, want: torch.Tensor) -> None:
        # Sums in another order may flip a near-tie: every row that differs must
        # be one, in float64 (and they must be rare).
        rows = (got != want).nonzero()[:, 1].unique()
        assert rows.numel() <= max(1, n // 10_000), f"{rows.numel()} of {n} rows differ"
        if rows.numel():
            projection = z[rows].double() @ rotation[0].double()
            scores = torch.cat([projection, -projection], dim=1)
            picked = lambda b: scores.gather(1, b[0, rows].unsqueeze(1)).squeeze(1)  # noqa: E731
            assert bool(((picked(got) - picked(want)).abs() <= 1e-4 * scores.abs().amax(dim=1)).all())

    return Case(lambda api: _finished(lambda: api.ops.lsh_buckets(z, rotation)), check, hash_flops(n, 16, buckets))


def kcenter_greedy() -> Case:
    unlabeled, labeled = _features(50_000, 16, 2), _features(1_000, 16, 3)

    def check(got: torch.Tensor, want: torch.Tensor) -> None:
        # In float32 two rows can tie up to rounding, after which the two orders
        # part; so each pick is checked to be a farthest remaining row, in float64.
        from helpers import replay_greedy  # tests/helpers.py: only the pytest run checks

        x = torch.nn.functional.normalize(unlabeled.double(), dim=1)
        y = torch.nn.functional.normalize(labeled.double(), dim=1)
        assert got.shape == want.shape and int(got[0]) == int(want[0])
        replay_greedy(x, (1 - (x @ y.T).amax(dim=1)).clamp(min=0), got, "cosine", tol=1e-5)

    return Case(lambda api: _finished(lambda: api.kcenter_greedy(unlabeled, labeled, 1_000)), check)


def min_distance() -> Case:
    x, y = _features(180_000, 16, 4), _features(5_000, 16, 5)
    return Case(lambda api: _finished(lambda: api.min_distance(x, y)), lambda got, want: torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6),
                2.0 * 180_000 * 5_000 * 16)


def natural_breaks(n: int) -> Case:
    values = torch.randn(n, generator=torch.Generator().manual_seed(6), dtype=torch.float64).to(DEVICE)

    def check(got: torch.Tensor, want: torch.Tensor | None) -> None:
        if want is not None:
            torch.testing.assert_close(got, want, rtol=0, atol=0)
            return
        # No reference (jenkspy is quadratic in N; tests/api/test_groups.py checks
        # exactness against it at smaller N): 5 sorted values of the input, from
        # its minimum to its maximum.
        assert got.shape == (5,) and bool((got[1:] >= got[:-1]).all())
        assert float(got[0]) == float(values.min()) and float(got[-1]) == float(values.max())
        assert bool(torch.isin(got, values).all())

    return Case(lambda api: _finished(lambda: api.natural_breaks(values, 4)), check)


def select() -> Case:
    """The Repeated-MNIST scale of issue 3: 180,000 unlabeled, 5,000 labeled, d = 16."""
    unlabeled, labeled = _features(180_000, 16, 7), _features(5_000, 16, 8)
    return Case(
        lambda api: _finished(lambda: api.select(unlabeled, labeled, 500, generator=torch.Generator().manual_seed(9))),
        lambda got, want: torch.testing.assert_close(got, want, rtol=0, atol=0),
    )


def cdal_kcenter() -> Case:
    """CDAL at the Repeated-MNIST scale of issue 9: 180,000 unlabeled, 5,000 labeled,
    10 classes, 500 picks."""
    g = torch.Generator().manual_seed(10)
    unlabeled = torch.log_softmax(3 * torch.randn(180_000, 10, generator=g), dim=1).to(DEVICE)
    labeled = torch.log_softmax(3 * torch.randn(5_000, 10, generator=g), dim=1).to(DEVICE)

    def check(got: torch.Tensor, want: torch.Tensor) -> None:
        # As for k-center: each pick a farthest remaining row, replayed in float64.
        def divergence(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return (0.5 * (a.exp() - b.exp()) * (a - b)).sum(dim=1)

        x, y = unlabeled.double().cpu(), labeled.double().cpu()
        nearest = torch.full((x.shape[0],), float("inf"), dtype=torch.float64)
        for start in range(0, y.shape[0], 100):
            for c in y[start : start + 100]:
                nearest = torch.minimum(nearest, divergence(x, c))
        assert got.shape == want.shape and len(set(got.tolist())) == got.numel()
        for pick in got.tolist():
            assert float(nearest[pick]) >= float(nearest.max()) - 1e-4, f"pick {pick} is not a farthest remaining row"
            nearest = torch.minimum(nearest, divergence(x, x[pick]))
            nearest[pick] = float("-inf")

    return Case(lambda api: _finished(lambda: api.cdal_kcenter(unlabeled, labeled, 500)), check)


CASES = {
    "density-50k": lambda: density(50_000),
    "density-180k": lambda: density(180_000),
    # Issue 13's sizes: 1M rows / 556 buckets and 4M rows / 2,222 buckets, d = 16.
    "lsh_buckets-1M-556": lambda: lsh_buckets(1_000_000, 556),
    "lsh_buckets-4M-2222": lambda: lsh_buckets(4_000_000, 2222),
    # Issue 27's size: 1M rows against 2,222 buckets (chunks of 900 rows).
    "lsh_buckets-1M-2222": lambda: lsh_buckets(1_000_000, 2222),
    "kcenter-50k-1k-1k": kcenter_greedy,
    "min_distance-180k-5k": min_distance,
    # The reference is jenkspy, O(N^2): about 4 s at 50k and 45 s at 180k.
    "natural_breaks-50k": lambda: natural_breaks(50_000),
    "natural_breaks-180k": lambda: natural_breaks(180_000),
    # Issue 27's size; extension only (NO_REFERENCE).
    "natural_breaks-10M": lambda: natural_breaks(10_000_000),
    # The reference pipeline spends about a minute in jenkspy.
    "select-180k-5k-500": select,
    "cdal-180k-5k-500": cdal_kcenter,
}
# Cases whose reference runs jenkspy on the CPU whatever the device: a minute a
# call, so they get one cold round on a GPU too (CUDA is warm by then).
JENKSPY_REFERENCES = {"natural_breaks-50k", "natural_breaks-180k", "select-180k-5k-500"}
# Cases whose reference would take hours (jenkspy at 10^7 values): the
# extension runs alone and its check gets None.
NO_REFERENCE = {"natural_breaks-10M"}


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1_000}k"


# Issue 13's cost growth: each op at 10^5, 10^6 and 10^7 rows (test_scale.py).
SCALE_OPS = ("density-flat", "density-two-level", "kcenter", "select-flat", "select-two-level")
SCALE_SIZES = (100_000, 1_000_000, 10_000_000)
SCALE_PICKS = 1_000


def scale_has_reference(op: str, n: int) -> bool:
    """Where the reference is affordable: not at 10^7 rows (minutes), and select's
    (jenkspy, quadratic in N) only at 10^5."""
    return n < 10_000_000 and (not op.startswith("select") or n <= 100_000)


def scale(op: str, n: int) -> Case:
    """``op`` at n rows, d = 16, float32, with chunks of about 1,800 rows (the
    buckets grow with n); k-center and select pick 1,000 rows with 10,000 labeled
    rows as the first centers. ``check`` takes None where there is no reference."""
    unlabeled, labeled = _features(n, 16, 13), _features(10_000, 16, 14)
    buckets = max(2, round(n / 3_600) * 2)
    levels = 2 if op.endswith("two-level") else 1
    seeded = lambda: torch.Generator().manual_seed(15)  # noqa: E731
    if op.startswith("density"):
        return Case(
            lambda api: _finished(lambda: api.density(unlabeled, buckets, levels=levels, generator=seeded())),
            lambda got, want: _close_float32(got, want) if want is not None else _assert_finite(got, (n,)),
        )
    if op == "kcenter":

        def check_picks(got: torch.Tensor, want: torch.Tensor | None) -> None:
            # Each of the first picks a farthest remaining row, replayed in float64
            # from the reference's distances to the labeled rows.
            from helpers import replay_greedy  # tests/helpers.py: only the pytest run checks

            _assert_distinct_picks(got, n)
            x = torch.nn.functional.normalize(unlabeled.double(), dim=1)
            nearest = dacs_ext.reference.min_distance(unlabeled, labeled).double()
            replay_greedy(x, nearest, got[: 100 if n <= 1_000_000 else 20], "cosine", tol=1e-5)

        return Case(lambda api: _finished(lambda: api.kcenter_greedy(unlabeled, labeled, SCALE_PICKS)), check_picks)

    def check_selection(got: torch.Tensor, want: torch.Tensor | None) -> None:
        _assert_distinct_picks(got, n)
        if want is not None:
            torch.testing.assert_close(got, want, rtol=0, atol=0)

    return Case(
        lambda api: _finished(lambda: api.select(unlabeled, labeled, SCALE_PICKS, buckets=buckets, levels=levels, generator=seeded())),
        check_selection,
    )


def _assert_finite(got: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert got.shape == shape and bool(got.isfinite().all())


def _assert_distinct_picks(got: torch.Tensor, n: int) -> None:
    assert got.shape == (SCALE_PICKS,) and got.unique().numel() == SCALE_PICKS
    assert 0 <= int(got.min()) and int(got.max()) < n


SCALE_CASES = {f"{op}-{_count(n)}": (lambda op=op, n=n: scale(op, n)) for op in SCALE_OPS for n in SCALE_SIZES}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_peak_extra_mb(fn) -> float:
    """Peak memory fn() adds above what the process holds before it, in MiB: on
    the CPU the resident set, whose high-water mark (VmHWM) is reset just before
    the call; on a GPU the memory torch's allocator hands out."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
        base = torch.cuda.memory_allocated(DEVICE)
        torch.cuda.reset_peak_memory_stats(DEVICE)
        fn()
        return max(0.0, (torch.cuda.max_memory_allocated(DEVICE) - base) / 2**20)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status_kib("VmRSS")
    fn()
    return max(0.0, (_status_kib("VmHWM") - base) / 1024)


def record_extra_info(benchmark, spec: Case, case: str, implementation: str) -> None:
    """What the report needs beside the timings: where the case ran, its flops
    and its peak extra memory (a fresh interpreter each)."""
    benchmark.extra_info.update(device=device_name(), threads=torch.get_num_threads(), torch=torch.__version__, flops=spec.flops)
    benchmark.extra_info["peak_extra_mb"] = round(peak_extra_mb(case, implementation), 1)


def peak_extra_mb(case: str, implementation: str) -> float:
    """measure_peak_extra_mb of one case, in a fresh interpreter so that nothing
    cached by earlier calls hides the cost."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = "import cases\nprint(cases.measure_peak_extra_mb({**cases.CASES, **cases.SCALE_CASES}[%r]().call(cases.IMPLEMENTATIONS[%r])))\n" % (
        case,
        implementation,
    )
    # Run from this folder: `cases` imports, and the repository's uncompiled
    # dacs_ext source tree does not shadow the installed package.
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=here)
    return float(out.stdout.strip().splitlines()[-1])

"""Calls every dacs op of a library built with AddressSanitizer over edge-case
shapes, dtypes, chunk counts, budgets and NaN distances (scripts/asan_check.sh).
Only calls that succeed: ASan's interceptor cannot follow C++ exceptions thrown
through Python, and the error paths are tested by tests/api/test_bad_input.py."""

import sys

import torch

torch.ops.load_library(sys.argv[1])
ops = torch.ops.dacs
g = torch.Generator().manual_seed(0)
count = 0
for n, d in [(2, 1), (3, 5), (37, 16), (100, 33), (1000, 16), (4100, 8), (5000, 3)]:
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        z = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64)).to(dtype)
        for k in sorted({1, 2, min(n, 7), n}):
            for mode in ("back", "both", "none"):
                ops.chunk_density(z, k, mode); ops.chunk_density(3 * z, k, mode); count += 2
            if k % 2 == 0:
                rot = torch.randn(2, d, k // 2, generator=g, dtype=torch.float64).to(dtype)
                b = ops.lsh_buckets(z, rot); ops.bucket_sort(b[0], k); count += 2
        for m in (1, 3, 50):
            for metric in ("cosine", "euclidean"):
                y = z[:m] if m <= n else z
                md = ops.min_distance(z, y, metric); count += 1
                for budget in sorted({0, 1, n // 2, n}):
                    ops.kcenter_greedy(z, md.clone(), budget, metric)
                    count += 1
                inf = torch.full((n,), float("inf"), dtype=md.dtype)
                ops.kcenter_greedy(z, inf, n, metric); count += 1
                nan = md.clone(); nan[::2] = float("nan")
                ops.kcenter_greedy(z, nan, n // 2, metric)
for n in (2, 3, 17, 1000, 5000):
    for classes in (2, 3, 7):
        if classes > n:
            continue
        ties = torch.randint(0, 3 * classes, (n,), generator=g).double()
        ties[:classes] = torch.arange(classes) * 100.0  # enough distinct values
        for values in (torch.randn(n, generator=g, dtype=torch.float64), ties, ties.float()):
            ops.natural_breaks(values, classes)
            count += 1
dup = torch.nn.functional.normalize(torch.randn(50, 6, generator=g)).repeat(100, 1)
ops.kcenter_greedy(dup, torch.full((5000,), float("inf")), 200, "cosine")
ops.kcenter_greedy(dup, ops.min_distance(dup, dup[:3], "euclidean"), 200, "euclidean")
print("asan clean,", count, "calls")

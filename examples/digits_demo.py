"""Demo of the two DACS kernels on a real data set that a registry ships:
scikit-learn's handwritten digits (1,797 images of 8 x 8 pixels, 10 classes).

It estimates every image's LSH density (paper Eq. 6-8), picks a k-center
core-set (Algorithm 1) next to a small labeled set, checks that the extension
and the pure-PyTorch reference agree, and prints their timings.

    python examples/digits_demo.py [--budget 100] [--labeled 20] [--buckets 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from sklearn.datasets import load_digits

import dacs_ext


def median_seconds(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=100, help="samples to select")
    parser.add_argument("--labeled", type=int, default=20, help="initially labeled samples")
    parser.add_argument("--buckets", type=int, default=20, help="LSH buckets for the density")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    digits = load_digits()
    x = torch.from_numpy(digits.data).double()
    labels = torch.from_numpy(digits.target)
    n = x.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed))
    labeled, pool = order[: args.labeled], order[args.labeled :]
    print(f"digits: {n} images, {x.shape[1]} features; {len(labeled)} labeled, {len(pool)} in the pool")

    rotation = dacs_ext.random_rotation(x.shape[1], args.buckets, generator=torch.Generator().manual_seed(args.seed), dtype=torch.float64)
    runs = {
        "density": lambda api: api.density(x[pool], args.buckets, rotation=rotation),
        "k-center": lambda api: api.kcenter_greedy(x[pool], x[labeled], args.budget),
    }
    print(f"\n{'step':<10}{'extension':>12}{'reference':>12}{'speed-up':>10}  agreement")
    results = {}
    for name, run in runs.items():
        fast, slow = run(dacs_ext), run(dacs_ext.reference)
        same = torch.equal(fast, slow) if name == "k-center" else bool(torch.allclose(fast, slow, rtol=1e-9, atol=1e-9))
        t_fast = median_seconds(lambda: run(dacs_ext))
        t_slow = median_seconds(lambda: run(dacs_ext.reference))
        print(f"{name:<10}{t_fast * 1e3:>10.2f}ms{t_slow * 1e3:>10.2f}ms{t_slow / t_fast:>9.1f}x  {'identical' if same else 'DIFFERENT'}")
        results[name] = fast

    density, picks = results["density"], pool[results["k-center"]]
    dens_by_class = [float(density[labels[pool] == c].mean()) for c in range(10)]
    print("\nmean density by class (higher = denser):")
    print("  " + "  ".join(f"{c}:{v:.1f}" for c, v in enumerate(dens_by_class)))
    random_picks = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(args.seed + 1))[: args.budget]]
    for name, chosen in (("k-center", picks), ("random", random_picks)):
        counts = torch.bincount(labels[chosen], minlength=10)
        print(f"{name:>8} picks per class: {counts.tolist()}  (classes covered: {int((counts > 0).sum())}/10)")


if __name__ == "__main__":
    main()

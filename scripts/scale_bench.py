"""How density, k-center and select grow with the pool: time and peak extra
memory at 10^5, 10^6 and 10^7 rows (d = 16, float32, chunks of about 1,800
rows), each in a fresh process, and the exponent of the growth between sizes.

    python scripts/scale_bench.py [--device cuda] [--sizes 100000,1000000,10000000] [--levels 1,2] [--out FILE.md]

density and select run with the flat (levels 1) and the two-level hash; k-center
picks 1,000 rows with 10,000 labeled rows as the first centers; select has a
budget of 1,000 and 10,000 labeled rows. Printed (and written to --out): one
Markdown table with the device's name. Slow at 10^7 rows on a CPU (about a
minute), so CI does not run it; ``scripts/gpu_check.sh`` does, on the GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ONE_CASE = r"""
import json, sys, time, torch, dacs_ext
sys.path.insert(0, %(bench)r)
import cases
op, n, levels, device = %(op)r, %(n)d, %(levels)d, torch.device(%(device)r)
buckets = max(2, round(n / 1800 / 2) * 2)
z = torch.randn(n, 16, generator=torch.Generator().manual_seed(0)).to(device)
labeled = torch.randn(10_000, 16, generator=torch.Generator().manual_seed(1)).to(device)
seeded = lambda: torch.Generator(device=device).manual_seed(2)
call = {
    "density": lambda: dacs_ext.density(z, buckets, levels=levels, generator=seeded()),
    "k-center": lambda: dacs_ext.kcenter_greedy(z, labeled, 1000),
    "select": lambda: dacs_ext.select(z, labeled, 1000, buckets=buckets, levels=levels, generator=seeded()),
}[op]
def finished():
    out = call()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out
finished()  # warm-up (CUDA start-up, first-touch of the allocator)
cases.DEVICE = device
start = time.perf_counter()
peak = cases.measure_peak_extra_mb(finished)
seconds = time.perf_counter() - start
print(json.dumps(dict(op=op, n=n, levels=levels, buckets=buckets, seconds=seconds, peak_mb=peak)))
"""


def measure(op: str, n: int, levels: int, device: str) -> dict:
    code = ONE_CASE % dict(bench=os.path.join(ROOT, "tests", "benchmarks"), op=op, n=n, levels=levels, device=device)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--levels", default="1,2")
    parser.add_argument("--out", default=None, help="also write the table here")
    args = parser.parse_args(argv)
    import torch

    sizes = [int(s) for s in args.sizes.split(",")]
    levels = [int(v) for v in args.levels.split(",")]
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    lines = [
        f"Device: {name}; torch {torch.__version__}. One call after a warm-up, each case in a fresh process; peak extra memory "
        "above the inputs (GPU: torch's allocator; CPU: resident set). Exponent: log(time ratio) / log(size ratio) from the "
        "previous size.",
        "",
        "| op | hash levels | N | buckets | time | peak extra memory | exponent |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for op in ("density", "k-center", "select"):
        for level in levels if op != "k-center" else [1]:
            previous = None
            for n in sizes:
                r = measure(op, n, level, args.device)
                growth = f"{math.log(r['seconds'] / previous['seconds']) / math.log(n / previous['n']):.2f}" if previous else ""
                line = (f"| {op} | {level if op != 'k-center' else ''} | {n:,} | {r['buckets'] if op != 'k-center' else ''} | "
                        f"{r['seconds'] * 1e3:,.1f} ms | {r['peak_mb']:,.0f} MiB | {growth} |")
                lines.append(line)
                print(line, flush=True)
                previous = r
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

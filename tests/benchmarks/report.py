"""Turns a pytest-benchmark JSON file into the Markdown table of README.md.

    python tests/benchmarks/report.py bench.json
"""

import json
import math
import sys


def variants(benchmarks: list[dict]) -> None:
    """The table of benchmarks that compare variants of one job (a ``variant``
    parameter, e.g. test_davis_speed.py): each against the group's first."""
    print("| case | variant | median | against the first |")
    print("|---|---|---|---|")
    first = {}
    for bench in benchmarks:
        median = bench["stats"]["median"]
        base = first.setdefault(bench["group"], median)
        print(f"| {bench['group']} | {bench['params']['variant']} | {median * 1e3:.1f} ms | {base / median:.2f}x |")


def growth(benchmarks: list[dict]) -> None:
    """The table of test_scale.py: each op at each size, and the exponent of the
    extension's growth from the previous size, log(time ratio) / log(size ratio)."""
    print("| op | N | extension median | reference median | speed-up | extension peak extra memory | exponent |")
    print("|---|---|---|---|---|---|---|")
    runs = {}
    for bench in benchmarks:
        runs.setdefault((bench["params"]["op"], bench["params"]["n"]), {})[bench["params"]["implementation"]] = bench
    previous = {}
    for (op, n), impls in sorted(runs.items()):
        ext, ref = impls.get("extension"), impls.get("reference")
        if ext is None:
            continue
        t_ext = ext["stats"]["median"]
        t_ref = f"{ref['stats']['median'] * 1e3:,.1f} ms" if ref else ""
        speed_up = f"{ref['stats']['median'] / t_ext:.1f}x" if ref else ""
        exponent = f"{math.log(t_ext / previous[op][1]) / math.log(n / previous[op][0]):.2f}" if op in previous else ""
        previous[op] = (n, t_ext)
        print(
            f"| {op} | {n:,} | {t_ext * 1e3:,.1f} ms | {t_ref} | {speed_up} "
            f"| {ext['extra_info']['peak_extra_mb']:,.0f} MiB | {exponent} |"
        )


def where(data: dict) -> str:
    """The run's machine line: CPU, the kernels' instruction set, threads, torch,
    Python, date, and the same process's sgemm rate (files written before the
    benchmarks recorded these give what they have)."""
    machine = data["machine_info"]
    run = data["benchmarks"][0]["extra_info"]
    ours = machine.get("dacs_ext", {})
    device = "" if run["device"] == "cpu" else f"device {run['device']}, "
    cpu = ours.get("cpu_model") or machine.get("cpu", {}).get("brand_raw", machine["processor"])
    built = f", kernels built for {ours['kernel_isa']}" if "kernel_isa" in ours else ""
    sgemm = f"; same-process sgemm (2048 x 2048, float32): {ours['sgemm_gflops']:.1f} GFLOP/s" if "sgemm_gflops" in ours else ""
    return (
        f"Machine: {device}{cpu}{built}, {run['threads']} threads, torch {run['torch']}, "
        f"Python {machine['python_version']}, {data['datetime'][:10]}{sgemm}."
    )


def rate(bench: dict, sgemm: float | None) -> str:
    """The extension's GFLOP/s on the case's dot products, and its share of the
    sgemm rate; blank for cases that are not dot products."""
    flops = bench["extra_info"].get("flops")
    if not flops:
        return ""
    gflops = flops / bench["stats"]["median"] / 1e9
    return f"{gflops:.1f}" + (f" ({gflops / sgemm:.0%} of sgemm)" if sgemm else "")


def main(path: str) -> None:
    data = json.load(open(path))
    rows = {}
    compared = [b for b in data["benchmarks"] if "variant" in b["params"]]
    scaled = [b for b in data["benchmarks"] if "op" in b["params"]]
    for bench in data["benchmarks"]:
        if bench in compared or bench in scaled:
            continue
        impl = bench["params"]["implementation"]
        rows.setdefault(bench["params"]["case"], {})[impl] = bench
    print(where(data) + "\n")
    if compared:
        variants(compared)
    if scaled:
        growth(scaled)
    if not rows:
        return
    sgemm = data["machine_info"].get("dacs_ext", {}).get("sgemm_gflops")
    print("| case | extension median | reference median | speed-up | extension GFLOP/s | extension peak extra memory | reference peak extra memory |")
    print("|---|---|---|---|---|---|---|")
    for case, impls in rows.items():
        ext, ref = impls["extension"], impls.get("reference")  # no reference: cases.NO_REFERENCE
        t_ext = ext["stats"]["median"]
        if ref:
            t_ref = ref["stats"]["median"]
            reference = f"{t_ref * 1e3:.1f} ms | {t_ref / t_ext:.1f}x"
            reference_memory = f"{ref['extra_info']['peak_extra_mb']:.0f} MiB"
        else:
            reference, reference_memory = "not run | -", "-"
        print(
            f"| {case} | {t_ext * 1e3:.1f} ms | {reference} | {rate(ext, sgemm)} "
            f"| {ext['extra_info']['peak_extra_mb']:.0f} MiB | {reference_memory} |"
        )

if __name__ == "__main__":
    main(sys.argv[1])

"""Turns a pytest-benchmark JSON file into the Markdown table of README.md.

    python tests/benchmarks/report.py bench.json
"""

import json
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


def main(path: str) -> None:
    data = json.load(open(path))
    rows = {}
    compared = [b for b in data["benchmarks"] if "variant" in b["params"]]
    for bench in data["benchmarks"]:
        if bench in compared:
            continue
        impl = bench["params"]["implementation"]
        rows.setdefault(bench["params"]["case"], {})[impl] = bench
    machine = data["machine_info"]
    # Where the run took place (it may be another machine than this one).
    run = data["benchmarks"][0]["extra_info"]
    device = "" if run["device"] == "cpu" else f"device {run['device']}, "
    print(
        f"Machine: {device}{machine.get('cpu', {}).get('brand_raw', machine['processor'])}, "
        f"{run['threads']} threads, torch {run['torch']}, "
        f"Python {machine['python_version']}, {data['datetime'][:10]}.\n"
    )
    if compared:
        variants(compared)
    if not rows:
        return
    print("| case | extension median | reference median | speed-up | extension peak extra memory | reference peak extra memory |")
    print("|---|---|---|---|---|---|")
    for case, impls in rows.items():
        ext, ref = impls["extension"], impls["reference"]
        t_ext, t_ref = ext["stats"]["median"], ref["stats"]["median"]
        print(
            f"| {case} | {t_ext * 1e3:.1f} ms | {t_ref * 1e3:.1f} ms | {t_ref / t_ext:.1f}x "
            f"| {ext['extra_info']['peak_extra_mb']:.0f} MiB "
            f"| {ref['extra_info']['peak_extra_mb']:.0f} MiB |"
        )


if __name__ == "__main__":
    main(sys.argv[1])

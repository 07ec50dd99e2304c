"""Turns a pytest-benchmark JSON file into the Markdown table of README.md.

    python tests/benchmarks/report.py bench.json
"""

import json
import sys


def main(path: str) -> None:
    data = json.load(open(path))
    rows = {}
    for bench in data["benchmarks"]:
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

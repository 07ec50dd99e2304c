"""Measures how far the suite's learned and float-tolerant verdicts are from
flipping, under each CPU family's vector paths, and prints a markdown table.

    python scripts/margins.py                          # the learned tests, seeds 0-5, every path
    python scripts/margins.py --seeds 0,1 --paths native,avx2
    python scripts/margins.py --tolerances             # the whole suite once per path: assert_close's share of its tolerance
    python scripts/margins.py -- tests/al/test_training.py   # other pytest arguments (replace the default selection)

Paths (each a separate pytest process, since the variables are read when the
libraries load):

- ``native``: whatever this machine's torch chooses (AVX-512 and AMX on Intel
  Sapphire Rapids, AVX2 on AMD EPYC).
- ``avx2``: ``ATEN_CPU_CAPABILITY=avx2`` (ATen's vectorised kernels: elementwise,
  reductions, softmax), ``MKL_ENABLE_INSTRUCTIONS=AVX2`` (MKL's GEMM, i.e. every
  float32 Linear) and ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN's convolutions and bf16
  matmuls): the paths an AMD EPYC takes, emulated on an Intel machine.
- ``no-onednn``: ``DACS_TEST_ONEDNN=0`` (tests/conftest.py turns
  ``torch.backends.mkldnn`` off): convolutions take ATen's im2col + GEMM path, a
  third rounding of the same networks.

The dacs_ext kernels themselves keep the instruction set they were built for
(``python -m dacs_ext.machine``); ``DACS_EXT_MARCH=x86-64-v3`` at build time gives
the AVX2 build.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import margins  # noqa: E402

PATHS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "no-onednn": {"DACS_TEST_ONEDNN": "0"},
}
# On an AVX-512 machine capped at AVX2, oneDNN's channels-last 1x1 convolution
# backward (jit_avx2_1x1_convolution_bwd_weights) hangs or segfaults now and then
# (torch 2.13.0, Intel Sapphire Rapids, 2026-12-05: Conv2d(4, 8, 1, stride=2) on
# [2, 4, 32, 32]); the emulation cannot run the channels-last tests.
# DACS_TEST_ONEDNN reaches only the pytest process, not the command lines that
# the kill-and-resume tests start, so their runs would differ by path.
LEFT_OUT = {
    "avx2": [
        "tests/experiments/test_cifar10.py::test_channels_last_trains_like_the_default_layout",
        "tests/experiments/test_cifar10.py::test_the_command_line_needs_a_data_dir_and_checks_training_options",
    ],
    "no-onednn": [
        "tests/experiments/test_cifar10.py::test_smoke_preset_runs_all_eight_methods_and_resumes_after_a_kill",
        "tests/experiments/test_davis.py::test_smoke_preset_end_to_end_and_resume_after_a_kill",
    ],
}
TIMEOUT = 3600


def short_id(nodeid: str) -> str:
    """A test's id without its folder (test file names are unique across tests/)."""
    path, sep, rest = nodeid.partition("::")
    return os.path.basename(path) + sep + rest


def run(path: str, seeds: str, pytest_args: list[str]) -> tuple[list[dict], str]:
    with tempfile.TemporaryDirectory(prefix="margins-") as scratch:
        out = os.path.join(scratch, "margins.jsonl")
        # A cache of its own: torch.compile's on-disk cache does not key its kernels
        # by ATEN_CPU_CAPABILITY, and an AVX-512 kernel reused under avx2 (or the
        # reverse) computes garbage (half sums, NaN; torch 2.13.0, 2026-12-05).
        inductor = os.path.join(scratch, "inductor")
        env = dict(os.environ, **PATHS[path], **{margins.SEEDS_VARIABLE: seeds, margins.FILE_VARIABLE: out}, TORCHINDUCTOR_CACHE_DIR=inductor)
        machine = subprocess.run([sys.executable, "-m", "dacs_ext.machine"], cwd=ROOT, env=env, capture_output=True, text=True)
        deselect = [f"--deselect={test}" for test in LEFT_OUT.get(path, [])]
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir=.", "--benchmark-disable", *deselect, *pytest_args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT,
        )
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
        failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        print("\n".join([f"{path}: {machine.stdout.strip()}", f"{path}: {summary}", *failed]), file=sys.stderr, flush=True)
        entries = [json.loads(line) for line in open(out)] if os.path.exists(out) else []
    return entries, machine.stdout.strip()


def test_name(nodeid: str) -> str:
    """The test without its seed parameter."""
    name = nodeid.split("::", 1)[-1]
    for part in ("-seed", "[seed"):
        if part in name:
            cut = name.index(part)
            name = name[:cut] + ("]" if part == "-seed" else "")
    return short_id(f"{nodeid.split('::')[0]}::{name}")


def threshold_table(by_path: dict[str, list[dict]]) -> str:
    rows: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    bounds = {}
    for path, entries in by_path.items():
        for e in entries:
            if e["kind"] == "threshold":
                key = (test_name(e["test"]), e["name"])
                rows[key][path].append(e["value"])
                bounds[key] = f"{e['relation']} {e['bound']:g}"
    paths = list(by_path)
    lines = [
        "| test | check | bound | " + " | ".join(f"{p}: values (n)" for p in paths) + " | worst margin |",
        "|---|---|---|" + "---|" * len(paths) + "---|",
    ]
    for (test, name), values in sorted(rows.items()):
        bound = bounds[(test, name)]
        relation, limit = bound.split()
        margin = lambda v: v - float(limit) if relation == ">" else float(limit) - v  # noqa: E731
        cells = [f"{min(values[p]):.4g}-{max(values[p]):.4g} ({len(values[p])})" if values[p] else "-" for p in paths]
        worst = min(margin(v) for p in paths for v in values[p])
        lines.append(f"| {test} | {name} | {bound} | " + " | ".join(cells) + f" | {worst:.4g} |")
    return "\n".join(lines)


def tolerance_table(by_path: dict[str, list[dict]], shown: int) -> str:
    worst: dict[str, dict[str, float]] = defaultdict(dict)
    for path, entries in by_path.items():
        for e in entries:
            if e["kind"] == "tolerance":
                worst[e["test"]][path] = max(worst[e["test"]].get(path, 0.0), e["ratio"])
    paths = list(by_path)
    ordered = sorted(worst.items(), key=lambda item: -max(item[1].values()))
    lines = [
        f"{len(worst)} tests call assert_close with both tolerances; the {min(shown, len(worst))} closest to their tolerance "
        "(share of the tolerance used, 1 = failing):",
        "",
        "| test | " + " | ".join(paths) + " |",
        "|---|" + "---|" * len(paths),
    ]
    for test, ratios in ordered[:shown]:
        lines.append(f"| {short_id(test)} | " + " | ".join(f"{ratios[p]:.3g}" if p in ratios else "-" for p in paths) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2,3,4,5", help="training seeds of the learned tests (default 0-5)")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--tolerances", action="store_true", help="run the whole suite (one seed) and tabulate assert_close")
    parser.add_argument("--shown", type=int, default=25, help="rows of the tolerance table")
    parser.add_argument("pytest_args", nargs="*", help="pytest arguments (after --); default: -m learned, or the suite")
    args = parser.parse_args(argv)
    paths = args.paths.split(",")
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown path(s) {', '.join(sorted(unknown))}; choose from {', '.join(PATHS)}")
    selection = args.pytest_args or (["tests", "--ignore=tests/benchmarks"] if args.tolerances else ["tests", "-m", "learned"])
    seeds = "0" if args.tolerances else args.seeds
    by_path, machines = {}, {}
    for path in paths:
        by_path[path], machines[path] = run(path, seeds, selection)
    print("\n".join(f"- {path}: {machines[path]}" for path in paths) + "\n")
    print(threshold_table(by_path))
    if args.tolerances:
        print("\n" + tolerance_table(by_path, args.shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())

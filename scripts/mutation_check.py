"""Applies each deliberate bug of scripts/mutations.py to a copy of the tree, one at
a time, runs the tests against it with ``-x``, and reports which bugs survived.

    python scripts/mutation_check.py            # each bug against the tests it names (CI)
    python scripts/mutation_check.py --full     # each bug against the whole suite
    python scripts/mutation_check.py --only NAME [NAME ...]
    python scripts/mutation_check.py --list
    python scripts/mutation_check.py --full -- --ignore=tests/benchmarks   # extra pytest arguments

Exit status: 0 when every mutation is caught, 1 when one survives, 2 when the
check itself cannot run (a snippet that is no longer in the source, the
unmutated tests failing, a test run that errors instead of failing).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from mutations import MUTATIONS, Mutation  # the list beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Build outputs and run data the copy does not need; the compiled library
# (dacs_ext/_C*.so, build_info.py) is copied, so Python-level bugs need no rebuild.
SKIP = shutil.ignore_patterns(
    ".git", "cmake-build*", "build", "runs", "results", "__pycache__", ".pytest_cache", ".hypothesis", ".benchmarks",
    "*.egg-info",
)
PYTEST = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--rootdir=.", "--benchmark-disable"]
TIMEOUT = 1200


class CheckError(Exception):
    pass


def copy_tree(destination: str) -> str:
    tree = os.path.join(destination, "tree")
    shutil.copytree(ROOT, tree, ignore=SKIP, symlinks=True)
    # The copy, not the editable install of ROOT, must be what the tests import.
    found = subprocess.run(
        [sys.executable, "-c", "import dacs_ext; print(dacs_ext.__file__)"], cwd=tree, capture_output=True, text=True
    )
    if found.returncode or not found.stdout.strip().startswith(tree):
        raise CheckError(f"the copy does not import its own dacs_ext: {found.stdout.strip() or found.stderr.strip()}")
    return tree


def run_tests(tree: str, tests: list[str], extra: list[str]) -> tuple[int, str, float]:
    start = time.perf_counter()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    try:
        out = subprocess.run(PYTEST + extra + tests, cwd=tree, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {TIMEOUT} s", time.perf_counter() - start
    return out.returncode, out.stdout + out.stderr, time.perf_counter() - start


def first_failure(output: str) -> str:
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return match.group(1) if match else "?"


def source_of(tree: str, mutation: Mutation) -> str:
    """The file a mutation changes, after checking its snippet occurs exactly once."""
    with open(os.path.join(tree, mutation.path)) as f:
        source = f.read()
    count = source.count(mutation.before)
    if count != 1:
        raise CheckError(f"{mutation.name}: its snippet occurs {count} times in {mutation.path}, expected once: {mutation.before!r}")
    return source


def apply(tree: str, mutation: Mutation) -> str:
    source = source_of(tree, mutation)
    with open(os.path.join(tree, mutation.path), "w") as f:
        f.write(source.replace(mutation.before, mutation.after))
    return source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="run the whole suite against each mutation")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these mutations only")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = parser.parse_args(argv)

    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    unknown = set(args.only or ()) - {m.name for m in MUTATIONS}
    if unknown:
        print(f"unknown mutation(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:40s} {m.path:28s} {m.why}")
        return 0

    with tempfile.TemporaryDirectory(prefix="mutation-check-") as scratch:
        try:
            tree = copy_tree(scratch)
            for m in chosen:  # every snippet is checked before anything runs
                source_of(tree, m)
            selections = {m.name: ["tests"] if args.full else list(m.tests) for m in chosen}
            baseline = sorted({t for tests in selections.values() for t in tests})
            code, output, seconds = run_tests(tree, baseline, args.pytest_args)
            if code != 0:
                raise CheckError(f"the unmutated tests do not pass ({' '.join(baseline)}):\n{output[-3000:]}")
            print(f"unmutated: {' '.join(baseline)} pass ({seconds:.0f} s)", flush=True)
            survivors, total = [], time.perf_counter()
            for m in chosen:
                source = apply(tree, m)
                try:
                    code, output, seconds = run_tests(tree, selections[m.name], args.pytest_args)
                finally:
                    with open(os.path.join(tree, m.path), "w") as f:
                        f.write(source)
                if code == 1:
                    print(f"caught    {m.name:40s} {seconds:6.1f} s  by {first_failure(output)}", flush=True)
                elif code == 0:
                    survivors.append(m)
                    print(f"SURVIVED  {m.name:40s} {seconds:6.1f} s  ({m.why})", flush=True)
                else:
                    raise CheckError(f"{m.name}: pytest exited with {code} instead of failing a test:\n{output[-3000:]}")
        except CheckError as error:
            print(f"mutation check cannot run: {error}", file=sys.stderr)
            return 2
    caught = len(chosen) - len(survivors)
    print(f"mutation score: {caught}/{len(chosen)} caught ({time.perf_counter() - total:.0f} s)")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())

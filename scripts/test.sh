#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh), prints where it runs (CPU model, the
# instruction set the kernels were built for, torch's vector paths) and runs the
# whole pytest suite: the unit, property, oracle and dispatch tests, the CMake
# build loaded by a test, the training and experiment tests, and the benchmarks
# once with timing disabled (their outputs checked against the reference).
# CI (.ci/run) runs this, then scripts/ci_checks.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"

bash scripts/setup.sh
# Where the suite runs: a red run names the CPU and the vector paths behind it.
"$PYTHON" -m dacs_ext.machine
start=$SECONDS
"$PYTHON" -m pytest -q -p no:cacheprovider --rootdir=. tests --benchmark-disable --durations=20 "$@"
echo "test.sh: pytest took $((SECONDS - start)) s"

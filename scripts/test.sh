#!/usr/bin/env bash
# Sets up a fresh machine, prints where it runs (CPU model, the instruction set
# the kernels were built for, torch's vector paths) and runs every test: the unit, property, oracle and
# dispatch tests, the CMake build loaded by a test, the nvcc compile check of
# every .cu (when nvcc exists), an AddressSanitizer run of the CPU kernels, the
# benchmarks once with timing disabled (their outputs checked against the
# reference), and the mutation check (every deliberate bug must be caught).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"

bash scripts/setup.sh
# Where the suite runs: a red run names the CPU and the vector paths behind it.
"$PYTHON" -m dacs_ext.machine

cmake -S . -B cmake-build -DCMAKE_PREFIX_PATH="$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')" >/dev/null
cmake --build cmake-build -j2 >/dev/null
export DACS_EXT_CMAKE_LIBRARY="$PWD/cmake-build/libdacs_ext.so"

bash scripts/check_cuda_compile.sh
bash scripts/asan_check.sh

"$PYTHON" -m pytest -q -p no:cacheprovider --rootdir=. tests --benchmark-disable "$@"

bash scripts/mutation_check.sh

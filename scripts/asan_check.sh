#!/usr/bin/env bash
# Builds the operator library with AddressSanitizer (CMake, same sources) and runs
# scripts/asan_exercise.py against it: out-of-bounds reads or writes in any CPU
# kernel fail this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
build=cmake-build-asan
cmake -S . -B "$build" -DCMAKE_PREFIX_PATH="$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')" \
  -DCMAKE_CXX_FLAGS="-fsanitize=address -fno-omit-frame-pointer" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address" >/dev/null
cmake --build "$build" -j2 >/dev/null
LD_PRELOAD="$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0 \
  "$PYTHON" scripts/asan_exercise.py "$build/libdacs_ext.so"

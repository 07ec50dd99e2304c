#!/usr/bin/env bash
# The checks CI runs after the test suite (scripts/test.sh), each slower than a
# test: the nvcc compile of every .cu (when nvcc exists), an AddressSanitizer run
# of the CPU kernels over edge-case inputs, and the mutation check (every
# deliberate bug of scripts/mutations.py must be caught).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for check in check_cuda_compile asan_check mutation_check; do
  start=$SECONDS
  bash "scripts/$check.sh"
  echo "ci_checks.sh: $check took $((SECONDS - start)) s"
done

#!/usr/bin/env bash
# Applies each deliberate bug of scripts/mutations.py to a copy of the tree and runs
# the tests against it (scripts/mutation_check.py); fails if any bug survives.
# Run after scripts/setup.sh (the copy reuses the built library). By default each
# bug meets the tests it names; --full runs the whole suite against each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
"${PYTHON:-python3}" scripts/mutation_check.py "$@"

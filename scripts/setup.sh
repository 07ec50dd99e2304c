#!/usr/bin/env bash
# Sets up a fresh machine: torch (the pinned CPU wheel unless a torch is already
# installed, e.g. a CUDA build on a GPU machine), the Python tools, and dacs_ext
# itself, compiled against that torch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  "$PYTHON" -m pip install -q torch==2.13.0
fi
"$PYTHON" -m pip install -q -r requirements.txt
# Editable: the compiled library lands in the checkout, so `python -m ...` from
# here imports the built package rather than an uncompiled source tree.
"$PYTHON" -m pip install -q --no-build-isolation -e .

#!/usr/bin/env bash
# Sets up a fresh machine: torch (the pinned CPU wheel unless a torch is already
# installed, e.g. a CUDA build on a GPU machine), the Python tools, dacs_ext
# itself, compiled against that torch, the libraries of its adapters (small-text,
# modAL) and the Fashion-MNIST data.
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
# The libraries of dacs_ext.adapters (pyproject's extras small-text and modal), at
# the versions tests/adapters was written against; the constraint keeps the
# installed torch, so pip never swaps in another build.
torch_pin="torch==$("$PYTHON" -c 'import torch; print(torch.__version__.split("+")[0])')"
"$PYTHON" -m pip install -q -c <(echo "$torch_pin") small-text==1.4.1 modAL-python==0.4.2.1

# Fashion-MNIST for the Repeated-MNIST task (Debian's dataset-fashion-mnist).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) ||
    echo "setup: could not install dataset-fashion-mnist; the Repeated-MNIST task will need --data-dir" >&2
fi

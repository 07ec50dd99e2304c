"""dacs_ext without a usable compiled library: the pure-PyTorch reference still
imports and runs, and the first call of a compiled op raises why and how to
rebuild (never at import, never a segfault)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = """
import sys
# An editable install's finder would fill in the missing build_info from the checkout.
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__name__", type(f).__name__).lower()]
import torch, dacs_ext
from dacs_ext import reference
z = torch.randn(300, 8, generator=torch.Generator().manual_seed(0))
picks = reference.select(z, z[:10], 20, generator=torch.Generator().manual_seed(0))
assert picks.shape == (20,), picks.shape
try:
    dacs_ext.select(z, z[:10], 20)
except RuntimeError as error:
    print("RAISED", error)
"""


def package_copy(tmp_path, build_info: str | None) -> str:
    """The package's Python files (no compiled library) under tmp_path, with the
    given build_info.py (None: none, as in a source tree never built)."""
    shutil.copytree(os.path.join(ROOT, "dacs_ext"), tmp_path / "dacs_ext",
                    ignore=shutil.ignore_patterns("_C*.so", "build_info.py", "__pycache__"))
    if build_info is not None:
        (tmp_path / "dacs_ext" / "build_info.py").write_text(build_info)
    return str(tmp_path)


@pytest.mark.parametrize(
    "build_info, reason",
    [
        (None, "dacs_ext was not built (no build_info.py)"),
        ("TORCH_VERSION = '0.0'\nWITH_CUDA = False\nMARCH = 'native'\n", "dacs_ext was built against torch 0.0"),
        ("import torch\nTORCH_VERSION = torch.__version__\nWITH_CUDA = False\nMARCH = 'native'\n",
         "compiled library _C*.so is missing"),
    ],
    ids=["never-built", "other-torch", "library-missing"],
)
def test_reference_runs_and_compiled_ops_raise_at_their_first_call(tmp_path, build_info, reason):
    tree = package_copy(tmp_path, build_info)
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tree, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=tree))
    assert done.returncode == 0, done.stderr
    assert "RAISED dacs_ext.ops." in done.stdout and reason in done.stdout, done.stdout
    assert "pip install --no-build-isolation" in done.stdout

"""Loads the compiled ``dacs`` operator library and registers its fake kernels.

The ops live in ``torch.ops.dacs``; their schemas are in ``csrc/dacs.cpp``. The
fake (meta) kernels below give output shapes and dtypes without running
anything, which is what ``torch.compile(fullgraph=True)`` and
``torch.library.opcheck`` need.
"""

from __future__ import annotations

import glob
import os

import torch

from ._checks import accumulation_dtype

_REBUILD = "rebuild it with `pip install --no-build-isolation --force-reinstall .` in the dacs_ext source tree"


def _load_library() -> bool:
    """Loads ``_C*.so`` next to this file; returns whether it has CUDA kernels."""
    try:
        from . import _build_info
    except ImportError as e:
        raise ImportError(f"dacs_ext was not built (no _build_info.py); {_REBUILD}") from e
    if _build_info.TORCH_VERSION != torch.__version__:
        raise ImportError(
            f"dacs_ext was built against torch {_build_info.TORCH_VERSION} but torch "
            f"{torch.__version__} is installed; {_REBUILD}"
        )
    here = os.path.dirname(os.path.abspath(__file__))
    libraries = glob.glob(os.path.join(here, "_C*.so"))
    if not libraries:
        raise ImportError(f"dacs_ext's compiled library _C*.so is missing from {here}; {_REBUILD}")
    torch.ops.load_library(libraries[0])
    return bool(_build_info.WITH_CUDA)


WITH_CUDA = _load_library()


@torch.library.register_fake("dacs::lsh_buckets")
def _(z, rotation):
    return z.new_empty((rotation.shape[0], z.shape[0]), dtype=torch.int64)


@torch.library.register_fake("dacs::bucket_sort")
def _(buckets, num_buckets):
    return torch.empty_like(buckets)


@torch.library.register_fake("dacs::chunk_density")
def _(z_sorted, chunks, neighbours):
    return z_sorted.new_empty((z_sorted.shape[0],), dtype=accumulation_dtype(z_sorted.dtype))


@torch.library.register_fake("dacs::min_distance")
def _(x, y, metric):
    return x.new_empty((x.shape[0],), dtype=accumulation_dtype(x.dtype))


@torch.library.register_fake("dacs::kcenter_greedy")
def _(x, min_dist, budget, metric, center_side=None):
    return x.new_empty((budget,), dtype=torch.int64)


@torch.library.register_fake("dacs::natural_breaks")
def _(values, classes):
    return values.new_empty((classes + 1,))


lsh_buckets = torch.ops.dacs.lsh_buckets
bucket_sort = torch.ops.dacs.bucket_sort
chunk_density = torch.ops.dacs.chunk_density
min_distance = torch.ops.dacs.min_distance
kcenter_greedy = torch.ops.dacs.kcenter_greedy
natural_breaks = torch.ops.dacs.natural_breaks

"""Loads the compiled ``dacs`` operator library and registers its fake kernels.

The ops live in ``torch.ops.dacs``; each op's schema is in ``csrc/<op>.cpp``. The
fake (meta) kernels below give output shapes and dtypes without running
anything, which is what ``torch.compile(fullgraph=True)`` and
``torch.library.opcheck`` need.

A missing or mismatched build does not fail ``import dacs_ext`` (so that
``dacs_ext.reference`` works without it): the first call of a compiled op raises
the reason and how to rebuild (``LOAD_ERROR``).
"""

from __future__ import annotations

import glob
import os

import torch

from .checks import accumulation_dtype

_REBUILD = "rebuild it with `pip install --no-build-isolation --force-reinstall .` in the dacs_ext source tree"


def _load_library() -> bool:
    """Loads ``_C*.so`` next to this file; returns whether it has CUDA kernels."""
    try:
        from . import build_info
    except ImportError as e:
        raise ImportError(f"dacs_ext was not built (no build_info.py); {_REBUILD}") from e
    if build_info.TORCH_VERSION != torch.__version__:
        raise ImportError(
            f"dacs_ext was built against torch {build_info.TORCH_VERSION} but torch "
            f"{torch.__version__} is installed; {_REBUILD}"
        )
    here = os.path.dirname(os.path.abspath(__file__))
    libraries = glob.glob(os.path.join(here, "_C*.so"))
    if not libraries:
        raise ImportError(f"dacs_ext's compiled library _C*.so is missing from {here}; {_REBUILD}")
    try:
        torch.ops.load_library(libraries[0])
    except OSError as error:
        raise ImportError(f"dacs_ext's compiled library {libraries[0]} does not load ({error}); {_REBUILD}") from error
    return bool(build_info.WITH_CUDA)


try:
    WITH_CUDA = _load_library()
    LOAD_ERROR: str | None = None
except ImportError as error:
    WITH_CUDA, LOAD_ERROR = False, str(error)


def _op(name: str):
    """``torch.ops.dacs.<name>``, or without a usable library a function that
    raises why at its first call."""
    if LOAD_ERROR is None:
        return getattr(torch.ops.dacs, name)

    def unavailable(*args, **kwargs):
        raise RuntimeError(f"dacs_ext.ops.{name}: {LOAD_ERROR}")

    return unavailable


def _fake(name: str):
    """Registers the decorated function as the fake kernel of ``dacs::<name>``
    when the library loaded. The fake kernels check what the real ones check
    about shapes and dtypes, so that a traced or compiled call fails where an
    eager one would."""

    def register(kernel):
        return torch.library.register_fake(f"dacs::{name}")(kernel) if LOAD_ERROR is None else kernel

    return register


@_fake("lsh_buckets")
def _(z, rotation):
    torch._check(z.dim() == 2, lambda: f"z must be 2-D [N, d], got shape {list(z.shape)}")
    torch._check(rotation.dim() == 3 and rotation.shape[1] == z.shape[1], lambda: f"rotation must be [rounds, d, k/2], got shape {list(rotation.shape)}")
    torch._check(rotation.dtype == z.dtype, lambda: f"rotation must have z's dtype {z.dtype}, got {rotation.dtype}")
    return z.new_empty((rotation.shape[0], z.shape[0]), dtype=torch.int64)


@_fake("bucket_sort")
def _(buckets, num_buckets):
    torch._check(buckets.dim() == 1 and buckets.dtype == torch.int64, lambda: f"buckets must be an int64 tensor [N], got {buckets.dtype} {list(buckets.shape)}")
    torch._check(num_buckets >= 1, lambda: f"num_buckets must be at least 1, got {num_buckets}")
    return torch.empty_like(buckets)


@_fake("chunk_density")
def _(z_sorted, chunks, neighbours, bounds=None):
    torch._check(z_sorted.dim() == 2, lambda: f"z_sorted must be 2-D [N, d], got shape {list(z_sorted.shape)}")
    torch._check(1 <= chunks <= z_sorted.shape[0], lambda: f"chunks must be in [1, N = {z_sorted.shape[0]}], got {chunks}")
    torch._check(
        bounds is None or (bounds.dim() == 1 and bounds.shape[0] == chunks + 1 and bounds.dtype == torch.int64),
        lambda: f"bounds must be an int64 tensor [chunks + 1 = {chunks + 1}], got {bounds.dtype} {list(bounds.shape)}",
    )
    return z_sorted.new_empty((z_sorted.shape[0],), dtype=accumulation_dtype(z_sorted.dtype))


@_fake("min_distance")
def _(x, y, metric):
    torch._check(x.dim() == 2 and y.dim() == 2 and x.shape[1] == y.shape[1], lambda: f"x [N, d] and y [M, d] must share d, got {list(x.shape)} and {list(y.shape)}")
    return x.new_empty((x.shape[0],), dtype=accumulation_dtype(x.dtype))


@_fake("kcenter_greedy")
def _(x, min_dist, budget, metric, center_side=None):
    torch._check(x.dim() == 2 and min_dist.shape == (x.shape[0],), lambda: f"x must be [N, d] and min_dist [N], got {list(x.shape)} and {list(min_dist.shape)}")
    torch._check(0 <= budget <= x.shape[0], lambda: f"budget must be in [0, N = {x.shape[0]}], got {budget}")
    return x.new_empty((budget,), dtype=torch.int64)


@_fake("natural_breaks")
def _(values, classes):
    torch._check(values.dim() == 1, lambda: f"values must be 1-D [N], got shape {list(values.shape)}")
    torch._check(2 <= classes <= values.shape[0], lambda: f"classes must be in [2, N = {values.shape[0]}], got {classes}")
    return values.new_empty((classes + 1,))


lsh_buckets = _op("lsh_buckets")
bucket_sort = _op("bucket_sort")
chunk_density = _op("chunk_density")
min_distance = _op("min_distance")
kcenter_greedy = _op("kcenter_greedy")
natural_breaks = _op("natural_breaks")
cpu_isa = _op("cpu_isa")

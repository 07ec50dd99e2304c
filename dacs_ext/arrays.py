"""numpy in, numpy out: the public functions take numpy arrays (memory-mapped
ones too) wherever they take tensors, and return numpy for numpy input."""

from __future__ import annotations

import functools
import inspect
import warnings

import numpy as np
import torch

KINDS = "fiub"
"""numpy dtype kinds torch can hold: floating, signed, unsigned, bool."""


def to_tensor(value: np.ndarray, name: str) -> torch.Tensor:
    """A CPU tensor over the array's memory when torch can view it (any native
    byte order and non-negative strides: C-ordered, F-ordered, memory-mapped,
    read-only), else over a copy. Nothing here writes to the array."""
    if value.dtype.kind not in KINDS:
        raise TypeError(f"{name} must be a numeric array (float32 or float64 features), got dtype {value.dtype}")
    if not value.dtype.isnative:
        value = value.astype(value.dtype.newbyteorder("="))
    if any(s < 0 for s in value.strides) or any(s % value.itemsize for s in value.strides):
        value = np.ascontiguousarray(value)
    with warnings.catch_warnings():
        # A read-only array (np.load(mmap_mode="r")) is only ever read.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(value)


def to_numpy(value):
    """Tensors (also inside tuples, lists and dicts) as numpy arrays; anything else as is."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, tuple):
        return tuple(to_numpy(v) for v in value)
    if isinstance(value, list):
        return [to_numpy(v) for v in value]
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    return value


def numpy_io(function):
    """Decorates a public function so that every numpy-array argument reaches it
    as a tensor (``to_tensor``, named in errors by its parameter), and its
    tensors come back as numpy arrays when its first array parameter (the first
    after ``self``) was given as a numpy array."""
    signature = inspect.signature(function)
    names = list(signature.parameters)
    primary = names[1] if names[0] == "self" else names[0]

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        bound = signature.bind_partial(*args, **kwargs)
        arguments = bound.arguments
        numpy_out = isinstance(arguments.get(primary), np.ndarray)
        for name, value in arguments.items():
            if isinstance(value, np.ndarray):
                arguments[name] = to_tensor(value, name)
        out = function(*bound.args, **bound.kwargs)
        return to_numpy(out) if numpy_out else out

    return wrapper

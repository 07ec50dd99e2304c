"""Argument checks of the Python API: every bad input becomes a clear exception
naming the argument, before any kernel runs."""

from __future__ import annotations

import numbers

import torch

NEIGHBOURS = ("back", "both", "none")
METRICS = ("cosine", "euclidean")


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the kernels accumulate and return in: float64 for float64, else float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def features(
    t, name: str, *, min_rows: int = 1, like: tuple[torch.Tensor, str] | None = None, finite: bool = True
) -> torch.Tensor:
    """Checks a [N, d] floating feature matrix with N >= min_rows and (unless
    ``finite=False``, for callers that pass t to ``unit_rows``, which checks it on
    the way) finite values; with ``like=(other, other_name)`` also that t has
    other's width and device."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array [N, d], got {type(t).__name__}")
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-D [N, d], got shape {list(t.shape)}")
    if not t.is_floating_point():
        raise TypeError(
            f"{name} must be a floating tensor (float16, bfloat16, float32 or float64), got {t.dtype}"
        )
    if t.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature column, got shape {list(t.shape)}")
    if t.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} row(s), got shape {list(t.shape)}")
    if like is not None:
        same_width(like[0], like[1], t, name)
        same_device(like[0], like[1], t, name)
    if finite:
        all_finite(t, name)
    return t


def all_finite(t: torch.Tensor, name: str) -> None:
    # One reduction instead of an [N, d] mask: a NaN or an infinity makes the sum
    # non-finite; a sum of finite values that overflows goes to the exact check.
    if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def integer(value, name: str, *, low: int, high: int | None = None) -> int:
    """Checks a Python (or 0-d tensor) integer in [low, high]."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)  # numpy integers too
    if value < low or (high is not None and value > high):
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return value


def positive(value, name: str) -> float:
    """Checks a real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def at_least(value, name: str, low: float) -> float:
    """Checks a finite real number >= low."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value < float("inf"):
        raise ValueError(f"{name} must be a number >= {low:g}, got {value!r}")
    return float(value)


def dropout_probability(value, name: str) -> float:
    """Checks a dropout probability in [0, 1) (1 would drop every feature)."""
    value = at_least(value, name, 0.0)
    if not value < 1:
        raise ValueError(f"{name} must be below 1 (1 drops every feature), got {value!r}")
    return value


def boolean(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def even_buckets(value) -> int:
    """Checks an LSH bucket count: an even int >= 2 (the rotation has buckets // 2 columns)."""
    value = integer(value, "buckets", low=2)
    if value % 2:
        raise ValueError(f"buckets must be even (the rotation has buckets // 2 columns), got {value}")
    return value


def choice(value, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def same_device(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    if a.device != b.device:
        raise ValueError(f"{b_name} must be on {a_name}'s device {a.device}, got {b.device}")


def same_width(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{b_name} must have d = {a.shape[1]} columns to match {a_name}, got shape {list(b.shape)}"
        )


def unit_rows(t: torch.Tensor, name: str) -> torch.Tensor:
    """L2-normalises the rows of t in its accumulation dtype; zero rows are an error."""
    t = t.to(accumulation_dtype(t.dtype))
    norms = torch.linalg.vector_norm(t, dim=1)
    # A NaN or infinite entry makes its row's norm non-finite, so finite norms
    # prove finite rows without a separate pass (an overflowing norm is told
    # apart by the exact check).
    if not bool(torch.isfinite(norms).all()):
        all_finite(t, name)
        raise ValueError(f"{name} has rows whose L2 norm overflows {t.dtype}")
    zero = (norms == 0).nonzero()
    if zero.numel():
        raise ValueError(
            f"{name} has {zero.numel()} all-zero row(s) (first at index {int(zero[0])}), "
            "which cannot be L2-normalised"
        )
    return t / norms.unsqueeze(1)


def unit_inputs(x: torch.Tensor, labeled: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The rows ``select`` works on: x [N, d] (already checked, N may be 0) and
    labeled [M, d] (checked here) as unit rows in the accumulation dtype;
    labeled None when absent or empty."""
    if labeled is not None:
        labeled = features(labeled, "labeled", min_rows=0, like=(x, "unlabeled"))
        labeled = unit_rows(labeled, "labeled") if labeled.shape[0] else None
    x = unit_rows(x, "unlabeled") if x.shape[0] else x.to(accumulation_dtype(x.dtype))
    return x, labeled

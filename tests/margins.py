"""How far each learned or float-tolerant verdict is from flipping.

A test whose verdict rests on a training run (an accuracy after training) or on a
float tolerance (a kernel against its reference) passes on one CPU and can fail
on another: ATen, MKL and oneDNN take AVX2 paths on AMD EPYC and AVX-512/AMX paths
on Intel Xeon, and round differently. Such tests state their threshold through
the ``margin`` fixture (``conftest.py``), and run over the seeds that
``DACS_TEST_SEEDS`` lists (default: one). With ``DACS_MARGINS_FILE`` set, every
threshold check and every ``torch.testing.assert_close`` appends what it measured
to that file (JSON lines), and ``scripts/margins.py`` tabulates the margins under
each CPU family's paths.
"""

from __future__ import annotations

import json
import os

import torch

SEEDS_VARIABLE = "DACS_TEST_SEEDS"
FILE_VARIABLE = "DACS_MARGINS_FILE"


def seeds() -> list[int]:
    """The training seeds of the learned tests: ``DACS_TEST_SEEDS`` (e.g. ``0,1,2``), or [0]."""
    text = os.environ.get(SEEDS_VARIABLE, "0")
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"{SEEDS_VARIABLE} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise ValueError(f"{SEEDS_VARIABLE} names no seed: {text!r}")
    return values


def record(kind: str, **entry) -> None:
    """Appends a measurement of the running test to ``DACS_MARGINS_FILE``, if set."""
    path = os.environ.get(FILE_VARIABLE)
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]  # "<nodeid> (call)"
        with open(path, "a") as f:
            f.write(json.dumps(dict(kind=kind, test=test, **entry)) + "\n")


class Margin:
    """The threshold checks of a test: each asserts, and records its margin."""

    def above(self, name: str, value: float, bound: float, *, why: str = "") -> None:
        """Asserts ``value > bound``; the margin is ``value - bound``."""
        self._check(name, float(value), float(bound), ">", why)

    def below(self, name: str, value: float, bound: float, *, why: str = "") -> None:
        """Asserts ``value < bound``; the margin is ``bound - value``."""
        self._check(name, float(value), float(bound), "<", why)

    def _check(self, name, value, bound, relation, why):
        margin = value - bound if relation == ">" else bound - value
        record("threshold", name=name, value=value, bound=bound, relation=relation, margin=margin)
        assert margin > 0, f"{name} = {value:.6g}, expected {relation} {bound:.6g}" + (f" ({why})" if why else "")


def record_share(share: float) -> None:
    """Records what share of its tolerance a hand-written check used (1 = failing)."""
    record("tolerance", ratio=float(share))


def tolerance_ratio(actual, expected, rtol, atol) -> float:
    """max |actual - expected| / (atol + rtol |expected|): the share of the
    tolerance used (1 is the edge; 0 when equal)."""
    a = torch.as_tensor(actual).detach().cpu()
    b = torch.as_tensor(expected).detach().cpu()
    if not (a.is_floating_point() or b.is_floating_point()) or a.shape != b.shape:
        return 0.0
    a, b = a.double(), b.double()
    finite = torch.isfinite(a) & torch.isfinite(b)
    if not bool(finite.any()):
        return 0.0
    gap = (a - b).abs()[finite]
    allowed = atol + rtol * b.abs()[finite]
    ratio = torch.where(allowed > 0, gap / allowed.clamp(min=torch.finfo(torch.float64).tiny), torch.where(gap > 0, float("inf"), 0.0))
    return float(ratio.max())


def recording_assert_close(real):
    """``torch.testing.assert_close`` that first records the share of its
    tolerance each call used (only when both tolerances are given)."""

    def assert_close(actual, expected, *args, **kwargs):
        rtol, atol = kwargs.get("rtol"), kwargs.get("atol")
        if rtol is not None and atol is not None and isinstance(actual, torch.Tensor) and isinstance(expected, torch.Tensor):
            record_share(tolerance_ratio(actual, expected, rtol, atol))
        return real(actual, expected, *args, **kwargs)

    return assert_close

"""What the adapters share: features from the libraries' arrays and one seeded
``dacs_ext.select``."""

from __future__ import annotations

import sys

import numpy as np
import torch

from .. import checks
from ..selection import select
from ..settings import DACSSettings


def dense_features(x, name: str, hint: str) -> torch.Tensor:
    """``x`` as the [n, d] floating tensor ``dacs_ext.select`` takes.

    Args:
        x: [n, d] dense features: a torch tensor (kept on its device, detached;
            an integer or bool one becomes float32) or anything ``numpy.asarray``
            takes (numpy arrays, pandas frames, nested lists) of real numbers or
            bools; float64 stays float64, every other dtype becomes float32.
        name: what ``x`` is, for the error messages.
        hint: how to get dense features, appended to the sparse-input error.

    Returns:
        float32 or float64 [n, d] tensor; numpy input is copied only when it is
        not already C-contiguous of that dtype.

    Raises:
        TypeError: ``x`` is a scipy.sparse matrix, or its values are not real
            numbers.
        ValueError: ``x`` is not 2-D.
    """
    sparse = sys.modules.get("scipy.sparse")
    # Without scipy.sparse imported, x cannot be one of its matrices.
    if sparse is not None and sparse.issparse(x):
        raise TypeError(
            f"{name} is a scipy.sparse matrix ({type(x).__name__}, shape {list(x.shape)}); "
            f"DACS needs dense [n, d] features: {hint}"
        )
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if not t.is_floating_point():
            if t.is_complex():
                raise TypeError(f"{name} must hold real numbers, got {t.dtype}")
            t = t.float()
    else:
        array = np.asarray(x)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got numpy dtype {array.dtype}")
        dtype = np.float64 if array.dtype == np.float64 else np.float32
        t = torch.from_numpy(np.ascontiguousarray(array, dtype=dtype))
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-D [n, d], got shape {list(t.shape)}")
    return t


class SeededSelect:
    """``dacs_ext.select`` with fixed settings and one generator.

    The generator is seeded once, here, and every call advances it, as
    ``dacs_ext.DACS`` does: a run of queries is reproducible from the seed, and
    each query draws its own LSH rotation.

    Args:
        settings: ``DACSSettings``, a name of ``DACSSettings.named`` (``"paper"``,
            ``"recommended"``) or None for the defaults.
        seed: int >= 0 seeding the generator, or None for torch's global one.
        changes: single settings to change (``buckets=50``, ...).
    """

    def __init__(self, settings: DACSSettings | str | None, seed: int | None, changes: dict) -> None:
        self.settings = DACSSettings.of(settings, **changes)
        self.seed = None if seed is None else checks.integer(seed, "seed", low=0)
        self.generator = None if seed is None else torch.Generator().manual_seed(self.seed)

    def __call__(self, unlabeled: torch.Tensor, labeled: torch.Tensor | None, budget: int) -> np.ndarray:
        """int64 numpy [budget]: distinct row positions in ``unlabeled`` [N, d],
        ``labeled`` [M, d] (or None) being the rows already labelled."""
        picks = select(unlabeled, labeled, budget, self.settings, generator=self.generator)
        return picks.cpu().numpy()

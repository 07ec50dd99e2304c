"""DACS as a modAL query strategy: ``dacs_query``.

Needs modAL (``pip install dacs_ext[modal]``); tested with modAL-python 0.4.1
and 0.4.2.1.
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from .. import checks
from ..settings import DACSSettings
from .shared import SeededSelect, dense_features

try:
    from modAL.models.base import BaseLearner
except ImportError as error:
    raise ImportError(f"dacs_ext.adapters.modal needs the modAL library ({error}): pip install dacs_ext[modal]") from error

__all__ = ["dacs_query"]

# modAL 0.4.2 changed the protocol: its query unpacks (indices, metrics) from the
# strategy, and a bare index array of length 2 would be split in two. 0.4.1
# takes the indices alone.
_RETURNS_METRICS = "return_metrics" in inspect.signature(BaseLearner.query).parameters

_DENSE_HINT = "pass dacs_query(embed=...) a function returning dense [n, d] features (e.g. a fitted TruncatedSVD's transform)"


def dacs_query(
    embed: Callable | None = None,
    settings: DACSSettings | str | None = None,
    *,
    seed: int | None = 0,
    **changes,
) -> Callable:
    """A modAL query strategy that picks by density-aware core-set (``dacs_ext.select``).

    ``ActiveLearner(estimator, query_strategy=dacs_query(), X_training=...,
    y_training=...)``; ``learner.query(X_pool, n_instances=k)`` then returns k
    distinct row indices of ``X_pool`` (and modAL adds those rows).

    The labelled rows are the learner's ``X_training`` (modAL's pool-based loop
    deletes queried rows from ``X_pool`` and ``teach`` appends them there); for a
    ``Committee`` those of its first learner, all of whose learners are taught the
    same rows. A learner that keeps no training rows (``DeepActiveLearner``),
    or none yet, has none unless the call passes ``X_labeled``.

    Features: ``embed(X)`` when given; else, for a learner built with
    ``on_transformed=True``, modAL's ``transform_without_estimating(X)`` (the
    estimator pipeline's steps before the last); else the rows of X themselves.
    ``embed`` must work row by row (it is called on the pool and on the labelled
    rows separately) and return a dense [n, d] numpy array or torch tensor.
    scipy.sparse features (e.g. TF-IDF rows) are a ``TypeError``: DACS hashes
    dense vectors, so pass an ``embed`` that makes them dense and small.

    Args:
        embed: optional callable, X [n, ...] -> features [n, d].
        settings: ``DACSSettings``, a name (``"paper"``, ``"recommended"``) or None
            for the defaults; keyword ``changes`` (``buckets=50``) apply on top.
            DACS needs at least ``buckets`` (100 by default) rows in the pool.
        seed: int >= 0 seeding one generator that every query advances (the LSH
            rotation, any random first center); None uses torch's global one.

    Returns:
        ``query_strategy(classifier, X_pool, n_instances=1, X_labeled=None)``
        returning int64 numpy [n_instances] indices into ``X_pool`` in DACS's
        pick order; under modAL >= 0.4.2, whose ``query`` expects (indices,
        metrics), the pair (indices, None), since DACS scores no single row
        (``query(..., return_metrics=True)`` then warns so).
    """
    if embed is not None and not callable(embed):
        raise TypeError(f"embed must be a callable (X -> [n, d] features) or None, got {type(embed).__name__}")
    seeded = SeededSelect(settings, seed, changes)

    def features(classifier, X, name: str):
        if embed is not None:
            return dense_features(embed(X), f"embed({name})", _DENSE_HINT)
        if getattr(classifier, "on_transformed", False):
            return dense_features(classifier.transform_without_estimating(X), f"the transformed {name}", _DENSE_HINT)
        return dense_features(X, name, _DENSE_HINT)

    def dacs_query_strategy(classifier, X_pool, n_instances=1, X_labeled=None):
        """int64 numpy [n_instances] indices into ``X_pool`` [N, ...] (see
        ``dacs_query``); ``X_labeled`` [M, ...] overrides the learner's labelled rows."""
        pool = features(classifier, X_pool, "X_pool")
        n_instances = checks.integer(n_instances, "n_instances", low=1, high=pool.shape[0])
        if X_labeled is None:
            X_labeled = _training_rows(classifier)
        labeled = None if X_labeled is None else features(classifier, X_labeled, "X_labeled").to(pool.device)
        indices = seeded(pool, labeled, n_instances)
        return (indices, None) if _RETURNS_METRICS else indices

    return dacs_query_strategy


def _training_rows(classifier):
    """The rows ``classifier`` (a modAL learner or committee) was taught, or None."""
    rows = getattr(classifier, "X_training", None)
    # modAL's committees leave their own X_training None; each learner holds the rows.
    if rows is None and getattr(classifier, "learner_list", None):
        rows = getattr(classifier.learner_list[0], "X_training", None)
    return rows

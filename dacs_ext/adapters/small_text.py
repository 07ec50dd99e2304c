"""DACS as a small-text query strategy: ``DACSQueryStrategy``.

Needs small-text (``pip install dacs_ext[small-text]``); tested with
small-text 1.4.1.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..settings import DACSSettings
from .shared import SeededSelect, dense_features

try:
    from small_text.query_strategies import EmbeddingBasedQueryStrategy
except ImportError as error:
    raise ImportError(
        f"dacs_ext.adapters.small_text needs the small-text library ({error}): pip install dacs_ext[small-text]"
    ) from error

__all__ = ["DACSQueryStrategy"]

_DENSE_HINT = "pass DACSQueryStrategy(embed=...) a function returning dense features, or dense embeddings= to query"


class DACSQueryStrategy(EmbeddingBasedQueryStrategy):
    """Density-aware core-set selection (``dacs_ext.select``) as a small-text
    embedding-based query strategy.

    ``query(clf, dataset, indices_unlabeled, indices_labeled, y, n=10)``, as
    ``PoolBasedActiveLearner.query`` calls it, returns n distinct dataset indices
    from ``indices_unlabeled``: DACS picks among the unlabelled rows' embeddings
    with the rows of ``indices_labeled`` as the labelled set (the first k-center
    centers). Ignored rows (``indices_ignored``) take no part.

    The embeddings come from, in this order:

    1. ``embeddings`` passed to ``query`` (``query_strategy_kwargs={"embeddings":
       z}``): [len(dataset), d], one row per dataset index, in dataset order.
       small-text's own embedding strategies (``GreedyCoreset``) read a passed
       array in [unlabeled; labeled] order instead; this one is indexed like
       ``indices_unlabeled`` and ``indices_labeled``, so the same array serves
       every query.
    2. ``embed``, given here: called as ``embed(dataset[rows])`` with ``rows``
       the unlabelled then the labelled indices, it returns their [len(rows), d]
       features (e.g. ``lambda view: view.x`` for a dense ``SklearnDataset``).
    3. The classifier's ``clf.embed`` (small-text's transformer and KimCNN
       classifiers), as for every ``EmbeddingBasedQueryStrategy``.

    Embeddings may be numpy arrays or torch tensors (CUDA ones stay there);
    float64 is kept, other dtypes become float32. scipy.sparse embeddings are a
    ``TypeError``: DACS hashes dense features.

    Args:
        settings: ``DACSSettings``, a name (``"paper"``, ``"recommended"``) or None
            for the defaults; keyword ``changes`` (``buckets=50``) apply on top.
            DACS needs at least ``buckets`` (100 by default) unlabelled rows.
        seed: int >= 0 seeding one generator that every query advances (the LSH
            rotation, any random first center); None uses torch's global one.
        embed: optional callable described above.
    """

    def __init__(
        self,
        settings: DACSSettings | str | None = None,
        *,
        seed: int | None = 0,
        embed: Callable | None = None,
        **changes,
    ) -> None:
        if embed is not None and not callable(embed):
            raise TypeError(f"embed must be a callable (dataset view -> [n, d] features) or None, got {type(embed).__name__}")
        self.embed = embed
        self._select = SeededSelect(settings, seed, changes)

    @property
    def settings(self) -> DACSSettings:
        return self._select.settings

    def query(self, clf, dataset, indices_unlabeled, indices_labeled, y, n=10, pbar="tqdm", embeddings=None, embed_kwargs=None):
        """n distinct indices of ``dataset`` (int64 numpy [n]) out of
        ``indices_unlabeled`` (int [U]), ``indices_labeled`` (int [L]) being the
        labelled rows; ``embeddings`` [len(dataset), d] or None (see the class).
        Raises small-text's ``EmptyPoolException`` / ``PoolExhaustedException``
        when there is nothing or too little to pick."""
        self._validate_query_input(indices_unlabeled, n)
        # The base class returns the whole pool without embedding when n covers it.
        if len(indices_unlabeled) != n:
            embeddings = self._subset_embeddings(clf, dataset, indices_unlabeled, indices_labeled, embeddings)
        return super().query(
            clf, dataset, indices_unlabeled, indices_labeled, y, n=n, pbar=pbar,
            embeddings=embeddings, embed_kwargs=embed_kwargs if embed_kwargs is not None else {},
        )

    def _subset_embeddings(self, clf, dataset, indices_unlabeled, indices_labeled, embeddings):
        """The [U + L, d] embeddings of the unlabelled then the labelled rows, the
        order ``sample`` gets them in; None to let the base class ask ``clf.embed``."""
        rows = np.concatenate([np.asarray(indices_unlabeled), np.asarray(indices_labeled)]).astype(np.int64)
        if embeddings is not None:
            z = dense_features(embeddings, "embeddings", _DENSE_HINT)
            if z.shape[0] != len(dataset):
                raise ValueError(
                    f"embeddings must have one row per dataset row, [len(dataset) = {len(dataset)}, d] in dataset "
                    f"order, got shape {list(z.shape)}"
                )
            return z[torch.from_numpy(rows).to(z.device)]
        if self.embed is not None:
            z = dense_features(self.embed(dataset[rows]), "embed(dataset[rows])", _DENSE_HINT)
            if z.shape[0] != len(rows):
                raise ValueError(f"embed(dataset[rows]) must return {len(rows)} rows, one per row given, got shape {list(z.shape)}")
            return z
        if not hasattr(clf, "embed"):
            raise TypeError(
                f"the classifier {type(clf).__name__} has no embed(): pass DACSQueryStrategy(embed=...) or "
                "embeddings= to query (query_strategy_kwargs)"
            )
        return None

    def sample(self, clf, dataset, indices_unlabeled, indices_labeled, y, n, embeddings, embeddings_proba=None):
        """n positions (int64 numpy [n]) of ``indices_unlabeled`` in the subset
        ``dataset`` whose rows ``embeddings`` [U + L, d] hold, in DACS's pick order."""
        z = dense_features(embeddings, "embeddings", _DENSE_HINT)
        positions = torch.from_numpy(np.asarray(indices_unlabeled, dtype=np.int64)).to(z.device)
        labeled = torch.from_numpy(np.asarray(indices_labeled, dtype=np.int64)).to(z.device)
        picks = self._select(z[positions], z[labeled], n)
        return np.asarray(indices_unlabeled)[picks]

    def __str__(self) -> str:
        return f"DACSQueryStrategy({self.settings!r}, seed={self._select.seed})"

"""dacs_ext.adapters.small_text: DACSQueryStrategy in small-text's own pool-based
loop (PoolBasedActiveLearner with its scikit-learn classifier wrapper) picks what
dacs_ext.select picks on the same features and seed, and its errors say what to do."""


import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs

import dacs_ext
from helpers import assert_missing_library_is_named

small_text = pytest.importorskip("small_text", reason="small-text is not installed: pip install dacs_ext[small-text]")

from dacs_ext.adapters.small_text import DACSQueryStrategy  # noqa: E402

# small-text's own datasets call a function it deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:The function get_flattened_unique_labels:DeprecationWarning")

POOL, INITIAL, BUDGET, QUERIES, SEED = 600, 20, 30, 3, 7


def blobs():
    """float64 [POOL, 16] features of 4 separable classes, centred (DACS compares
    directions), and int64 [POOL] labels."""
    x, y = make_blobs(n_samples=POOL, centers=4, n_features=16, random_state=0)
    return x - x.mean(0), y.astype(np.int64)


class EmbeddingClassifier(small_text.SklearnClassifier):
    """small-text's scikit-learn wrapper with the embed() of its neural classifiers,
    returning fixed features: the rows themselves."""

    def embed(self, data_set, pbar="tqdm"):
        return data_set.x


class EmbeddingClassifierFactory(small_text.SklearnClassifierFactory):
    def new(self):
        return EmbeddingClassifier(clone(self.base_estimator), self.num_classes)


def learner_on(x, y, strategy, factory=small_text.SklearnClassifierFactory):
    dataset = small_text.SklearnDataset(x, y, target_labels=np.arange(4))
    factory = factory(small_text.ConfidenceEnhancedLinearSVC(), num_classes=4)
    learner = small_text.PoolBasedActiveLearner(factory, strategy, dataset)
    initial = np.random.default_rng(0).choice(POOL, INITIAL, replace=False)
    learner.initialize_data(initial, y[initial])
    return learner


@pytest.mark.parametrize(
    "source, settings, changes",
    [("embed", None, {}), ("embeddings", "recommended", {"buckets": 50}), ("clf.embed", None, {"rounds": 2})],
    ids=["embed-paper", "embeddings-recommended-50", "clf.embed-rounds-2"],
)
def test_three_queries_of_the_small_text_loop_are_dacs_select(source, settings, changes):
    x, y = blobs()
    embed = (lambda view: view.x) if source == "embed" else None
    kwargs = {"embeddings": x} if source == "embeddings" else {}
    factory = EmbeddingClassifierFactory if source == "clf.embed" else small_text.SklearnClassifierFactory
    learner = learner_on(x, y, DACSQueryStrategy(settings, seed=SEED, embed=embed, **changes), factory)
    generator = torch.Generator().manual_seed(SEED)
    queried = []
    for _ in range(QUERIES):
        labeled = learner.indices_labeled.copy()
        unlabeled = np.setdiff1d(np.arange(POOL), labeled)
        picks = learner.query(num_samples=BUDGET, query_strategy_kwargs=kwargs)

        assert picks.shape == (BUDGET,)
        assert len(set(picks.tolist())) == BUDGET, "a query repeats a row"
        assert not set(picks.tolist()) & set(labeled.tolist()), "a query returns a labelled row"
        positions = dacs_ext.select(
            torch.from_numpy(x[unlabeled]), torch.from_numpy(x[labeled]), BUDGET, settings,
            generator=generator, **changes,
        )
        np.testing.assert_array_equal(picks, unlabeled[positions.numpy()])
        queried += picks.tolist()
        learner.update(y[picks])
    assert len(set(queried)) == QUERIES * BUDGET
    assert len(learner.indices_labeled) == INITIAL + QUERIES * BUDGET


def test_a_classifier_without_embed_needs_embed_or_embeddings():
    x, y = blobs()
    learner = learner_on(x, y, DACSQueryStrategy())
    with pytest.raises(TypeError, match=r"classifier SklearnClassifier has no embed\(\).*embed=.*embeddings="):
        learner.query(num_samples=BUDGET)


def test_embeddings_are_one_row_per_dataset_row():
    x, y = blobs()
    learner = learner_on(x, y, DACSQueryStrategy())
    with pytest.raises(ValueError, match=r"embeddings must have one row per dataset row.*got shape \[580, 16\]"):
        learner.query(num_samples=BUDGET, query_strategy_kwargs={"embeddings": x[INITIAL:]})


def test_sparse_embeddings_are_refused():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    x, y = blobs()
    learner = learner_on(x, y, DACSQueryStrategy(embed=lambda view: scipy_sparse.csr_matrix(view.x)))
    with pytest.raises(TypeError, match=r"is a scipy.sparse matrix .*dense"):
        learner.query(num_samples=BUDGET)


def test_missing_small_text_names_the_extra(monkeypatch):
    assert_missing_library_is_named(monkeypatch, "small_text", "dacs_ext.adapters.small_text", "small-text")

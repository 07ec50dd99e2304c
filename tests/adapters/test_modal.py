"""dacs_ext.adapters.modal: dacs_query in modAL's own pool-based loop
(ActiveLearner.query, teach, the queried rows deleted from the pool) picks what
dacs_ext.select picks on the same features and seed, with the learner's
X_training as the labelled rows, and its errors say what to do."""

import inspect

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression

import dacs_ext
from helpers import assert_missing_library_is_named

modAL = pytest.importorskip("modAL", reason="modAL is not installed: pip install dacs_ext[modal]")

import modAL.models  # noqa: E402
import sklearn.utils  # noqa: E402

from dacs_ext.adapters.modal import dacs_query  # noqa: E402

POOL, INITIAL, BUDGET, QUERIES, SEED = 600, 20, 30, 3, 11


@pytest.fixture(autouse=True)
def modal_on_this_scikit_learn(monkeypatch):
    """modAL 0.4.2.1 (the latest) and 0.4.1 call scikit-learn's check_X_y with
    force_all_finite, which scikit-learn 1.8 removed (modAL issue #196), so their
    teach() fails there. On such a scikit-learn, modAL's calls get the new name."""
    if "force_all_finite" in inspect.signature(sklearn.utils.check_X_y).parameters:
        return

    def check_X_y(*args, force_all_finite=True, **kwargs):
        return sklearn.utils.check_X_y(*args, ensure_all_finite=force_all_finite, **kwargs)

    for module in (modAL.models.base, modAL.models.learners):
        if hasattr(module, "check_X_y"):
            monkeypatch.setattr(module, "check_X_y", check_X_y)


def blobs():
    """float64 [POOL, 16] features of 4 separable classes, centred (DACS compares
    directions), and int64 [POOL] labels."""
    x, y = make_blobs(n_samples=POOL, centers=4, n_features=16, random_state=0)
    return x - x.mean(0), y.astype(np.int64)


def query_indices(learner, pool, n, **kwargs):
    """The indices of modAL's query(pool, n_instances=n, **kwargs), checking the rows it returns with them."""
    indices, rows = learner.query(pool, n_instances=n, **kwargs)
    np.testing.assert_array_equal(rows, pool[indices])
    return np.asarray(indices)


@pytest.mark.parametrize(
    "embed, settings, changes",
    [(None, None, {}), (lambda rows: 2.0 * rows, "recommended", {"buckets": 50})],
    ids=["raw-rows-paper", "embed-recommended-50"],
)
def test_three_queries_of_the_modal_loop_are_dacs_select(embed, settings, changes):
    x, y = blobs()
    initial = np.random.default_rng(0).choice(POOL, INITIAL, replace=False)
    learner = modAL.models.ActiveLearner(
        LogisticRegression(), query_strategy=dacs_query(embed, settings, seed=SEED, **changes),
        X_training=x[initial], y_training=y[initial],
    )
    # modAL's loop deletes queried rows from the pool; `ids` follows them back to x.
    ids = np.setdiff1d(np.arange(POOL), initial)
    pool = x[ids]
    features = embed if embed is not None else (lambda rows: rows)
    generator = torch.Generator().manual_seed(SEED)
    labeled_ids = set(initial.tolist())
    for _ in range(QUERIES):
        expected = dacs_ext.select(
            torch.from_numpy(features(pool)), torch.from_numpy(features(learner.X_training)), BUDGET, settings,
            generator=generator, **changes,
        )
        indices = query_indices(learner, pool, BUDGET)

        assert indices.shape == (BUDGET,)
        assert len(set(indices.tolist())) == BUDGET, "a query repeats a row"
        assert not set(ids[indices].tolist()) & labeled_ids, "a query returns a labelled row"
        np.testing.assert_array_equal(indices, expected.numpy())
        learner.teach(pool[indices], y[ids[indices]])
        labeled_ids |= set(ids[indices].tolist())
        pool, ids = np.delete(pool, indices, axis=0), np.delete(ids, indices)
    assert len(labeled_ids) == INITIAL + QUERIES * BUDGET
    assert learner.X_training.shape == (INITIAL + QUERIES * BUDGET, 16)


def test_two_instances_stay_two_indices():
    # modAL >= 0.4.2 unpacks a strategy's result as (indices, metrics): a bare
    # array of two indices would be split into one index and a "metric".
    x, y = blobs()
    learner = modAL.models.ActiveLearner(LogisticRegression(), query_strategy=dacs_query(), X_training=x[:20], y_training=y[:20])
    indices = query_indices(learner, x[20:], 2)
    assert indices.shape == (2,) and indices[0] != indices[1]


def test_a_committee_uses_its_learners_training_rows():
    x, y = blobs()
    learners = [
        modAL.models.ActiveLearner(LogisticRegression(C=c), X_training=x[:20], y_training=y[:20]) for c in (0.1, 1.0)
    ]
    committee = modAL.models.Committee(learners, query_strategy=dacs_query(seed=SEED))
    indices = query_indices(committee, x[20:], BUDGET)
    expected = dacs_ext.select(torch.from_numpy(x[20:]), torch.from_numpy(x[:20]), BUDGET, generator=torch.Generator().manual_seed(SEED))
    np.testing.assert_array_equal(indices, expected.numpy())


def test_on_transformed_uses_the_pipelines_features_and_x_labeled_overrides():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = blobs()
    x = x * np.linspace(1.0, 20.0, x.shape[1])  # scaling changes the directions DACS compares
    learner = modAL.models.ActiveLearner(
        make_pipeline(StandardScaler(), LogisticRegression()), query_strategy=dacs_query(seed=SEED),
        X_training=x[:20], y_training=y[:20], on_transformed=True,
    )
    scaler = learner.estimator[0]
    generator = torch.Generator().manual_seed(SEED)
    # First the learner's X_training, then rows passed as X_labeled.
    for X_labeled, labeled in ((None, x[:20]), (x[20:40], x[20:40])):
        expected = dacs_ext.select(
            torch.from_numpy(scaler.transform(x[40:])), torch.from_numpy(scaler.transform(labeled)), BUDGET,
            generator=generator,
        )
        np.testing.assert_array_equal(query_indices(learner, x[40:], BUDGET, X_labeled=X_labeled), expected.numpy())


def test_sparse_rows_are_refused_with_the_embed_hint():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    x, y = blobs()
    learner = modAL.models.ActiveLearner(LogisticRegression(), query_strategy=dacs_query(), X_training=x[:20], y_training=y[:20])
    with pytest.raises(TypeError, match=r"X_pool is a scipy.sparse matrix .*dacs_query\(embed=\.\.\.\)"):
        learner.query(scipy_sparse.csr_matrix(x[20:]), n_instances=BUDGET)


def test_n_instances_is_checked():
    x, y = blobs()
    learner = modAL.models.ActiveLearner(LogisticRegression(), query_strategy=dacs_query(), X_training=x[:20], y_training=y[:20])
    with pytest.raises(ValueError, match=r"n_instances must be in \[1, 580\], got 581"):
        learner.query(x[20:], n_instances=581)


def test_missing_modal_names_the_extra(monkeypatch):
    assert_missing_library_is_named(monkeypatch, "modAL", "dacs_ext.adapters.modal", "modal")

"""NCE-Net: the prototype classifier and its loss against loops written from the
formulas, its uncertainty scores by hand, that it learns a separable problem as
well as a softmax classifier, its acquisition and its combination with DACS."""

import math

import pytest
import torch
import torch.nn.functional as F

import dacs_ext
from dacs_ext.al import (
    NCEClassifier, NCENet, NCENetDACS, NCESettings, PoolState, TrainConfig, evaluate, make_strategy, nce_uncertainty,
    train_model,
)
from dacs_ext.al.loop import train_cycle
from dacs_ext.al.strategies import check_selection

from helpers import blobs, small_model


def test_scores_follow_the_formula(gen):
    head = NCEClassifier(5, 3, prototypes=2).double()
    with torch.no_grad():
        head.prototypes.copy_(torch.randn(6, 5, generator=gen, dtype=torch.float64))
        head.radius.copy_(torch.randn(6, generator=gen, dtype=torch.float64))
        head.embedding.weight.copy_(torch.randn(5, 5, generator=gen, dtype=torch.float64))
    features = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    got = head(features).detach()
    assert got.shape == (7, 3)
    prototypes, radius, w = head.prototypes.detach(), head.radius.detach(), head.embedding.weight.detach()

    def unit_sigmoid(v):
        s = torch.tensor([1 / (1 + math.exp(-float(t))) for t in v], dtype=torch.float64)
        return s / math.sqrt(float((s * s).sum()))

    for i in range(7):
        f = unit_sigmoid([float((w[j] * features[i]).sum()) for j in range(5)])
        for c in range(3):
            best = 0.0
            for k in range(2):  # prototypes of class c are rows c * 2 + k
                p = unit_sigmoid(prototypes[c * 2 + k])
                sigma = 1 / (1 + math.exp(-float(radius[c * 2 + k])))
                best = max(best, math.exp(-float(((f - p) ** 2).sum()) / (2 * sigma**2)))
            assert float(got[i, c]) == pytest.approx(best, rel=1e-9, abs=1e-12)


def test_loss_is_binary_cross_entropy_against_one_hot(gen):
    head = NCEClassifier(4, 3)
    scores = torch.tensor([[0.9, 0.2, 0.4], [0.1, 0.1, 0.7]])
    y = torch.tensor([0, 2])
    rows = [-(math.log(0.9) + math.log(0.8) + math.log(0.6)), -(math.log(0.9) + math.log(0.9) + math.log(0.7))]
    assert head.loss(scores, y, reduction="none").tolist() == pytest.approx(rows, rel=1e-6)
    assert float(head.loss(scores, y)) == pytest.approx(sum(rows) / 2, rel=1e-6)
    assert torch.isfinite(head.loss(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([1]))).all()  # saturated scores


def test_uncertainty_scores_by_hand():
    s = torch.tensor([[1.0, 0.5, 0.25], [0.1, 0.1, 0.1]])
    assert nce_uncertainty(s, "rejection").tolist() == pytest.approx([1.25, 2.7])
    assert nce_uncertainty(s, "confusion").tolist() == pytest.approx([0.75, 0.2])
    with pytest.raises(ValueError, match="kind must be one of"):
        nce_uncertainty(s, "margin")


def test_vanishing_features_keep_a_bounded_gradient(gen):
    # ReLU features of a row can all reach zero; their direction is then undefined and
    # normalising them directly has a gradient of 1/|f|. The sigmoid embedding keeps the
    # row away from zero, so the scores' gradient stays of the order of the weights'.
    head = NCEClassifier(8, 3).double()
    for scale in (1e-9, 0.0):
        features = (scale * torch.randn(4, 8, generator=gen, dtype=torch.float64)).requires_grad_()
        scores = head(features)
        head.loss(scores, torch.tensor([0, 1, 2, 0])).backward()
        assert torch.isfinite(scores).all() and torch.isfinite(features.grad).all()
        assert float(features.grad.abs().max()) < 10.0, (scale, features.grad.abs().max())


@pytest.mark.learned
def test_the_prototype_classifier_learns_as_well_as_softmax(training_seed, margin):
    # Overlapping blobs, so that accuracy is below 1 and the comparison means something.
    # The prototypes start nearly parallel and take longer to separate than a softmax
    # layer: after 10 epochs NCE trailed by up to 0.026 (1 seed of 8); after 20, by
    # at most 0.002 (tests/MARGINS.md). 5,000 test rows keep the difference's
    # sampling error near 0.002.
    gen = torch.Generator().manual_seed(20261125 + training_seed)
    x, y = blobs(1000, gen=gen, spread=1.6)
    test_x, test_y = blobs(5000, gen=gen, spread=1.6)
    config = TrainConfig(epochs=20, batch_size=64, lr=0.05, momentum=0.9, lr_drop_epoch=16, aux_stop_epoch=12)
    accuracy = {}
    for name in ("softmax", "nce"):
        torch.manual_seed(training_seed)
        model = small_model()
        if name == "nce":
            model.set_classifier(NCEClassifier(model.feature_dim, model.num_classes))
        train_model(model, x, y, config, torch.Generator().manual_seed(1 + training_seed))
        accuracy[name] = evaluate(model, test_x, test_y)["accuracy"]
    margin.above("softmax accuracy", accuracy["softmax"], 0.8)
    margin.above("nce - softmax accuracy", accuracy["nce"] - accuracy["softmax"], -0.03)


def test_the_loop_trains_nce_methods_with_the_prototype_classifier(gen):
    x, y = blobs(200, gen=gen)
    config = TrainConfig(epochs=2, batch_size=50, lr_drop_epoch=1, aux_stop_epoch=1)
    for name, has_prototypes in (("nce", True), ("nce-dacs", True), ("dacs", False)):
        model, _ = train_cycle(small_model, x, y, config, seed=3, cycle=0, strategy=make_strategy(name))
        assert isinstance(model.classifier, NCEClassifier) == has_prototypes
    model, _ = train_cycle(small_model, x, y, config, seed=3, cycle=0, strategy=NCENet())
    with torch.no_grad():
        scores = model(x).logits
    assert bool(((scores > 0) & (scores <= 1)).all())


def test_training_minimises_the_classifiers_own_loss(gen):
    calls = []

    class Recorded(NCEClassifier):
        def loss(self, scores, y, reduction="mean"):
            calls.append(reduction)
            return super().loss(scores, y, reduction)

    x, y = blobs(100, gen=gen)
    model = small_model()
    model.set_classifier(Recorded(model.feature_dim, model.num_classes))
    train_model(model, x, y, TrainConfig(epochs=2, batch_size=50, lr_drop_epoch=1, aux_stop_epoch=1), torch.Generator().manual_seed(0))
    assert calls == ["mean"] * 4  # 2 epochs x 2 batches


def test_a_classifier_needs_a_loss():
    with pytest.raises(TypeError, match="needs a loss"):
        small_model().set_classifier(torch.nn.Linear(16, 4))


def pool_with_scores(gen, n=300, labeled=40):
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=gen)[:labeled]] = True
    outputs = {
        "logits": torch.rand(n, 5, generator=gen, dtype=torch.float64),
        "aux_features": F.normalize(torch.randn(n, 16, generator=gen, dtype=torch.float64), dim=1),
    }
    return PoolState(mask, outputs, torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen))), 1)


@pytest.mark.parametrize("score", ["rejection", "confusion"])
def test_nce_picks_the_most_uncertain(score, gen):
    pool = pool_with_scores(gen)
    s = pool["logits"]
    uncertainty = (1 - s).sum(1) if score == "rejection" else s.sum(1) - s.max(1).values
    unlabeled = pool.unlabeled_indices()
    picked = NCENet(score=score).select(pool, 25)
    assert picked.tolist() == unlabeled[uncertainty[unlabeled].argsort(descending=True, stable=True)[:25]].tolist()
    check_selection(NCENet(), pool, 25, picked)


def test_nce_plus_dacs_keeps_the_most_uncertain_of_dacs_candidates(gen):
    pool = pool_with_scores(gen)
    seed = int(torch.randint(0, 2**31, (1,), generator=gen))
    settings = dacs_ext.DACSSettings(buckets=10, expand=3.0)
    pool.generator = torch.Generator().manual_seed(seed)
    picked = NCENetDACS(settings).select(pool, 20)
    pool.generator = torch.Generator().manual_seed(seed)
    candidates = make_strategy("dacs", {"dacs": settings}).select(pool, 60)
    rejection = (1 - pool["logits"]).sum(1)
    assert set(picked.tolist()) <= set(candidates.tolist())
    assert picked.tolist() == candidates[rejection[candidates].argsort(descending=True, stable=True)[:20]].tolist()
    check_selection(NCENetDACS(), pool, 20, picked)


@pytest.mark.parametrize(
    "changes,message",
    [({"score": "entropy"}, "score must be one of"), ({"prototypes": 0}, "prototypes must be"), ({"subset": -1}, "subset must be")],
)
def test_bad_settings(changes, message):
    with pytest.raises(ValueError, match=message):
        NCESettings(**changes)

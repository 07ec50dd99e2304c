"""Entropy, margin, least confidence and BALD: the scores by hand (expected values
from math on the probabilities, not from the code), extreme logits, the picks
and their ties, the combinations with DACS, the Monte-Carlo dropout passes
(refused without dropout, seeded, BatchNorm kept in eval) and every method
through the loop."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dacs_ext
from dacs_ext.al import (
    BALD, MC_LOGITS, AuxModel, BALDSettings, Entropy, LoopConfig, PoolState, TrainConfig, entropy, least_confidence,
    make_strategy, margin, mc_dropout_logits, mutual_information, run_trial,
)
from dacs_ext.al.loop import train_cycle
from dacs_ext.al.strategies import check_selection

from helpers import blobs, small_model, without_times

PLAIN = ("entropy", "margin", "least-confidence", "bald")
COMBINED = tuple(f"{name}-dacs" for name in PLAIN)


def h(*p):
    """Entropy in nats of the probabilities p."""
    return -sum(q * math.log(q) for q in p if q > 0)


def logits_of(*rows):
    """Logits whose softmax is each row of probabilities (log p)."""
    return torch.tensor([[math.log(q) for q in row] for row in rows], dtype=torch.float64)


def test_scores_by_hand():
    logits = logits_of([0.1, 0.2, 0.7], [0.25, 0.25, 0.5], [0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3])
    expected = {
        entropy: [h(0.1, 0.2, 0.7), h(0.25, 0.25, 0.5), h(0.6, 0.3, 0.1), math.log(3)],
        margin: [1 - (0.7 - 0.2), 1 - (0.5 - 0.25), 1 - (0.6 - 0.3), 1.0],
        least_confidence: [1 - 0.7, 1 - 0.5, 1 - 0.6, 1 - 1 / 3],
    }
    for score, values in expected.items():
        got = score(logits)
        assert got.dtype == torch.float64 and got.shape == (4,)
        assert got.tolist() == pytest.approx(values, abs=1e-12), score.__name__
        # float32 logits give the same scores, computed in float64
        assert score(logits.float()).tolist() == pytest.approx(values, abs=1e-6), score.__name__
    # Adding a constant to a row's logits changes nothing.
    assert torch.allclose(entropy(logits + 5.0), entropy(logits))


def test_mutual_information_by_hand():
    # Two passes over three rows: passes that disagree, each confident; passes
    # that agree; passes that agree on a uniform prediction.
    first = logits_of([0.9, 0.1], [0.7, 0.3], [0.5, 0.5])
    second = logits_of([0.1, 0.9], [0.7, 0.3], [0.5, 0.5])
    got = mutual_information(torch.stack([first, second]))
    assert got.dtype == torch.float64 and got.shape == (3,)
    assert got.tolist() == pytest.approx([math.log(2) - h(0.9, 0.1), 0.0, 0.0], abs=1e-12)
    # Three passes of one row: the mean prediction is (0.8 + 0.6 + 0.2) / 3.
    passes = torch.stack([logits_of([0.8, 0.2]), logits_of([0.6, 0.4]), logits_of([0.2, 0.8])])
    mean = (0.8 + 0.6 + 0.2) / 3
    expected = h(mean, 1 - mean) - (h(0.8, 0.2) + h(0.6, 0.4) + h(0.2, 0.8)) / 3
    assert mutual_information(passes).tolist() == pytest.approx([expected], abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_logits_give_finite_scores(dtype, gen):
    big = 1e4
    logits = torch.tensor([[big, -big, -big], [big, big, -big], [-big, -big, -big]], dtype=dtype)
    assert entropy(logits).tolist() == pytest.approx([0.0, math.log(2), math.log(3)], abs=1e-12)
    assert margin(logits).tolist() == pytest.approx([0.0, 1.0, 1.0], abs=1e-12)
    assert least_confidence(logits).tolist() == pytest.approx([0.0, 0.5, 2 / 3], abs=1e-12)
    passes = torch.stack([logits, logits[:, [1, 0, 2]]])  # the second pass swaps the first two classes
    assert mutual_information(passes).tolist() == pytest.approx([math.log(2), 0.0, 0.0], abs=1e-12)
    largest = torch.tensor([[torch.finfo(dtype).max, -torch.finfo(dtype).max]], dtype=dtype)  # their difference overflows
    for score in (entropy, margin, least_confidence):
        assert score(largest).tolist() == [0.0], score.__name__
    assert mutual_information(torch.stack([largest, largest.flip(1)])).tolist() == pytest.approx([math.log(2)], abs=1e-12)
    signs = torch.randint(0, 2, (6, 50, 10), generator=gen).to(dtype) * 2 - 1
    for scores in (entropy(big * signs[0]), margin(big * signs[0]), least_confidence(big * signs[0]), mutual_information(big * signs)):
        assert bool(torch.isfinite(scores).all()) and bool((scores >= 0).all())


def test_confident_predictions_still_rank():
    # 1 - p_max below float64's resolution of 1 (e^-40, e^-50): still ordered.
    logits = torch.tensor([[40.0, 0.0], [50.0, 0.0]], dtype=torch.float64)
    for score in (least_confidence, margin):
        values = score(logits)
        assert bool(values[0] > values[1] > 0), score.__name__
    assert least_confidence(logits).tolist() == pytest.approx([math.exp(-40), math.exp(-50)], rel=1e-9)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match=r"logits must be \[N, C\], got shape \[3\]"):
        entropy(torch.zeros(3))
    with pytest.raises(ValueError, match="at least 2 classes"):
        margin(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="logits contains NaN"):
        least_confidence(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(TypeError, match="logits must be a floating tensor"):
        entropy(torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"mc_logits must be \[T, N, C\]"):
        mutual_information(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="passes must be >= 2"):
        BALDSettings(passes=1)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="dropout"):
            BALDSettings(dropout=bad)


def pool_of(logits, labeled, *, gen, passes=4):
    """A pool state whose rows have these logits [N, C], Monte-Carlo logits around
    them, and random unit auxiliary features."""
    n = logits.shape[0]
    mask = torch.zeros(n, dtype=torch.bool)
    mask[labeled] = True
    outputs = {
        "logits": logits,
        MC_LOGITS: logits + torch.randn(passes, *logits.shape, generator=gen, dtype=logits.dtype),
        "aux_features": F.normalize(torch.randn(n, 16, generator=gen, dtype=torch.float64), dim=1),
    }
    return PoolState(mask, outputs, torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen))), 1)


def scores_of(name, pool):
    functions = {"entropy": entropy, "margin": margin, "least-confidence": least_confidence}
    return mutual_information(pool[MC_LOGITS]) if name == "bald" else functions[name](pool["logits"])


@pytest.mark.parametrize("name", PLAIN)
def test_picks_are_the_most_uncertain_unlabeled_rows(name, gen):
    logits = 3 * torch.randn(300, 5, generator=gen, dtype=torch.float64)
    pool = pool_of(logits, labeled=torch.arange(0, 300, 7), gen=gen)
    # The labeled rows are made the most uncertain of all, and are never picked:
    # uniform logits, and passes each certain of another class.
    pool.outputs["logits"][pool.labeled] = 0.0
    pool.outputs[MC_LOGITS][:, pool.labeled] = 30 * torch.eye(5, dtype=torch.float64)[:4].unsqueeze(1)
    scores = scores_of(name, pool)
    assert bool(scores[pool.labeled].min() >= scores[~pool.labeled].max())
    picked = make_strategy(name).select(pool, 40)
    unlabeled = [i for i in range(300) if not pool.labeled[i]]
    expected = sorted(unlabeled, key=lambda i: (-float(scores[i]), i))[:40]
    assert picked.tolist() == expected
    assert torch.equal(check_selection(make_strategy(name), pool, 40, picked), picked)


@pytest.mark.parametrize("name", PLAIN)
def test_ties_go_to_the_lower_pool_index(name, gen):
    # Rows 2, 5, 8 and 11 tie as the most uncertain (the same logits, the same
    # passes); row 5 is labeled.
    logits = torch.randn(12, 3, generator=gen, dtype=torch.float64) * 4
    passes = logits + torch.randn(4, 12, 3, generator=gen, dtype=torch.float64)
    for row in (2, 5, 8, 11):
        logits[row] = torch.tensor([1.0, 1.0, 1.0])
        passes[:, row] = torch.tensor([[9.0, -9.0, 0.0], [-9.0, 9.0, 0.0], [0.0, -9.0, 9.0], [9.0, 0.0, -9.0]])
    pool = pool_of(logits, labeled=torch.tensor([5]), gen=gen)
    pool.outputs[MC_LOGITS] = passes
    assert make_strategy(name).select(pool, 2).tolist() == [2, 8]


@pytest.mark.parametrize("name", COMBINED)
@pytest.mark.parametrize("budget", [1, 20])
def test_combinations_keep_the_most_uncertain_of_dacs_candidates(name, budget, gen):
    base = name[: -len("-dacs")]
    pool = pool_of(2 * torch.randn(400, 5, generator=gen, dtype=torch.float64), torch.arange(0, 400, 9), gen=gen)
    seed = int(torch.randint(0, 2**31, (1,), generator=gen))
    pool.generator = torch.Generator().manual_seed(seed)
    picked = make_strategy(name, {"dacs": dacs_ext.DACSSettings(buckets=20, expand=3)}).select(pool, budget)
    unlabeled, labeled = pool.unlabeled_indices(), pool.labeled_indices()
    z = pool["aux_features"]
    candidates = unlabeled[dacs_ext.select(z[unlabeled], z[labeled], 3 * budget, buckets=20, generator=torch.Generator().manual_seed(seed))]
    scores = scores_of(base, pool)
    assert picked.shape == (budget,) and torch.unique(picked).numel() == budget
    assert not bool(pool.labeled[picked].any())
    assert set(picked.tolist()) <= set(candidates.tolist())
    assert picked.tolist() == sorted(candidates.tolist(), key=lambda i: -float(scores[i]))[:budget]


def dropout_model(p=0.5):
    model = small_model()
    model.set_classifier_dropout(p)
    return model


def test_mc_dropout_refuses_a_model_without_dropout(gen):
    x, _ = blobs(20, gen=gen)
    with pytest.raises(ValueError, match=r"no dropout module with p > 0: add nn\.Dropout"):
        mc_dropout_logits(small_model(), x, 4, seed=0)
    with pytest.raises(ValueError, match="no dropout module"):
        mc_dropout_logits(dropout_model(0.0), x, 4, seed=0)  # p = 0 removes it


def test_mc_dropout_passes_are_seeded_and_sample_the_classifier_dropout(gen):
    model = dropout_model()
    x, _ = blobs(30, gen=gen)
    state = torch.get_rng_state()
    passes = mc_dropout_logits(model, x, 5, seed=11, batch_size=7)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left as it was
    assert passes.shape == (5, 30, 4) and passes.dtype == torch.float32 and not model.training
    assert all(not torch.equal(passes[0], passes[t]) for t in range(1, 5))
    assert torch.equal(mc_dropout_logits(model, x, 5, seed=11, batch_size=7), passes)
    assert not torch.equal(mc_dropout_logits(model, x, 5, seed=12, batch_size=7), passes)
    # What full forward passes with the dropout active compute, under the same seed.
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        model.eval()
        model.classifier_dropout.train()
        expected = torch.stack([torch.cat([model(rows).logits for rows in x.split(7)]) for _ in range(5)])
    torch.testing.assert_close(passes, expected)


def test_mc_dropout_samples_a_backbones_dropout_with_batchnorm_in_eval(gen):
    backbone = nn.Sequential(nn.Linear(12, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 16), nn.ReLU())
    model = AuxModel(backbone, 16, 4, aux_dim=8)
    x, _ = blobs(40, gen=gen)
    model.train()
    with torch.no_grad():
        model(x)  # running statistics away from their initial values
    running = backbone[1].running_mean.clone()
    passes = mc_dropout_logits(model, x, 3, seed=5)
    assert torch.equal(backbone[1].running_mean, running)
    assert not torch.equal(passes[0], passes[1])
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        model.eval()
        backbone[3].train()
        expected = torch.stack([model(x).logits for _ in range(3)])
    torch.testing.assert_close(passes, expected)


def _trial(strategy, seed=3, measurements=3):
    gen = torch.Generator().manual_seed(0)
    pool_x, pool_y = blobs(300, gen=gen)
    test_x, test_y = blobs(100, gen=gen)
    loop = LoopConfig(initial=20, budget=15, measurements=measurements)
    train = TrainConfig(epochs=3, batch_size=16, lr_drop_epoch=2, aux_stop_epoch=2)
    return run_trial(strategy, small_model, pool_x, pool_y, test_x, test_y, loop, train, seed=seed)


def test_bald_trains_with_dropout_and_its_runs_repeat(gen):
    x, y = blobs(40, gen=gen)
    train = TrainConfig(epochs=1)
    model, _ = train_cycle(small_model, x, y, train, seed=0, cycle=0, strategy=BALD(dropout=0.25))
    assert isinstance(model.classifier_dropout, nn.Dropout) and model.classifier_dropout.p == 0.25
    model, _ = train_cycle(small_model, x, y, train, seed=0, cycle=0, strategy=Entropy())
    assert isinstance(model.classifier_dropout, nn.Identity)
    first = _trial(make_strategy("bald", passes=6))
    assert without_times(_trial(make_strategy("bald", passes=6))) == without_times(first)
    with pytest.raises(ValueError, match="no dropout module"):
        _trial(BALD(dropout=0.0))


@pytest.mark.parametrize("name", PLAIN + COMBINED)
def test_every_method_runs_through_the_loop(name):
    settings = {"dacs": dacs_ext.DACSSettings(buckets=10), "bald": BALDSettings(passes=4)}
    records = _trial(make_strategy(name, settings))
    assert [r["labeled"] for r in records] == [20, 35, 50]
    labeled = records[0]["initial"] + [i for r in records for i in r["acquired"]]
    assert len(set(labeled)) == len(labeled) == 50
    assert all(0 <= r["accuracy"] <= 1 for r in records)

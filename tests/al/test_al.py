"""Acquisition strategies and the loop's selection guard, on random pools."""

import pytest
import torch
import torch.nn.functional as F

import dacs_ext
from dacs_ext.al import MC_LOGITS, STRATEGIES, CoreSet, DACSStrategy, PoolState, Random, Strategy, make_strategy
from dacs_ext.al.strategies import check_selection


def random_pool(n, *, gen, labeled=30, width=6):
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=gen)[:labeled]] = True
    outputs = {
        "features": torch.randn(n, width, generator=gen, dtype=torch.float64),
        "aux_features": F.normalize(torch.randn(n, 16, generator=gen, dtype=torch.float64), dim=1),
        "predicted_loss": torch.rand(n, generator=gen, dtype=torch.float64),
        "logits": torch.randn(n, 5, generator=gen, dtype=torch.float64),
        # from its own generator, so that `gen` draws what it drew before BALD
        MC_LOGITS: torch.randn(4, n, 5, generator=torch.Generator().manual_seed(n), dtype=torch.float64),
    }
    return PoolState(mask, outputs, torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen))), 1)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("budget", [1, 25, 170])
def test_strategies_return_distinct_unlabeled_indices(name, budget, gen):
    for _ in range(3):  # fresh random pools
        pool = random_pool(200, gen=gen)
        picked = make_strategy(name).select(pool, budget)
        assert picked.dtype == torch.int64 and picked.shape == (budget,)
        assert torch.unique(picked).numel() == budget
        assert not bool(pool.labeled[picked].any())
        assert torch.equal(check_selection(make_strategy(name), pool, budget, picked), picked)


def test_coreset_is_euclidean_kcenter_on_the_features(gen):
    pool = random_pool(300, gen=gen)
    unlabeled, labeled = pool.unlabeled_indices(), pool.labeled_indices()
    x = pool["features"]
    expected = dacs_ext.reference.kcenter_greedy(x[unlabeled], x[labeled], 40, metric="euclidean")
    assert torch.equal(CoreSet().select(pool, 40), unlabeled[expected])


def test_dacs_strategy_is_dacs_select_on_the_aux_features(gen):
    pool = random_pool(400, gen=gen)
    unlabeled, labeled = pool.unlabeled_indices(), pool.labeled_indices()
    z = pool["aux_features"]
    seed = int(torch.randint(0, 2**31, (1,), generator=gen))
    pool.generator = torch.Generator().manual_seed(seed)
    picked = DACSStrategy(buckets=20).select(pool, 50)
    expected = dacs_ext.select(z[unlabeled], z[labeled], 50, buckets=20, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(picked, unlabeled[expected])
    uncertainty = torch.rand(400, generator=gen, dtype=torch.float64)
    pool.generator = torch.Generator().manual_seed(seed)
    combined = DACSStrategy(buckets=20, expand=2).acquire(pool, 50, uncertainty)
    candidates = unlabeled[dacs_ext.select(z[unlabeled], z[labeled], 100, buckets=20, generator=torch.Generator().manual_seed(seed))]
    assert torch.equal(combined, candidates[torch.sort(uncertainty[candidates], descending=True, stable=True).indices[:50]])


def test_dacs_shared_centers_variant(gen):
    pool = random_pool(400, gen=gen)
    unlabeled, labeled = pool.unlabeled_indices(), pool.labeled_indices()
    z = pool["aux_features"]
    pool.generator = torch.Generator().manual_seed(5)
    strategy = make_strategy("dacs-shared", buckets=20)
    assert strategy.name == "dacs-shared" and make_strategy("dacs").name == "dacs"
    expected = dacs_ext.select(z[unlabeled], z[labeled], 60, buckets=20, share_centers=True, generator=torch.Generator().manual_seed(5))
    assert torch.equal(strategy.select(pool, 60), unlabeled[expected])


def test_random_is_seeded_and_uniform(gen):
    pool = random_pool(100, gen=gen, labeled=50)
    pool.generator = torch.Generator().manual_seed(3)
    first = Random().select(pool, 50)
    pool.generator = torch.Generator().manual_seed(3)
    assert torch.equal(first, Random().select(pool, 50))
    assert torch.equal(torch.sort(first).values, pool.unlabeled_indices())  # budget = all that is left


class Broken(Strategy):
    name = "broken"

    def __init__(self, answer):
        self.answer = answer

    def select(self, pool, budget):
        return self.answer


@pytest.mark.parametrize(
    "answer, error, message",
    [
        (torch.tensor([0, 1, 2]), RuntimeError, "already labeled"),
        (torch.tensor([5, 5, 6]), RuntimeError, "duplicate"),
        (torch.tensor([5, 6]), RuntimeError, "2 indices for a budget of 3"),
        (torch.tensor([5, 6, 10]), RuntimeError, "outside the pool of 10"),
        (torch.tensor([5, 6, -1]), RuntimeError, "outside the pool"),
        (torch.tensor([5.0, 6.0, 7.0]), TypeError, "integer tensor"),
        ([5, 6, 7], TypeError, "integer tensor"),
    ],
)
def test_the_loop_rejects_bad_selections(answer, error, message):
    labeled = torch.zeros(10, dtype=torch.bool)
    labeled[:3] = True
    pool = PoolState(labeled)
    with pytest.raises(error, match=message):
        check_selection(Broken(answer), pool, 3, Broken(answer).select(pool, 3))


def test_pool_state_names_missing_outputs():
    with pytest.raises(KeyError, match="must list it in `requires`"):
        PoolState(torch.zeros(3, dtype=torch.bool))["features"]
    with pytest.raises(ValueError, match="method must be one of"):
        make_strategy("variation-ratio")


def test_dacs_strategy_notes_a_fallback_to_fewer_groups():
    # Collapsed auxiliary features: 20 orthonormal rows, one of them 5 times. With
    # two chunks every density is 0 except the copies' (4 sigmoid(1)): 2 distinct values.
    eye = torch.eye(24, dtype=torch.float64)
    z = torch.cat([eye[:19], eye[19].repeat(5, 1), eye[20:]])
    labeled = torch.zeros(28, dtype=torch.bool)
    labeled[-4:] = True
    pool = PoolState(labeled, {"aux_features": z}, torch.Generator().manual_seed(0), 1)
    with pytest.warns(RuntimeWarning, match="using 2 group"):
        picked = DACSStrategy(buckets=2).select(pool, 6)
    assert list(pool.notes) == ["dacs_health"] and pool.notes["dacs_health"]["groups_used"] == 2
    assert torch.equal(check_selection(DACSStrategy(), pool, 6, picked), picked)
    pool.notes.clear()
    DACSStrategy(buckets=2, groups=2).select(pool, 6)
    assert pool.notes["dacs_health"]["groups_used"] == 2  # no fallback: all the groups asked for


@pytest.mark.parametrize("name", ["dacs", "dacs-shared", "nce-dacs", "learnloss-dacs"])
def test_dacs_strategies_select_around_all_zero_features(name, gen):
    # Dead units: 60 of 400 samples have all-zero auxiliary features. DACS selects
    # among the others and notes them; with too few others left it takes some.
    pool = random_pool(400, gen=gen)
    z = pool.outputs["aux_features"].clone()
    dead = torch.randperm(400, generator=gen)[:60]
    z[dead] = 0
    pool.outputs["aux_features"] = z
    strategy = make_strategy(name, {"dacs": dacs_ext.DACSSettings(buckets=20)})
    picked = strategy.select(pool, 40)
    check_selection(strategy, pool, 40, picked)
    assert pool.notes["dacs_zero_features"] == 60
    assert not bool(torch.isin(picked, dead).any())
    live_unlabeled = int((~pool.labeled).sum()) - int((~pool.labeled[dead]).sum())
    picked = strategy.select(pool, live_unlabeled + 5)
    check_selection(strategy, pool, live_unlabeled + 5, picked)
    assert int(torch.isin(picked, dead).sum()) == 5
    pool.notes.clear()
    pool.outputs["aux_features"] = z.index_fill(0, dead, 1.0)
    strategy.select(pool, 40)
    assert "dacs_zero_features" not in pool.notes


def test_methods_take_settings_and_name_what_differs():
    settings = {"dacs": dacs_ext.DACSSettings(rounds=4, buckets=20)}
    dacs, shared, random = (make_strategy(m, settings) for m in ("dacs", "dacs-shared", "random"))
    assert dacs.dacs.settings == dacs_ext.DACSSettings(rounds=4, buckets=20)
    assert shared.dacs.settings == dacs_ext.DACSSettings(rounds=4, buckets=20, share_centers=True) and shared.name == "dacs-shared"
    assert isinstance(random, Random)
    recorded = {"dacs": settings["dacs"].to_dict()}
    assert STRATEGIES["dacs"].label(recorded) == "DACS (buckets=20, rounds=4)"
    assert STRATEGIES["dacs-shared"].label(recorded) == "DACS, shared centers (buckets=20, rounds=4)"
    assert STRATEGIES["dacs"].label({"dacs": dacs_ext.DACSSettings().to_dict()}) == "DACS"
    assert STRATEGIES["coreset"].label(recorded) == "Core-set"

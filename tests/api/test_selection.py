"""DACS selection: budget split, Algorithm 1's details, the method's intent, the
combination with uncertainty, and the auxiliary head (tests/api/test_oracle.py checks
the picks against the independent oracle)."""

import pytest
import torch

import dacs_ext
import oracle
from dacs_ext.nn import NormalizedHead, head_input, total_loss


def clusters(gen, sizes, spreads, d=16, dtype=torch.float64):
    centers = torch.nn.functional.normalize(torch.randn(len(sizes), d, generator=gen, dtype=dtype), dim=1)
    parts = [c + s * torch.randn(n, d, generator=gen, dtype=dtype) for c, n, s in zip(centers, sizes, spreads)]
    return torch.cat(parts)


# A tight cluster holding most of the pool fills one hash bucket: the warning is
# right there (tests/api/test_health.py tests it) and beside the point here.
DENSE_CLUSTER = pytest.mark.filterwarnings("ignore:select. degenerate features. one hash bucket:RuntimeWarning")


@pytest.mark.parametrize(
    "sizes,budget,temperature",
    [([100, 200, 300, 400], 50, 0.25), ([1, 5000, 5000, 5000], 300, 0.25), ([3, 4, 5, 6], 18, 0.25),
     ([0, 10, 10, 10], 25, 0.1), ([7, 1000], 7, 0.01), ([50, 50], 0, 1.0), ([2, 3, 1000], 500, 0.25)],
)
def test_split_budget_is_exact_and_capped(sizes, budget, temperature):
    sizes = torch.tensor(sizes)
    quotas = dacs_ext.split_budget(sizes, budget, temperature)
    assert int(quotas.sum()) == budget
    assert bool((quotas <= sizes).all()) and bool((quotas >= 0).all())


def test_split_budget_follows_eq10():
    sizes = torch.tensor([1000, 2000, 3000, 4000])
    quotas = dacs_ext.split_budget(sizes, 1000, 0.25)
    ratios = torch.softmax((1 - sizes / 10000.0) / 0.25, dim=0)
    assert (quotas.double() - ratios * 1000).abs().max() < 1  # largest remainder is within one
    assert quotas.tolist() == sorted(quotas.tolist(), reverse=True)  # smaller groups get more


def test_split_budget_hands_a_full_group_excess_to_the_others():
    # The tiny group's ratio asks for more than it has: all of it, rest spread by ratio.
    quotas = dacs_ext.split_budget(torch.tensor([2, 500, 500]), 300, 0.25)
    assert quotas.tolist()[0] == 2 and int(quotas.sum()) == 300 and abs(int(quotas[1]) - int(quotas[2])) <= 1


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: dacs_ext.split_budget(torch.tensor([3, 4]), 8), ValueError, "budget must be in"),
        (lambda: dacs_ext.split_budget(torch.tensor([3, 4]), 2, 0.0), ValueError, "temperature must be"),
        (lambda: dacs_ext.split_budget(torch.tensor([3.0, 4.0]), 2), TypeError, "group_sizes must be"),
        (lambda: dacs_ext.split_budget(torch.tensor([3, -4]), 2), ValueError, "non-negative"),
    ],
)
def test_split_budget_rejects(call, error, message):
    with pytest.raises(error, match=message):
        call()


@DENSE_CLUSTER
@pytest.mark.parametrize("share_centers", [False, True])
@pytest.mark.parametrize("labeled_rows", [0, 40])
def test_select_details(device, gen, share_centers, labeled_rows):
    pool = clusters(gen, [600, 300, 100], [0.05, 0.2, 0.6])
    labeled = clusters(gen, [labeled_rows], [0.3]) if labeled_rows else None
    kwargs = dict(buckets=20, groups=4, share_centers=share_centers)
    got, details = dacs_ext.select(pool.to(device), labeled if labeled is None else labeled.to(device), 60,
                                   generator=torch.Generator().manual_seed(3), return_details=True, **kwargs)
    assert got.tolist() == oracle.select(pool, labeled, 60, generator=torch.Generator().manual_seed(3), **kwargs)
    want_density = oracle.density(pool, 20, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(details["density"].cpu(), want_density, rtol=1e-10, atol=1e-10)
    assert torch.equal(details["groups"].cpu(), oracle.density_groups(want_density, 4))
    assert got.shape == (60,) and len(set(got.tolist())) == 60
    assert int(details["quotas"].sum()) == 60 and details["density"].shape == (1000,)
    assert set(details["seconds"]) == {"prepare", "density", "groups", "kcenter", "health"}
    assert details["health"]["groups_used"] == 4 and details["health"]["buckets"] == 20
    for g in range(4):  # each group got exactly its quota
        assert int((details["groups"][got] == g).sum()) == int(details["quotas"][g])


@DENSE_CLUSTER
def test_select_favours_sparse_regions(gen):
    pool = clusters(gen, [4000, 1000], [0.02, 0.5])
    picks, details = dacs_ext.select(pool, None, 200, buckets=50, generator=gen, return_details=True)
    dense_share = float((picks < 4000).double().mean())
    assert dense_share < 0.8  # 80% of the pool is the dense cluster
    per_capita = [(details["groups"][picks] == g).sum() / (details["groups"] == g).sum() for g in range(4)]
    assert float(per_capita[0]) > float(per_capita[3])  # the sparsest group is sampled most


def test_select_is_deterministic(gen):
    pool = clusters(gen, [500, 500], [0.1, 0.4])
    a = dacs_ext.select(pool[100:], pool[:100], 50, buckets=20, generator=torch.Generator().manual_seed(1))
    b = dacs_ext.select(pool[100:], pool[:100], 50, buckets=20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and len(set(a.tolist())) == 50


@pytest.mark.parametrize("share_centers", [False, True])
def test_select_never_picks_a_row_sitting_on_a_labeled_row(gen, share_centers):
    # Pool rows 0-199 are copies of the labeled rows (distance 0 to a center); the
    # other 800 rows are fresh. However the groups and quotas fall, each group has
    # more fresh rows than its quota, so no copy may be picked.
    labeled = clusters(gen, [200], [0.5])
    pool = torch.cat([labeled, clusters(gen, [400, 400], [0.1, 0.5])])
    picks, details = dacs_ext.select(pool, labeled, 40, buckets=20, share_centers=share_centers, generator=gen, return_details=True)
    fresh = torch.bincount(details["groups"][200:], minlength=4)
    assert bool((details["quotas"] <= fresh).all())  # the premise
    assert int(picks.min()) >= 200
    # Without the labeled rows, k-center does pick among the copies.
    unaware = dacs_ext.select(pool, None, 40, buckets=20, share_centers=share_centers, generator=torch.Generator().manual_seed(2))
    assert int(unaware.min()) < 200


@DENSE_CLUSTER
def test_select_whole_pool_and_zero_budget(gen):
    pool = clusters(gen, [60, 40], [0.1, 0.5])
    assert sorted(dacs_ext.select(pool, None, 100, buckets=10, generator=gen).tolist()) == list(range(100))
    assert dacs_ext.select(pool, None, 0, buckets=10).numel() == 0


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda p: dacs_ext.select(p, None, 101, buckets=10), ValueError, "budget must be in"),
        (lambda p: dacs_ext.select(p[:0], None, 0), ValueError, "unlabeled must have at least 1 row"),
        (lambda p: dacs_ext.select(p, p[:5, :3], 5, buckets=10), ValueError, "labeled must have d = 16"),
        (lambda p: dacs_ext.select(p, None, 5, buckets=10, temperature=0), ValueError, "temperature must be"),
        (lambda p: dacs_ext.select(p, None, 5, buckets=10, groups=1), ValueError, "groups must be >= 2, got 1"),
        (lambda p: dacs_ext.select(p, None, 5, buckets=10, groups=0), ValueError, "groups must be >= 2, got 0"),
        (lambda p: dacs_ext.select(p, None, 5, buckets=10, groups=2.0), TypeError, "groups must be an int"),
        (lambda p: dacs_ext.select(p, None, 5, buckets=1000), ValueError, "buckets must be at most"),
    ],
)
def test_select_rejects(gen, call, error, message):
    pool = clusters(gen, [60, 40], [0.1, 0.5])
    with pytest.raises(error, match=message):
        call(pool)


@pytest.mark.parametrize("distinct", [1, 2, 3])
def test_select_falls_back_to_fewer_groups(device, distinct):
    # Collapsed features: orthonormal rows, some of them repeated. With two chunks
    # each row reads every other row, and a weight sigmoid(s) * s is exactly 0 for
    # s = 0 and sigmoid(1) for a copy (s = 1): the densities are 0 for a single row,
    # sigmoid(1) for a row in a pair and 2 sigmoid(1) in a triple, `distinct` values.
    eye = torch.eye(16, dtype=torch.float64)
    copies = [1] * 10 + [[], [2], [2, 3]][distinct - 1]
    pool = torch.cat([eye[i].repeat(c, 1) for i, c in enumerate(copies)]).to(device)
    with pytest.warns(RuntimeWarning, match=f"only {distinct} distinct value.*fewer than groups = 4; using {distinct} group"):
        picks, details = dacs_ext.select(pool, None, 5, buckets=2, groups=4, generator=torch.Generator().manual_seed(0), return_details=True)
    assert details["groups_used"] == distinct and details["quotas"].numel() == distinct
    assert picks.shape == (5,) and len(set(picks.tolist())) == 5 and int(details["quotas"].sum()) == 5


def test_expand_and_squeeze_keeps_the_most_uncertain():
    candidates = torch.tensor([7, 3, 9, 1])
    uncertainty = torch.zeros(10)
    uncertainty[torch.tensor([7, 3, 9, 1])] = torch.tensor([0.5, 0.9, 0.5, 0.1])
    assert dacs_ext.expand_and_squeeze(candidates, uncertainty, 3).tolist() == [3, 7, 9]
    with pytest.raises(ValueError, match="budget must be in"):
        dacs_ext.expand_and_squeeze(candidates, uncertainty, 5)
    with pytest.raises(ValueError, match="candidates must index"):
        dacs_ext.expand_and_squeeze(torch.tensor([10]), uncertainty, 1)


def test_dacs_strategy_with_and_without_uncertainty(gen):
    pool = clusters(gen, [700, 300], [0.05, 0.5])
    strategy = dacs_ext.DACS(buckets=20, seed=0)
    plain = strategy.select(pool, None, 40)
    assert plain.shape == (40,)
    uncertainty = torch.rand(1000, generator=gen)
    combined = dacs_ext.DACS(buckets=20, seed=0, expand=3).select(pool, None, 40, uncertainty)
    proposed = dacs_ext.DACS(buckets=20, seed=0).select(pool, None, 120)
    assert set(combined.tolist()) <= set(proposed.tolist())
    assert torch.equal(combined, proposed[torch.sort(uncertainty[proposed], descending=True, stable=True).indices[:40]])
    with pytest.raises(ValueError, match="expand must be"):
        dacs_ext.DACS(expand=0.5)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_normalized_head(gen, task):
    torch.manual_seed(0)
    head = NormalizedHead(64, 10, dim=16, task=task)
    features = torch.randn(32, 64, requires_grad=True)
    prediction, z = head(head_input(features, epoch=0, stop_gradient_epoch=5))
    assert prediction.shape == (32, 10) and z.shape == (32, 16)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(32))
    total_loss(prediction.square().mean(), prediction.abs().mean(), 0.5).backward()
    assert features.grad is not None and features.grad.abs().sum() > 0
    features.grad = None
    prediction, _ = head(head_input(features, epoch=5, stop_gradient_epoch=5))
    prediction.sum().backward()
    assert features.grad is None  # stopped from reaching the backbone
    if task == "classification":
        assert float(prediction.detach().abs().max()) <= float(head.scale.detach()) + 1e-4  # scale * cosine


@pytest.mark.parametrize(
    "changes, error, message",
    [
        (dict(buckets=7), ValueError, "buckets must be even"),
        (dict(buckets=0), ValueError, "buckets must be >= 2"),
        (dict(groups=1), ValueError, "groups must be >= 2, got 1"),
        (dict(temperature=0.0), ValueError, "temperature must be a number > 0"),
        (dict(rounds=0), ValueError, "rounds must be >= 1"),
        (dict(neighbours="ahead"), ValueError, "neighbours must be one of"),
        (dict(share_centers=1), TypeError, "share_centers must be True or False"),
        (dict(expand=0.5), ValueError, "expand must be a number >= 1"),
        (dict(expand=float("inf")), ValueError, "expand must be a number >= 1"),
        (dict(bucket=10), TypeError, "unknown DACSSettings field.s. bucket; the fields are buckets, expand, groups"),
    ],
)
def test_dacs_settings_reject(changes, error, message):
    with pytest.raises(error, match=message):
        dacs_ext.DACSSettings.of(**changes)
    with pytest.raises(error, match=message):
        dacs_ext.select(torch.randn(50, 4, dtype=torch.float64), None, 5, **changes)


def test_dacs_settings_are_one_object_for_select_and_dacs(gen):
    pool = clusters(gen, [300, 200], [0.1, 0.5])
    settings = dacs_ext.DACSSettings(buckets=20, rounds=2, neighbours="both", share_centers=True, expand=3.0)
    assert settings.changed() == dict(buckets=20, rounds=2, neighbours="both", share_centers=True, expand=3.0)
    assert dacs_ext.DACSSettings.of(settings, rounds=1).changed(settings) == {"rounds": 1}
    seeded = lambda: torch.Generator().manual_seed(4)
    by_object = dacs_ext.select(pool, None, 30, settings, generator=seeded())
    by_keywords = dacs_ext.select(pool, None, 30, buckets=20, rounds=2, neighbours="both", share_centers=True, generator=seeded())
    assert torch.equal(by_object, by_keywords)
    assert not torch.equal(by_object, dacs_ext.select(pool, None, 30, settings, rounds=1, generator=seeded()))
    # DACS takes its eta (expand) from the same object: 3 x 10 candidates.
    uncertainty = torch.rand(500, generator=gen, dtype=torch.float64)
    combined = dacs_ext.DACS(settings).select(pool, None, 10, uncertainty, generator=seeded())
    candidates = dacs_ext.select(pool, None, 30, settings, generator=seeded())
    assert torch.equal(combined, dacs_ext.expand_and_squeeze(candidates, uncertainty, 10))


def test_named_settings_select_what_they_name(gen):
    pool = clusters(gen, [300, 200], [0.1, 0.5])
    recommended = dacs_ext.DACSSettings.named("recommended")
    assert recommended.changed() == dict(share_centers=True, rounds=4)
    assert dacs_ext.DACSSettings.named("paper") == dacs_ext.DACSSettings()
    seeded = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    by_name = dacs_ext.select(pool, None, 30, "recommended", generator=seeded())
    assert torch.equal(by_name, dacs_ext.select(pool, None, 30, share_centers=True, rounds=4, generator=seeded()))
    assert not torch.equal(by_name, dacs_ext.select(pool, None, 30, generator=seeded()))
    assert torch.equal(dacs_ext.DACS("recommended", seed=1).select(pool, None, 30), dacs_ext.select(pool, None, 30, recommended, generator=torch.Generator().manual_seed(1)))
    assert dacs_ext.DACSSettings.of("recommended", rounds=16).changed() == dict(share_centers=True, rounds=16)
    with pytest.raises(ValueError, match="settings name must be one of 'paper', 'recommended', got 'best'"):
        dacs_ext.select(pool, None, 30, "best")

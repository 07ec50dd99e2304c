"""The public functions against the independent oracle (tests/oracle.py) and the
reference twins, and what they promise."""

import pytest
import torch

import dacs_ext
import oracle
from dacs_ext import reference

from helpers import unit_rows


@pytest.mark.parametrize("neighbours", ["back", "both", "none"])
@pytest.mark.parametrize("rounds", [1, 3])
@pytest.mark.parametrize("n,d,buckets", [(2, 1, 2), (101, 1, 10), (1000, 16, 100), (999, 5, 8)])
def test_density_matches_oracle(device, neighbours, rounds, n, d, buckets):
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(n + d), dtype=torch.float64)
    kwargs = dict(rounds=rounds, neighbours=neighbours)
    got = dacs_ext.density(z.to(device), buckets, generator=torch.Generator().manual_seed(7), **kwargs)
    want = oracle.density(z, buckets, generator=torch.Generator().manual_seed(7), **kwargs)
    assert got.shape == (n,) and got.dtype == torch.float64
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("neighbours", ["back", "both"])
@pytest.mark.parametrize("rounds", [1, 2])
@pytest.mark.parametrize("n,d,buckets", [(4, 2, 2), (301, 3, 10), (1000, 16, 100), (999, 5, 38)])
def test_two_level_density_matches_oracle(device, neighbours, rounds, n, d, buckets):
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(n + d), dtype=torch.float64)
    kwargs = dict(rounds=rounds, neighbours=neighbours, levels=2)
    got = dacs_ext.density(z.to(device), buckets, generator=torch.Generator().manual_seed(7), **kwargs)
    want = oracle.density(z, buckets, generator=torch.Generator().manual_seed(7), **kwargs)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-10)
    if buckets > 2:  # (two chunks read everything either way)
        flat = dacs_ext.density(z.to(device), buckets, generator=torch.Generator().manual_seed(7), rounds=rounds, neighbours=neighbours)
        assert not torch.allclose(got, flat)
    k = oracle.hash_levels(buckets, 2)[0]
    rotation = torch.randn(rounds, d, k, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(dacs_ext.density(z.to(device), buckets, rotation=rotation.to(device), **kwargs).cpu(),
                               oracle.density(z, buckets, rotation=rotation, **kwargs), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="rotation must be"):
        dacs_ext.density(z.to(device), buckets, rotation=rotation[..., :-1].to(device), **kwargs)
    with pytest.raises(ValueError, match=r"levels must be in \[1, 2\]"):
        dacs_ext.density(z.to(device), buckets, levels=3)


def test_density_averages_independent_rounds(device, gen):
    z = torch.randn(500, 8, generator=gen, dtype=torch.float64).to(device)
    rotation = dacs_ext.random_rotation(8, 20, 3, generator=gen, dtype=torch.float64, device=device)
    each = [dacs_ext.density(z, 20, rotation=rotation[r]) for r in range(3)]
    assert not torch.equal(each[0], each[1])
    torch.testing.assert_close(dacs_ext.density(z, 20, rounds=3, rotation=rotation), sum(each) / 3, rtol=1e-14, atol=1e-14)


def test_density_float32_and_half_inputs(device, gen):
    z = torch.randn(3000, 16, generator=gen).to(device)
    rotation = dacs_ext.random_rotation(16, 50, generator=gen, device=device)
    full = dacs_ext.density(z, 50, rotation=rotation)
    assert full.dtype == torch.float32
    torch.testing.assert_close(full, reference.density(z, 50, rotation=rotation), rtol=1e-4, atol=1e-3)
    # Half inputs are normalised in float32: exactly the density of their float32 copy.
    for low in (torch.float16, torch.bfloat16):
        short = dacs_ext.density(z.to(low), 50, rotation=rotation)
        assert short.dtype == torch.float32
        assert torch.equal(short, dacs_ext.density(z.to(low).float(), 50, rotation=rotation))
        assert not torch.equal(short, full)  # the rounding to low precision is not lost


def test_density_is_deterministic_under_a_seed(device, gen):
    z = torch.randn(500, 8, generator=gen).to(device)
    a = dacs_ext.density(z, 20, generator=torch.Generator().manual_seed(3))
    b = dacs_ext.density(z, 20, generator=torch.Generator().manual_seed(3))
    c = dacs_ext.density(z, 20, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_density_explicit_rotation_equals_generator(device, gen):
    z = torch.randn(300, 6, generator=gen, dtype=torch.float64).to(device)
    rotation = dacs_ext.random_rotation(6, 10, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64, device=device)
    a = dacs_ext.density(z, 10, rounds=2, rotation=rotation)
    b = dacs_ext.density(z, 10, rounds=2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    # A 2-D rotation is one round.
    assert torch.equal(dacs_ext.density(z, 10, rotation=rotation[0]), dacs_ext.density(z, 10, rotation=rotation[:1]))


def test_density_normalized_flag_skips_normalisation(device, gen):
    z = unit_rows(400, 8, gen=gen, device=device)
    rotation = dacs_ext.random_rotation(8, 10, generator=gen, dtype=torch.float64, device=device)
    a = dacs_ext.density(z, 10, rotation=rotation, normalized=True)
    b = dacs_ext.density(5 * z, 10, rotation=rotation)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_tight_cluster_scores_denser_than_loose_cluster(device, gen):
    # Two clusters on the sphere S^15: a tight one and a loose one, same size.
    d = 16
    centers = torch.nn.functional.normalize(torch.randn(2, d, generator=gen), dim=1)
    tight = centers[0] + 0.05 * torch.randn(2000, d, generator=gen)
    loose = centers[1] + 0.6 * torch.randn(2000, d, generator=gen)
    z = torch.cat([tight, loose]).to(device)
    dens = dacs_ext.density(z, 40, generator=gen).cpu()
    assert float(dens[:2000].median()) > float(dens[2000:].median())
    assert float(dens[:2000].min()) > float(dens[2000:].median())


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_min_distance_matches_reference_and_brute_force(device, gen, metric):
    x = torch.randn(700, 12, generator=gen, dtype=torch.float64).to(device)
    y = torch.randn(90, 12, generator=gen, dtype=torch.float64).to(device)
    got = dacs_ext.min_distance(x, y, metric=metric)
    torch.testing.assert_close(got, reference.min_distance(x, y, metric=metric), rtol=1e-9, atol=1e-9)
    if metric == "cosine":
        brute = (1 - torch.nn.functional.normalize(x) @ torch.nn.functional.normalize(y).T).amin(1).clamp(min=0)
    else:
        brute = torch.cdist(x, y).amin(1)
    torch.testing.assert_close(got, brute, rtol=1e-9, atol=1e-9)


def test_min_distance_promotes_mixed_dtypes(device, gen):
    x = torch.randn(50, 4, generator=gen).to(device)
    y = torch.randn(5, 4, generator=gen, dtype=torch.float64).to(device)
    assert dacs_ext.min_distance(x, y).dtype == torch.float64


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("labeled_rows", [None, 0, 1, 300])
def test_kcenter_greedy_matches_oracle(device, gen, metric, labeled_rows):
    x = torch.randn(2500, 16, generator=gen, dtype=torch.float64)
    labeled = None if labeled_rows is None else torch.randn(labeled_rows, 16, generator=gen, dtype=torch.float64)
    got = dacs_ext.kcenter_greedy(x.to(device), None if labeled is None else labeled.to(device), 150, metric=metric,
                                  generator=torch.Generator().manual_seed(1))
    assert got.dtype == torch.int64 and got.device.type == device.type
    assert got.tolist() == oracle.kcenter_greedy(x, labeled, 150, metric=metric, generator=torch.Generator().manual_seed(1))


def test_kcenter_greedy_first_center_comes_from_generator(device, gen):
    x = torch.randn(1000, 4, generator=gen).to(device)
    a = dacs_ext.kcenter_greedy(x, None, 5, generator=torch.Generator().manual_seed(11))
    b = dacs_ext.kcenter_greedy(x, None, 5, generator=torch.Generator().manual_seed(11))
    c = dacs_ext.kcenter_greedy(x, None, 5, generator=torch.Generator().manual_seed(12))
    assert torch.equal(a, b) and int(a[0]) != int(c[0])
    assert int(a[0]) == int(torch.randint(1000, (1,), generator=torch.Generator().manual_seed(11)))


def test_kcenter_greedy_budget_edges(device, gen):
    x = torch.randn(30, 3, generator=gen).to(device)
    assert dacs_ext.kcenter_greedy(x, x[:2], 0).numel() == 0
    everything = dacs_ext.kcenter_greedy(x, None, 30, generator=gen)
    assert sorted(everything.tolist()) == list(range(30))


def test_kcenter_greedy_spreads_over_clusters(device, gen):
    # Five far-apart clusters: five picks must land in five different clusters.
    centers = torch.eye(5, 8) * 10
    x = (centers.repeat_interleave(200, 0) + 0.1 * torch.randn(1000, 8, generator=gen)).to(device)
    picks = dacs_ext.kcenter_greedy(x, None, 5, metric="euclidean", generator=gen)
    assert sorted((picks // 200).tolist()) == [0, 1, 2, 3, 4]


def test_integer_arguments_accept_numpy_and_tensor_scalars(gen):
    import numpy as np

    z = torch.randn(100, 4, generator=gen, dtype=torch.float64)
    rotation = dacs_ext.random_rotation(4, 10, generator=gen, dtype=torch.float64)
    want = dacs_ext.density(z, 10, rotation=rotation)
    assert torch.equal(dacs_ext.density(z, np.int64(10), rotation=rotation), want)
    assert torch.equal(dacs_ext.density(z, torch.tensor(10), rotation=rotation), want)
    assert dacs_ext.kcenter_greedy(z, z[:3], np.int32(7)).shape == (7,)

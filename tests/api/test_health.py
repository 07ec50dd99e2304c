"""Feature health (dacs_ext.health): every figure of ``select``'s details against
an oracle written here from the definitions, on collapsed, rank-1, duplicated
and healthy features, and the warning that names what is degenerate."""

import math
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

import dacs_ext
import oracle
from dacs_ext.health import effective_rank, sample_rows


def oracle_health(pool, labeled, picks, buckets, seed):
    """The figures from their definitions, float64 numpy, every row (pools here
    have at most 2,048 rows, so the sample is the whole pool)."""
    z = oracle.unit(pool)
    rotation = oracle.draw_rotation(torch.Generator().manual_seed(seed), 1, z.shape[1], buckets)
    bucket = oracle.hash_buckets(z, rotation[0], [buckets])
    counts = Counter(bucket)
    order = sorted(range(len(bucket)), key=lambda i: (bucket[i], i))
    chunk_of = {row: c for c in range(buckets) for row in order[c * len(order) // buckets : (c + 1) * len(order) // buckets]}
    x = z.numpy()
    centers = [oracle.unit(labeled).numpy()] if labeled is not None else []
    centers = np.concatenate(centers + [x[picks]])
    left = np.setdiff1d(np.arange(len(x)), picks)
    nearest = (1 - x[left] @ centers.T).min(axis=1)
    s = np.linalg.svd(x, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return dict(
        occupied_buckets=len(counts), largest_bucket_share=max(counts.values()) / len(x),
        zero_distance_share=float((nearest <= 1e-5).mean()), effective_rank=math.exp(-(p * np.log(p)).sum()),
        chunks_picked=len({chunk_of[int(i)] for i in picks}),
    )


def run_select(pool, labeled, budget, buckets, seed):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        picks, details = dacs_ext.select(
            pool, labeled, budget, buckets=buckets, generator=torch.Generator().manual_seed(seed), return_details=True
        )
    degenerate = [str(w.message) for w in caught if "degenerate features" in str(w.message)]
    assert all(w.category is RuntimeWarning for w in caught)
    return picks, details["health"], degenerate


def check_figures(health, want):
    assert health["occupied_buckets"] == want["occupied_buckets"]
    assert health["largest_bucket_share"] == pytest.approx(want["largest_bucket_share"], abs=1e-12)
    assert health["zero_distance_share"] == pytest.approx(want["zero_distance_share"], abs=1e-12)
    assert health["effective_rank"] == pytest.approx(want["effective_rank"], rel=1e-6)
    assert health["chunks_picked"] == want["chunks_picked"]


def test_healthy_features_pass_quietly():
    gen = torch.Generator().manual_seed(11)
    pool, labeled = torch.randn(2000, 16, generator=gen, dtype=torch.float64), torch.randn(100, 16, generator=gen, dtype=torch.float64)
    picks, health, degenerate = run_select(pool, labeled, 100, 50, seed=5)
    want = oracle_health(pool, labeled, picks.numpy(), 50, seed=5)
    check_figures(health, want)
    assert degenerate == [] and health["degenerate"] == []
    assert health["buckets"] == 50 and health["groups_used"] == 4 and health["sampled_rows"] == 2000
    assert health["occupied_buckets"] >= 45 and health["largest_bucket_share"] < 0.1
    assert health["zero_distance_share"] == 0 and health["effective_rank"] > 14
    assert health["chunks"] == 50 and health["chunks_picked"] >= 40  # 100 picks over the 50 chunks


def test_collapsed_features_are_named():
    # What Davis's auxiliary head produced: every row within 1e-4 of one direction.
    gen = torch.Generator().manual_seed(12)
    direction = torch.randn(1, 16, generator=gen, dtype=torch.float64)
    pool = direction + 1e-4 * torch.randn(1500, 16, generator=gen, dtype=torch.float64)
    labeled = direction + 1e-4 * torch.randn(50, 16, generator=gen, dtype=torch.float64)
    picks, health, degenerate = run_select(pool, labeled, 100, 50, seed=6)
    check_figures(health, oracle_health(pool, labeled, picks.numpy(), 50, seed=6))
    assert health["occupied_buckets"] == 1 and health["largest_bucket_share"] == 1.0
    assert health["zero_distance_share"] == 1.0 and health["effective_rank"] < 1.01
    assert len(degenerate) == 1 and len(health["degenerate"]) == 3
    for words in ("one hash bucket holds 100% of the rows (1 of 50", "100% of the pool rows lie at cosine distance 0", "effective rank is 1.00 of 16"):
        assert words in degenerate[0]
        assert sum(words in sentence for sentence in health["degenerate"]) == 1


def test_rank_one_features_spread_over_two_buckets():
    # Rows +-v: two antipodal points; the hash splits them, the rank still says 1.
    gen = torch.Generator().manual_seed(13)
    v = torch.randn(16, generator=gen, dtype=torch.float64)
    signs = torch.where(torch.rand(1200, generator=gen) < 0.5, -1.0, 1.0).to(torch.float64)
    pool = signs[:, None] * v * torch.rand(1200, 1, generator=gen, dtype=torch.float64).add(0.5)
    picks, health, degenerate = run_select(pool, None, 20, 40, seed=7)
    check_figures(health, oracle_health(pool, None, picks.numpy(), 40, seed=7))
    assert health["occupied_buckets"] == 2 and health["effective_rank"] == pytest.approx(1.0, abs=1e-9)
    assert any("effective rank is 1.00" in s for s in health["degenerate"]) and len(degenerate) == 1


def test_copies_of_labeled_rows_are_counted_at_distance_zero():
    # 1,200 of 2,000 pool rows are exact copies of the labeled rows: healthy
    # directions, but k-center cannot tell the copies from their labeled twins.
    gen = torch.Generator().manual_seed(14)
    labeled = torch.randn(400, 16, generator=gen, dtype=torch.float64)
    pool = torch.cat([labeled.repeat(3, 1), torch.randn(800, 16, generator=gen, dtype=torch.float64)])
    pool = pool[torch.randperm(2000, generator=gen)]
    picks, health, degenerate = run_select(pool, labeled, 50, 50, seed=8)
    want = oracle_health(pool, labeled, picks.numpy(), 50, seed=8)
    check_figures(health, want)
    assert 0.55 < health["zero_distance_share"] < 0.65 and health["effective_rank"] > 14
    assert len(health["degenerate"]) == 1 and "lie at cosine distance 0" in health["degenerate"][0]
    assert len(degenerate) == 1


def test_a_hash_of_few_buckets_is_not_called_degenerate():
    # Two buckets: a bucket holds about half the rows by construction.
    gen = torch.Generator().manual_seed(15)
    pool = torch.randn(500, 16, generator=gen)
    _, health, degenerate = run_select(pool, None, 10, 2, seed=9)
    assert health["largest_bucket_share"] >= 0.5 and degenerate == []


def test_large_pools_are_sampled_evenly():
    rows = sample_rows(10**6)
    assert rows.numel() == 2048 and rows[0] == 0 and rows[-1] == 10**6 - 1
    assert bool((rows.diff() > 0).all()) and int(rows.diff().max()) - int(rows.diff().min()) <= 1
    assert torch.equal(sample_rows(100), torch.arange(100))
    gen = torch.Generator().manual_seed(16)
    _, health, _ = run_select(torch.randn(30000, 16, generator=gen), torch.randn(10, 16, generator=gen), 10, 100, seed=1)
    assert health["sampled_rows"] == 2048 and health["occupied_buckets"] >= 95


@pytest.mark.parametrize("singular", [[3.0, 2.0, 1.0, 0.5], [1.0, 1.0, 1.0, 1.0], [1.0, 0, 0, 0], [0, 0, 0, 0]])
def test_effective_rank_is_exp_entropy_of_singular_values(singular):
    gen = torch.Generator().manual_seed(17)
    u, _ = torch.linalg.qr(torch.randn(40, 4, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))
    x = u @ torch.diag(torch.tensor(singular, dtype=torch.float64)) @ v.T
    p = [s / sum(singular) for s in singular if s > 0]
    want = math.exp(-sum(q * math.log(q) for q in p)) if p else 0.0
    assert effective_rank(x) == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_the_strategy_records_the_health_of_every_acquisition():
    from dacs_ext.al.strategies import DACSStrategy, PoolState

    gen = torch.Generator().manual_seed(18)
    z = torch.nn.functional.normalize(torch.randn(600, 16, generator=gen), dim=1)
    labeled = torch.zeros(600, dtype=torch.bool)
    labeled[:100] = True
    pool = PoolState(labeled, {"aux_features": z}, torch.Generator().manual_seed(0), 0)
    DACSStrategy(buckets=20).select(pool, 30)
    health = pool.notes["dacs_health"]
    assert health["degenerate"] == [] and health["groups_used"] == 4 and health["buckets"] == 20
    collapsed = PoolState(labeled, {"aux_features": torch.nn.functional.normalize(z * 1e-5 + 1, dim=1)}, torch.Generator().manual_seed(0), 1)
    with pytest.warns(RuntimeWarning, match="degenerate features"):
        DACSStrategy(buckets=20).select(collapsed, 30)
    assert len(collapsed.notes["dacs_health"]["degenerate"]) == 3


@pytest.mark.parametrize("numpy_input", [False, True])
def test_the_warning_points_at_the_callers_line(numpy_input):
    z = torch.nn.functional.normalize(torch.randn(300, 8, generator=torch.Generator().manual_seed(19)) * 1e-5 + 1, dim=1)
    with pytest.warns(RuntimeWarning, match="degenerate features") as caught:
        dacs_ext.select(z.numpy() if numpy_input else z, None, 10, buckets=20)
    assert {w.filename for w in caught} == {__file__}

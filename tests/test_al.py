"""The active-learning package: strategies, the selection guard, training with
the auxiliary head, and the resumable loop on synthetic data."""

import os

import pytest
import torch
import torch.nn.functional as F

import dacs_ext
from dacs_ext.al import (
    STRATEGIES, AuxModel, CoreSet, DACSStrategy, LoopConfig, PoolState, Random, Strategy, TrainConfig,
    embed, evaluate, make_strategy, run_trial, train_model,
)
from dacs_ext.al.loop import CHECKPOINT, CYCLES, initial_labels
from dacs_ext.al.files import read_jsonl
from dacs_ext.al.strategies import check_selection
from experiments.rmnist import mlp

TIMES = ("train_seconds", "embed_seconds", "select_seconds", "wall_seconds")


def blobs(n, d=12, classes=4, *, gen, spread=0.6):
    """Samples of one fixed Gaussian-blob problem (a learnable classification):
    the centers are the same on every call, the samples come from ``gen``."""
    centers = 2 * torch.randn(classes, d, generator=torch.Generator().manual_seed(classes * 1000 + d))
    y = torch.randint(0, classes, (n,), generator=gen)
    return centers[y] + spread * torch.randn(n, d, generator=gen), y


def small_model(d=12, classes=4):
    return AuxModel(mlp(d, (32, 16)), 16, classes, aux_dim=8)


def random_pool(n, *, gen, labeled=30, width=6):
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=gen)[:labeled]] = True
    outputs = {
        "features": torch.randn(n, width, generator=gen, dtype=torch.float64),
        "aux_features": F.normalize(torch.randn(n, 16, generator=gen, dtype=torch.float64), dim=1),
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
        assert torch.equal(check_selection(STRATEGIES[name](), pool, budget, picked), picked)


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
        make_strategy("entropy")


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (TrainConfig, dict(epochs=0), "epochs"),
        (TrainConfig, dict(batch_size=2.5), "batch_size"),
        (TrainConfig, dict(lr=float("nan")), "lr"),
        (TrainConfig, dict(aux_stop_epoch=-1), "aux_stop_epoch"),
        (TrainConfig, dict(momentum=-0.1), "momentum"),
        (LoopConfig, dict(budget=0), "budget"),
        (LoopConfig, dict(measurements=1.5), "measurements"),
    ],
)
def test_bad_configs(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_training_learns_and_embed_gives_every_output(gen):
    x, y = blobs(600, gen=gen)
    test_x, test_y = blobs(300, gen=gen)
    torch.manual_seed(0)
    model = small_model()
    assert evaluate(model, test_x, test_y) < 0.6
    train_model(model, x, y, TrainConfig(epochs=15, lr_drop_epoch=10, aux_stop_epoch=8, batch_size=32), torch.Generator().manual_seed(0))
    assert evaluate(model, test_x, test_y) > 0.9
    out = embed(model, test_x, ("features", "aux_features", "logits", "aux_logits"), batch_size=64)
    assert out["features"].shape == (300, 16) and out["aux_features"].shape == (300, 8) and out["logits"].shape == (300, 4)
    assert torch.allclose(out["aux_features"].norm(dim=1), torch.ones(300, dtype=torch.float32), atol=1e-5)
    with torch.no_grad():
        direct = model(test_x)
    for name in out:
        assert torch.allclose(out[name], getattr(direct, name), atol=1e-6)
    assert (out["aux_logits"].argmax(1) == test_y).double().mean() > 0.8  # the auxiliary head learned too
    with pytest.raises(ValueError, match="unknown model outputs"):
        embed(model, test_x, ("penultimate",))


@pytest.mark.parametrize("epoch, reaches_backbone", [(4, True), (5, False)])
def test_aux_gradient_stops_at_the_set_epoch(epoch, reaches_backbone, gen):
    x, y = blobs(16, gen=gen)
    model = small_model()
    out = model(x, epoch=epoch, stop_gradient_epoch=5)
    F.cross_entropy(out.aux_logits, y).backward()
    grad = model.backbone[0].weight.grad
    assert (grad is not None and bool(grad.abs().sum() > 0)) == reaches_backbone
    assert bool(model.aux.project.weight.grad.abs().sum() > 0)  # the head itself always learns


def test_training_divergence_is_an_error(gen):
    x, y = blobs(64, gen=gen)
    with pytest.raises(FloatingPointError, match="diverged"):
        train_model(small_model(), x * 1e30, y, TrainConfig(epochs=2, lr=10.0), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        train_model(small_model(), x, y[:5], TrainConfig(epochs=1), torch.Generator())


def _trial(directory, gen_seed=0, method="dacs", warm_start=False, on_cycle=None):
    gen = torch.Generator().manual_seed(gen_seed)
    pool_x, pool_y = blobs(900, gen=gen)
    test_x, test_y = blobs(300, gen=gen)
    loop = LoopConfig(initial=20, budget=30, measurements=4, warm_start=warm_start)
    train = TrainConfig(epochs=6, batch_size=16, lr_drop_epoch=4, aux_stop_epoch=3)
    strategy = make_strategy(method, buckets=10) if method == "dacs" else make_strategy(method)
    return run_trial(strategy, small_model, pool_x, pool_y, test_x, test_y, loop, train, seed=7, directory=directory, on_cycle=on_cycle)


def _without_times(records):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in records]


class Killed(Exception):
    pass


def _stop_after(cycles):
    def on_cycle(record):
        if record["cycle"] + 1 == cycles:
            raise Killed

    return on_cycle


@pytest.mark.parametrize("method", sorted(STRATEGIES))
@pytest.mark.parametrize("warm_start", [False, True])
def test_resume_after_cycle_2_equals_an_uninterrupted_run(tmp_path, method, warm_start):
    whole = _trial(str(tmp_path / "whole"), method=method, warm_start=warm_start)
    assert [r["labeled"] for r in whole] == [20, 50, 80, 110]
    with pytest.raises(Killed):
        _trial(str(tmp_path / "cut"), method=method, warm_start=warm_start, on_cycle=_stop_after(2))
    assert len(read_jsonl(str(tmp_path / "cut" / CYCLES))) == 2
    resumed = _trial(str(tmp_path / "cut"), method=method, warm_start=warm_start)
    assert _without_times(resumed) == _without_times(whole)
    assert _without_times(read_jsonl(str(tmp_path / "cut" / CYCLES))) == _without_times(whole)
    first = torch.load(str(tmp_path / "whole" / CHECKPOINT), weights_only=True)
    second = torch.load(str(tmp_path / "cut" / CHECKPOINT), weights_only=True)
    assert torch.equal(first["labeled"], second["labeled"]) and first["labeled"].numel() == 110
    assert torch.unique(first["labeled"]).numel() == 110
    assert not [f for f in os.listdir(tmp_path / "cut") if f.endswith(".tmp")]


def test_methods_of_a_trial_share_the_initial_set_and_first_model(tmp_path):
    runs = {m: _trial(None, method=m) for m in sorted(STRATEGIES)}
    first = {m: runs[m][0]["accuracy"] for m in runs}
    assert len(set(first.values())) == 1  # same L0, same initialisation, same batches
    assert torch.equal(initial_labels(900, 20, 7), initial_labels(900, 20, 7))
    assert not torch.equal(initial_labels(900, 20, 7), initial_labels(900, 20, 8))


def test_loop_bad_inputs(tmp_path, gen):
    x, y = blobs(50, gen=gen)
    with pytest.raises(ValueError, match="labels 110 samples in all but the pool has 50"):
        run_trial(Random(), small_model, x, y, x, y, LoopConfig(20, 30, 4), TrainConfig(epochs=1), seed=0)
    with pytest.raises(ValueError, match="inputs and labels disagree"):
        run_trial(Random(), small_model, x, y[:10], x, y, LoopConfig(5, 5, 2), TrainConfig(epochs=1), seed=0)
    torch.save({"format": 99}, str(tmp_path / CHECKPOINT))
    with pytest.raises(RuntimeError, match="checkpoint format 99"):
        run_trial(Random(), small_model, x, y, x, y, LoopConfig(5, 5, 2), TrainConfig(epochs=1), seed=0, directory=str(tmp_path))


def test_atomic_writes_replace_whole_files_with_normal_permissions(tmp_path):
    from dacs_ext.al.files import atomic_write_bytes, atomic_write_jsonl

    path = str(tmp_path / "rows.jsonl")
    atomic_write_jsonl([{"a": 1}], path)
    atomic_write_jsonl([{"a": 1}, {"b": 2}], path)
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(IsADirectoryError):
        atomic_write_bytes(str(tmp_path), b"x")
    assert sorted(os.listdir(tmp_path)) == ["rows.jsonl"]  # no temporary file left behind

"""Training with the auxiliary head: it learns, and it does what TrainConfig says
(learning-rate drop, auxiliary gradient stop, weight decay), observed on the
optimizer and the model rather than taken on trust."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_pre_hook

from dacs_ext.al import AuxModel, TrainConfig, UnreliableBF16Error, check_bf16, embed, evaluate, train_model
from experiments.tasks.rmnist import MLP

from helpers import blobs, small_model


def seeded_model(seed=0):
    torch.manual_seed(seed)
    return small_model()


@pytest.mark.learned
def test_training_learns_and_embed_gives_every_output(training_seed, margin):
    gen = torch.Generator().manual_seed(20261125 + training_seed)
    x, y = blobs(600, gen=gen)
    test_x, test_y = blobs(300, gen=gen)
    model = seeded_model(training_seed)
    margin.below("untrained accuracy", evaluate(model, test_x, test_y)["accuracy"], 0.6)
    train_model(model, x, y, TrainConfig(epochs=15, lr_drop_epoch=10, aux_stop_epoch=8, batch_size=32), torch.Generator().manual_seed(training_seed))
    margin.above("test accuracy", evaluate(model, test_x, test_y)["accuracy"], 0.9)
    out = embed(model, test_x, ("features", "aux_features", "logits", "aux_logits"), batch_size=64)
    assert out["features"].shape == (300, 16) and out["aux_features"].shape == (300, 8) and out["logits"].shape == (300, 4)
    assert torch.allclose(out["aux_features"].norm(dim=1), torch.ones(300, dtype=torch.float32), atol=1e-5)
    with torch.no_grad():
        direct = model(test_x)
    for name in out:
        # Batches of 64 against one of 300: GEMM sums the same dot products (12-32
        # terms) in another order, a float32 rounding of about 1e-6 of values up to 10.
        torch.testing.assert_close(out[name], getattr(direct, name), rtol=1e-5, atol=1e-5)
    margin.above("auxiliary head accuracy", (out["aux_logits"].argmax(1) == test_y).double().mean(), 0.8)
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




def test_learning_rate_drops_to_lr_times_factor(gen):
    # 40 rows in batches of 16: 3 optimizer steps an epoch.
    x, y = blobs(40, gen=gen)
    config = TrainConfig(epochs=5, batch_size=16, lr=0.05, lr_drop_epoch=3, lr_drop_factor=0.2)
    seen = []
    hook = register_optimizer_step_pre_hook(
        lambda optimizer, args, kwargs: seen.append([group["lr"] for group in optimizer.param_groups])
    )
    try:
        train_model(seeded_model(), x, y, config, torch.Generator().manual_seed(0))
    finally:
        hook.remove()
    assert seen == [[0.05]] * 9 + [[pytest.approx(0.05 * 0.2, rel=1e-15)]] * 6


def test_aux_gradient_reaches_the_backbone_until_the_stop_epoch(gen):
    # The head sees the backbone's features attached to the graph in epochs 0-1 and
    # detached from epoch 2 on (what the detach does is test_aux_gradient_stops_at_the_set_epoch).
    x, y = blobs(64, gen=gen)
    model = seeded_model()
    attached = []
    model.aux.register_forward_hook(lambda module, inputs, output: attached.append(inputs[0].requires_grad))
    train_model(model, x, y, TrainConfig(epochs=4, batch_size=32, aux_stop_epoch=2), torch.Generator().manual_seed(0))
    assert attached == [True] * 4 + [False] * 4


def backbone_after(config, x, y):
    model = seeded_model()
    train_model(model, x, y, config, torch.Generator().manual_seed(0))
    return [p.detach() for p in model.backbone.parameters()]


def test_aux_gradient_stop_changes_what_the_backbone_learns(gen):
    # Stopped from epoch 0, the auxiliary loss never reaches the backbone: it learns
    # exactly what it learns with the auxiliary weight at 0. Never stopped, it learns otherwise.
    x, y = blobs(64, gen=gen)
    base = dict(epochs=3, batch_size=32, momentum=0.0)
    main_only = backbone_after(TrainConfig(**base, aux_weight=0.0), x, y)
    stopped = backbone_after(TrainConfig(**base, aux_stop_epoch=0), x, y)
    never = backbone_after(TrainConfig(**base, aux_stop_epoch=3), x, y)
    for a, b in zip(stopped, main_only):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
    assert any(not torch.allclose(a, b, atol=1e-4) for a, b in zip(never, main_only))


@pytest.mark.parametrize("weight_decay", [5e-4, 0.3])
def test_weight_decay_is_applied(gen, weight_decay):
    # One full-batch SGD step without momentum: p1 = p0 - lr * (grad + wd * p0), so
    # with and without decay the parameters differ by exactly -lr * wd * p0.
    # In float64, so that the difference is not lost to rounding.
    x, y = blobs(50, gen=gen)
    x = x.double()
    plain, decayed = seeded_model().double(), seeded_model().double()
    start = {name: p.detach().clone() for name, p in plain.named_parameters()}
    base = dict(epochs=1, batch_size=64, lr=0.1, momentum=0.0)
    train_model(plain, x, y, TrainConfig(**base, weight_decay=0.0), torch.Generator().manual_seed(0))
    train_model(decayed, x, y, TrainConfig(**base, weight_decay=weight_decay), torch.Generator().manual_seed(0))
    parameters = dict(plain.named_parameters())
    for name, p in decayed.named_parameters():
        torch.testing.assert_close(p.detach() - parameters[name].detach(), -0.1 * weight_decay * start[name], rtol=1e-9, atol=1e-15)


class FlippedUnderAutocast(MLP):
    """A backbone whose bf16 path computes something else (reads its input
    reversed), as a wrong bf16 kernel of a machine would."""

    def forward(self, x):
        return super().forward(x.flip(1) if torch.is_autocast_enabled(x.device.type) else x)


def test_bf16_training_refuses_a_model_that_autocast_miscomputes(gen):
    x, y = blobs(200, gen=gen)
    torch.manual_seed(0)
    model = AuxModel(FlippedUnderAutocast(12, (32, 16)), 16, 4, aux_dim=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(epochs=2, batch_size=32, bf16=True)
    with pytest.raises(UnreliableBF16Error, match=r"bf16=True: .* by \d+\.\d% relative to float32 on cpu"):
        train_model(model, x, y, config, torch.Generator().manual_seed(0))
    assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # refused before any step
    model.eval()
    with pytest.raises(UnreliableBF16Error):
        check_bf16(model, x[:32])
    assert not model.training  # the mode is restored
    train_model(model, x, y, dataclasses.replace(config, bf16=False), torch.Generator().manual_seed(0))


def test_bf16_check_measures_rounding_on_a_sound_model(gen, margin):
    x, _ = blobs(64, gen=gen)
    error = check_bf16(seeded_model(), x)
    margin.above("bf16 relative error", error, 1e-4, why="autocast did run")
    margin.below("bf16 relative error", error, 0.02, why="autocast only rounded")
    with pytest.raises(UnreliableBF16Error):
        check_bf16(seeded_model(), x, tolerance=error / 2)

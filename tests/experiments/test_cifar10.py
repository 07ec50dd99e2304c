"""The CIFAR-10 task: the batch-file loader (good, corrupt and malicious files),
ResNet-18's shapes, taps and size, the batched augmentation, learning a
synthetic image problem, the training options, and all eight methods end to
end on the smoke preset with resume after a kill."""

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from dacs_ext.al import AuxModel, STRATEGIES, TrainConfig, evaluate, train_model
from dacs_ext.al.loop import train_cycle
from experiments import runner
from experiments.tasks import cifar10, safe_pickle
from experiments.__main__ import main
from test_experiments import ROOT, kill_then_resume, records_of

METHODS = ("random", "coreset", "dacs", "learnloss", "learnloss-dacs", "nce", "nce-dacs", "cdal")
# ResNet-18 with 10 classes has 11,689,512 - 513 * 990 = 11,181,642 parameters
# (torchvision's count for 1,000 classes, less the output layer's 990 extra
# rows); the CIFAR stem's 3x3 convolution has 1,728 weights where the 7x7 has 9,408.
RESNET18_CIFAR_PARAMETERS = 11_181_642 - 9_408 + 1_728


def write_pickle(path, obj, protocol=2):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def write_folder(directory, sizes=(7, 5, 6, 4, 3), test=5, seed=0):
    """Random images and labels, written with pickle directly (not with the
    package's writer): returns (train images, train labels, test images, test labels)."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    images, labels = [], []
    for i, n in enumerate([*sizes, test]):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, n).tolist()
        name = f"data_batch_{i + 1}" if i < len(sizes) else "test_batch"
        write_pickle(os.path.join(directory, name), {b"batch_label": b"x", b"labels": y, b"data": x, b"filenames": [b"a.png"] * n})
        images.append(x)
        labels.append(y)
    return np.concatenate(images[:-1]), sum(labels[:-1], []), images[-1], labels[-1]


def test_loader_reads_every_batch_in_order(tmp_path):
    train_x, train_y, test_x, test_y = write_folder(str(tmp_path))
    data = cifar10.load_cifar10(str(tmp_path))
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape == (25, 3, 32, 32)
    # Channel-major rows: the first 1,024 values are red, row by row.
    np.testing.assert_array_equal(data.train_images.numpy()[:, 0], train_x[:, :1024].reshape(-1, 32, 32))
    np.testing.assert_array_equal(data.train_images.numpy(), train_x.reshape(-1, 3, 32, 32))
    assert data.train_labels.tolist() == train_y and data.train_labels.dtype == torch.int64
    np.testing.assert_array_equal(data.test_images.numpy(), test_x.reshape(-1, 3, 32, 32))
    assert data.test_labels.tolist() == test_y


def test_loader_takes_string_keys_array_labels_and_new_protocols(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    write_pickle(tmp_path / "b", {"data": x, "labels": np.array([1, 2, 3, 9])}, protocol=5)
    images, labels = cifar10.read_batch(str(tmp_path / "b"))
    np.testing.assert_array_equal(images.numpy().reshape(4, -1), x)
    assert labels.tolist() == [1, 2, 3, 9]


def test_a_malicious_batch_runs_nothing(tmp_path):
    write_folder(str(tmp_path))
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    write_pickle(tmp_path / "data_batch_3", {b"data": Payload(), b"labels": [0]})
    with pytest.raises(safe_pickle.RefusedGlobal, match=r"data_batch_3: the pickle asks for (posix|os)\.system"):
        cifar10.load_cifar10(str(tmp_path))
    assert not marker.exists()
    with open(tmp_path / "data_batch_3", "rb") as f:  # the payload is real: pickle.load runs it
        pickle.load(f)
    assert marker.exists()


GOOD = np.zeros((2, 3072), np.uint8)


@pytest.mark.parametrize(
    "content, message",
    [
        (["not", "a", "dict"], "expected a pickled dict, got list"),
        ({b"labels": [0, 1]}, "no 'data' entry"),
        ({b"data": GOOD}, "no 'labels' entry"),
        ({b"data": GOOD.astype(np.float32), b"labels": [0, 1]}, r"uint8 array \[n >= 1, 3072\], got a float32 array of shape \[2, 3072\]"),
        ({b"data": GOOD[:, :3000], b"labels": [0, 1]}, r"got a uint8 array of shape \[2, 3000\]"),
        ({b"data": GOOD.reshape(2, 3, 32, 32), b"labels": [0, 1]}, r"shape \[2, 3, 32, 32\]"),
        ({b"data": GOOD[:0], b"labels": []}, r"shape \[0, 3072\]"),
        ({b"data": b"raw bytes", b"labels": [0, 1]}, "got a bytes"),
        ({b"data": GOOD, b"labels": [0]}, "2 images but 1 labels"),
        ({b"data": GOOD, b"labels": [0, 10]}, "label 10 is outside 0-9"),
        ({b"data": GOOD, b"labels": [-1, 0]}, "label -1 is outside 0-9"),
        ({b"data": GOOD, b"labels": [0, 1.0]}, "'labels' must be a list of ints"),
        ({b"data": GOOD, b"labels": "01"}, "'labels' must be a list of ints"),
    ],
)
def test_corrupt_batches_fail_clearly(tmp_path, content, message):
    write_folder(str(tmp_path))
    write_pickle(tmp_path / "test_batch", content)
    with pytest.raises(cifar10.DataError, match=message) as error:
        cifar10.load_cifar10(str(tmp_path))
    assert "test_batch" in str(error.value)


def test_missing_and_unreadable_files_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory; pass your cifar-10-batches-py"):
        cifar10.load_cifar10(str(tmp_path / "nowhere"))
    write_folder(str(tmp_path))
    (tmp_path / "data_batch_2").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_2: not a readable pickle"):
        cifar10.load_cifar10(str(tmp_path))
    write_folder(str(tmp_path))
    os.remove(tmp_path / "data_batch_5")
    with pytest.raises(FileNotFoundError, match="data_batch_5: missing"):
        cifar10.load_cifar10(str(tmp_path))


def test_resnet_shapes_and_taps(gen):
    net = cifar10.ResNet18(width=4)
    out = net(torch.randn(3, 3, 32, 32, generator=gen))
    assert out.features.shape == (3, 32)
    assert [tuple(t.shape) for t in out.taps] == [(3, 4, 32, 32), (3, 8, 16, 16), (3, 16, 8, 8), (3, 32, 4, 4)]
    assert net.tap_channels == (4, 8, 16, 32)
    # The features are the last tap, averaged over its 4 x 4 positions.
    torch.testing.assert_close(out.features, out.taps[-1].mean((2, 3)))
    model = cifar10.make_model(cifar10.PRESETS["smoke"])
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8, generator=gen)
    model.eval()
    result = model(images)
    assert result.logits.shape == (5, 10) and result.aux_features.shape == (5, 16) and result.features.shape == (5, 32)
    with pytest.raises(TypeError, match="CIFAR images must be uint8"):
        model(images.float())
    with pytest.raises(ValueError, match="width must be a positive int"):
        cifar10.ResNet18(width=0)


def test_resnet18_has_the_standard_parameter_count():
    net = cifar10.ResNet18()
    count = sum(p.numel() for p in net.parameters()) + 512 * 10 + 10  # and the classifier
    assert count == RESNET18_CIFAR_PARAMETERS
    assert sum(p.numel() for p in cifar10.make_model(cifar10.PRESETS["paper"]).classifier.parameters()) == 5130


def test_resnet18_matches_torchvision_where_importable():
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.resnet18(num_classes=10)
    reference.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    reference.maxpool = torch.nn.Identity()
    assert sum(p.numel() for p in reference.parameters()) == sum(p.numel() for p in cifar10.ResNet18().parameters()) + 5130


def test_crops_are_shifts_of_the_padded_image_and_flips_are_exact(gen, device):
    images = torch.randint(0, 256, (600, 2, 5, 6), dtype=torch.uint8, generator=gen).to(device)
    generator = torch.Generator(device=device).manual_seed(3)
    out = cifar10.random_crop_flip(images, 2, generator=generator)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    padded = torch.zeros(600, 2, 9, 10, dtype=torch.uint8, device=device)
    padded[:, :, 2:7, 2:8] = images
    seen = set()
    for b in range(600):  # brute force over every offset and flip
        found = [
            (dy, dx, flip)
            for dy in range(5) for dx in range(5) for flip in (False, True)
            if torch.equal(out[b], (lambda c: c.flip(-1) if flip else c)(padded[b, :, dy : dy + 5, dx : dx + 6]))
        ]
        assert found, f"image {b} is no crop of its padded image"
        seen.update(found)
    # Every offset and both flips occur (each has probability 1/50 per image).
    assert {(dy, dx) for dy, dx, _ in seen} == {(dy, dx) for dy in range(5) for dx in range(5)}
    assert {flip for _, _, flip in seen} == {False, True}


def test_augmentation_is_deterministic_under_a_generator(gen, device):
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=gen).to(device)
    draw = lambda seed: cifar10.random_crop_flip(images, generator=torch.Generator(device=device).manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(7), draw(7))
    assert not torch.equal(draw(7), draw(8))
    unpadded = cifar10.random_crop_flip(images, 0, generator=torch.Generator(device=device).manual_seed(1))
    flipped = (unpadded != images).flatten(1).any(1)
    assert torch.equal(unpadded[flipped], images[flipped].flip(-1)) and 0 < int(flipped.sum()) < 64
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        cifar10.random_crop_flip(images, -1)
    with pytest.raises(ValueError, match=r"images must be \[B, C, H, W\]"):
        cifar10.random_crop_flip(images[0])


def test_the_input_module_normalises_and_augments_only_in_training(gen):
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=gen)
    layer = cifar10.CifarInput().eval()
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    torch.testing.assert_close(layer(images), (images.double() / 255 - mean.double()) / std.double(), check_dtype=False, atol=1e-5, rtol=0)
    layer.train()
    torch.manual_seed(0)
    first = layer(images)
    torch.manual_seed(0)
    assert torch.equal(layer(images), first)  # from the global generator, as the loop seeds it
    assert not torch.equal(first, layer.eval()(images))


@pytest.mark.learned
def test_resnet_learns_a_synthetic_image_problem(tmp_path, training_seed, margin):
    # Chance is 0.1. Over data and training seeds 0-5, on both CPU families' paths,
    # the trained accuracy was 0.905-1.0 (tests/MARGINS.md).
    cifar10.write_synthetic(str(tmp_path), per_batch=200, test=400, seed=2 + training_seed)
    data = cifar10.load_cifar10(str(tmp_path))
    torch.manual_seed(training_seed)
    model = AuxModel(cifar10.ResNet18(8, prepare=cifar10.CifarInput()), 64, 10)
    margin.below("untrained accuracy", evaluate(model, data.test_images, data.test_labels)["accuracy"], 0.2)
    config = TrainConfig(epochs=10, batch_size=50, lr=0.02, momentum=0.9, lr_drop_epoch=6, aux_stop_epoch=6)
    train_model(model, data.train_images, data.train_labels, config, torch.Generator().manual_seed(training_seed))
    margin.above("test accuracy", evaluate(model, data.test_images, data.test_labels)["accuracy"], 0.8)


def test_channels_last_trains_like_the_default_layout(tmp_path):
    cifar10.write_synthetic(str(tmp_path), per_batch=20, test=10, seed=3)
    data = cifar10.load_cifar10(str(tmp_path))
    models, losses = [], []
    # One step (one batch, one epoch): a tiny ResNet's training amplifies the
    # layouts' float rounding tenfold per step, so longer runs part ways.
    for channels_last in (False, True):
        config = TrainConfig(epochs=1, batch_size=128, lr=0.05, lr_drop_epoch=2, aux_stop_epoch=1, channels_last=channels_last)
        model, loss = train_cycle(
            lambda: cifar10.make_model(cifar10.PRESETS["smoke"]), data.train_images, data.train_labels, config, seed=1, cycle=0
        )
        models.append(model)
        losses.append(loss)
    weight = lambda model: model.backbone.stem[0].weight  # noqa: E731
    assert weight(models[1]).is_contiguous(memory_format=torch.channels_last)
    assert not weight(models[0]).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(torch.tensor(losses[0], dtype=torch.float64), torch.tensor(losses[1], dtype=torch.float64), rtol=1e-5, atol=0)
    # The step itself agrees up to the rounding of a reduction over 100 x 32 x 32 positions.
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-2)


def test_compiled_training_matches_eager(gen):
    pytest.importorskip("torch._inductor")
    x, y = torch.randn(64, 5, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    losses = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = AuxModel(torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU()), 8, 3, aux_dim=4)
        config = TrainConfig(epochs=2, batch_size=32, lr=0.05, lr_drop_epoch=2, aux_stop_epoch=1, compile=compiled)
        losses.append(train_model(model, x, y, config, torch.Generator().manual_seed(0)))
    torch.testing.assert_close(torch.tensor(losses[0], dtype=torch.float64), torch.tensor(losses[1], dtype=torch.float64), rtol=1e-4, atol=0)


def test_training_options_check_their_values():
    for name in ("channels_last", "compile", "bf16"):
        with pytest.raises(TypeError, match=f"{name} must be True or False"):
            TrainConfig(**{name: 1})
    for name, value in (("epochs", 0), ("lr", float("nan")), ("momentum", -0.1), ("optimizer", "rmsprop")):
        with pytest.raises(ValueError, match=f"{name} must be"):
            TrainConfig(**{name: value})


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cifar")
    cifar10.write_synthetic(str(directory), per_batch=60, test=200, seed=4)
    return str(directory)


def test_the_command_line_needs_a_data_dir_and_checks_training_options(tmp_path, folder, capsys, monkeypatch):
    assert main(["run", "--task", "cifar10", "--preset", "smoke", "--out", str(tmp_path / "a")]) == 2
    assert "--data-dir: task cifar10 has no data on this machine" in capsys.readouterr().err
    args = ["run", "--task", "cifar10", "--preset", "smoke", "--data-dir", folder, "--methods", "random", "--trials", "1", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "b"), "--train-epochs", "0"]) == 2
    assert "--train-epochs: epochs must be >= 1, got 0" in capsys.readouterr().err
    trained = []
    real = runner.run_trial

    def watched(*args, **kwargs):
        trained.append(args[7])  # the TrainConfig
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_trial", watched)
    assert main([*args, "--out", str(tmp_path / "c"), "--train-momentum", "0.9", "--train-channels-last"]) == 0
    train = json.loads((tmp_path / "c" / "config.json").read_text())["protocol"]["train"]
    assert train["momentum"] == 0.9 and train["channels_last"] is True and train["epochs"] == 2
    assert trained == [TrainConfig(**train)]  # what config.json records is what trained
    # Resuming with another training option is refused.
    assert main([*args, "--out", str(tmp_path / "c"), "--resume", "--train-momentum", "0.4"]) == 2
    assert "different settings" in capsys.readouterr().err


def test_smoke_preset_runs_all_eight_methods_and_resumes_after_a_kill(tmp_path, folder):
    assert set(METHODS) <= set(STRATEGIES)
    args = ["run", "--task", "cifar10", "--preset", "smoke", "--methods", ",".join(METHODS), "--trials", "1", "--data-dir", folder, "--no-progress"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*args, "--out", str(whole)]) == 0
    table = (whole / "results.md").read_text()
    for title in ("Random", "Core-set", "DACS", "LearnLoss", "LearnLoss + DACS", "NCE-Net", "NCE-Net + DACS", "CDAL"):
        assert f"| {title} |" in table
    for method in METHODS:
        rows = records_of(str(whole), method, 0)
        assert [r["labeled"] for r in rows] == [20, 40, 60] and rows[0]["proportion"] == 20 / 300
        picked = rows[0]["initial"] + [i for r in rows for i in r["acquired"]]
        assert len(set(picked)) == 60 and all(0 <= i < 300 for i in picked)
    # SIGKILL after NCE-Net + DACS saved its second cycle (augmentation, batch
    # norm statistics and the NCE head in the state), then resumed: the same records.
    resumed = kill_then_resume(args, cut, METHODS, "nce-dacs", 2)
    assert resumed == {method: records_of(str(whole), method, 0) for method in METHODS}


# One trial's training and embedded images, by hand: paper, 200 epochs on 1,000 +
# 2,000 + ... + 10,000 labels, 9 pool embeddings of 50,000 and 10 test
# evaluations of 10,000; smoke, 2 epochs on 20 + 40 + 60 labels, 2 x 300 + 3 x 200.
@pytest.mark.parametrize("preset, trained, embedded", [("paper", 200 * 55_000, 9 * 50_000 + 10 * 10_000), ("smoke", 2 * 120, 2 * 300 + 3 * 200)])
def test_the_speed_script_times_and_projects_a_trial(tmp_path, preset, trained, embedded):
    out = tmp_path / "speed.json"
    process = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "cifar_speed.py"), "--device", "cpu", "--steps", "1", "--width", "2",
         "--preset", preset, "--options", "float32,bf16", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert "| float32 |" in process.stdout and "| bf16 |" in process.stdout
    written = json.loads(out.read_text())
    assert (written["preset"], written["width"], written["trained_images"], written["embedded_images"]) == (preset, 2, trained, embedded)
    for measured in written["results"].values():
        expected = (measured["train_per_image"] * trained + measured["embed_per_image"] * embedded) / 60
        assert measured["projected_trial_minutes"] == pytest.approx(expected)


def test_the_speed_script_refuses_an_unknown_option():
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "cifar_speed.py"), "--options", "fp8"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--options must name some of" in bad.stderr


def test_presets_follow_the_paper(folder):
    paper = cifar10.PRESETS["paper"]
    assert (paper.loop.initial, paper.loop.budget, paper.loop.measurements) == (1000, 1000, 10)
    t = paper.train
    assert (t.optimizer, t.lr, t.momentum, t.weight_decay, t.batch_size) == ("sgd", 0.1, 0.4, 5e-4, 128)
    assert (t.epochs, t.lr_drop_epoch, t.lr_drop_factor, t.aux_stop_epoch) == (200, 160, 0.1, 120)
    assert paper.width == 64 and paper.aux_dim == 16 and paper.train_limit is None and paper.test_limit is None
    short = cifar10.PRESETS["short"]
    assert short.loop == paper.loop and (short.train.epochs, short.train.lr_drop_epoch, short.train.aux_stop_epoch) == (30, 24, 18)
    # cpu: the paper's 1,000 + 1,000 a cycle, 5 measurements on 25,000 pool and
    # 5,000 test images, 60 epochs with the paper's drop (80%) and stop (60%).
    cpu = cifar10.PRESETS["cpu"]
    assert (cpu.loop.initial, cpu.loop.budget, cpu.loop.measurements, cpu.train_limit, cpu.test_limit) == (1000, 1000, 5, 25_000, 5_000)
    c = cpu.train
    assert (c.epochs, c.lr_drop_epoch, c.aux_stop_epoch, c.lr, c.momentum, c.batch_size) == (60, 48, 36, 0.1, 0.4, 128)
    assert cpu.width == 16 and c.bf16 and c.channels_last
    for name in ("paper", "short", "cpu", "smoke"):
        config = runner.build_config("cifar10", list(METHODS), 3, name, 0, folder)
        assert config["protocol"]["width"] == cifar10.PRESETS[name].width and config["protocol"]["loop"]["warm_start"]

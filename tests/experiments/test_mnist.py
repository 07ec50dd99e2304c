"""The MNIST idx loader on small files written here (gz and raw), corrupt files,
and Repeated-MNIST's construction."""

import os

import numpy as np
import pytest
import torch

from experiments.tasks.mnist import IMAGES_MAGIC, LABELS_MAGIC, IdxFormatError, MnistData, load_mnist, read_idx, repeated_mnist
from helpers import idx_bytes, make_dataset, write


@pytest.mark.parametrize("compress", [True, False])
def test_load_mnist_reads_every_value(tmp_path, compress):
    parts = make_dataset(str(tmp_path), compress=compress)
    data = load_mnist(str(tmp_path))
    assert data.train_images.shape == (12, 28, 28) and data.train_images.dtype == torch.uint8
    assert np.array_equal(data.train_images.numpy(), parts["train-images-idx3-ubyte"][0])
    assert np.array_equal(data.test_labels.numpy(), parts["t10k-labels-idx1-ubyte"][0])
    assert data.train_labels.dtype == torch.int64


def test_corrupt_files_are_clear_errors(tmp_path):
    good = np.zeros((3, 28, 28))
    bad_magic = write(str(tmp_path / "a"), idx_bytes(good, 0x00000804), False)
    with pytest.raises(IdxFormatError, match="magic number 0x00000804, expected 0x00000803"):
        read_idx(bad_magic, IMAGES_MAGIC)
    truncated = write(str(tmp_path / "b"), idx_bytes(good, IMAGES_MAGIC)[:-10], True)
    with pytest.raises(IdxFormatError, match="needs 2368"):
        read_idx(truncated, IMAGES_MAGIC)
    short = write(str(tmp_path / "c"), b"\x00\x00", False)
    with pytest.raises(IdxFormatError, match="too short"):
        read_idx(short, IMAGES_MAGIC)
    not_gzip = str(tmp_path / "d.gz")
    open(not_gzip, "wb").write(b"plain bytes")
    with pytest.raises(IdxFormatError, match="cannot be read"):
        read_idx(not_gzip, LABELS_MAGIC)


def test_label_count_mismatch_and_missing_files(tmp_path):
    make_dataset(str(tmp_path))
    os.remove(tmp_path / "train-labels-idx1-ubyte.gz")
    write(str(tmp_path / "train-labels-idx1-ubyte"), idx_bytes(np.zeros(11), LABELS_MAGIC), False)
    with pytest.raises(IdxFormatError, match="train has 12 images but 11 labels"):
        load_mnist(str(tmp_path))
    os.remove(tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_mnist(str(tmp_path / "nowhere"))


def test_repeated_mnist(tmp_path):
    make_dataset(str(tmp_path))
    data = load_mnist(str(tmp_path))
    x, y, test_x, test_y = repeated_mnist(data, generator=torch.Generator().manual_seed(0))
    assert x.shape == (36, 784) and y.shape == (36,) and test_x.shape == (5, 784)
    assert torch.equal(y, data.train_labels.repeat(3))
    clean = repeated_mnist(data, noise_std=0.0)[0]
    assert torch.allclose(clean[:12], clean[12:24]) and abs(float(clean.mean())) < 1e-5
    noise = x - clean
    assert 0.07 < float(noise.std()) < 0.13  # N(0, 0.1^2) on every copy
    assert not torch.equal(x[:12], x[12:24])  # the copies differ by their noise
    assert torch.equal(test_x, repeated_mnist(data, noise_std=0.5)[2])  # test set untouched


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_loads():
    data = load_mnist("/usr/share/datasets/fashion-mnist")
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert sorted(torch.unique(data.train_labels).tolist()) == list(range(10))


def test_trailing_bytes_are_refused(tmp_path):
    labels = idx_bytes(np.arange(10), LABELS_MAGIC)
    path = write(str(tmp_path / "labels"), labels + b"\x00", False)
    with pytest.raises(IdxFormatError, match="19 bytes, but the header's shape \\[10\\] needs 18"):
        read_idx(path, LABELS_MAGIC)


@pytest.mark.parametrize("split", ["train", "test"])
def test_labels_outside_0_9_are_refused(tmp_path, split):
    make_dataset(str(tmp_path), n_train=12, n_test=5)
    stem = "train-labels-idx1-ubyte" if split == "train" else "t10k-labels-idx1-ubyte"
    os.remove(tmp_path / f"{stem}.gz")
    labels = np.arange(12 if split == "train" else 5) % 10
    labels[-1] = 10
    write(str(tmp_path / stem), idx_bytes(labels, LABELS_MAGIC), True)
    with pytest.raises(IdxFormatError, match=f"{split} labels go up to 10, expected 0-9"):
        load_mnist(str(tmp_path))


def test_the_test_set_is_normalised_with_the_training_statistics():
    # As in the paper's source: one mean and std, of the training images, for both
    # splits. The test images here are much darker than the training ones.
    g = torch.Generator().manual_seed(0)
    data = MnistData(
        train_images=torch.randint(0, 256, (30, 28, 28), generator=g, dtype=torch.uint8),
        train_labels=torch.randint(0, 10, (30,), generator=g),
        test_images=torch.randint(0, 64, (7, 28, 28), generator=g, dtype=torch.uint8),
        test_labels=torch.randint(0, 10, (7,), generator=g),
    )
    x, _, test_x, _ = repeated_mnist(data, noise_std=0.0)
    train = data.train_images.reshape(30, -1).double() / 255
    mean, std = train.mean(), train.std()
    torch.testing.assert_close(x[:30].double(), (train - mean) / std, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(test_x.double(), (data.test_images.reshape(7, -1).double() / 255 - mean) / std, rtol=1e-5, atol=1e-5)

"""The image-folder loader (experiments/tasks/images.py) on folders written
here: PNG pixels come back exactly as written, labels follow the sorted class
folders, a .tar.gz reads as its directory, the cache returns the same arrays
without decoding, and every malformed folder is an error naming the file or
folder. One test reads members of the shared CIFAR-10 archive where it exists."""

import io
import os
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from experiments.tasks import images
from experiments.tasks.images import ImageFolderError, read_image_folder

SHARED_ARCHIVE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                              "..", "shared", "data", "cifar10-jpeg.tar.gz")


def write_image(path, pixels, format_=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path, format=format_)


def write_folder(root, classes=("cat", "ant", "bee"), per_class=(3, 2), side=8, seed=0):
    """PNG images of random pixels in train/<class>/ and test/<class>/; returns
    {split: [(class, pixels [side, side, 3])]} in the loader's order (classes
    sorted, files sorted within a class)."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, count in zip(("train", "test"), per_class):
        written[split] = []
        for name in sorted(classes):
            for i in range(count):
                pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
                write_image(os.path.join(root, split, name, f"{i:03d}.png"), pixels)
                written[split].append((name, pixels))
    return written


def expected(written, split, classes):
    pixels = torch.from_numpy(np.stack([p for _, p in written[split]])).permute(0, 3, 1, 2)
    labels = torch.tensor([classes.index(c) for c, _ in written[split]])
    return pixels, labels


def test_pixels_and_labels_come_back_as_written(tmp_path):
    written = write_folder(tmp_path / "data")
    data = read_image_folder(str(tmp_path / "data"), cache=False)
    assert data.classes == ["ant", "bee", "cat"]
    for split in ("train", "test"):
        pixels, labels = expected(written, split, data.classes)
        assert torch.equal(getattr(data, f"{split}_images"), pixels)
        assert torch.equal(getattr(data, f"{split}_labels"), labels)
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape == (9, 3, 8, 8)


def test_jpeg_and_png_mixed_and_a_tar_gz_reads_as_its_directory(tmp_path):
    root = tmp_path / "set" / "mine"
    write_folder(root)
    write_image(str(root / "train" / "ant" / "photo.JPG"), np.full((8, 8, 3), 200, np.uint8), "JPEG")
    (root / "train" / "ant" / ".DS_Store").write_bytes(b"finder")  # hidden files are skipped
    archive = tmp_path / "mine.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="mine")
    from_dir = read_image_folder(str(root), cache=False)
    from_tar = read_image_folder(str(archive), cache=False)
    assert from_dir.classes == from_tar.classes
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(from_dir, name), getattr(from_tar, name))
    assert from_dir.train_images.shape[0] == 10
    jpeg = from_dir.train_images[int((from_dir.train_labels == 0).nonzero()[-1])]
    assert (jpeg.int() - 200).abs().max() <= 3  # JPEG is lossy, a flat colour nearly exact


def test_the_cache_returns_the_same_arrays_without_decoding(tmp_path, monkeypatch):
    write_folder(tmp_path / "data")
    first = read_image_folder(str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"))
    entries = os.listdir(tmp_path / "cache")
    assert len(entries) == 1 and sorted(os.listdir(tmp_path / "cache" / entries[0])) == [
        "classes.json", "test_images.npy", "test_labels.npy", "train_images.npy", "train_labels.npy"]

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(images, "_decode", no_decoding)
    again = read_image_folder(str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"))
    assert again.classes == first.classes and torch.equal(again.train_images, first.train_images)
    # Other content is another key: one changed pixel is decoded again.
    write_image(str(tmp_path / "data" / "test" / "ant" / "000.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(AssertionError, match="decoded again"):
        read_image_folder(str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"))


def test_sizes_must_agree_unless_resized(tmp_path):
    write_folder(tmp_path / "data")
    write_image(str(tmp_path / "data" / "train" / "bee" / "big.png"), np.zeros((12, 10, 3), np.uint8))
    with pytest.raises(ImageFolderError, match=r"big\.png: 10 x 12 pixels, but .* has 8 x 8"):
        read_image_folder(str(tmp_path / "data"), cache=False)
    resized = read_image_folder(str(tmp_path / "data"), size=6, cache=False)
    assert resized.train_images.shape == (10, 3, 6, 6) and resized.test_images.shape == (6, 3, 6, 6)


def corrupt(root, kind):
    if kind == "empty class":
        os.makedirs(root / "train" / "dog")
    elif kind == "test class missing from train":
        write_image(str(root / "test" / "eel" / "0.png"), np.zeros((8, 8, 3), np.uint8))
    elif kind == "truncated":
        data = (root / "train" / "bee" / "000.png").read_bytes()
        (root / "train" / "bee" / "000.png").write_bytes(data[: len(data) // 2])
    elif kind == "not an image":
        (root / "train" / "bee" / "notes.txt").write_text("hello")
    elif kind == "garbage named jpg":
        (root / "train" / "bee" / "x.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    elif kind == "no test split":
        for path in (root / "test").rglob("*.png"):
            path.unlink()


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty class", r"train/dog/ holds no image"),
        ("test class missing from train", r"test class\(es\) eel have no folder in train/"),
        ("truncated", r"train/bee/000\.png: not a readable image"),
        ("not an image", r"train/bee/notes\.txt: not an image file"),
        ("garbage named jpg", r"train/bee/x\.jpg: not a readable image"),
        ("no test split", r"no test/<class>/ folders with images"),
    ],
)
def test_a_malformed_folder_names_what_is_wrong(tmp_path, kind, message):
    write_folder(tmp_path / "data")
    corrupt(tmp_path / "data", kind)
    with pytest.raises(ImageFolderError, match=message):
        read_image_folder(str(tmp_path / "data"), cache=False)


def test_bad_sources_and_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory or a .tar.gz"):
        read_image_folder(str(tmp_path / "missing"), cache=False)
    (tmp_path / "broken.tar.gz").write_bytes(b"not gzip")
    with pytest.raises(ImageFolderError, match=r"broken\.tar\.gz: not a readable \.tar\.gz"):
        read_image_folder(str(tmp_path / "broken.tar.gz"), cache=False)
    with pytest.raises(ValueError, match="size must be a positive int"):
        read_image_folder(str(tmp_path), size=0, cache=False)


@pytest.mark.skipif(not os.path.isfile(SHARED_ARCHIVE), reason=f"the shared CIFAR-10 archive is not at {SHARED_ARCHIVE}")
def test_members_of_the_shared_cifar10_archive_decode_to_32_by_32_rgb(tmp_path):
    taken = {}
    with tarfile.open(SHARED_ARCHIVE, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if member.isfile() and len(parts) >= 3 and parts[-3] in ("train", "test") and parts[-2] not in taken:
                taken[parts[-2]] = archive.extractfile(member).read()
            if len(taken) == 10:
                break
    assert sorted(taken) == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for name, data in taken.items():
        write_image(str(tmp_path / "few" / "train" / name / "0.png"), np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        write_image(str(tmp_path / "few" / "test" / name / "0.png"), np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    data = read_image_folder(str(tmp_path / "few"), cache=False)
    assert data.train_images.shape == (10, 3, 32, 32) and data.train_labels.tolist() == list(range(10))


def write_classes(root, classes, per_class, side=32, seed=0):
    """Learnable images: each class a colour of its own plus noise, PNG and JPEG
    alternating, written in class order (as an image folder is)."""
    rng = np.random.default_rng(seed)
    colours = rng.uniform(40, 215, (len(classes), 3))
    for split, count in zip(("train", "test"), per_class):
        for c, name in enumerate(classes):
            for i in range(count):
                pixels = np.clip(colours[c] + rng.normal(0, 20, (side, side, 3)), 0, 255).astype(np.uint8)
                write_image(str(root / split / name / f"{i:04d}.{'png' if i % 2 else 'jpg'}"), pixels)


def test_the_images_task_runs_end_to_end_on_a_folder_of_three_classes(tmp_path, monkeypatch):
    from experiments.__main__ import main

    monkeypatch.setenv(images.CACHE_VARIABLE, str(tmp_path / "cache"))
    write_classes(tmp_path / "folder", ["circle", "square", "star"], (120, 70))
    argv = ["run", "--task", "images", "--preset", "smoke", "--data-dir", str(tmp_path / "folder"), "--trials", "1",
            "--methods", "random,dacs", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    table = (tmp_path / "run" / "results.md").read_text()
    assert "| DACS |" in table and "| Random |" in table


def test_cifar10_reads_an_image_folder_and_its_limits_draw_every_class(tmp_path, monkeypatch):
    from experiments.tasks import cifar10

    monkeypatch.setenv(images.CACHE_VARIABLE, str(tmp_path / "cache"))
    classes = [f"c{i}" for i in range(10)]
    write_classes(tmp_path / "folder", classes, (40, 25))
    pool_x, pool_y, test_x, test_y, _ = cifar10.load(str(tmp_path / "folder"), cifar10.PRESETS["smoke"])
    # The smoke preset keeps 300 pool and 200 test images: written in class order,
    # the first 300 would be classes 0-7 only.
    assert pool_x.shape == (300, 3, 32, 32) and torch.bincount(pool_y, minlength=10).tolist() == [30] * 10
    assert test_x.shape == (200, 3, 32, 32) and torch.bincount(test_y, minlength=10).tolist() == [20] * 10
    with pytest.raises(cifar10.DataError, match="use --task images"):
        write_classes(tmp_path / "three", ["a", "b", "c"], (4, 2))
        cifar10.load(str(tmp_path / "three"), cifar10.PRESETS["smoke"])


def test_preset_limits_draw_a_stratified_random_subset():
    from experiments.tasks.base import subset

    labels = torch.arange(4).repeat_interleave(torch.tensor([50, 30, 15, 5]))  # class-sorted, unbalanced
    kept = subset(labels, 20)
    assert kept.tolist() == sorted(set(kept.tolist())) and len(kept) == 20
    assert torch.bincount(labels[kept], minlength=4).tolist() == [10, 6, 3, 1]  # 20 x the shares, exactly
    assert torch.equal(kept, subset(labels, 20))  # the same rows every time (part of the protocol)
    assert kept.max() >= 50  # not the first rows
    assert subset(labels, None) == slice(None) and subset(labels, 100) == slice(None)
    rows = subset(torch.zeros(1000), 10, classes=False)  # regression targets: a plain random draw
    assert len(set(rows.tolist())) == 10 and rows.max() >= 10

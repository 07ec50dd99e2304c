"""Labelled images in the image-folder layout (torchvision's ``ImageFolder``,
Keras' ``image_dataset_from_directory``): ``train/<class>/*`` and
``test/<class>/*``, JPEG or PNG, from a directory or straight from a ``.tar.gz``
of that layout (the two may sit under one top-level folder, as in
``cifar10-jpeg/train/...``).

Classes are the sorted folder names of ``train/`` (for CIFAR-10 that is its
label order); every class of ``test/`` must be one of them. Images are decoded
with Pillow to RGB. All must have one size unless ``size`` is given, which
resizes every image to ``size`` x ``size`` with bilinear resampling (Pillow's
``Image.BILINEAR``). Files whose name starts with a dot are skipped; any other
file that is not a .jpg, .jpeg or .png is an error, as is an image Pillow cannot
decode, a truncated one, or an empty class folder.

Decoded images are cached as uint8 ``.npy`` arrays (never pickles) under
``cache_dir`` (default ``$DACS_EXT_IMAGE_CACHE`` or ``~/.cache/dacs_ext/images``) in a folder named by a SHA-256 of the source's content (every
file's path and bytes) and the size option, so the second read of the same
images skips decoding; the cache can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass

import numpy as np
import torch

EXTENSIONS = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "test")
CACHE_FORMAT = 1
CACHE_VARIABLE = "DACS_EXT_IMAGE_CACHE"


class ImageFolderError(ValueError):
    """An image folder (or archive) that does not hold what the layout says."""


@dataclass
class ImageData:
    """uint8 images [N, 3, H, W] and int64 labels [N] of each split, and the
    class names (label c is ``classes[c]``)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]


def read_image_folder(source: str, *, size: int | None = None, cache_dir: str | None = None, cache: bool = True) -> ImageData:
    """The train and test splits of an image folder or of a ``.tar.gz`` of one.

    Args:
        source: a directory holding ``train/`` and ``test/`` (or one folder that
            does), or a ``.tar.gz`` of such a directory.
        size: resize every image to size x size (bilinear); None: every image must
            already have the first image's size.
        cache_dir: where decoded arrays are kept; None: ``$DACS_EXT_IMAGE_CACHE``,
            else ``~/.cache/dacs_ext/images``.
        cache: False reads and writes no cache.
    """
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    files, folders = _archive_files(source) if _is_archive(source) else _directory_files(source)
    files = _split_files(files, folders, source)
    key = _content_key(files, size)
    if not cache:
        return _decode(files, size)
    cache_dir = cache_dir or os.environ.get(CACHE_VARIABLE) or os.path.join(os.path.expanduser("~"), ".cache", "dacs_ext", "images")
    cached = _read_cache(cache_dir, key)
    if cached is not None:
        return cached
    data = _decode(files, size)
    _write_cache(cache_dir, key, data)
    return data


def _is_archive(source: str) -> bool:
    return os.path.isfile(source) and source.endswith((".tar.gz", ".tgz"))


def _directory_files(source: str) -> tuple[dict[str, bytes], set[str]]:
    """Every file's bytes and every folder, by path relative to ``source``."""
    if not os.path.isdir(source):
        raise FileNotFoundError(f"{source}: not a directory or a .tar.gz of an image folder")
    files, folders = {}, set()
    for root, subfolders, names in os.walk(source):
        folders.update(os.path.relpath(os.path.join(root, d), source).replace(os.sep, "/") for d in subfolders)
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, source).replace(os.sep, "/")] = f.read()
    return files, folders


def _archive_files(source: str) -> tuple[dict[str, bytes], set[str]]:
    """As ``_directory_files``, for the members of a .tar.gz (read, never extracted)."""
    files, folders = {}, set()
    try:
        with tarfile.open(source, "r:gz") as archive:
            for member in archive:
                name = member.name.removeprefix("./").rstrip("/")
                if member.isfile():
                    files[name] = archive.extractfile(member).read()
                elif member.isdir():
                    folders.add(name)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ImageFolderError(f"{source}: not a readable .tar.gz ({error})") from None
    return files, folders


def _split_files(files: dict[str, bytes], folders: set[str], source: str) -> dict[str, dict[str, dict[str, bytes]]]:
    """{split: {class: {path: bytes}}}, the layout checked; a single top-level
    folder holding train/ and test/ is looked through."""
    roots = {path.split("/", 1)[0] for path in files}
    prefix = ""
    if len(roots) == 1 and not roots & set(SPLITS):
        prefix = next(iter(roots)) + "/"
    layout = {split: {} for split in SPLITS}
    for path, data in files.items():
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix):].split("/")
        if parts[0] not in SPLITS:
            continue
        if any(part.startswith(".") for part in parts):
            continue
        if len(parts) != 3:
            raise ImageFolderError(f"{source}: {path}: expected {parts[0]}/<class>/<image>")
        if not parts[2].lower().endswith(EXTENSIONS):
            raise ImageFolderError(f"{source}: {path}: not an image file (expected {', '.join(EXTENSIONS)})")
        layout[parts[0]].setdefault(parts[1], {})[path] = data
    for split in SPLITS:
        if not layout[split]:
            raise ImageFolderError(f"{source}: no {prefix}{split}/<class>/ folders with images")
    missing = sorted(set(layout["test"]) - set(layout["train"]))
    if missing:
        raise ImageFolderError(f"{source}: test class(es) {', '.join(missing)} have no folder in train/")
    for folder in sorted(folders):
        parts = folder[len(prefix):].split("/") if folder.startswith(prefix) else []
        if len(parts) == 2 and parts[0] in SPLITS and not parts[1].startswith(".") and parts[1] not in layout[parts[0]]:
            raise ImageFolderError(f"{source}: {folder}/ holds no image")
    return layout


def _content_key(layout: dict, size: int | None) -> str:
    digest = hashlib.sha256(f"format {CACHE_FORMAT}, size {size}".encode())
    for split in SPLITS:
        for name in sorted(layout[split]):
            for path in sorted(layout[split][name]):
                digest.update(path.encode() + b"\0")
                digest.update(hashlib.sha256(layout[split][name][path]).digest())
    return digest.hexdigest()


def _decode(layout: dict, size: int | None) -> ImageData:
    from PIL import Image

    classes = sorted(layout["train"])
    arrays, first = {}, None
    for split in SPLITS:
        images, labels = [], []
        for label, name in enumerate(classes):
            for path in sorted(layout[split].get(name, {})):
                try:
                    with Image.open(io.BytesIO(layout[split][name][path])) as image:
                        image = image.convert("RGB")
                        if size is not None:
                            image = image.resize((size, size), Image.BILINEAR)
                except (OSError, SyntaxError, ValueError) as error:
                    raise ImageFolderError(f"{path}: not a readable image ({error})") from None
                first = first or (path, image.size)
                if image.size != first[1]:
                    raise ImageFolderError(
                        f"{path}: {image.size[0]} x {image.size[1]} pixels, but {first[0]} has {first[1][0]} x {first[1][1]}; "
                        "pass a size to resize every image"
                    )
                images.append(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
                labels.append(label)
        arrays[split] = (torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64))
    return ImageData(*arrays["train"], *arrays["test"], classes)


def _read_cache(cache_dir: str, key: str) -> ImageData | None:
    folder = os.path.join(cache_dir, key)
    if not os.path.isfile(os.path.join(folder, "classes.json")):
        return None
    arrays = {name: torch.from_numpy(np.load(os.path.join(folder, f"{name}.npy"), allow_pickle=False)) for name in _ARRAYS}
    with open(os.path.join(folder, "classes.json")) as f:
        return ImageData(**arrays, classes=json.load(f))


_ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")


def _write_cache(cache_dir: str, key: str, data: ImageData) -> None:
    """Writes the arrays into a temporary folder renamed into place, so a kill
    leaves no half-written cache entry."""
    os.makedirs(cache_dir, exist_ok=True)
    staging = tempfile.mkdtemp(dir=cache_dir, prefix=".partial-")
    try:
        for name in _ARRAYS:
            np.save(os.path.join(staging, f"{name}.npy"), getattr(data, name).numpy(), allow_pickle=False)
        with open(os.path.join(staging, "classes.json"), "w") as f:
            json.dump(data.classes, f)
        os.replace(staging, os.path.join(cache_dir, key))
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.isdir(os.path.join(cache_dir, key)):
            raise

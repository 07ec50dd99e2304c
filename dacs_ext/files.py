"""Crash-safe files: a write lands whole or not at all, so a run killed at any
moment leaves the previous version in place."""

from __future__ import annotations

import io
import json
import os
import tempfile

import torch


def _file_mode() -> int:
    # What open() would give a new file: mkstemp's 0600 would hide results from other users.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to a temporary file beside ``path``, syncs it, then renames it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def atomic_save(obj, path: str) -> None:
    """``torch.save`` made atomic."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_json(obj, path: str) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_write_jsonl(rows, path: str) -> None:
    atomic_write_bytes(path, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode())


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]

"""The features task: folders of .npy arrays written here (Gaussian blobs), the
loader and its standardisation, every bad-folder error, and smoke runs end to
end through the command line."""

import json
import os

import numpy as np
import pytest
import torch

from dacs_ext.files import read_jsonl
from experiments.__main__ import main
from experiments.tasks import all_tasks
from experiments.tasks.base import subset
from experiments.tasks.features import FeatureFolderError, load, make_model
from experiments.tasks.rmnist import PRESETS


def write_folder(directory, *, n_train=300, n_test=120, d=8, classes=3, seed=0, dtype=np.float32):
    """Gaussian blobs, one per class, far from unit scale; returns the arrays written."""
    rng = np.random.default_rng(seed)
    centers = 4 * rng.normal(size=(classes, d))
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, classes, n)
        arrays[f"{split}.npy"] = ((centers[y] + rng.normal(size=(n, d))) * 50 + 10).astype(dtype)
        arrays[f"{split}_labels.npy"] = y
    os.makedirs(directory, exist_ok=True)
    for name, array in arrays.items():
        np.save(os.path.join(directory, name), array)
    return arrays


def test_the_task_is_registered():
    task = all_tasks()["features"]
    assert task.kind == "classification" and task.default_data_dir is None and task.presets is PRESETS


def test_load_standardises_with_the_pool_statistics(tmp_path):
    arrays = write_folder(tmp_path, dtype=np.float64)
    test_labels = arrays["test_labels.npy"].copy()
    test_labels[7] = 4  # a class only the test set has: C = 5
    np.save(tmp_path / "test_labels.npy", test_labels)
    pool_x, pool_y, test_x, test_y, inputs = load(str(tmp_path), PRESETS["paper"])
    assert inputs == {"in_features": 8, "num_classes": 5}
    assert pool_x.dtype == test_x.dtype == torch.float32 and pool_y.dtype == test_y.dtype == torch.int64
    assert pool_x.shape == (300, 8) and test_x.shape == (120, 8)
    assert np.array_equal(pool_y.numpy(), arrays["train_labels.npy"]) and np.array_equal(test_y.numpy(), test_labels)
    raw = arrays["train.npy"]
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    np.testing.assert_allclose(pool_x.numpy(), (raw - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(test_x.numpy(), (arrays["test.npy"] - mean) / std, rtol=1e-5, atol=1e-5)
    model = make_model(PRESETS["paper"], **inputs)
    assert model(pool_x[:4]).logits.shape == (4, 5)


def test_the_presets_limits_read_a_stratified_subset(tmp_path):
    arrays = write_folder(tmp_path, n_train=250)
    arrays["train.npy"][:, 2] = 3.0  # a constant column is only centred
    np.save(tmp_path / "train.npy", arrays["train.npy"])
    pool_x, pool_y, test_x, test_y, inputs = load(str(tmp_path), PRESETS["smoke"])
    assert pool_x.shape == (200, 8) and test_x.shape == (120, 8) and inputs["num_classes"] == 3
    labels = arrays["train_labels.npy"]
    rows = subset(torch.from_numpy(labels.astype(np.int64)), 200).numpy()
    assert np.array_equal(pool_y.numpy(), labels[rows])
    # Stratified: each class keeps its share of the file's rows, up to rounding.
    assert np.abs(np.bincount(pool_y.numpy(), minlength=3) - 200 * np.bincount(labels, minlength=3) / 250).max() < 1
    used = arrays["train.npy"][rows].astype(np.float64)
    np.testing.assert_allclose(pool_x.numpy()[:, 0], (used[:, 0] - used[:, 0].mean()) / used[:, 0].std(), rtol=1e-5, atol=1e-5)
    assert bool((pool_x[:, 2] == 0).all())


def _set(name, value):
    def change(directory, arrays):
        np.save(os.path.join(directory, name), value(arrays) if callable(value) else value)

    return change


def _with(name, index, value):
    def change(directory, arrays):
        array = arrays[name].copy()
        array[index] = value
        np.save(os.path.join(directory, name), array)

    return change


BAD_FOLDERS = {
    "missing file": (lambda d, a: os.remove(os.path.join(d, "test_labels.npy")), FileNotFoundError, r"test_labels\.npy: missing"),
    "features 1-D": (
        _set("train.npy", lambda a: a["train.npy"][:, 0]), FeatureFolderError,
        r"train\.npy: features must be 2-D \[N, d\], got shape \[300\]",
    ),
    "features 3-D": (_set("test.npy", lambda a: a["test.npy"][:, :, None]), FeatureFolderError, r"test\.npy: features must be 2-D"),
    "labels 2-D": (
        _set("train_labels.npy", lambda a: a["train_labels.npy"][:, None]), FeatureFolderError, r"train_labels\.npy: labels must be 1-D",
    ),
    "rows differ": (
        _set("train_labels.npy", lambda a: a["train_labels.npy"][:299]), FeatureFolderError,
        r"train_labels\.npy: 299 labels for the 300 rows of .*train\.npy",
    ),
    "widths differ": (
        _set("test.npy", lambda a: a["test.npy"][:, :7]), FeatureFolderError, r"test\.npy: 7 features per row, .*train\.npy has 8",
    ),
    "NaN feature": (_with("train.npy", (17, 3), np.nan), FeatureFolderError, r"train\.npy: row 17 is not finite"),
    "infinite feature": (_with("test.npy", (5, 0), np.inf), FeatureFolderError, r"test\.npy: row 5 is not finite"),
    "beyond float32": (
        _set("train.npy", lambda a: np.where(np.arange(300)[:, None] == 2, 1e300, a["train.npy"].astype(np.float64))),
        FeatureFolderError, r"train\.npy: row 2 is not finite in float32",
    ),
    "integer features": (
        _set("train.npy", lambda a: a["train.npy"].astype(np.int64)), FeatureFolderError,
        r"train\.npy: features must be float32 or float64, got int64",
    ),
    "float labels": (
        _set("train_labels.npy", lambda a: a["train_labels.npy"].astype(np.float64)), FeatureFolderError,
        r"train_labels\.npy: labels must be integers",
    ),
    "negative label": (_with("test_labels.npy", 9, -1), FeatureFolderError, r"test_labels\.npy: row 9 has label -1"),
    "one class": (
        lambda d, a: [np.save(os.path.join(d, f"{s}_labels.npy"), np.full(n, 2)) for s, n in (("train", 300), ("test", 120))],
        FeatureFolderError, r"hold 1 class \(\[2\]\); classification needs at least 2",
    ),
    "no rows": (_set("test.npy", np.zeros((0, 8), np.float32)), FeatureFolderError, r"test\.npy: features need at least one row"),
    "pickled objects": (
        _set("train.npy", np.array([{"x": 1}] * 300, dtype=object)), FeatureFolderError, r"train\.npy: not a readable \.npy array",
    ),
}


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_a_bad_folder_is_one_clear_error(tmp_path, case):
    change, error, message = BAD_FOLDERS[case]
    change(str(tmp_path), write_folder(tmp_path))
    with pytest.raises(error, match=message):
        load(str(tmp_path), PRESETS["paper"])


def test_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load(str(tmp_path / "nowhere"), PRESETS["paper"])


def run(out, data_dir, *extra):
    return main(["run", "--task", "features", "--preset", "smoke", "--trials", "1", "--out", str(out), "--no-progress", *extra]
                + (["--data-dir", str(data_dir)] if data_dir is not None else []))


@pytest.mark.learned
def test_smoke_run_end_to_end(tmp_path, training_seed, margin):
    write_folder(tmp_path / "data")
    out = tmp_path / "run"
    methods = ("random", "dacs", "entropy", "bald-dacs")
    assert run(out, tmp_path / "data", "--methods", ",".join(methods), "--seed", str(training_seed)) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "features" and config["data_dir"] == str(tmp_path / "data")
    for method in methods:
        rows = read_jsonl(os.path.join(out, method, "trial-0", "cycles.jsonl"))
        assert [r["labeled"] for r in rows] == [20, 40, 60] and rows[-1]["proportion"] == 60 / 200  # the smoke preset's 200 rows
        margin.above(f"{method} accuracy", rows[-1]["accuracy"], 0.6, why="separated blobs; chance is 1/3")
    assert "| BALD + DACS |" in (out / "results.md").read_text()


def test_bad_folders_on_the_command_line(tmp_path, capsys):
    arrays = write_folder(tmp_path / "data")
    arrays["train.npy"][40, 1] = np.nan
    np.save(tmp_path / "data" / "train.npy", arrays["train.npy"])
    for data_dir, message in ((tmp_path / "data", "train.npy: row 40 is not finite"), (tmp_path / "nowhere", "--data-dir: "), (None, "--data-dir")):
        assert run(tmp_path / "run", data_dir, "--methods", "random") == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
        assert len(errors) == 1 and message in errors[0], errors
        assert not (tmp_path / "run").exists()


def test_a_non_finite_row_of_a_subset_is_named_by_its_row_in_the_file(tmp_path):
    arrays = write_folder(tmp_path, n_train=250)
    rows = subset(torch.from_numpy(arrays["train_labels.npy"].astype(np.int64)), 200).numpy()
    bad = int(rows[150])
    arrays["train.npy"][bad, 1] = np.nan
    np.save(tmp_path / "train.npy", arrays["train.npy"])
    with pytest.raises(FeatureFolderError, match=rf"train.npy: row {bad} is not finite"):
        load(str(tmp_path), PRESETS["smoke"])

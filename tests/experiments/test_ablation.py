"""The DACS ablation command on the smoke preset: its points are ordinary
resumable runs, the summary's numbers come from their records, and the exact
k-NN density it ranks the LSH density against is checked in tests/api/test_knn.py."""

import json
import math

import pytest
import torch

from experiments.analyses import ablation
from experiments.tasks import rmnist
from experiments.__main__ import main
from experiments.report import collect
from test_experiments import data_dir  # noqa: F401  (the module's learnable MNIST-format folder)


def test_points_share_the_default_and_name_each_change():
    chosen = ablation.points(["buckets", "aux_dim", "temperature"])
    assert list(chosen) == [
        "default", "buckets=20", "buckets=50", "buckets=200", "buckets=500", "aux_dim=8", "aux_dim=32",
        "temperature=0.1", "temperature=0.5", "temperature=1.0", "temperature=inf",
    ]
    assert chosen["aux_dim=8"] == {"aux_dim": 8} and chosen["temperature=inf"] == {"settings": {"dacs": {"temperature": math.inf}}}


def test_rmnist_counts_copies():
    # A pool of 3 copies of 5 images: rows 0, 5, 10 are image 0.
    assert rmnist.copies(15, torch.tensor([0, 5, 10, 3, 8, 4])) == 3
    assert rmnist.copies(15, torch.arange(5)) == 0


def test_ablation_smoke_end_to_end(tmp_path, data_dir, capsys):  # noqa: F811
    out = tmp_path / "ablation"
    args = ["analyze", "ablation", "--out", str(out), "--preset", "smoke", "--trials", "2", "--axes", "groups,aux_dim",
            "--data-dir", data_dir, "--no-progress"]
    assert main(args) == 0
    text = (out / "ablation.md").read_text()
    assert text in capsys.readouterr().out
    results = json.loads((out / "ablation.json").read_text())
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all((point / "results.md").exists() for point in (out / "points").iterdir())  # every point has its table
    assert [row["value"] for row in results["axes"]["groups"]] == [2, 3, 4, 5, 6]
    assert [row["point"] for row in results["axes"]["aux_dim"]] == ["aux_dim=8", "default", "aux_dim=32"]
    # Every number comes from the point's own records.
    config, runs = collect(str(out / "points" / "aux_dim=8"))
    assert config["protocol"]["aux_dim"] == 8 and len(runs["dacs"]) == 2
    finals = [100 * t[-1]["accuracy"] for t in runs["dacs"]]
    row = results["axes"]["aux_dim"][0]
    assert row["final"]["mean"] == pytest.approx(sum(finals) / 2)
    assert row["copies"] == pytest.approx(sum(rmnist.copies(600, torch.tensor(t[0]["initial"] + [i for r in t for i in r["acquired"]])) for t in runs["dacs"]) / 2)
    assert -1 <= row["spearman"] <= 1
    # Groups do not change the density, and every setting but the auxiliary
    # width is measured on the default model's features: one Spearman for all.
    assert len({row["spearman"] for row in results["axes"]["groups"]}) == 1
    assert ablation.features_at(str(out / "points" / "aux_dim=8")).unlabeled.shape[1] == 8  # the width reached the model
    config, _ = collect(str(out / "points" / "groups=6"))
    assert config["settings"]["dacs"]["groups"] == 6 and config["protocol"]["aux_dim"] == 16
    assert "| **4** (paper) |" in text and "Reference: random" in text
    # Resumed: nothing is rerun, the same summary is written.
    assert main(args) == 0
    assert (out / "ablation.md").read_text() == text


def test_ablation_refuses_bad_axes_and_regression_tasks(tmp_path, capsys):
    assert main(["analyze", "ablation", "--out", str(tmp_path), "--axes", "buckets,colour"]) == 2
    assert "--axes must be a comma-separated list of" in capsys.readouterr().err
    assert main(["analyze", "ablation", "--out", str(tmp_path), "--task", "davis"]) == 2
    assert "the ablation needs a classification task" in capsys.readouterr().err

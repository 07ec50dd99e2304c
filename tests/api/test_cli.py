"""python -m dacs_ext: its batches against the library called directly, the
session commands, and one clear line (exit status 2) for every bad file."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import dacs_ext
from dacs_ext.cli import main

ROWS, DIM = 600, 6


@pytest.fixture
def files(tmp_path):
    x = np.random.default_rng(0).standard_normal((ROWS, DIM)).astype(np.float32)
    np.save(tmp_path / "features.npy", x)
    np.save(tmp_path / "uncertainty.npy", np.random.default_rng(1).random(ROWS))
    return tmp_path, x


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("kind", ["npy", "json", "txt", "csv"])
def test_select_with_labeled_file_matches_the_library(files, capsys, kind):
    tmp, x = files
    labeled = np.array([5, 77, 300, 12])
    path = tmp / f"labeled.{kind}"
    if kind == "npy":
        np.save(path, labeled)
    elif kind == "json":
        path.write_text(json.dumps(labeled.tolist()))
    else:
        path.write_text(("index\n" if kind == "csv" else "") + "\n".join(map(str, labeled)) + "\n")
    code, _, err = run(["select", tmp / "features.npy", "--budget", 15, "--labeled", path, "--set", "buckets=20", "--seed", 4, "--out", tmp / "b"], capsys)
    assert code == 0, err
    candidates = np.setdiff1d(np.arange(ROWS), labeled)
    picked, details = dacs_ext.DACS(buckets=20, seed=4).select(
        torch.from_numpy(x[candidates]), torch.from_numpy(x[np.sort(labeled)]), 15, return_details=True
    )
    table = read_csv(tmp / "b.csv")
    assert [int(r["index"]) for r in table] == candidates[picked.numpy()].tolist()
    assert [int(r["group"]) for r in table] == details["groups"][picked].tolist()
    np.testing.assert_allclose([float(r["density"]) for r in table], details["density"][picked].numpy(), rtol=0, atol=0)
    summary = json.loads((tmp / "b.json").read_text())
    assert [r["index"] for r in summary["batch"]] == [int(r["index"]) for r in table]
    assert summary["labeled"] == 4 and summary["settings"]["buckets"] == 20 and summary["seed"] == 4
    assert "selecting 15 of 600 rows" in err


def test_select_with_uncertainty_and_named_settings(files, capsys):
    tmp, x = files
    code, _, err = run(
        ["select", tmp / "features.npy", "--budget", 9, "--uncertainty", tmp / "uncertainty.npy", "--settings", "recommended",
         "--set", "buckets=20", "--quiet", "--out", tmp / "b"], capsys,
    )
    assert code == 0 and err == ""
    want = dacs_ext.DACS("recommended", buckets=20, seed=0).select(x, None, 9, np.load(tmp / "uncertainty.npy"))
    assert [int(r["index"]) for r in read_csv(tmp / "b.csv")] == want.tolist()


def test_session_commands_match_the_session_api(files, capsys, tmp_path_factory):
    tmp, x = files
    directory = tmp / "session"
    assert run(["select", tmp / "features.npy", "--budget", 12, "--session", directory, "--set", "buckets=20", "--seed", 3, "--out", tmp / "b1"], capsys)[0] == 0
    first = [int(r["index"]) for r in read_csv(tmp / "b1.csv")]
    (tmp / "labels.csv").write_text("index,label\n" + "".join(f"{i},{'cat' if i % 2 else 2.5}\n" for i in first[:5]))
    code, _, err = run(["update", directory, tmp / "labels.csv"], capsys)
    assert code == 0 and "recorded 5 label(s); 7 row(s) still pending" in err
    assert run(["select", tmp / "features.npy", "--budget", 8, "--session", directory, "--out", tmp / "b2"], capsys)[0] == 0
    second = [int(r["index"]) for r in read_csv(tmp / "b2.csv")]
    code, out, _ = run(["status", directory], capsys)
    status = json.loads(out)
    assert status["queries"] == 2 and status["labeled"] == 5 and status["pending"] == first[5:] + second

    api = dacs_ext.LabelingSession(tmp_path_factory.mktemp("api"), buckets=20, seed=3)
    assert api.query(x, 12).tolist() == first
    api.update(first[:5], ["cat" if i % 2 else 2.5 for i in first[:5]])
    assert api.query(x, 8).tolist() == second
    assert dacs_ext.LabelingSession(directory).labels == api.labels


def bad_features(tmp, name, array):
    np.save(tmp / name, array)
    return tmp / name


@pytest.mark.parametrize(
    "case,match",
    [
        ("1-D features", r"x1d.npy: features must be a 2-D array \[N, d\]"),
        ("int features", r"xint.npy: features must be float32 or float64, got int64"),
        ("NaN rows", r"xnan.npy: 3 row\(s\) contain NaN or infinite values: 4, 17, 599"),
        ("not npy", r"notes.npy: cannot be read as a .npy array"),
        ("missing", r"absent.npy: cannot be read as a .npy array"),
        ("index out of range", r"labeled.txt: index 600 is out of range for 600 feature rows"),
        ("negative index", r"labeled.txt: index -1 is out of range"),
        ("repeated index", r"labeled.txt: index 7 is repeated"),
        ("float indices", r"labeled.npy: labeled indices must be a 1-D list of ints, got float64"),
        ("text index", r"labeled.txt: cannot be read as labeled row indices"),
        ("uncertainty shape", r"uncertainty.npy: uncertainty must be a float array \[600\]"),
        ("uncertainty NaN", r"u_nan.npy: 1 score\(s\) are NaN or infinite, first at row 8"),
        ("budget", r"--budget must be in \[0, 598\] \(the rows not labeled\), got 599"),
        ("bad set", r"--set 'buckets': expected KEY=VALUE"),
        ("unknown setting", r"settings: unknown DACSSettings field\(s\) bucket"),
        ("bad setting value", r"settings: buckets must be even"),
        ("repropose without session", r"--repropose-pending needs --session"),
    ],
)
def test_bad_select_input_is_one_line(files, capsys, case, match):
    tmp, x = files
    features, extra = tmp / "features.npy", []
    if case == "1-D features":
        features = bad_features(tmp, "x1d.npy", x[:, 0])
    elif case == "int features":
        features = bad_features(tmp, "xint.npy", np.arange(12).reshape(6, 2))
    elif case == "NaN rows":
        y = x.copy()
        y[[4, 17, 599], 1] = [np.nan, np.inf, -np.inf]
        features = bad_features(tmp, "xnan.npy", y)
    elif case == "not npy":
        (tmp / "notes.npy").write_text("hello")
        features = tmp / "notes.npy"
    elif case == "missing":
        features = tmp / "absent.npy"
    elif case in ("index out of range", "negative index", "repeated index", "text index", "budget"):
        values = {"index out of range": "1\n600\n", "negative index": "-1\n", "repeated index": "7\n3\n7\n", "text index": "1\nseven\n", "budget": "0\n1\n"}[case]
        (tmp / "labeled.txt").write_text(values)
        extra = ["--labeled", tmp / "labeled.txt"]
    elif case == "float indices":
        np.save(tmp / "labeled.npy", np.array([1.0, 2.0]))
        extra = ["--labeled", tmp / "labeled.npy"]
    elif case == "uncertainty shape":
        np.save(tmp / "uncertainty.npy", np.ones(599))
        extra = ["--uncertainty", tmp / "uncertainty.npy"]
    elif case == "uncertainty NaN":
        u = np.ones(600)
        u[8] = np.nan
        np.save(tmp / "u_nan.npy", u)
        extra = ["--uncertainty", tmp / "u_nan.npy"]
    elif case == "bad set":
        extra = ["--set", "buckets"]
    elif case == "unknown setting":
        extra = ["--set", "bucket=20"]
    elif case == "bad setting value":
        extra = ["--set", "buckets=21"]
    elif case == "repropose without session":
        extra = ["--repropose-pending"]
    budget = 599 if case == "budget" else 5
    code, out, err = run(["select", features, "--budget", budget, "--out", tmp / "b", *extra], capsys)
    assert code == 2
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("python -m dacs_ext: error: "), err
    assert re.search(match, errors[0]), errors[0]
    assert not (tmp / "b.json").exists() and not (tmp / "b.csv").exists()


@pytest.mark.parametrize(
    "labels,match",
    [
        ("row,label\n1,a\n", "labels must be a CSV with the header index,label"),
        ("index,label\nfour,a\n", r"labels.csv, line 2: index 'four' is not an int"),
        ("index,label\n9999,a\n", r"row\(s\) \[9999\] are not pending \(never proposed\)"),
    ],
)
def test_bad_update_input_is_one_line(files, capsys, labels, match):
    tmp, _ = files
    run(["select", tmp / "features.npy", "--budget", 3, "--session", tmp / "s", "--set", "buckets=20", "--out", tmp / "b"], capsys)
    (tmp / "labels.csv").write_text(labels)
    code, _, err = run(["update", tmp / "s", tmp / "labels.csv"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(match, err), err


def test_update_and_status_need_a_session(tmp_path, capsys):
    for command in (["update", tmp_path, tmp_path / "labels.csv"], ["status", tmp_path]):
        code, _, err = run(command, capsys)
        assert code == 2 and "no session here (it has no session.json)" in err
    assert not (tmp_path / "session.json").exists(), "a mistyped directory is not turned into a session"


def test_help_and_select_work_from_any_directory(files, tmp_path_factory):
    tmp, _ = files
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "dacs_ext", "--help"], cwd=elsewhere, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "select" in done.stdout and "update" in done.stdout, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "dacs_ext", "select", str(tmp / "features.npy"), "--budget", "10", "--set", "buckets=20"],
        cwd=elsewhere, capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(read_csv(elsewhere / "batch.csv")) == 10 and json.loads((elsewhere / "batch.json").read_text())["budget"] == 10

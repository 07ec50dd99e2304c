"""The labels-later session: what it proposes (against dacs_ext.select called by
hand), what it records, what it refuses, and that a kill at any point (a real
SIGKILL of the process, between and inside query and update) loses nothing."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

import dacs_ext
from dacs_ext import LabelingSession, SessionError
from dacs_ext.session import SEED_STRIDE

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = dict(buckets=10)


def rows(n, d=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


POOL = rows(500)
"""400 rows at first, 100 appended before the second query."""
UNCERTAINTY = np.random.default_rng(1).random(500)

SCENARIO = [
    ("query", 0, 400, 30, False),
    ("update", 0, 0, 10),
    ("query", 1, 500, 20, False),
    ("update", 0, 10, 30),
    ("update", 1, 0, 15),
    ("query", 2, 500, 25, True),
    ("update", 2, 0, 25),
]
"""Queries (number, rows, budget, with uncertainty) and updates (of query's batch
positions start:stop), in order."""


def label_of(row):
    return f"class-{row % 3}"


def drive(session, steps=SCENARIO):
    """Runs the steps that the session's state does not show as done: a query
    whose number is already recorded, an update whose rows are all labeled."""
    for step in steps:
        state = session.state()
        if step[0] == "query":
            _, number, n, budget, uncertain = step
            if len(state["queries"]) <= number:
                session.query(POOL[:n], budget, UNCERTAINTY[:n] if uncertain else None)
        else:
            _, number, start, stop = step
            batch = state["queries"][number]["batch"][start:stop]
            if not set(batch) <= set(state["labeled"]):
                session.update(batch, [label_of(r) for r in batch])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    session = LabelingSession(tmp_path_factory.mktemp("straight"), seed=5, **SETTINGS)
    drive(session)
    return session.state()


def test_first_query_is_dacs_select_with_the_derived_generator(tmp_path):
    session = LabelingSession(tmp_path, "recommended", seed=7, **SETTINGS)
    got = session.query(POOL, 40)
    want = dacs_ext.select(
        torch.from_numpy(POOL), None, 40, dacs_ext.DACSSettings.of("recommended", **SETTINGS),
        generator=torch.Generator().manual_seed(7 * SEED_STRIDE),
    )
    assert isinstance(got, np.ndarray) and got.tolist() == want.tolist()
    assert session.pending.tolist() == want.tolist() and session.labeled.size == 0


def test_later_query_keeps_away_from_labeled_and_pending_rows(tmp_path):
    session = LabelingSession(tmp_path, seed=2, **SETTINGS)
    first = session.query(POOL[:400], 30)
    session.update(first[:10], [label_of(r) for r in first[:10]])
    second = session.query(POOL, 20)
    taken = np.zeros(500, dtype=bool)
    taken[first] = True
    candidates = np.flatnonzero(~taken)
    picked = dacs_ext.select(
        POOL[candidates], POOL[np.sort(first)], 20, **SETTINGS, generator=torch.Generator().manual_seed(2 * SEED_STRIDE + 1)
    )
    # The centers are a set: their order does not change k-center's picks.
    assert second.tolist() == candidates[picked].tolist()
    assert not set(second) & set(first)
    assert session.pending.tolist() == first[10:].tolist() + second.tolist()


def test_uncertainty_keeps_the_most_uncertain_of_the_expanded_proposal(tmp_path):
    session = LabelingSession(tmp_path, seed=3, expand=3.0, **SETTINGS)
    got, details = session.query(POOL, 15, UNCERTAINTY, return_details=True)
    candidates = details["candidates"]
    proposed = dacs_ext.select(
        POOL, None, 45, expand=3.0, **SETTINGS, generator=torch.Generator().manual_seed(3 * SEED_STRIDE)
    )
    np.testing.assert_array_equal(candidates, np.arange(500))
    scores = UNCERTAINTY[proposed]
    want = proposed[np.argsort(-scores, kind="stable")[:15]]
    assert got.tolist() == want.tolist()


def test_repropose_pending_lets_pending_rows_back_in(tmp_path):
    session = LabelingSession(tmp_path, seed=4, **SETTINGS)
    first = session.query(POOL[:100], 60)
    session.update(first[:5], [0] * 5)
    again = session.query(POOL[:100], 60, repropose_pending=True)
    assert not set(again) & set(first[:5])
    assert set(again) & set(first[5:]), "with 95 candidates and 60 picks some pending rows come back"
    pending = session.pending.tolist()
    assert len(pending) == len(set(pending)) == len(set(first[5:]) | set(again))
    session.query(POOL[:100], 100 - 5 - len(pending))
    with pytest.raises(ValueError, match=r"budget must be in \[0, 0\]"):
        session.query(POOL[:100], 1)  # every row is labeled or pending


def test_update_records_any_subset_in_arrival_order(tmp_path):
    session = LabelingSession(tmp_path, seed=0, **SETTINGS)
    batch = session.query(POOL[:200], 12)
    session.update(batch[[5, 1]], np.array([2.5, -1.0]))
    session.update(torch.tensor(batch[[0]]), [True])
    session.update([int(batch[3])], [np.int64(7)])
    assert session.labeled.tolist() == [batch[5], batch[1], batch[0], batch[3]]
    assert session.labels == [2.5, -1.0, True, 7]
    assert sorted(session.pending.tolist()) == sorted(set(batch) - {batch[5], batch[1], batch[0], batch[3]})
    reopened = LabelingSession(tmp_path)
    assert reopened.labels == session.labels and reopened.pending.tolist() == session.pending.tolist()


@pytest.mark.parametrize(
    "indices,labels,match",
    [
        ("unknown", [1], r"not pending \(never proposed\)"),
        ("labeled", [1], r"not pending \(already labeled"),
        ("repeat", [1, 1], "repeats row"),
        ("first", [1, 2], "indices has 1 rows but labels has 2"),
        ("first", [float("nan")], "must be an int, a finite float"),
        ("first", [[1]], "must be an int, a finite float"),
    ],
)
def test_bad_update_is_refused_and_records_nothing(tmp_path, indices, labels, match):
    session = LabelingSession(tmp_path, seed=0, **SETTINGS)
    batch = session.query(POOL[:100], 5).tolist()
    session.update(batch[:1], ["a"])
    before = session.state()
    indices = {"unknown": [99], "labeled": batch[:1], "repeat": [batch[1], batch[1]], "first": batch[1:2]}[indices]
    with pytest.raises(SessionError, match=match):
        session.update(indices, labels)
    assert session.state() == before


def test_bad_update_indices_type(tmp_path):
    session = LabelingSession(tmp_path, seed=0, **SETTINGS)
    session.query(POOL[:100], 5)
    with pytest.raises(TypeError, match="indices must be a 1-D sequence of ints"):
        session.update([0.5], [1])


def test_bad_query_inputs(tmp_path):
    session = LabelingSession(tmp_path, seed=0, **SETTINGS)
    session.query(POOL[:300], 5)
    with pytest.raises(SessionError, match="features has 200 rows, but an earlier query saw 300"):
        session.query(POOL[:200], 5)
    with pytest.raises(TypeError, match="uncertainty must be a float array"):
        session.query(POOL[:300], 5, UNCERTAINTY[:299])
    with pytest.raises(ValueError, match="uncertainty contains NaN"):
        session.query(POOL[:300], 5, np.full(300, np.nan))
    with pytest.raises(TypeError, match="features must be a numeric array"):
        session.query(POOL[:300].astype(object), 5)
    with pytest.raises(ValueError, match=r"budget must be in \[0, 295\]"):
        session.query(POOL[:300], 296)
    assert len(session.state()["queries"]) == 1, "a refused query records nothing"


def test_reopening_refuses_other_settings_or_seed(tmp_path):
    LabelingSession(tmp_path, "recommended", seed=9, **SETTINGS)
    assert LabelingSession(tmp_path).settings == dacs_ext.DACSSettings.of("recommended", **SETTINGS)
    assert LabelingSession(tmp_path, buckets=10, seed=9).seed == 9
    with pytest.raises(SessionError, match="seed 9, not 8"):
        LabelingSession(tmp_path, seed=8)
    with pytest.raises(SessionError, match=r"buckets=20 \(recorded 10\)"):
        LabelingSession(tmp_path, buckets=20)
    with pytest.raises(SessionError, match=r"share_centers=False \(recorded True\)"):
        LabelingSession(tmp_path, "paper", buckets=10)


def test_unreadable_session_file_is_named(tmp_path):
    LabelingSession(tmp_path, seed=0, **SETTINGS)
    (tmp_path / "state.json").write_text('{"queries": [')
    with pytest.raises(SessionError, match="state.json cannot be read as a session file"):
        LabelingSession(tmp_path).pending


def test_torch_features_give_a_tensor(tmp_path):
    session = LabelingSession(tmp_path, seed=0, **SETTINGS)
    got = session.query(torch.from_numpy(POOL[:100]), 4)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.int64


def test_session_files_are_json_only(tmp_path, uninterrupted):
    session = LabelingSession(tmp_path, seed=5, **SETTINGS)
    drive(session)
    assert sorted(os.listdir(tmp_path)) == [".lock", "session.json", "state.json"]
    for name in ("session.json", "state.json"):
        json.loads((tmp_path / name).read_text())
    assert session.state() == uninterrupted


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {here!r})
import dacs_ext, dacs_ext.files, test_session
directory, where, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
count = [0]

def die_at(real, when):
    def wrapped(*args, **kwargs):
        count[0] += 1
        if when == "before" and count[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        out = real(*args, **kwargs)
        if when == "after" and count[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    return wrapped

if where == "between":  # after `at` whole steps
    session = dacs_ext.LabelingSession(directory, seed=5, **test_session.SETTINGS)
    test_session.drive(session, test_session.SCENARIO[:at])
    os.kill(os.getpid(), signal.SIGKILL)
if where == "in-select":  # the batch is chosen, nothing written
    dacs_ext.session.DACS.select = die_at(dacs_ext.session.DACS.select, "after")
if where == "mid-write":  # the temporary file written, not yet renamed
    dacs_ext.files.os.fsync = die_at(os.fsync, "before")
if where == "before-rename":
    dacs_ext.files.os.replace = die_at(os.replace, "before")
if where == "after-rename":  # the state is new, the call has not returned
    dacs_ext.files.os.replace = die_at(os.replace, "after")
test_session.drive(dacs_ext.LabelingSession(directory, seed=5, **test_session.SETTINGS))
sys.exit(3)  # the kill never came
"""


@pytest.mark.parametrize(
    "where,at",
    # Writes: 1 is session.json; 2, 4, 7 are queries' states; 3, 5, 6, 8 updates'. mid-write
    # counts fsync calls, two a write (the file, then its directory): 5 is write 3's file.
    [("between", 4), ("between", 6), ("in-select", 3), ("mid-write", 5), ("before-rename", 1), ("before-rename", 7),
     ("after-rename", 2), ("after-rename", 8)],
)
def test_a_kill_loses_nothing(tmp_path, uninterrupted, where, at):
    directory = tmp_path / "session"
    script = KILL_SCRIPT.format(here=HERE)
    done = subprocess.run([sys.executable, "-c", script, str(directory), where, str(at)], capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr
    session = LabelingSession(directory, seed=5, **SETTINGS)
    drive(session)
    assert session.state() == uninterrupted
    assert sorted(os.listdir(directory)) == [".lock", "session.json", "state.json"], "no temporary file is left"

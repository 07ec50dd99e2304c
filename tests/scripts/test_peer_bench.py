"""scripts/peer_bench.py without the peer libraries: our cases at a tiny size fill
every cell, and our k-center's picks pass a float64 replay of their own; a run
past its time limit is DNF, one past its memory limit OOM; a missing library
gives "not installed" and baal "none"; the agreement check tells identical,
tied and wrong picks apart."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import replay_greedy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "peer_bench.py")


def load_script():
    """scripts/peer_bench.py as a module, without putting scripts/ on sys.path
    (its margins.py would shadow the tests')."""
    spec = importlib.util.spec_from_file_location("peer_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["peer_bench"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


peer_bench = load_script()

SIZES, DIMS, LABELED, BUDGET = (1500, 2000), (8,), 50, 50
TINY = ["--sizes", ",".join(map(str, SIZES)), "--dims", ",".join(map(str, DIMS)), "--labeled", str(LABELED), "--budget", str(BUDGET)]
OURS = ("dacs_ext-kcenter-euclidean", "dacs_ext-select", "dacs_ext-select-recommended")


def run_script(tmp_path, *args):
    """The script's JSON report and printed output, run as a user would."""
    out = tmp_path / "peers.json"
    done = subprocess.run([sys.executable, SCRIPT, *TINY, "--json", str(out), *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout


def test_our_cases_fill_every_cell_and_our_kcenter_replays_as_farthest_first(tmp_path):
    report, printed = run_script(tmp_path, "--cases", ",".join(OURS), "--timeout", "600", "--markdown")
    results = {(r["case"], r["n"], r["d"]): r for r in report["results"]}
    assert sorted(results) == sorted((case, n, d) for case in OURS for n in SIZES for d in DIMS)
    for r in results.values():
        assert r["outcome"] == "ok", r
        assert r["seconds"] > 0 and r["peak_mib"] >= 0
        assert len(set(r["picks"])) == BUDGET and 0 <= min(r["picks"]) and max(r["picks"]) < r["n"]
    for n in SIZES:
        for d in DIMS:
            kcenter = results[("dacs_ext-kcenter-euclidean", n, d)]
            assert kcenter["agreement"] == "replay: every pick a farthest remaining row"
            unlabeled, labeled = (torch.from_numpy(a).double() for a in peer_bench.features(n, d, LABELED))
            nearest = torch.cdist(unlabeled, labeled).amin(dim=1)
            replay_greedy(unlabeled, nearest, torch.tensor(kcenter["picks"]), "euclidean", tol=1e-5 * float(nearest.max()))
    rows = [line for line in printed.splitlines() if line.startswith("| dacs_ext-")]
    table = rows[: len(OURS)]
    assert [row.split(" | ")[0] for row in table] == [f"| {case}" for case in OURS]
    assert all(cell.strip() for row in table for cell in row.strip("|").split("|"))
    assert all(" s, " in row and " MiB" in row for row in table)


def test_a_run_past_its_time_limit_is_dnf(tmp_path):
    report, _ = run_script(tmp_path, "--cases", "selftest-sleep", "--timeout", "3")
    assert [r["outcome"] for r in report["results"]] == ["DNF"] * len(SIZES) * len(DIMS)
    first, larger = report["results"][0], report["results"][-1]
    assert peer_bench.cell(first, 3) == "DNF (> 3 s)"
    # The larger pool is not run once the smaller one ran out of time.
    assert (first["n"], larger["n"]) == (1500, 2000)
    assert peer_bench.cell(larger, 3) == "DNF (not run: DNF at N = 1,500)"


def test_a_run_past_its_memory_limit_is_oom(tmp_path):
    report, _ = run_script(tmp_path, "--cases", "selftest-allocate", "--memory-limit-gb", "4")
    assert [r["outcome"] for r in report["results"]] == ["OOM"] * len(SIZES) * len(DIMS)
    assert peer_bench.cell(report["results"][0], 1) == "OOM"
    assert peer_bench.cell(report["results"][-1], 1) == "OOM (not run: OOM at N = 1,500)"


def test_a_missing_library_is_not_installed_and_baal_has_none(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distil", None)  # find_spec then finds no distil
    out = tmp_path / "peers.json"
    assert peer_bench.main([*TINY, "--cases", "distil-coreset,baal", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    outcomes = {(r["case"], r["outcome"]) for r in report["results"]}
    assert outcomes == {("distil-coreset", "not installed"), ("baal", "none")}
    baal = next(r for r in report["results"] if r["case"] == "baal")
    assert peer_bench.cell(baal, 1).startswith("none: ")


def test_agreement_tells_identical_tied_and_wrong_picks_apart():
    # Four pool rows on a line, one labelled row at 0: rows 3 and 4 tie as the farthest.
    unlabeled = np.array([[1.0], [2.0], [-4.0], [4.0]], dtype=np.float32)
    labeled = np.zeros((1, 1), dtype=np.float32)
    ours = np.array([2, 3])
    assert peer_bench.agreement(ours, ours, unlabeled, labeled) == "identical"
    assert peer_bench.agreement(np.array([3, 2]), ours, unlabeled, labeled) == "agree up to ties (first differs from ours at step 0)"
    assert peer_bench.agreement(np.array([2, 1]), ours, unlabeled, labeled).startswith("differ: step 1 is not a farthest")
    assert peer_bench.first_non_farthest_step(unlabeled, labeled, np.array([2, 2])) == 1  # a repeated pick


def greedy_kcenter_oracle(unlabeled, labeled, budget):
    """Farthest-first in float64, one row at a time with explicit differences."""
    x = unlabeled.astype(np.float64)
    nearest = np.array([min(np.linalg.norm(row - c) for c in labeled.astype(np.float64)) for row in x])
    picks = []
    for _ in range(budget):
        pick = int(np.argmax(nearest))
        picks.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(x - x[pick], axis=1))
        nearest[pick] = -np.inf
    return np.array(picks)


@pytest.mark.parametrize("rows_per_block", [7, 2048])
def test_replay_accepts_farthest_first_and_finds_the_first_wrong_step(rows_per_block):
    rng = np.random.default_rng(int(np.random.SeedSequence().entropy % 2**32))
    unlabeled = rng.normal(size=(300, 5)).astype(np.float32)
    labeled = rng.normal(size=(4, 5)).astype(np.float32)
    picks = greedy_kcenter_oracle(unlabeled, labeled, 40)
    assert peer_bench.first_non_farthest_step(unlabeled, labeled, picks, rows_per_block) is None
    never_picked = sorted(set(range(300)) - set(picks.tolist()))
    closest = min(never_picked, key=lambda r: min(np.linalg.norm(unlabeled[r] - c) for c in labeled))
    for step in (0, 17):
        wrong = picks.copy()
        wrong[step] = closest  # nearer to a labelled row than any farthest row
        assert peer_bench.first_non_farthest_step(unlabeled, labeled, wrong, rows_per_block) == step
    wrong = picks.copy()
    wrong[39] = picks[3]
    assert peer_bench.first_non_farthest_step(unlabeled, labeled, wrong, rows_per_block) == 39  # a repeat

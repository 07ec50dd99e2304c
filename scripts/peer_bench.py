"""Head-to-head with the active-learning libraries users would pick instead of
dacs_ext (issue 27): each library's core-set (greedy k-center) selection and its
density-weighted or diversity selection where it has one, beside our
``kcenter_greedy(metric="euclidean")``, ``select`` and ``select(settings="recommended")``.

The peers live in a virtual environment of their own, never a dependency of the
package; it sees the base torch, numpy and scikit-learn, and torch is pinned so
that pip never replaces it (versions installed for the first run):

    python -m venv --system-site-packages /work/peers-venv
    echo "torch==2.13.0" > /work/peers-venv/constraints.txt
    /work/peers-venv/bin/pip install -c /work/peers-venv/constraints.txt \\
        small-text==1.4.1 modAL-python==0.4.2.1 scikit-activeml==1.0.1 decile-distil==0.2.0 baal==2.1.0

Run (any Python works: a library that is missing gives "not installed" cells):

    /work/peers-venv/bin/python scripts/peer_bench.py --markdown --json peers.json
    python scripts/peer_bench.py --sizes 2000,10000 --dims 16,64 --timeout 300 --markdown
    python scripts/peer_bench.py --list   # the cases, what each runs

Every case gets the same features (standard normal float32 rows from one seed:
the pool, then the labelled rows) and picks ``--budget`` rows against
``--labeled`` labelled rows. Each (case, N, d) runs in a process of its own with
a time limit (DNF past it) and an address-space limit (OOM when an allocation
fails or the kernel kills the process); a case that is DNF or OOM at one N is
not run at the larger ones, whose cells say so. Reported: the wall time of the selection
call alone (the features are built, and put in the library's layout, before it)
and its peak memory above what the process held before it
(``tests/benchmarks/cases.measure_peak_extra_mb``). The picks of every case that
is Euclidean greedy k-center from the labelled rows are compared with
``dacs_ext.kcenter_greedy(metric="euclidean")``'s and replayed in float64.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SEED = 0
REPLAY_TOLERANCE = 1e-5
"""Relative shortfall from the farthest remaining row that still counts as a tie."""
OUR_KCENTER = "dacs_ext-kcenter-euclidean"
ALLOCATION_FAILURES = ("can't allocate memory", "cannot allocate memory", "bad_alloc", "failed to map segment")
"""Failed allocations reported as other errors than MemoryError: by torch's
allocator, C++ code, the system (ENOMEM) and the loader of a shared library."""

Selection = Callable[[], np.ndarray]


@dataclass(frozen=True)
class Case:
    """One (library, method). ``prepare(unlabeled, labeled, budget)`` puts the
    inputs in the library's form and returns the timed call, which returns the
    picks as indices into ``unlabeled``; None where the library has no such
    method, ``none`` then saying why."""

    library: str  # the distribution's name, for its version
    module: str  # the import that must be present
    method: str  # what runs, and how it differs from greedy k-center from the labelled rows
    prepare: Callable[[np.ndarray, np.ndarray, int], Selection] | None = None
    kcenter: bool = False  # Euclidean greedy k-center from the labelled rows: picks checked against ours
    none: str | None = None


CASES: dict[str, Case] = {}
TEST_CASES: dict[str, Case] = {}
"""Cases that only the tests name: past the time limit, past the memory limit."""


def case(name: str, library: str, module: str, method: str, *, kcenter: bool = False, registry: dict = CASES):
    def register(prepare):
        registry[name] = Case(library, module, method, prepare, kcenter)
        return prepare

    return register


def find(name: str) -> Case:
    return CASES[name] if name in CASES else TEST_CASES[name]


def features(n: int, d: int, labeled: int) -> tuple[np.ndarray, np.ndarray]:
    """The pool [n, d] and the labelled rows [labeled, d] of every case: standard
    normal float32 rows from SEED, the same for every case at (n, d)."""
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((n, d), dtype=np.float32), rng.standard_normal((labeled, d), dtype=np.float32)


def pool_then_labeled(unlabeled: np.ndarray, labeled: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One matrix with the pool's rows first, so that an index into it below N is
    an index into the pool, and the indices of the two parts."""
    n = unlabeled.shape[0]
    return np.concatenate([unlabeled, labeled]), np.arange(n), np.arange(n, n + labeled.shape[0])


def torch_generator():
    import torch

    return torch.Generator().manual_seed(SEED)


@case(OUR_KCENTER, "dacs_ext", "dacs_ext", "kcenter_greedy(metric='euclidean'): greedy k-center from the labelled rows, "
      "ties to the lowest index", kcenter=True)
def dacs_kcenter(unlabeled, labeled, budget):
    import dacs_ext

    return lambda: dacs_ext.kcenter_greedy(unlabeled, labeled, budget, metric="euclidean")


@case("dacs_ext-select", "dacs_ext", "dacs_ext", "select with its defaults: LSH density groups, cosine k-center in each")
def dacs_select(unlabeled, labeled, budget):
    import dacs_ext

    generator = torch_generator()
    return lambda: dacs_ext.select(unlabeled, labeled, budget, generator=generator)


@case("dacs_ext-select-recommended", "dacs_ext", "dacs_ext", "select(settings='recommended')")
def dacs_select_recommended(unlabeled, labeled, budget):
    import dacs_ext

    generator = torch_generator()
    return lambda: dacs_ext.select(unlabeled, labeled, budget, settings="recommended", generator=generator)


@case("small-text-greedy-coreset", "small-text", "small_text",
      "GreedyCoreset(distance_metric='euclidean', normalize=False).sample (its default normalize=True would compare "
      "L2-normalised rows): greedy k-center from the labelled rows, ties to the lowest index; every step recomputes "
      "each row's distance to all centers so far", kcenter=True)
def small_text_greedy_coreset(unlabeled, labeled, budget):
    from small_text.query_strategies.coresets import GreedyCoreset

    # small-text's query() hands sample() this layout: the pool's rows first.
    pool, pool_rows, labeled_rows = pool_then_labeled(unlabeled, labeled)
    strategy = GreedyCoreset(distance_metric="euclidean", normalize=False)
    return lambda: strategy.sample(None, None, pool_rows, labeled_rows, None, budget, pool)


@case("small-text-lightweight-coreset", "small-text", "small_text",
      "LightweightCoreset().sample (Bachem et al.): rows drawn at random, half uniformly and half by squared angular "
      "distance to the pool's mean; ignores the labelled rows; not k-center")
def small_text_lightweight_coreset(unlabeled, labeled, budget):
    from small_text.query_strategies.coresets import LightweightCoreset

    pool, pool_rows, labeled_rows = pool_then_labeled(unlabeled, labeled)
    strategy = LightweightCoreset()
    return lambda: strategy.sample(None, None, pool_rows, labeled_rows, None, budget, pool)


@case("small-text-embedding-kmeans", "small-text", "small_text",
      "EmbeddingKMeans().sample (diversity): k-means with budget clusters on the L2-normalised pool, the row nearest "
      "each centroid; ignores the labelled rows")
def small_text_embedding_kmeans(unlabeled, labeled, budget):
    from small_text.query_strategies import EmbeddingKMeans

    pool, pool_rows, labeled_rows = pool_then_labeled(unlabeled, labeled)
    strategy = EmbeddingKMeans()
    return lambda: strategy.sample(None, None, pool_rows, labeled_rows, None, budget, pool)


def skactiveml_inputs(unlabeled, labeled):
    """scikit-activeml's form: all rows in X, y NaN (its missing label) for the pool."""
    pool, _, _ = pool_then_labeled(unlabeled, labeled)
    y = np.concatenate([np.full(unlabeled.shape[0], np.nan), np.zeros(labeled.shape[0])])
    return pool, y


@case("scikit-activeml-coreset", "scikit-activeml", "skactiveml",
      "CoreSet().query: greedy k-center from the labelled rows, Euclidean, ties broken at random; keeps a "
      "budget x (N + labelled) float64 matrix of every step's distances", kcenter=True)
def skactiveml_coreset(unlabeled, labeled, budget):
    from skactiveml.pool import CoreSet

    x, y = skactiveml_inputs(unlabeled, labeled)
    strategy = CoreSet(random_state=SEED)
    return lambda: strategy.query(x, y, batch_size=budget)


@case("scikit-activeml-typiclust", "scikit-activeml", "skactiveml",
      "TypiClust().query (density and diversity): k-means with labelled + budget clusters over all rows; from each of "
      "the largest clusters holding no labelled row, its most typical row (inverse mean distance to 5 nearest neighbours)")
def skactiveml_typiclust(unlabeled, labeled, budget):
    from skactiveml.pool import TypiClust

    x, y = skactiveml_inputs(unlabeled, labeled)
    strategy = TypiClust(random_state=SEED)
    return lambda: strategy.query(x, y, batch_size=budget)


@case("modal-ranked-batch", "modAL-python", "modAL",
      "modAL.batch.ranked_batch (Cardoso et al.) with its uncertainty term at zero, its diversity alone: each step the "
      "row maximising 1 - 1 / (1 + distance to the nearest center), i.e. Euclidean greedy k-center from the labelled "
      "rows, ties to the lowest index (of float32 scores); every step recomputes each row's distance to all centers",
      kcenter=True)
def modal_ranked_batch(unlabeled, labeled, budget):
    from types import SimpleNamespace

    from modAL.batch import ranked_batch

    # ranked_batch reads only these two attributes of the learner.
    learner = SimpleNamespace(on_transformed=False, X_training=labeled)
    no_uncertainty = np.zeros(unlabeled.shape[0])
    return lambda: ranked_batch(learner, unlabeled, no_uncertainty, budget, "euclidean", None)[0]


@case("modal-information-density", "modAL-python", "modAL",
      "modAL.density.information_density (Settles & Craven; density weighting) with the uncertainty factor at 1: the "
      "budget rows of highest mean 1 / (1 + distance) to the whole pool, an N x N matrix; ignores the labelled rows")
def modal_information_density(unlabeled, labeled, budget):
    from modAL.density import information_density

    return lambda: np.argsort(-information_density(unlabeled, "euclidean"), kind="stable")[:budget]


def distil_strategy(strategy_class, unlabeled, labeled):
    """A DISTIL strategy whose network embedding is the identity: the features are
    the embeddings, as they are for every other case."""
    import torch

    strategy = strategy_class(labeled, None, unlabeled, None, None, 0)
    strategy.get_embedding = torch.from_numpy
    return strategy


@case("distil-coreset", "decile-distil", "distil",
      "CoreSet.select (PyPI 0.2.0; GitHub's later torch rewrite is not on PyPI): furthest_first, greedy k-center from "
      "the labelled rows, Euclidean, ties to the lowest index; updates the distances in a Python loop over all rows "
      "at each step", kcenter=True)
def distil_coreset(unlabeled, labeled, budget):
    from distil.active_learning_strategies import CoreSet

    strategy = distil_strategy(CoreSet, unlabeled, labeled)
    return lambda: strategy.select(budget)


@case("distil-kmeans", "decile-distil", "distil",
      "KMeansSampling.select (diversity): k-means with budget clusters on the pool, the row nearest each centroid; "
      "ignores the labelled rows")
def distil_kmeans(unlabeled, labeled, budget):
    from distil.active_learning_strategies import KMeansSampling

    strategy = distil_strategy(KMeansSampling, unlabeled, labeled)
    return lambda: strategy.select(budget)


CASES["baal"] = Case(
    "baal", "baal",
    "baal 2.1.0 has no core-set, density or diversity selection on features: its heuristics (BALD, BatchBALD, "
    "entropy, margin, variance, EPIG, and their stochastic power/softmax sampling) all score model predictions",
    none="no selection on features",
)


@case("selftest-sleep", "numpy", "numpy", "sleeps past any time limit", registry=TEST_CASES)
def selftest_sleep(unlabeled, labeled, budget):
    return lambda: time.sleep(10**6)


@case("selftest-allocate", "numpy", "numpy", "allocates twice the address-space limit", registry=TEST_CASES)
def selftest_allocate(unlabeled, labeled, budget):
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    return lambda: np.ones(2 * limit // 8)


def run_child(spec: dict) -> None:
    """Runs one case at one size in this process (a child of the benchmark) and
    writes its outcome, and its picks, to the files the spec names."""
    limit = int(spec["memory_limit_gb"] * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        sys.path.insert(0, os.path.join(ROOT, "tests", "benchmarks"))
        from cases import measure_peak_extra_mb

        unlabeled, labeled = features(spec["n"], spec["d"], spec["labeled"])
        # The peers' k-means and sampling draw from numpy's global state.
        np.random.seed(SEED)
        select = find(spec["case"]).prepare(unlabeled, labeled, spec["budget"])
        timed = {}

        def call():
            start = time.perf_counter()
            timed["picks"] = select()
            timed["seconds"] = time.perf_counter() - start

        peak = measure_peak_extra_mb(call)
        np.save(spec["picks"], np.asarray(timed["picks"], dtype=np.int64))
        outcome = {"outcome": "ok", "seconds": timed["seconds"], "peak_mib": peak}
    except MemoryError:
        outcome = {"outcome": "OOM"}
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        out_of_memory = any(marker in first_line.lower() for marker in ALLOCATION_FAILURES)
        outcome = {"outcome": "OOM"} if out_of_memory else {"outcome": "error", "detail": f"{type(error).__name__}: {first_line}"[:160]}
        traceback.print_exc()
    with open(spec["outcome"], "w") as f:
        json.dump(outcome, f)


def run_case(name: str, n: int, d: int, args, work: str) -> dict:
    """One (case, n, d) in a fresh interpreter under the time and memory limits,
    with its ``picks`` when it finished."""
    found = find(name)
    result = {"case": name, "n": n, "d": d}
    if found.prepare is None:
        return {**result, "outcome": "none", "detail": found.none}
    if importlib.util.find_spec(found.module) is None:
        return {**result, "outcome": "not installed"}
    stem = os.path.join(work, f"{name}-{n}-{d}")
    spec = dict(case=name, n=n, d=d, labeled=args.labeled, budget=args.budget, memory_limit_gb=args.memory_limit_gb,
                picks=stem + ".npy", outcome=stem + ".json")
    env = dict(os.environ)
    env.pop("DACS_EXT_BENCH_DEVICE", None)  # the peak memory is the CPU process's, whatever the benchmarks' device
    with open(stem + ".stderr", "w+") as stderr:
        # A session of its own, so that a time-out ends the child's own workers too.
        child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)], cwd=ROOT,
                                 env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        try:
            child.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return {**result, "outcome": "DNF"}
        stderr.seek(0)
        last_line = ([line.strip() for line in stderr if line.strip()] or [f"exit status {child.returncode}"])[-1]
    if os.path.exists(spec["outcome"]):
        with open(spec["outcome"]) as f:
            outcome = json.load(f)
        return {**result, **outcome, **({"picks": np.load(spec["picks"])} if outcome["outcome"] == "ok" else {})}
    if child.returncode == -signal.SIGKILL:  # not ours: the kernel's out-of-memory killer
        return {**result, "outcome": "OOM"}
    return {**result, "outcome": "error", "detail": last_line[:160]}


def squared_distances(block: np.ndarray, centers: np.ndarray, center_norms: np.ndarray) -> np.ndarray:
    """float64 squared Euclidean distances, block rows x centers, from one product."""
    return np.maximum((block**2).sum(1)[:, None] - 2 * block @ centers.T + center_norms[None, :], 0)


def first_non_farthest_step(unlabeled: np.ndarray, labeled: np.ndarray, picks: np.ndarray,
                            rows_per_block: int = 2048) -> int | None:
    """Replays picks in float64 as greedy k-center from the labelled rows: the
    first step whose pick is not a farthest remaining row (up to a relative
    REPLAY_TOLERANCE, so that near-ties may come in either order) or repeats a
    pick, None when there is none.

    The picks are known, so a block of rows gets its distances to every labelled
    row and every pick in two products; a running minimum along the picks gives
    each row's nearest-center distance before each step, and the steps' maxima
    over the remaining rows gather over the blocks (N x budget x d work in
    products, not budget passes over the pool)."""
    picks = np.asarray(picks, dtype=np.int64)
    seen = {}
    repeat = next((step for step, pick in enumerate(picks.tolist()) if seen.setdefault(pick, step) != step), None)
    picks = picks[:repeat]
    steps = picks.size
    if steps == 0:
        return repeat
    labeled64 = labeled.astype(np.float64)
    picked64 = unlabeled[picks].astype(np.float64)
    labeled_norms, picked_norms = (labeled64**2).sum(1), (picked64**2).sum(1)
    farthest = np.full(steps, -np.inf)  # per step: the farthest remaining row's distance
    at_pick = np.empty(steps)  # per step: the pick's own distance
    step_of_row = np.full(unlabeled.shape[0], steps)
    step_of_row[picks] = np.arange(steps)
    for start in range(0, unlabeled.shape[0], rows_per_block):
        block = unlabeled[start : start + rows_per_block].astype(np.float64)
        nearest = np.empty((block.shape[0], steps))
        nearest[:, 0] = squared_distances(block, labeled64, labeled_norms).min(1)
        nearest[:, 1:] = squared_distances(block, picked64[:-1], picked_norms[:-1])
        np.minimum.accumulate(nearest, axis=1, out=nearest)
        rows = np.arange(block.shape[0])
        picked_here = step_of_row[start : start + block.shape[0]]
        inside = picked_here < steps
        at_pick[picked_here[inside]] = nearest[rows[inside], picked_here[inside]]
        nearest[np.arange(steps)[None, :] > picked_here[:, None]] = -np.inf  # picked: no longer in the pool
        np.maximum(farthest, nearest.max(0), out=farthest)
    bad = np.flatnonzero(~(np.sqrt(at_pick) >= np.sqrt(farthest) * (1 - REPLAY_TOLERANCE)))
    return int(bad[0]) if bad.size else repeat


def agreement(picks: np.ndarray, ours: np.ndarray | None, unlabeled: np.ndarray, labeled: np.ndarray) -> str:
    """A k-center case's picks against our kcenter_greedy's on the same features."""
    if ours is not None and np.array_equal(picks, ours):
        return "identical"
    step = first_non_farthest_step(unlabeled, labeled, picks)
    if ours is None:
        parted = "ours did not finish"
    elif picks.shape != ours.shape:
        parted = f"{picks.size} picks, ours {ours.size}"
    else:
        parted = f"first differs from ours at step {int(np.argmax(picks != ours))}"
    if step is None:
        return f"agree up to ties ({parted})"
    return f"differ: step {step} is not a farthest remaining row ({parted})"


def check_kcenter_picks(results: list[dict], n: int, d: int, labeled: int) -> None:
    """Adds ``agreement`` to the finished k-center results at (n, d); ours gets
    the float64 replay alone."""
    finished = [r for r in results if r["outcome"] == "ok" and find(r["case"]).kcenter]
    if not finished:
        return
    unlabeled, labeled_rows = features(n, d, labeled)
    ours = next((r["picks"] for r in finished if r["case"] == OUR_KCENTER), None)
    for r in finished:
        if r["case"] == OUR_KCENTER:
            step = first_non_farthest_step(unlabeled, labeled_rows, ours)
            r["agreement"] = "replay: every pick a farthest remaining row" if step is None else f"replay fails at step {step}"
        else:
            r["agreement"] = agreement(r["picks"], ours, unlabeled, labeled_rows)


def library_version(found: Case) -> str:
    try:
        return importlib.metadata.version(found.library)
    except importlib.metadata.PackageNotFoundError:
        if importlib.util.find_spec(found.module) is None:
            return "not installed"
        return getattr(importlib.import_module(found.module), "__version__", "unknown")


def machine() -> dict:
    import sklearn
    import torch

    from dacs_ext.machine import describe

    return {"machine": describe(), "python": sys.version.split()[0], "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "torch": torch.__version__, "python_executable": sys.executable}


def cell(result: dict, timeout: float) -> str:
    """A result as one table cell."""
    outcome = result["outcome"]
    if outcome == "ok":
        seconds = result["seconds"]
        return f"{seconds:.3g} s, {result['peak_mib']:.0f} MiB" if seconds < 100 else f"{seconds:.0f} s, {result['peak_mib']:.0f} MiB"
    if "not_run_after" in result:
        return f"{outcome} (not run: {outcome} at N = {result['not_run_after']:,})"
    if outcome == "DNF":
        return f"DNF (> {timeout:g} s)"
    if outcome in ("error", "none"):
        return f"{outcome}: {result['detail']}"
    return outcome


def markdown(report: dict) -> str:
    """The machine header, the time / peak-memory table, the agreement table of
    the k-center cases, and what each case runs."""
    settings = report["settings"]
    sizes = [(n, d) for n in settings["sizes"] for d in settings["dims"]]
    by_key = {(r["case"], r["n"], r["d"]): r for r in report["results"]}
    info = report["machine"]
    lines = [
        f"Machine: {info['machine']}; Python {info['python']}, numpy {info['numpy']}, scikit-learn {info['scikit-learn']}.",
        f"Pool: N standard normal float32 rows of d columns (seed {SEED}), {settings['labeled']:,} labelled rows, "
        f"budget {settings['budget']:,}; each run in its own process, time limit {settings['timeout']:g} s, "
        f"address space {settings['memory_limit_gb']:g} GiB. Cells: selection time, peak memory above the process's before it.",
        "",
        "| case | version | " + " | ".join(f"N = {n:,}, d = {d}" for n, d in sizes) + " |",
        "|---|---|" + "---|" * len(sizes),
    ]
    for name, details in report["cases"].items():
        cells = [cell(by_key[(name, n, d)], settings["timeout"]) for n, d in sizes]
        lines.append(f"| {name} | {details['version']} | " + " | ".join(cells) + " |")
    kcenter = [name for name, details in report["cases"].items() if details["kcenter"]]
    if kcenter:
        lines += ["", "Picks of the Euclidean greedy k-center cases against kcenter_greedy(metric=\"euclidean\")'s on the "
                  f"same features (replayed in float64, ties up to a relative {REPLAY_TOLERANCE:g}):", "",
                  "| case | " + " | ".join(f"N = {n:,}, d = {d}" for n, d in sizes) + " |", "|---|" + "---|" * len(sizes)]
        for name in kcenter:
            verdicts = [by_key[(name, n, d)].get("agreement") or cell(by_key[(name, n, d)], settings["timeout"]) for n, d in sizes]
            lines.append(f"| {name} | " + " | ".join(verdicts) + " |")
    lines += ["", "Cases:"] + [f"- {name} ({details['library']}): {details['method']}" for name, details in report["cases"].items()]
    return "\n".join(lines)


def positive_ints(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def default_memory_limit_gb() -> float:
    """Four fifths of this machine's memory: a run that needs more fails as OOM
    rather than swapping the machine."""
    return round(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=positive_ints, default=[10_000, 100_000, 1_000_000], help="pool rows N")
    parser.add_argument("--dims", type=positive_ints, default=[16, 512], help="feature columns d")
    parser.add_argument("--labeled", type=int, default=1_000)
    parser.add_argument("--budget", type=int, default=1_000)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated (default: all; --list names them)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run, its process's start included")
    parser.add_argument("--memory-limit-gb", type=float, default=default_memory_limit_gb(),
                        help="address-space limit of each run (default: 80%% of this machine's memory)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--markdown", action="store_true", help="print the tables")
    parser.add_argument("--list", action="store_true", help="print the cases and exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(json.loads(args.child))
        return 0
    if args.list:
        print("\n".join(f"{name} ({c.library}): {c.method}" for name, c in CASES.items()))
        return 0
    names = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in names if name not in CASES and name not in TEST_CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; the cases: {', '.join(CASES)}")
    if not 0 < args.budget <= min(args.sizes) or args.labeled <= 0:
        parser.error("need 0 < --budget <= the smallest of --sizes and --labeled > 0")

    results = []
    # A case that ran out of time or memory at some N would only do so again at
    # a larger one: that cell is filled from the smaller run, marked not run.
    failed_at = {}
    with tempfile.TemporaryDirectory(prefix="peer_bench-") as work:
        for n in sorted(args.sizes):
            for d in args.dims:
                here = []
                for name in names:
                    if (name, d) in failed_at:
                        smaller = failed_at[(name, d)]
                        here.append({"case": name, "n": n, "d": d, "outcome": smaller["outcome"], "not_run_after": smaller["n"]})
                    else:
                        here.append(run_case(name, n, d, args, work))
                        if here[-1]["outcome"] in ("DNF", "OOM"):
                            failed_at[(name, d)] = here[-1]
                    print(f"{name} N={n} d={d}: {cell(here[-1], args.timeout)}", file=sys.stderr, flush=True)
                check_kcenter_picks(here, n, d, args.labeled)
                for r in here:
                    if "agreement" in r:
                        print(f"{r['case']} N={n} d={d} picks: {r['agreement']}", file=sys.stderr, flush=True)
                    if "picks" in r:
                        r["picks"] = r["picks"].tolist()
                results += here

    report = {
        "machine": machine(),
        "settings": dict(sizes=args.sizes, dims=args.dims, labeled=args.labeled, budget=args.budget,
                         timeout=args.timeout, memory_limit_gb=args.memory_limit_gb, seed=SEED),
        "cases": {name: dict(library=find(name).library, version=library_version(find(name)), method=find(name).method,
                             kcenter=find(name).kcenter) for name in names},
        "results": results,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.markdown:
        print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

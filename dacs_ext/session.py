"""A labels-later active-learning session: batches proposed today, labels that
come back from annotators over days, in a directory that survives any kill.

The directory holds two JSON files, each replaced atomically (``dacs_ext.files``):
``session.json`` (format, settings, seed: written once) and ``state.json`` (every
query's batch, the pending rows, the labels). A kill at any moment leaves one
version or the next, never a mix; every operation rereads the state under a lock,
so two processes on one directory take turns.
"""

from __future__ import annotations

import fcntl
import json
import math
import numbers
import os
from contextlib import contextmanager

import numpy as np
import torch

from . import checks
from .arrays import to_numpy, to_tensor
from .files import atomic_write_bytes, atomic_write_json
from .selection import DACS
from .settings import DACSSettings

FORMAT = 1
SETTINGS_FILE = "session.json"
STATE_FILE = "state.json"
LOCK_FILE = ".lock"
SEED_STRIDE = 1_000_003
"""Query q draws its randomness from seed * SEED_STRIDE + q: the same batch
whether the session ran straight through or was reopened after a kill."""


class SessionError(ValueError):
    """A session directory or a call that does not fit the session's state."""


def _label(value, index: int):
    """A label as a JSON value: an int, a finite float, a str or a bool."""
    if isinstance(value, (np.generic, torch.Tensor)):
        value = value.item()
    if isinstance(value, (bool, str, numbers.Integral)):
        return value if isinstance(value, (bool, str)) else int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value):
        return float(value)
    raise SessionError(f"the label of row {index} must be an int, a finite float, a str or a bool, got {value!r}")


def _indices(indices, name: str) -> list[int]:
    """Row indices (a list, a numpy array or a tensor of ints) as a list of distinct ints."""
    if isinstance(indices, torch.Tensor):
        indices = indices.tolist()
    values = np.asarray(indices)
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        raise TypeError(f"{name} must be a 1-D sequence of ints, got {values.dtype} of shape {values.shape}")
    out = [int(v) for v in values]
    if len(set(out)) != len(out):
        repeated = sorted({v for v in out if out.count(v) > 1})
        raise SessionError(f"{name} repeats row(s) {repeated[:10]}")
    return out


class LabelingSession:
    """Active learning where labels arrive later: ``query`` proposes a batch and
    records it as pending; ``update`` records the labels of any pending rows
    whenever they come back. Everything is kept in ``directory``.

    ``LabelingSession(directory, settings, seed=0)`` creates the session, or
    reopens it when the directory holds one: the recorded settings and seed are
    then used, and settings or a seed that differ from them are refused
    (``SessionError``) rather than silently changing how batches are drawn.

    Args:
        directory: the session's folder (created if missing).
        settings: ``DACSSettings``, a name (``"paper"``, ``"recommended"``) or None
            (the defaults for a new session, the recorded ones when reopening);
            keyword ``changes`` (``buckets=50``) apply on top.
        seed: an int in [0, 2**40]; query q is drawn from a generator seeded by seed and q.
            None: 0 for a new session, the recorded one when reopening.
    """

    def __init__(self, directory: str, settings: DACSSettings | str | None = None, *, seed: int | None = None, **changes) -> None:
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        seed = None if seed is None else checks.integer(seed, "seed", low=0, high=2**40)
        with self._locked():
            self._remove_stale_writes()
            recorded = self._read(SETTINGS_FILE)
            if recorded is None:
                recorded = {"format": FORMAT, "settings": DACSSettings.of(settings, **changes).to_dict(), "seed": seed or 0}
                atomic_write_json(recorded, self._path(SETTINGS_FILE))
        if recorded.get("format") != FORMAT:
            raise SessionError(f"{self._path(SETTINGS_FILE)} has format {recorded.get('format')!r}; this dacs_ext reads {FORMAT}")
        self.settings = DACSSettings(**recorded["settings"])
        self.seed = int(recorded["seed"])
        # Changes alone apply to the recorded settings: buckets=50 asks "does it use 50?".
        wanted = DACSSettings.of(self.settings if settings is None else settings, **changes)
        if wanted != self.settings:
            differ = ", ".join(f"{k}={v!r} (recorded {getattr(self.settings, k)!r})" for k, v in wanted.changed(self.settings).items())
            raise SessionError(f"{self.directory} was created with other DACS settings: {differ}")
        if seed is not None and seed != self.seed:
            raise SessionError(f"{self.directory} was created with seed {self.seed}, not {seed}")

    def __repr__(self) -> str:
        state = self.state()
        return (
            f"LabelingSession({self.directory!r}, queries={len(state['queries'])}, labeled={len(state['labeled'])}, "
            f"pending={len(state['pending'])})"
        )

    def _remove_stale_writes(self) -> None:
        # Under the lock no write is in flight: a temporary file is a killed write's.
        for name in os.listdir(self.directory):
            if name.endswith(".tmp") and name.startswith((SETTINGS_FILE + ".", STATE_FILE + ".")):
                os.unlink(self._path(name))

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _read(self, name: str) -> dict | None:
        path = self._path(name)
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise SessionError(f"{path} cannot be read as a session file: {e}") from e

    @contextmanager
    def _locked(self):
        # One operation at a time per directory, across processes; the lock dies with its process.
        with open(self._path(LOCK_FILE), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def state(self) -> dict:
        """The state as stored: ``queries`` (one dict per query: ``rows`` seen,
        ``budget``, ``batch``, ``repropose_pending``), ``pending`` (rows proposed,
        not yet labeled, in proposal order), ``labeled`` (rows, in the order their
        labels arrived) and ``labels`` (theirs, in the same order)."""
        return self._read(STATE_FILE) or {"queries": [], "pending": [], "labeled": [], "labels": []}

    @property
    def labeled(self) -> np.ndarray:
        """int64 [M] the labeled rows, in the order their labels arrived."""
        return np.array(self.state()["labeled"], dtype=np.int64)

    @property
    def labels(self) -> list:
        """The labels of ``labeled``, in the same order."""
        return self.state()["labels"]

    @property
    def pending(self) -> np.ndarray:
        """int64 [P] rows proposed and not yet labeled, in proposal order."""
        return np.array(self.state()["pending"], dtype=np.int64)

    def query(self, features, budget: int, uncertainty=None, *, repropose_pending: bool = False, return_details: bool = False):
        """Proposes ``budget`` rows by DACS and records them as pending.

        Candidates are the rows neither labeled nor pending; the labeled and
        pending rows are the centers DACS keeps away from. With
        ``repropose_pending=True`` the pending rows are candidates again (for
        batches an annotator never returned) and only the labeled rows are
        centers; a re-proposed row stays pending once.

        Args:
            features: [N, d] float features of every row (numpy, memory-mapped or
                torch), N at least the rows any earlier query saw: rows may be
                appended between queries, never removed or reordered.
            budget: 0 <= budget <= the number of candidates.
            uncertainty: optional [N] float scores (higher = more uncertain): DACS
                proposes ``expand * budget`` candidates and the most uncertain
                ``budget`` of them are kept (paper section 4.3).
            repropose_pending: see above.
            return_details: also return ``dacs_ext.select``'s details, with
                ``candidates`` (int64 [C], the rows ``density`` and ``groups``
                describe).

        Returns:
            int64 [budget] row indices (numpy for numpy features, else a tensor
            on the features' device), and the details when asked for.
        """
        numpy_out = isinstance(features, np.ndarray)
        x = to_tensor(features, "features") if numpy_out else features
        x = checks.features(x, "features", min_rows=0, finite=False)
        repropose_pending = checks.boolean(repropose_pending, "repropose_pending")
        with self._locked():
            state = self.state()
            n, seen = x.shape[0], max((q["rows"] for q in state["queries"]), default=0)
            if n < seen:
                raise SessionError(f"features has {n} rows, but an earlier query saw {seen}: rows may be appended, never removed")
            scores = self._uncertainty(uncertainty, n)
            labeled_rows = torch.zeros(n, dtype=torch.bool)
            labeled_rows[state["labeled"]] = True
            centers = labeled_rows.clone()
            if not repropose_pending:
                centers[state["pending"]] = True
            candidates = (~centers).nonzero().squeeze(1)
            budget = checks.integer(budget, "budget", low=0, high=candidates.numel())
            generator = torch.Generator().manual_seed(self.seed * SEED_STRIDE + len(state["queries"]))
            device = x.device
            unlabeled = x[candidates.to(device)]
            labeled = x[centers.nonzero().squeeze(1).to(device)]
            picked, details = DACS(self.settings).select(
                unlabeled, labeled, budget, None if scores is None else scores[candidates],
                generator=generator, return_details=True,
            )
            batch = candidates[picked.cpu()].tolist()
            already = set(state["pending"])
            pending = state["pending"] + [i for i in batch if i not in already]
            state["queries"].append({"rows": n, "budget": budget, "batch": batch, "repropose_pending": repropose_pending})
            state["pending"] = pending
            self._write_state(state)
        out = np.array(batch, dtype=np.int64) if numpy_out else torch.tensor(batch, dtype=torch.int64, device=device)
        if not return_details:
            return out
        details["candidates"] = candidates
        return out, (to_numpy(details) if numpy_out else details)

    def _write_state(self, state: dict) -> None:
        # Compact: a session of 10^5 pending rows stays a file of about a megabyte.
        atomic_write_bytes(self._path(STATE_FILE), json.dumps(state, separators=(",", ":")).encode())

    @staticmethod
    def _uncertainty(uncertainty, n: int) -> torch.Tensor | None:
        if uncertainty is None:
            return None
        scores = to_tensor(uncertainty, "uncertainty") if isinstance(uncertainty, np.ndarray) else uncertainty
        if not isinstance(scores, torch.Tensor) or scores.shape != (n,) or not scores.is_floating_point():
            raise TypeError(f"uncertainty must be a float array [N] with N = {n} rows, got {getattr(scores, 'shape', type(scores).__name__)}")
        checks.all_finite(scores, "uncertainty")
        return scores.cpu()

    def update(self, indices, labels) -> None:
        """Records ``labels`` for the pending rows ``indices`` (any subset of the
        pending rows; the others stay pending). A row that is not pending
        (never proposed, or already labeled) is refused, and nothing is recorded.

        Args:
            indices: int [K] distinct pending rows.
            labels: [K] labels: ints, finite floats, strs or bools.
        """
        rows = _indices(indices, "indices")
        values = labels.tolist() if isinstance(labels, (np.ndarray, torch.Tensor)) else list(labels)
        if len(values) != len(rows):
            raise SessionError(f"indices has {len(rows)} rows but labels has {len(values)}")
        values = [_label(v, i) for v, i in zip(values, rows)]
        with self._locked():
            state = self.state()
            pending = set(state["pending"])
            stray = [i for i in rows if i not in pending]
            if stray:
                labeled = sorted(set(stray) & set(state["labeled"]))
                why = f"already labeled: {labeled[:10]}" if labeled else "never proposed"
                raise SessionError(f"row(s) {stray[:10]} are not pending ({why}); nothing was recorded")
            state["labeled"] += rows
            state["labels"] += values
            done = set(rows)
            state["pending"] = [i for i in state["pending"] if i not in done]
            self._write_state(state)

"""The library's command line, ``python -m dacs_ext``: select a batch from a
``.npy`` of features, alone or in a labels-later session, and record labels.

    python -m dacs_ext select FEATURES.npy --budget 100 --labeled labeled.txt --out batch
    python -m dacs_ext select FEATURES.npy --budget 100 --session my-session --out batch
    python -m dacs_ext update my-session labels.csv
    python -m dacs_ext status my-session

A bad file ends the command with one line naming the file and the problem, and
exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from .arrays import to_tensor
from .files import atomic_write_bytes, atomic_write_json
from .selection import DACS
from .session import SETTINGS_FILE, LabelingSession, SessionError
from .settings import NAMED_SETTINGS, DACSSettings

SCAN_ROWS = 1 << 16
"""Rows read at a time when a features file is checked for NaN rows."""
PROGRESS_ROWS = 1 << 20
"""Files of at least this many rows show a progress bar while being checked."""


class InputError(ValueError):
    """A bad input file or argument: its message is the one line the user sees."""


def load_features(path: str, progress: bool) -> np.ndarray:
    """float [N, d] rows of a ``.npy`` file, memory-mapped, checked for a 2-D
    floating array without NaN or infinite rows (scanned in blocks)."""
    try:
        x = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot be read as a .npy array ({e})") from e
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise InputError(f"{path}: features must be a 2-D array [N, d] with N, d >= 1, got shape {list(x.shape)}")
    if x.dtype.kind != "f":
        raise InputError(f"{path}: features must be float32 or float64, got {x.dtype}")
    bad = []
    blocks = range(0, x.shape[0], SCAN_ROWS)
    for start in tqdm(blocks, desc=f"checking {os.path.basename(path)}", unit="block", disable=not progress or x.shape[0] < PROGRESS_ROWS, file=sys.stderr):
        finite = np.isfinite(x[start : start + SCAN_ROWS]).all(axis=1)
        bad.extend((start + np.flatnonzero(~finite)).tolist())
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
        raise InputError(f"{path}: {len(bad)} row(s) contain NaN or infinite values: {shown}")
    return x


def load_uncertainty(path: str, rows: int) -> np.ndarray:
    """float [rows] finite scores of a ``.npy`` file."""
    try:
        u = np.load(path)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot be read as a .npy array ({e})") from e
    if u.shape != (rows,) or u.dtype.kind != "f":
        raise InputError(f"{path}: uncertainty must be a float array [{rows}] (one score per feature row), got {u.dtype} {list(u.shape)}")
    bad = np.flatnonzero(~np.isfinite(u))
    if bad.size:
        raise InputError(f"{path}: {bad.size} score(s) are NaN or infinite, first at row {int(bad[0])}")
    return u


def load_indices(path: str, rows: int) -> np.ndarray:
    """int64 [M] distinct row indices in [0, rows) from a ``.npy`` array, a
    ``.json`` list, or a text file of one index per line (a ``.csv``'s first
    column, a header line allowed)."""
    try:
        if path.endswith(".npy"):
            values = np.load(path)
        elif path.endswith(".json"):
            with open(path) as f:
                values = np.asarray(json.load(f))
        else:
            with open(path, newline="") as f:
                cells = [row[0].strip() for row in csv.reader(f) if row and row[0].strip()]
            if cells and not cells[0].lstrip("-").isdigit():
                cells = cells[1:]  # a header
            values = np.asarray([int(c) for c in cells], dtype=np.int64)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot be read as labeled row indices ({e})") from e
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        raise InputError(f"{path}: labeled indices must be a 1-D list of ints, got {values.dtype} {list(values.shape)}")
    values = values.astype(np.int64)
    out = values[(values < 0) | (values >= rows)]
    if out.size:
        raise InputError(f"{path}: index {int(out[0])} is out of range for {rows} feature rows")
    unique, counts = np.unique(values, return_counts=True)
    if (counts > 1).any():
        raise InputError(f"{path}: index {int(unique[counts > 1][0])} is repeated")
    return values


def read_labels(path: str) -> tuple[list[int], list]:
    """Rows and labels of a CSV with the header ``index,label``; a label that
    reads as an int or a float becomes one, any other stays text."""
    try:
        with open(path, newline="") as f:
            table = list(csv.DictReader(f))
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e})") from e
    if not table or not {"index", "label"} <= set(table[0]):
        raise InputError(f"{path}: labels must be a CSV with the header index,label and at least one row")
    rows, labels = [], []
    for line, entry in enumerate(table, start=2):
        try:
            rows.append(int(entry["index"]))
        except (TypeError, ValueError):
            raise InputError(f"{path}, line {line}: index {entry['index']!r} is not an int") from None
        labels.append(_number_or_text(entry["label"]))
    return rows, labels


def _number_or_text(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def settings_of(args) -> DACSSettings | None:
    """The settings named and changed on the command line; None when neither."""
    if args.settings is None and not args.set:
        return None
    changes = {}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep:
            raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. --set buckets=50")
        try:
            changes[key] = json.loads(text)  # numbers and true/false
        except ValueError:
            changes[key] = text
    try:
        return DACSSettings.of(args.settings, **changes)
    except (TypeError, ValueError) as e:
        raise InputError(f"settings: {e}") from e


def write_batch(prefix: str, summary: dict, rows: list[dict]) -> list[str]:
    """``prefix.json`` (the summary with the rows) and ``prefix.csv`` (index,
    group, density), each written atomically."""
    atomic_write_json({**summary, "batch": rows}, prefix + ".json")
    lines = ["index,group,density"] + [f"{r['index']},{r['group']},{r['density']!r}" for r in rows]
    atomic_write_bytes(prefix + ".csv", ("\n".join(lines) + "\n").encode())
    return [prefix + ".json", prefix + ".csv"]


def select_command(args) -> None:
    progress = not args.quiet
    x = load_features(args.features, progress)
    n = x.shape[0]
    uncertainty = load_uncertainty(args.uncertainty, n) if args.uncertainty else None
    settings = settings_of(args)
    taken = load_indices(args.labeled, n) if args.labeled else np.empty(0, dtype=np.int64)
    if progress:
        print(f"selecting {args.budget} of {n:,} rows (d = {x.shape[1]})", file=sys.stderr)
    start = time.perf_counter()
    if args.session:
        session = LabelingSession(args.session, settings, seed=args.seed)
        batch, details = session.query(x, args.budget, uncertainty, repropose_pending=args.repropose_pending, return_details=True)
        settings, seed, labeled = session.settings, session.seed, len(session.labeled)
    else:
        mask = np.ones(n, dtype=bool)
        mask[taken] = False
        candidates = np.flatnonzero(mask)
        settings, seed, labeled = settings or DACSSettings(), 0 if args.seed is None else args.seed, taken.size
        if not 0 <= args.budget <= candidates.size:
            raise InputError(f"--budget must be in [0, {candidates.size}] (the rows not labeled), got {args.budget}")
        picked, details = DACS(settings, seed=seed).select(
            to_tensor(x[candidates], "features"), to_tensor(x[np.sort(taken)], "labeled"), args.budget,
            None if uncertainty is None else to_tensor(uncertainty[candidates], "uncertainty"), return_details=True,
        )
        batch = candidates[picked.numpy()]
        details["candidates"] = candidates
    position = {int(c): p for p, c in enumerate(np.asarray(details["candidates"]).tolist())}
    density, groups = np.asarray(details["density"]), np.asarray(details["groups"])
    rows = [{"index": int(i), "group": int(groups[position[int(i)]]), "density": float(density[position[int(i)]])} for i in batch]
    summary = {
        "features": os.path.abspath(args.features), "rows": n, "budget": args.budget, "labeled": int(labeled),
        "session": os.path.abspath(args.session) if args.session else None, "seed": seed, "settings": settings.to_dict(),
        "health": details["health"], "seconds": time.perf_counter() - start,
    }
    written = write_batch(args.out, summary, rows)
    if progress:
        print(f"picked {len(rows)} rows in {summary['seconds']:.2f} s: {', '.join(written)}", file=sys.stderr)


def existing_session(directory: str) -> LabelingSession:
    """The session in ``directory``; a mistyped directory is an error, not a new session."""
    if not os.path.exists(os.path.join(directory, SETTINGS_FILE)):
        raise InputError(f"{directory}: no session here (it has no {SETTINGS_FILE})")
    return LabelingSession(directory)


def update_command(args) -> None:
    session = existing_session(args.session)
    rows, labels = read_labels(args.labels)
    session.update(rows, labels)
    print(f"recorded {len(rows)} label(s); {len(session.pending)} row(s) still pending", file=sys.stderr)


def status_command(args) -> None:
    session = existing_session(args.session)
    state = session.state()
    print(json.dumps({
        "queries": len(state["queries"]), "labeled": len(state["labeled"]), "pending": state["pending"],
        "seed": session.seed, "settings": session.settings.to_dict(),
    }, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dacs_ext", description="Density-aware core-set selection on your own features.")
    commands = parser.add_subparsers(dest="command", required=True)
    select = commands.add_parser("select", help="pick a batch from a .npy of features")
    select.add_argument("features", help="float32/float64 .npy array [N, d], read memory-mapped")
    select.add_argument("--budget", type=int, required=True, help="rows to pick")
    given = select.add_mutually_exclusive_group()
    given.add_argument("--labeled", help="labeled row indices: .npy, .json list, or one per line (.txt, .csv)")
    given.add_argument("--session", help="a labels-later session directory (created if missing): the batch becomes pending there")
    select.add_argument("--uncertainty", help=".npy float [N]: DACS proposes expand x budget rows, the most uncertain are kept")
    select.add_argument("--settings", choices=sorted(NAMED_SETTINGS), help="named DACS settings (default: the paper's)")
    select.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change one DACS setting, e.g. buckets=50 (repeatable)")
    select.add_argument("--seed", type=int, help="seed of the LSH rotation (default 0; a session's recorded one)")
    select.add_argument("--repropose-pending", action="store_true", help="with --session: pending rows may be proposed again")
    select.add_argument("--out", default="batch", help="writes OUT.json and OUT.csv (index, group, density); default: batch")
    select.add_argument("--quiet", action="store_true", help="no progress on stderr")
    update = commands.add_parser("update", help="record labels in a session")
    update.add_argument("session", help="the session directory")
    update.add_argument("labels", help="CSV with the header index,label")
    status = commands.add_parser("status", help="what a session has proposed and recorded, as JSON")
    status.add_argument("session", help="the session directory")
    return parser


COMMANDS = {"select": select_command, "update": update_command, "status": status_command}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "repropose_pending", False) and not args.session:
        print("python -m dacs_ext: error: --repropose-pending needs --session", file=sys.stderr)
        return 2
    try:
        COMMANDS[args.command](args)
    except (InputError, SessionError, TypeError, ValueError) as e:
        print(f"python -m dacs_ext: error: {e}", file=sys.stderr)
        return 2
    return 0

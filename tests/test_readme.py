"""The docs hold: README.md and docs/*.md.

- Every code block marked runnable (the line right before its opening ```python
  fence is exactly ``<!-- runnable: NAME -->``) runs as written, in a fresh
  namespace, and does what it promises (``CHECKS``, keyed by NAME).
- Every ``python -m experiments ...`` command written there and in each
  experiments/results/**/README.md parses with the command line's own parser and
  names known tasks, presets and methods.
- Every repository path written in backticks exists.
- Every relative link of these files and of each experiments/results/**/README.md
  reaches its file (and its heading, for a link into a markdown file).
- README.md stays within 250 lines.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import io
import os
import re
import shlex

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = [README] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
RESULTS = os.path.join(ROOT, "experiments", "results")
RESULT_READMES = sorted(glob.glob(os.path.join(RESULTS, "**", "README.md"), recursive=True))
README_MAX_LINES = 250

MARKER = re.compile(r"<!-- runnable: ([A-Za-z0-9_.-]+) -->")
FENCE = re.compile(r"^```.*?^```[ \t]*$", flags=re.S | re.M)
PATH_PREFIXES = ("dacs_ext/", "experiments/", "tests/", "scripts/", "docs/", "examples/", "csrc/")
COMMAND = "python -m experiments"


def relative(path: str) -> str:
    return os.path.relpath(path, ROOT)


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


# Runnable blocks -------------------------------------------------------------------


def runnable_blocks(path: str) -> list[tuple[str, str, str]]:
    """(NAME, code, where) of every block of `path` marked runnable."""
    lines = read(path).splitlines()
    blocks = []
    for i, line in enumerate(lines):
        match = MARKER.fullmatch(line)
        if not match:
            continue
        where = f"{relative(path)}:{i + 1}"
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```python":
            raise AssertionError(f"{where}: the runnable marker {match.group(1)!r} is not right before a ```python fence")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise AssertionError(f"{where}: runnable block {match.group(1)!r} has no closing fence")
        blocks.append((match.group(1), "\n".join(lines[i + 2:end]) + "\n", where))
    return blocks


def collect_blocks() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for path in DOCS:
        for name, code, where in runnable_blocks(path):
            if name in found:
                raise AssertionError(f"runnable block name {name!r} at {where} is also used at {found[name][1]}")
            found[name] = (code, where)
    return found


BLOCKS = collect_blocks()


def check_quickstart(namespace: dict, output: str, margin) -> None:
    import torch

    picks, details = namespace["picks"], namespace["details"]
    assert picks.shape == (500,) and picks.dtype == torch.int64
    assert len(set(picks.tolist())) == 500, "picks are not distinct"
    assert 0 <= int(picks.min()) and int(picks.max()) < len(namespace["pool_z"])
    assert int(details["quotas"].sum()) == 500, "the quotas do not sum to the budget"
    assert output.startswith("torch.Size([500])")


def check_api(namespace: dict, output: str, margin) -> None:
    assert namespace["picks"].shape == (500,)
    assert namespace["centers"].shape == (1000,)
    assert namespace["dens"].shape == (180_000,)


def check_active_learning(namespace: dict, output: str, margin) -> None:
    lines = output.splitlines()
    assert [line.split()[0] for line in lines] == ["random", "coreset", "dacs", "least-confident"]
    assert [r["labeled"] for r in namespace["records"]] == [40, 80, 120]
    margin.above("accuracy", namespace["records"][-1]["accuracy"], 0.8, why="separable blobs; chance is 0.25")


def check_own_data(namespace: dict, output: str, margin) -> None:
    import numpy as np

    picks, session = namespace["picks"], namespace["session"]
    assert isinstance(picks, np.ndarray) and picks.dtype == np.int64 and len(set(picks.tolist())) == 200
    assert len(session.labeled) == 50 and len(session.pending) == 250
    assert not set(namespace["batch"].tolist()) & set(session.labeled.tolist())


# What each runnable block promises, by its NAME.
CHECKS = {
    "quickstart": check_quickstart,
    "api": check_api,
    "active-learning": check_active_learning,
    "own-data": check_own_data,
}
# Blocks whose verdict rests on a training run (tests/MARGINS.md).
LEARNED = {"active-learning"}


def test_every_promised_block_is_in_the_docs():
    missing = sorted(set(CHECKS) - set(BLOCKS))
    assert not missing, f"no runnable block named {missing} in README.md or docs/*.md"


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=[pytest.mark.learned] if name in LEARNED else []) for name in BLOCKS]
)
def test_runnable_block(name, capsys, margin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what a block writes lands outside the checkout
    code, where = BLOCKS[name]
    namespace = {"__name__": f"runnable_{name}"}
    exec(compile(code, where, "exec"), namespace)
    output = capsys.readouterr().out
    if name in CHECKS:
        CHECKS[name](namespace, output, margin)


# Commands --------------------------------------------------------------------------


def experiment_commands(path: str, prefix: str = COMMAND) -> list[tuple[str, str]]:
    """(command, where) for every `python -m experiments...` (or other ``prefix``) written in `path`:
    in code blocks and inline code, backslash-continued lines joined, cut at
    `&&`, `;` and `|`."""
    lines = read(path).splitlines()
    commands = []
    i = 0
    while i < len(lines):
        line, start = lines[i], lines[i].find(prefix)
        where = f"{relative(path)}:{i + 1}"
        if start < 0:
            i += 1
            continue
        if line[:start].count("`") % 2 == 1:  # inline code: up to its closing backtick
            end = line.find("`", start)
            command = line[start:end if end >= 0 else None]
        else:
            command = line[start:]
            while command.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command.rstrip()[:-1] + " " + lines[i].strip()
        for separator in ("&&", ";", " | "):
            command = command.split(separator)[0]
        commands.append((command.strip(), where))
        i += 1
    return commands


ALL_COMMANDS = [pair for path in DOCS + RESULT_READMES for pair in experiment_commands(path)]


def test_the_main_command_stays():
    main = (
        "bash scripts/setup.sh && python -m experiments run --task rmnist --methods random,coreset,dacs "
        "--trials 3 --preset cpu --out runs/rmnist-cpu --resume"
    )
    assert main in read(README)


@pytest.mark.parametrize("command, where", ALL_COMMANDS, ids=[where for _, where in ALL_COMMANDS])
def test_experiment_command_parses(command, where):
    from dacs_ext.al.methods import STRATEGIES
    from experiments.__main__ import build_parser
    from experiments.tasks import all_tasks

    words = shlex.split(command, comments=True)
    assert words[:2] == ["python", "-m"], f"{where}: {command!r}"
    module, args = words[2], words[3:]
    if module != "experiments":
        assert importlib.util.find_spec(module) is not None, f"{where}: no module {module!r} ({command!r})"
        return
    if not args:
        return  # the module named in prose, not a command line
    stderr, stdout = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            parsed = build_parser().parse_args(args)
    except SystemExit as exit:
        if exit.code == 0 and ("--help" in args or "-h" in args):
            return
        pytest.fail(f"{where}: {command!r} does not parse:\n{stderr.getvalue()}")
    tasks = all_tasks()
    task = getattr(parsed, "task", None)
    if task is not None:
        assert task in tasks, f"{where}: unknown task {task!r} (known: {sorted(tasks)})"
        preset = getattr(parsed, "preset", None)
        if preset is not None:
            assert preset in tasks[task].presets, f"{where}: task {task!r} has no preset {preset!r}"
    methods = getattr(parsed, "methods", None)
    if isinstance(methods, str):
        unknown = [m for m in methods.split(",") if m not in STRATEGIES]
        assert not unknown, f"{where}: unknown methods {unknown}"
    for replay in getattr(parsed, "replay", None) or []:
        assert replay.split(":")[0] in STRATEGIES, f"{where}: --replay {replay!r} names no method"


LIBRARY_COMMANDS = [pair for path in DOCS for pair in experiment_commands(path, "python -m dacs_ext ")]


@pytest.mark.parametrize("command, where", LIBRARY_COMMANDS, ids=[where for _, where in LIBRARY_COMMANDS])
def test_library_command_parses(command, where):
    from dacs_ext.cli import build_parser

    words = [w for w in shlex.split(command, comments=True) if not w.startswith("[")]
    if any(w.isupper() or "|" in w for w in words[3:]):
        return  # a synopsis (FEATURES.npy, [--labeled FILE | ...]), not a command to run
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        try:
            build_parser().parse_args(words[3:])
        except SystemExit:
            pytest.fail(f"{where}: {command!r} does not parse:\n{stderr.getvalue()}")


def test_readme_library_commands_run(tmp_path, monkeypatch, capsys):
    """The README's own-data block, then its `python -m dacs_ext` commands in
    order, in one folder: each exits 0 (the labels file an annotator would
    return is written from the session's pending rows)."""
    from dacs_ext import LabelingSession
    from dacs_ext.cli import main

    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS["own-data"][0], BLOCKS["own-data"][1], "exec"), {"__name__": "runnable_own_data"})
    commands = [c for c, _ in experiment_commands(README, "python -m dacs_ext ")]
    assert any(" select " in c for c in commands) and any(" update " in c for c in commands)
    for command in commands:
        args = shlex.split(command)[3:]
        if args[0] == "update":
            pending = LabelingSession(args[1]).pending[:10]
            (tmp_path / args[2]).write_text("index,label\n" + "".join(f"{i},dog\n" for i in pending))
        assert main(args) == 0, (command, capsys.readouterr().err)
        if args[0] == "select":
            budget = int(args[args.index("--budget") + 1])
            assert len((tmp_path / "batch.csv").read_text().splitlines()) == budget + 1


# Paths and links -------------------------------------------------------------------


def without_fences(text: str) -> str:
    return FENCE.sub("", text)


def backticked_paths(path: str) -> list[str]:
    """Single-word inline code that names a repository file or folder."""
    found = []
    for span in re.findall(r"`([^`]+)`", without_fences(read(path))):
        word = span.strip()
        if not word.startswith(PATH_PREFIXES) or any(c.isspace() for c in word):
            continue
        if any(c in word for c in "<>*{}|") or "..." in word:
            continue  # a pattern, not a path
        found.append(word.split("::")[0])
    return found


PATHS = [(relative(doc), p) for doc in DOCS for p in backticked_paths(doc)]


def test_docs_name_paths():
    # The check below must have something to check.
    assert len(PATHS) > 20


@pytest.mark.parametrize("doc, path", PATHS, ids=[f"{doc}:{p}" for doc, p in PATHS])
def test_backticked_path_exists(doc, path):
    skip_without_results(os.path.join(ROOT, path))
    assert os.path.exists(os.path.join(ROOT, path)), f"{doc} names `{path}`, which does not exist"


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: str) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for line in without_fences(read(path)).splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if not match:
            continue
        base = slug(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def links(path: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", without_fences(read(path)))


LINKS = [
    (relative(doc), target)
    for doc in DOCS + RESULT_READMES
    for target in links(doc)
    if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
]


def skip_without_results(path: str) -> None:
    # scripts/mutation_check.py tests a copy of the tree without the committed results.
    if not os.path.isdir(RESULTS) and os.path.normpath(path).startswith(RESULTS):
        pytest.skip("experiments/results is not in this copy of the tree")


def test_every_result_directory_has_a_readme():
    results = RESULTS
    skip_without_results(results)
    directories = [
        os.path.join(results, d) for d in os.listdir(results) if d != "analyses"
    ] + glob.glob(os.path.join(results, "analyses", "*"))
    missing = [relative(d) for d in directories if os.path.isdir(d) and not os.path.exists(os.path.join(d, "README.md"))]
    assert not missing, f"result directories without a README.md: {missing}"


@pytest.mark.parametrize("doc, target", LINKS, ids=[f"{doc}->{t}" for doc, t in LINKS])
def test_link_target_exists(doc, target):
    file, _, anchor = target.partition("#")
    path = os.path.normpath(os.path.join(ROOT, os.path.dirname(doc), file)) if file else os.path.join(ROOT, doc)
    skip_without_results(path)
    assert os.path.exists(path), f"{doc} links to {target}, but {relative(path)} does not exist"
    if anchor and path.endswith(".md"):
        assert anchor in anchors(path), f"{doc} links to {target}, but {relative(path)} has no heading #{anchor}"


def test_readme_is_short():
    with open(README, encoding="utf-8") as f:
        count = sum(1 for _ in f)
    assert count <= README_MAX_LINES, f"README.md has {count} lines; at most {README_MAX_LINES}"

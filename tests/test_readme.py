"""The README's API example runs as written."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_example_runs():
    text = open(os.path.join(ROOT, "README.md")).read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python example"
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["picks"].shape == (500,)
    assert namespace["centers"].shape == (1000,)
    assert namespace["dens"].shape == (180_000,)


@pytest.mark.learned
def test_readme_active_learning_example_runs(capsys, margin):
    text = open(os.path.join(ROOT, "README.md")).read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2, "README.md has no active-learning example"
    namespace = {}
    exec(compile(blocks[1], "README.md", "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["random", "coreset", "dacs", "least-confident"]
    assert [r["labeled"] for r in namespace["records"]] == [40, 80, 120]
    margin.above("accuracy", namespace["records"][-1]["accuracy"], 0.8, why="separable blobs; chance is 0.25")

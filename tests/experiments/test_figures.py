"""The paper's analyses as commands (``experiments/analyses/figures.py``) on the smoke
preset: every number they print comes from the run's records and is checked
here against an independent count; the measures against brute force."""

import json
import math

import pytest
import torch

from dacs_ext.al import make_strategy
from dacs_ext.al.strategies import PoolState
from experiments.analyses import figures
from experiments.analyses.replay import Replay
from experiments.__main__ import main
from experiments.report import collect
from experiments.runner import RunError
from test_experiments import data_dir  # noqa: F401  (the module's learnable MNIST-format folder)

POOL = 600  # the smoke preset's 200 training images, 3 copies each


def analyze(*args):
    return main(["analyze", *args])


@pytest.fixture(scope="module")
def fig3_dir(tmp_path_factory, data_dir):  # noqa: F811
    out = tmp_path_factory.mktemp("fig3")
    assert analyze("fig3", "--out", str(out), "--preset", "smoke", "--budget", "10", "--trials", "2",
                   "--methods", "random,coreset,dacs,dacs-recommended", "--data-dir", data_dir, "--no-progress") == 0
    return out


def test_loop_options_set_the_protocol(tmp_path, data_dir):  # noqa: F811
    out = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--trials", "1", "--methods", "random", "--loop-budget", "7", "--loop-measurements", "2",
                 "--out", str(out), "--data-dir", data_dir, "--no-progress"]) == 0
    config, runs = collect(str(out))
    assert config["protocol"]["loop"] == dict(initial=20, budget=7, measurements=2, warm_start=True)
    assert [r["labeled"] for r in runs["random"][0]] == [20, 27]
    assert main(["run", "--preset", "smoke", "--methods", "random", "--loop-budget", "0", "--out", str(tmp_path / "bad"),
                 "--data-dir", data_dir]) == 2


def test_fig3_reports_the_records(fig3_dir, capsys):
    results = json.loads((fig3_dir / "fig3.json").read_text())
    config, runs = collect(str(fig3_dir / "run"))
    assert config["protocol"]["loop"]["budget"] == 10 and set(runs) == {"random", "coreset", "dacs", "dacs-recommended"}
    for method, trials in runs.items():
        counts = [r["labeled"] for r in trials[0]]
        assert counts == [20, 30, 40]
        for cycle, row in enumerate(results["accuracy"][method]):
            values = [100 * t[cycle]["accuracy"] for t in trials]
            assert row["mean"] == pytest.approx(sum(values) / len(values))
        # copies, counted here with sets: pool row i is image i % 200
        for cycle in range(3):
            expected = []
            for t in trials:
                order = t[0]["initial"] + [i for r in t[:cycle] for i in r["acquired"]]  # labeled when cycle trained
                assert len(order) == t[cycle]["labeled"]
                expected.append(len(order) - len({i % (POOL // 3) for i in order}))
            assert results["copies"][method][cycle] == pytest.approx(sum(expected) / len(expected))
    assert set(results["why"]) == {"dacs", "dacs-recommended"}  # DACS alone, its first pick replayed exactly
    why = results["why"]["dacs"]
    assert sum(why["group_sizes"]) == POOL - 20 and sum(why["quotas"]) == 10
    assert 0 <= why["purity_aux"] <= 1 and 0 <= why["purity_features"] <= 1
    assert (fig3_dir / "fig3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (fig3_dir / "run" / "results.md").exists()
    assert "| DACS, recommended |" in (fig3_dir / "fig3.md").read_text()


def test_trails_counts_gaps_beyond_one_std():
    rows = lambda *ms: [dict(labeled=10 * (i + 1), mean=m, std=s) for i, (m, s) in enumerate(ms)]  # noqa: E731
    table = {"coreset": rows((80, 1), (82, 0.5), (84, 2), (85, 0)), "dacs": rows((78.9, 0.5), (81.4, 0.4), (81.9, 1), (85, 0))}
    # gaps 1.1 > 1 (trails), 0.6 > 0.5 (trails), 2.1 > 2 (trails), 0 (not)
    assert figures.trails(table, "dacs") == [10, 20, 30]
    table["dacs"][0]["std"] = 1.2  # 1.1 is within the larger std
    assert figures.trails(table, "dacs") == [20, 30]


def test_fig5_measures_against_brute_force(fig3_dir):
    replay = Replay(str(fig3_dir / "run"), "coreset", 1)
    models = dict(replay.models())
    assert set(models) == {0, 1, 2}
    assert replay.check(models[2], 2) == replay.records[2]["accuracy"]
    measured = figures.acquired_quality(models[1], replay, 1)
    rows = replay.acquired(1)
    assert rows.tolist() == replay.records[1]["acquired"]
    model = models[1].eval()
    with torch.no_grad():
        out = model(replay.pool_x[rows])
    information, pairs = 0.0, []
    for i, row in enumerate(rows.tolist()):
        p = torch.softmax(out.logits[i].double(), 0)
        information += -math.log(float(p[replay.pool_y[row]]))
        for j in range(len(rows)):
            if j != i:
                a, b = out.features[i].double(), out.features[j].double()
                pairs.append(1 - float(a @ b / (a.norm() * b.norm())))
    assert measured["information"] == pytest.approx(information / len(rows) / math.log(10), rel=1e-5)
    assert measured["diversity"] == pytest.approx(sum(pairs) / len(pairs), rel=1e-6)
    replay.records[2]["accuracy"] += 0.01
    with pytest.raises(RunError, match="training is not reproducible"):
        replay.check(models[2], 2)


def test_fig5_end_to_end(fig3_dir, tmp_path):
    out = tmp_path / "fig5"
    assert analyze("fig5", str(fig3_dir / "run"), "--out", str(out), "--methods", "random,dacs", "--trials", "1") == 0
    results = json.loads((out / "fig5.json").read_text())
    assert [row["labeled"] for row in results["table"]["dacs"]] == [20, 30]  # the cycles that acquired
    assert all(0 < row["diversity"]["mean"] <= 2 and row["information"]["mean"] > 0 for row in results["table"]["random"])
    assert (out / "fig5.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert analyze("fig5", str(fig3_dir / "run"), "--out", str(out), "--methods", "learnloss") == 2  # not in the run


def test_fig1_end_to_end_and_resume(tmp_path, data_dir):  # noqa: F811
    out = tmp_path / "fig1"
    args = ("fig1", "--out", str(out), "--preset", "smoke", "--labels", "90", "--data-dir", data_dir, "--no-progress")
    assert analyze(*args) == 0
    results = json.loads((out / "fig1.json").read_text())
    config, runs = collect(str(out / "run"))
    assert config["protocol"]["loop"]["initial"] == 90 and [r["labeled"] for r in runs["random"][0]] == [90]
    assert results["rows"] == POOL - 90
    assert (out / "run" / "results.md").exists()  # the run behind the figure has its table
    for key in ("exact~entropy", "exact~loss", "lsh~exact"):
        assert -1 <= results["correlations"][key]["spearman"] <= 1 and -1 <= results["correlations"][key]["pearson"] <= 1
    assert 0 <= results["group_agreement"] <= 1
    assert (out / "fig1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert analyze(*args) == 0  # resumes the finished run
    again = json.loads((out / "fig1.json").read_text())
    assert again["correlations"] == results["correlations"]
    assert analyze("fig1", "--out", str(tmp_path / "d"), "--task", "davis", "--preset", "smoke", "--data-dir", data_dir) == 2


def test_pearson_against_numpy(gen):
    import numpy as np

    a, b = torch.randn(50, generator=gen), torch.randn(50, generator=gen)
    assert figures.pearson(a, a + b) == pytest.approx(float(np.corrcoef(a.numpy(), (a + b).numpy())[0, 1]), rel=1e-9)


@pytest.mark.parametrize("name, region", [("kcenter-densest", 2), ("kcenter-sparsest", 0)])
def test_density_group_kcenter_picks_inside_its_group(gen, name, region):
    import dacs_ext

    z = torch.nn.functional.normalize(torch.randn(3000, 8, generator=gen), dim=1)
    labeled = torch.zeros(3000, dtype=torch.bool)
    labeled[:50] = True
    strategy = make_strategy(name)
    picks = strategy.select(PoolState(labeled, {"aux_features": z}, torch.Generator().manual_seed(1)), 40)
    assert picks.unique().numel() == 40 and not labeled[picks].any()
    group = dacs_ext.density_groups(dacs_ext.density(z[50:], 100, generator=torch.Generator().manual_seed(1)), 3)
    assert (group[picks - 50] == region).all()
    # A budget beyond the group: the middle group joins it, the far one does not.
    size = int((group == region).sum())
    picks = strategy.select(PoolState(labeled, {"aux_features": z}, torch.Generator().manual_seed(1)), size + 5)
    assert picks.unique().numel() == size + 5 and (group[picks - 50] != 2 - region).all()


def test_fig4_end_to_end(tmp_path, data_dir):  # noqa: F811
    out = tmp_path / "fig4"
    assert analyze("fig4", "--out", str(out), "--preset", "smoke", "--trials", "1", "--data-dir", data_dir, "--no-progress") == 0
    results = json.loads((out / "fig4.json").read_text())
    config, runs = collect(str(out / "run"))
    assert list(runs) == list(figures.FIG4_METHODS)
    for method, trials in runs.items():
        assert results["mean_accuracy"][method]["mean"] == pytest.approx(100 * sum(r["accuracy"] for r in trials[0]) / 3)
    assert "| k-center, sparsest group |" in (out / "fig4.md").read_text()

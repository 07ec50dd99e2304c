"""The Davis task: the DeepDTA-layout loader (good, corrupt and malicious
folders), the encoding, DeepDTA, the concordance index, the regression
strategies and the smoke preset end to end."""

import itertools
import json
import os
import pickle

import numpy as np
import pytest
import torch

from dacs_ext.al import AuxModel, LoopConfig, TrainConfig, UnreliableBF16Error, make_strategy, run_trial
from dacs_ext.al.metrics import concordance_index
from dacs_ext.al.model import AUX_TARGETS
from experiments.tasks import davis, safe_pickle
from experiments.__main__ import main
from experiments.runner import RunError, build_config
from test_experiments import kill_then_resume, records_of

REAL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "..", "shared", "data", "davis")
REGRESSION_METHODS = ("random", "coreset", "dacs", "learnloss", "learnloss-dacs")


def write_folder(directory, *, drugs=5, proteins=6, seed=0, y=None, train=None, test=None, smiles=None, sequences=None):
    """A DeepDTA-layout folder: random SMILES and sequences over DeepDTA's
    alphabets, Kd in nM with about a fifth unmeasured, five training folds."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(directory, "folds"), exist_ok=True)
    smiles = smiles or {f"cid{i}": "".join(rng.choice(list("CNO()=c1"), rng.integers(5, 30))) for i in range(drugs)}
    sequences = sequences or {f"kinase{j}": "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), rng.integers(20, 150))) for j in range(proteins)}
    if y is None:
        # Additive in pKd (a drug effect plus a protein effect): learnable from the sequences.
        y = 10 ** (rng.uniform(0, 2, (len(smiles), 1)) + rng.uniform(0, 2, (1, len(sequences))))
        y[rng.random(y.shape) < 0.2] = np.nan
    measured = int((~np.isnan(y)).sum())
    if train is None:
        order = rng.permutation(measured).tolist()
        test, rest = order[: measured // 6], order[measured // 6 :]
        train = [rest[k::5] for k in range(5)]
    with open(os.path.join(directory, "ligands_can.txt"), "w") as f:
        json.dump(smiles, f)
    with open(os.path.join(directory, "proteins.txt"), "w") as f:
        json.dump(sequences, f)
    with open(os.path.join(directory, "Y"), "wb") as f:
        pickle.dump(y, f, protocol=2)
    with open(os.path.join(directory, "folds", "train_fold_setting1.txt"), "w") as f:
        json.dump(train, f)
    with open(os.path.join(directory, "folds", "test_fold_setting1.txt"), "w") as f:
        json.dump(test, f)
    return y


def test_loader_reads_pairs_in_row_major_order_with_pkd(tmp_path):
    y = write_folder(str(tmp_path), seed=1)
    data = davis.load_davis(str(tmp_path))
    expected = [(i, j, -np.log10(y[i, j] / 1e9)) for i in range(y.shape[0]) for j in range(y.shape[1]) if not np.isnan(y[i, j])]
    assert data.pairs.tolist() == [[i, j] for i, j, _ in expected]
    np.testing.assert_allclose(data.affinity.numpy(), [v for _, _, v in expected], rtol=1e-12)
    raw = davis.load_davis(str(tmp_path), affinity="none")
    np.testing.assert_allclose(raw.affinity.numpy(), [y[i, j] for i, j, _ in expected], rtol=0)
    assert data.drug_ids == [f"cid{i}" for i in range(5)] and data.protein_ids == [f"kinase{j}" for j in range(6)]
    assert sum(len(f) for f in data.train_folds) + len(data.test_fold) == len(expected)


def test_a_malicious_y_runs_nothing(tmp_path):
    write_folder(str(tmp_path))
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(tmp_path / "Y", "wb") as f:
        pickle.dump(Payload(), f)
    with pytest.raises(safe_pickle.RefusedGlobal, match=r"Y: the pickle asks for (posix|os)\.system"):
        davis.load_davis(str(tmp_path))
    assert not marker.exists()
    # The same file through pickle.load would have run the command: the test's payload is real.
    with open(tmp_path / "Y", "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_a_pickle_of_another_object_is_refused(tmp_path):
    write_folder(str(tmp_path))
    with open(tmp_path / "Y", "wb") as f:
        pickle.dump({"y": torch.zeros(2)}, f)
    with pytest.raises(safe_pickle.RefusedGlobal, match="torch"):
        davis.load_davis(str(tmp_path))


@pytest.mark.parametrize(
    "breaking, message",
    [
        (lambda d: os.remove(d / "proteins.txt"), "proteins.txt: missing"),
        (lambda d: os.remove(d / "Y"), "Y: missing"),
        (lambda d: os.remove(d / "folds" / "test_fold_setting1.txt"), "test_fold_setting1.txt: missing"),
        (lambda d: (d / "ligands_can.txt").write_text("{not json"), "ligands_can.txt: not valid JSON"),
        (lambda d: (d / "ligands_can.txt").write_text('{"a": "CC", "a": "CN"}'), "appear more than once"),
        (lambda d: (d / "proteins.txt").write_text('["AC"]'), "expected a non-empty JSON object"),
        (lambda d: (d / "Y").write_bytes(b"not a pickle"), "Y: not a readable pickle"),
        (lambda d: (d / "folds" / "test_fold_setting1.txt").write_text("[0, 10000]"), "index 10000, outside the"),
        (lambda d: (d / "folds" / "test_fold_setting1.txt").write_text("[-1]"), "index -1"),
        (lambda d: (d / "folds" / "test_fold_setting1.txt").write_text('[0, "1"]'), "must be a list of integers"),
        (lambda d: (d / "folds" / "test_fold_setting1.txt").write_text("[0, 0]"), "lists a pair twice"),
        (lambda d: (d / "folds" / "train_fold_setting1.txt").write_text("{}"), "expected a JSON list of folds"),
    ],
)
def test_corrupt_folders_fail_clearly(tmp_path, breaking, message):
    write_folder(str(tmp_path))
    breaking(tmp_path)
    with pytest.raises((davis.DataError, FileNotFoundError, ValueError), match=message):
        davis.load_davis(str(tmp_path))


def test_shapes_that_disagree_fail_clearly(tmp_path):
    write_folder(str(tmp_path), y=np.ones((4, 6)))
    with pytest.raises(davis.DataError, match=r"shape \(4, 6\) disagrees with 5 drugs"):
        davis.load_davis(str(tmp_path))
    write_folder(str(tmp_path), y=np.ones((5, 7)))
    with pytest.raises(davis.DataError, match=r"x 6 proteins"):
        davis.load_davis(str(tmp_path))


def test_pkd_needs_positive_kd(tmp_path):
    y = np.ones((5, 6))
    y[2, 3] = 0.0
    write_folder(str(tmp_path), y=y)
    with pytest.raises(davis.DataError, match="Kd must be > 0"):
        davis.load_davis(str(tmp_path))
    assert davis.load_davis(str(tmp_path), affinity="none").affinity.min() == 0
    with pytest.raises(ValueError, match="affinity must be one of"):
        davis.load_davis(str(tmp_path), affinity="log")


def test_encoding_truncates_pads_and_names_unknown_characters():
    codes = davis.encode(["CC(=O)", "N" * 10], ["a", "b"], davis.SMILES_ALPHABET, 8, "SMILES")
    table = {c: i + 1 for i, c in enumerate(davis.SMILES_ALPHABET)}
    assert codes.tolist() == [[table[c] for c in "CC(=O)"] + [0, 0], [table["N"]] * 8]
    assert len(davis.SMILES_ALPHABET) == len(set(davis.SMILES_ALPHABET)) == 64
    assert len(davis.PROTEIN_ALPHABET) == len(set(davis.PROTEIN_ALPHABET)) == 25 and "J" not in davis.PROTEIN_ALPHABET
    with pytest.raises(davis.DataError, match=r"sequence of 'P42' has character\(s\) 'Jx'"):
        davis.encode(["ACxJ"], ["P42"], davis.PROTEIN_ALPHABET, 10, "sequence")


@pytest.mark.skipif(not os.path.isdir(REAL), reason="../shared/data/davis is not beside the project")
def test_the_real_davis_folder():
    data = davis.load_davis(REAL)
    assert len(data.drug_ids) == 68 and len(data.protein_ids) == 442 and data.pairs.shape == (30056, 2)
    assert [len(f) for f in data.train_folds] == [5010, 5009, 5009, 5009, 5009] and len(data.test_fold) == 5010
    assert 5.0 <= float(data.affinity.min()) and float(data.affinity.max()) < 11  # pKd; 10,000 nM is Davis's floor
    pool_x, pool_y, test_x, test_y, inputs = davis.load(REAL, davis.PRESETS["paper"])
    assert pool_x.shape == (20037, 2) and test_x.shape == (5010, 2) and pool_y.dtype == torch.float32
    assert inputs["drugs"].shape == (68, 85) and inputs["proteins"].shape == (442, 1200)
    # No pair is both in the pool and in the test set.
    pool_pairs = {tuple(p) for p in pool_x.tolist()}
    assert not pool_pairs & {tuple(p) for p in test_x.tolist()}


def test_deepdta_shapes_taps_and_dedupe(gen):
    drugs = torch.randint(1, 65, (4, 20), generator=gen)
    proteins = torch.randint(1, 26, (5, 40), generator=gen)
    model = davis.DeepDTA(drugs, proteins, filters=4, hidden=(16, 12, 8)).eval()
    pairs = torch.stack([torch.randint(0, 4, (30,), generator=gen), torch.randint(0, 5, (30,), generator=gen)], 1)
    out = model(pairs)
    assert out.features.shape == (30, 8)
    assert [t.shape[1] for t in out.taps] == list(model.tap_channels) == [12, 12, 16, 12, 8]
    model.dedupe = False
    torch.testing.assert_close(model(pairs).features, out.features, rtol=1e-5, atol=1e-6)
    # The buffers are not in the state dict: checkpoints hold weights only.
    assert not {"drugs", "proteins"} & set(model.state_dict())
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        model(pairs[:, 0])
    full = davis.make_model(davis.PRESETS["paper"], drugs=torch.ones(3, 85, dtype=torch.int64), proteins=torch.ones(2, 1200, dtype=torch.int64))
    assert full.kind == "regression" and full.feature_dim == 512 and full.backbone.tap_channels == (96, 96, 1024, 1024, 512)


def brute_force_ci(y, p):
    concordant = pairs = 0.0
    for i, j in itertools.permutations(range(len(y)), 2):
        if y[i] > y[j]:
            pairs += 1
            concordant += 1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0
    return concordant / pairs


@pytest.mark.parametrize("n", [2, 7, 40, 113])
def test_concordance_index_against_brute_force(gen, n):
    # Integer values, so both y and the predictions hold ties.
    y = torch.randint(0, 5, (n,), generator=gen).double()
    y[0], y[1] = 0, 1  # at least one comparable pair
    p = torch.randint(0, 4, (n,), generator=gen).float()
    assert concordance_index(y, p, block=3) == pytest.approx(brute_force_ci(y.tolist(), p.tolist()), abs=1e-12)
    assert concordance_index(y, y) == 1.0 and concordance_index(y, -y) == 0.0


def test_concordance_index_bad_input():
    with pytest.raises(ValueError, match="two different true values"):
        concordance_index(torch.ones(4), torch.arange(4.0))
    with pytest.raises(ValueError, match="same length"):
        concordance_index(torch.ones(4), torch.ones(3))


def test_classification_only_methods_refuse_regression_before_running(tmp_path):
    for method in ("nce", "nce-dacs", "cdal"):
        with pytest.raises(RunError, match=f"{method} work on classification tasks only; task davis is regression"):
            build_config("davis", ["random", method], 1, "smoke", 0, str(tmp_path))
        with pytest.raises(ValueError, match="works on classification tasks only, not on a regression task"):
            make_strategy(method).check_kind("regression")
    assert main(["run", "--task", "davis", "--methods", "random,cdal", "--preset", "smoke", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    directory = tmp_path_factory.mktemp("davis")
    write_folder(str(directory), drugs=12, proteins=40, seed=3)
    return str(directory)


@pytest.mark.parametrize("method", REGRESSION_METHODS)
def test_regression_strategies_pick_valid_indices(folder, method):
    pool_x, pool_y, test_x, test_y, inputs = davis.load(folder, davis.PRESETS["smoke"])
    records = run_trial(
        make_strategy(method), lambda: davis.make_model(davis.PRESETS["smoke"], **inputs), pool_x, pool_y, test_x, test_y,
        LoopConfig(20, 15, 3), TrainConfig(optimizer="adam", lr=0.001, epochs=2, batch_size=16, weight_decay=0.0, lr_drop_epoch=2, aux_stop_epoch=1),
        seed=5,
    )
    labeled = records[0]["initial"] + [i for r in records for i in r["acquired"]]
    assert [len(r["acquired"]) for r in records] == [15, 15, 0]
    assert len(set(labeled)) == len(labeled) == 50 and all(0 <= i < len(pool_x) for i in labeled)
    for r in records:
        assert r["mse"] > 0 and 0 <= r["ci"] <= 1 and "accuracy" not in r
        # The targets were standardised on this cycle's labeled set.
        y = pool_y[labeled[: r["labeled"]]].double().numpy()
        assert r["targets"] == dict(mean=pytest.approx(y.mean(), rel=1e-6), std=pytest.approx(y.std(), rel=1e-6))
    health = [r.get("notes", {}).get("dacs_health") for r in records[:-1]]
    assert all(h is not None for h in health) == ("dacs" in method)


@pytest.mark.learned
@pytest.mark.parametrize("bf16", [False, True])
def test_regression_training_lowers_the_test_error(folder, bf16, monkeypatch, training_seed, margin):
    pool_x, pool_y, test_x, test_y, inputs = davis.load(folder, davis.PRESETS["smoke"])
    autocast = []
    real = torch.autocast

    def watched(*args, **kwargs):
        autocast.append(kwargs.get("enabled", True) and kwargs.get("dtype") == torch.bfloat16)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "autocast", watched)
    trial = lambda: run_trial(  # noqa: E731
        make_strategy("random"), lambda: davis.make_model(davis.PRESETS["smoke"], **inputs), pool_x, pool_y, test_x, test_y,
        LoopConfig(60, 60, 2),
        TrainConfig(optimizer="adam", lr=0.003, epochs=30, batch_size=16, weight_decay=0.0, lr_drop_epoch=30, aux_stop_epoch=20, bf16=bf16),
        seed=training_seed,
    )
    try:
        records = trial()
    except UnreliableBF16Error as error:
        # oneDNN's bf16 Conv1d on Intel AMX CPUs miscomputes the smoke DeepDTA
        # (70% off float32, torch 2.11-2.13; tests/al/test_training.py checks the
        # refusal). The workaround the refusal names must then train.
        assert bf16 and "torch.backends.mkldnn.enabled = False" in str(error), error
        monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
        records = trial()
    variance = float(((test_y - pool_y.mean()) ** 2).mean())
    margin.below("test MSE / variance", records[-1]["mse"] / variance, 0.8)
    assert autocast and all(a == bf16 for a in autocast)  # every training step, and only under bf16


def test_smoke_preset_end_to_end_and_resume_after_a_kill(tmp_path, folder):
    args = ["run", "--task", "davis", "--preset", "smoke", "--methods", ",".join(REGRESSION_METHODS), "--trials", "1", "--data-dir", folder, "--no-progress"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*args, "--out", str(whole)]) == 0
    table = (whole / "results.md").read_text()
    assert "Test mean squared error (lower is better)" in table and "Test concordance index" in table
    for title in ("Random", "Core-set", "DACS", "LearnLoss", "LearnLoss + DACS"):
        assert f"| {title} |" in table
    assert (whole / "mse.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # SIGKILL right after LearnLoss + DACS saved its second cycle (dropout, Adam and a
    # head in the model state), then resumed: the same records as the whole run.
    resumed = kill_then_resume(args, cut, REGRESSION_METHODS, "learnloss-dacs", 2)
    assert resumed == {method: records_of(str(whole), method, 0) for method in REGRESSION_METHODS}


def test_the_regression_heads_learn_standardised_targets(gen):
    # Main head: mean + std * (w.f + b); auxiliary head: (y - mean) / std, or its quantile bin.
    f, y = torch.randn(50, 6, generator=gen), 5 + 2 * torch.rand(50, generator=gen)
    y[:20] = 5.0  # ties, as Davis's 10,000 nM floor
    mean, std = float(y.double().mean()), float(y.double().std(unbiased=False))
    for aux_target in AUX_TARGETS:
        model = AuxModel(torch.nn.Identity(), 6, 1, aux_dim=4, kind="regression", aux_target=aux_target)
        model.fit_targets(y)
        out = model(f)
        linear = f @ model.classifier.weight.T.squeeze(1) + model.classifier.bias
        torch.testing.assert_close(out.logits, mean + std * linear, rtol=1e-5, atol=1e-5)
        assert model.target_statistics()["mean"] == pytest.approx(mean) and model.target_statistics()["std"] == pytest.approx(std)
        z = model.aux.project(f)
        if aux_target in ("centered", "bins"):  # batch-normalised (training mode: the batch's statistics)
            z = (z - z.mean(0)) / (z.var(0, unbiased=False) + 1e-5).sqrt()
        torch.testing.assert_close(out.aux_features, z / z.norm(dim=1, keepdim=True), rtol=1e-5, atol=1e-5)
        if aux_target == "bins":
            edges = np.unique(np.quantile(y.double().numpy(), np.arange(1, 10) / 10))
            assert model.target_statistics()["bin_edges"] == pytest.approx(edges.tolist())
            bins = torch.from_numpy(np.searchsorted(edges, y.numpy(), side="right"))
            torch.testing.assert_close(model.aux_loss(out.aux_logits, y), torch.nn.functional.cross_entropy(out.aux_logits, bins))
            assert int(bins[:20].unique().numel()) == 1 and int(bins.max()) == len(edges)
        else:
            target = (y - mean) / std if aux_target != "raw" else y
            torch.testing.assert_close(model.aux_loss(out.aux_logits, y), ((out.aux_logits.squeeze(1) - target) ** 2).mean())
    with pytest.raises(ValueError, match="aux_target must be one of"):
        AuxModel(torch.nn.Identity(), 6, 1, kind="regression", aux_target="scaled")


def test_the_classification_heads_are_unchanged(gen):
    # What the committed classification results trained: logits = scale * cos(normalize(W^T f), w_c),
    # cross-entropy on the labels, no batch normalisation, no target statistics.
    f, y = torch.randn(30, 8, generator=gen), torch.randint(0, 3, (30,), generator=gen)
    model = AuxModel(torch.nn.Identity(), 8, 3, aux_dim=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert sorted(before) == ["aux.project.weight", "aux.scale", "aux.weight", "classifier.bias", "classifier.weight"]
    model.fit_targets(y.float())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and model.target_statistics() == {}
    out = model(f)
    z = f @ model.aux.project.weight.T
    z = z / z.norm(dim=1, keepdim=True)
    w = model.aux.weight / model.aux.weight.norm(dim=1, keepdim=True)
    torch.testing.assert_close(out.aux_features, z)
    torch.testing.assert_close(out.aux_logits, 10.0 * z @ w.T)
    torch.testing.assert_close(out.logits, f @ model.classifier.weight.T + model.classifier.bias)
    torch.testing.assert_close(model.aux_loss(out.aux_logits, y), torch.nn.functional.cross_entropy(10.0 * z @ w.T, y))


def test_the_affinity_transform_on_the_command_line(tmp_path):
    # A DeepDTA-layout folder whose values are already affinities, one of them 0.
    y = write_folder(str(tmp_path / "scores"), drugs=8, proteins=30, seed=4)
    y = np.where(np.isnan(y), np.nan, np.log10(y))
    y[np.unravel_index(np.nanargmin(y), y.shape)] = 0.0
    with open(tmp_path / "scores" / "Y", "wb") as f:
        pickle.dump(y, f, protocol=2)
    args = ["run", "--task", "davis", "--preset", "smoke", "--methods", "random", "--trials", "1", "--data-dir", str(tmp_path / "scores"), "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "pkd")]) == 2  # -log10 of a 0 score
    assert main([*args, "--out", str(tmp_path / "raw"), "--affinity", "none"]) == 0
    config = json.loads((tmp_path / "raw" / "config.json").read_text())
    assert config["protocol"]["affinity"] == "none"
    measured = y[~np.isnan(y)]
    first = records_of(str(tmp_path / "raw"), "random", 0)[0]
    assert min(measured) <= first["targets"]["mean"] <= max(measured) and first["targets"]["mean"] < 4.5  # the values, not pKd
    assert main([*args, "--out", str(tmp_path / "raw"), "--affinity", "pkd", "--resume"]) == 2
    assert main([*args, "--out", str(tmp_path / "raw"), "--affinity", "none", "--resume"]) == 0
    assert main([*args, "--out", str(tmp_path / "raw"), "--resume"]) == 2  # the default, pkd, differs from the run's
    with pytest.raises(RunError, match="--affinity: task rmnist has no affinity transform"):
        build_config("rmnist", ["random"], 1, "smoke", 0, str(tmp_path), affinity="none")


def test_regression_model_checks_its_arguments():
    with pytest.raises(ValueError, match="num_classes must be 1"):
        AuxModel(torch.nn.Identity(), 4, 3, kind="regression")
    with pytest.raises(ValueError, match="kind must be one of"):
        AuxModel(torch.nn.Identity(), 4, 3, kind="ranking")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainConfig(optimizer="rmsprop")

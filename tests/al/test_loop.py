"""The resumable loop: its guard, its seeds, and resuming from whatever a crash
left on disk, with the crash placed deterministically."""

import os

import pytest
import torch

import dacs_ext.al.loop
from dacs_ext.al import STRATEGIES, LoopConfig, Random, Strategy, TrainConfig, make_strategy, run_trial
from dacs_ext.files import read_jsonl
from dacs_ext.al.loop import CHECKPOINT, CYCLES, initial_labels, labeled_order

from helpers import blobs, small_model, without_times


def _trial(directory, gen_seed=0, method="dacs", warm_start=False, on_cycle=None):
    gen = torch.Generator().manual_seed(gen_seed)
    pool_x, pool_y = blobs(900, gen=gen)
    test_x, test_y = blobs(300, gen=gen)
    loop = LoopConfig(initial=20, budget=30, measurements=4, warm_start=warm_start)
    train = TrainConfig(epochs=6, batch_size=16, lr_drop_epoch=4, aux_stop_epoch=3)
    strategy = make_strategy(method, buckets=10) if method == "dacs" else make_strategy(method)
    return run_trial(strategy, small_model, pool_x, pool_y, test_x, test_y, loop, train, seed=7, directory=directory, on_cycle=on_cycle)


class Killed(Exception):
    pass


def _stop_after(cycles):
    def on_cycle(record):
        if record["cycle"] + 1 == cycles:
            raise Killed

    return on_cycle


@pytest.mark.parametrize("method", sorted(STRATEGIES))
@pytest.mark.parametrize("warm_start", [False, True])
def test_resume_after_cycle_2_equals_an_uninterrupted_run(tmp_path, method, warm_start):
    whole = _trial(str(tmp_path / "whole"), method=method, warm_start=warm_start)
    assert [r["labeled"] for r in whole] == [20, 50, 80, 110]
    with pytest.raises(Killed):
        _trial(str(tmp_path / "cut"), method=method, warm_start=warm_start, on_cycle=_stop_after(2))
    assert len(read_jsonl(str(tmp_path / "cut" / CYCLES))) == 2
    resumed = _trial(str(tmp_path / "cut"), method=method, warm_start=warm_start)
    assert without_times(resumed) == without_times(whole)
    assert without_times(read_jsonl(str(tmp_path / "cut" / CYCLES))) == without_times(whole)
    first = torch.load(str(tmp_path / "whole" / CHECKPOINT), weights_only=True)
    second = torch.load(str(tmp_path / "cut" / CHECKPOINT), weights_only=True)
    assert torch.equal(first["labeled"], second["labeled"]) and first["labeled"].numel() == 110
    assert torch.unique(first["labeled"]).numel() == 110
    assert not [f for f in os.listdir(tmp_path / "cut") if f.endswith(".tmp")]


def test_methods_of_a_trial_share_the_initial_set_and_first_model(tmp_path):
    runs = {m: _trial(None, method=m) for m in sorted(STRATEGIES)}
    assert len({tuple(runs[m][0]["initial"]) for m in runs}) == 1
    # Same L0, same initialisation, same batches: the same first model among the
    # methods that train the same model (LearnLoss's add a head, NCE-Net's
    # replace the classifier, BALD's train with dropout before it).
    by_model = {}
    for m in runs:
        strategy = make_strategy(m)
        kind = (bool(strategy.heads((32, 16))), strategy.classifier(16, 4) is not None, strategy.classifier_dropout > 0)
        by_model.setdefault(kind, set()).add(runs[m][0]["accuracy"])
    assert set(by_model) == {(False, False, False), (True, False, False), (False, True, False), (False, False, True)}
    assert all(len(accuracies) == 1 for accuracies in by_model.values()), by_model
    assert torch.equal(initial_labels(900, 20, 7), initial_labels(900, 20, 7))
    assert not torch.equal(initial_labels(900, 20, 7), initial_labels(900, 20, 8))


def test_loop_bad_inputs(tmp_path, gen):
    x, y = blobs(50, gen=gen)
    with pytest.raises(ValueError, match="labels 110 samples in all but the pool has 50"):
        run_trial(Random(), small_model, x, y, x, y, LoopConfig(20, 30, 4), TrainConfig(epochs=1), seed=0)
    with pytest.raises(ValueError, match="inputs and labels disagree"):
        run_trial(Random(), small_model, x, y[:10], x, y, LoopConfig(5, 5, 2), TrainConfig(epochs=1), seed=0)
    torch.save({"format": 99}, str(tmp_path / CHECKPOINT))
    with pytest.raises(RuntimeError, match="checkpoint format 99"):
        run_trial(Random(), small_model, x, y, x, y, LoopConfig(5, 5, 2), TrainConfig(epochs=1), seed=0, directory=str(tmp_path))


def test_atomic_writes_replace_whole_files_with_normal_permissions(tmp_path):
    from dacs_ext.files import atomic_write_bytes, atomic_write_jsonl

    path = str(tmp_path / "rows.jsonl")
    atomic_write_jsonl([{"a": 1}], path)
    atomic_write_jsonl([{"a": 1}, {"b": 2}], path)
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(IsADirectoryError):
        atomic_write_bytes(str(tmp_path), b"x")
    assert sorted(os.listdir(tmp_path)) == ["rows.jsonl"]  # no temporary file left behind


class LabeledPicker(Strategy):
    """Returns labeled rows: what the loop's guard must refuse."""

    name = "labeled-picker"

    def select(self, pool, budget):
        return pool.labeled_indices()[:budget]


def test_the_loop_refuses_a_strategy_that_picks_labeled_rows(gen):
    x, y = blobs(200, gen=gen)
    with pytest.raises(RuntimeError, match="strategy 'labeled-picker' returned already labeled indices"):
        run_trial(LabeledPicker(), small_model, x, y, x, y, LoopConfig(20, 10, 2), TrainConfig(epochs=1), seed=0)


def test_initialisations_follow_the_trial_seed(gen):
    # Every method of a trial trains from the same initialisations; another trial
    # (another seed) from other ones.
    x, y = blobs(200, gen=gen)
    starts = {}

    def recording(key):
        def make_model():
            model = small_model()
            starts.setdefault(key, []).append(torch.cat([p.detach().flatten() for p in model.parameters()]))
            return model

        return make_model

    for key, strategy, seed in (("random-7", Random(), 7), ("coreset-7", make_strategy("coreset"), 7), ("random-8", Random(), 8)):
        run_trial(strategy, recording(key), x, y, x, y, LoopConfig(20, 10, 3), TrainConfig(epochs=1), seed=seed)
    assert len(starts["random-7"]) == 3
    assert all(torch.equal(a, b) for a, b in zip(starts["random-7"], starts["coreset-7"]))
    assert not any(torch.equal(a, b) for a, b in zip(starts["random-7"], starts["random-8"]))
    assert not torch.equal(initial_labels(200, 20, 7), initial_labels(200, 20, 8))


@pytest.mark.parametrize("crash_cycle", [1, 3])  # mid-run, and after the last cycle's checkpoint
def test_a_checkpoint_without_its_json_lines_resumes(tmp_path, monkeypatch, crash_cycle):
    # The crash falls between writing cycle `crash_cycle`'s checkpoint and its JSON
    # lines: the file on disk lacks the cycle the checkpoint has.
    whole = _trial(str(tmp_path / "whole"))
    real_write = dacs_ext.al.loop.atomic_write_jsonl

    def crash_before_writing(records, path):
        if len(records) == crash_cycle + 1:
            raise Killed
        real_write(records, path)

    monkeypatch.setattr(dacs_ext.al.loop, "atomic_write_jsonl", crash_before_writing)
    with pytest.raises(Killed):
        _trial(str(tmp_path / "cut"))
    monkeypatch.setattr(dacs_ext.al.loop, "atomic_write_jsonl", real_write)
    assert len(read_jsonl(str(tmp_path / "cut" / CYCLES))) == crash_cycle
    assert len(torch.load(str(tmp_path / "cut" / CHECKPOINT), weights_only=True)["records"]) == crash_cycle + 1
    resumed = _trial(str(tmp_path / "cut"))
    assert without_times(resumed) == without_times(whole)
    assert without_times(read_jsonl(str(tmp_path / "cut" / CYCLES))) == without_times(whole)


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (TrainConfig, dict(epochs=0), "epochs"),
        (TrainConfig, dict(batch_size=2.5), "batch_size"),
        (TrainConfig, dict(lr=float("nan")), "lr"),
        (TrainConfig, dict(aux_stop_epoch=-1), "aux_stop_epoch"),
        (TrainConfig, dict(momentum=-0.1), "momentum"),
        (LoopConfig, dict(budget=0), "budget"),
        (LoopConfig, dict(measurements=1.5), "measurements"),
    ],
)
def test_bad_configs(cls, kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):  # TypeError: not an int at all
        cls(**kwargs)




class Noting(Strategy):
    """Random picks, with a note at every second cycle."""

    name = "noting"

    def select(self, pool, budget):
        if pool.cycle % 2:
            pool.notes["odd_cycle"] = pool.cycle
        return Random().select(pool, budget)


def test_the_loop_records_what_a_strategy_notes(gen):
    x, y = blobs(200, gen=gen)
    records = run_trial(Noting(), small_model, x, y, x, y, LoopConfig(20, 10, 4), TrainConfig(epochs=1), seed=0)
    assert [r.get("notes") for r in records] == [None, {"odd_cycle": 1}, None, None]


@pytest.mark.parametrize("method", ["random", "dacs"])
def test_the_records_alone_tell_what_was_labeled(tmp_path, method):
    records = _trial(str(tmp_path), method=method)
    order = labeled_order(read_jsonl(str(tmp_path / CYCLES)))
    assert torch.equal(order, torch.load(str(tmp_path / CHECKPOINT), weights_only=True)["labeled"])
    assert [len(r["acquired"]) for r in records] == [30, 30, 30, 0] and len(records[0]["initial"]) == 20
    assert torch.equal(order[:20], initial_labels(900, 20, 7))
    with pytest.raises(ValueError, match="do not list the labeled indices"):
        labeled_order([{k: v for k, v in r.items() if k != "initial"} for r in records])


@pytest.mark.parametrize("warm_start", [True, False])
def test_warm_start_continues_the_previous_model(monkeypatch, gen, warm_start):
    # The weights each cycle starts training from: under warm start the previous
    # cycle's trained weights, otherwise a fresh initialisation (the one of the
    # cycle's seed).
    x, y = blobs(200, gen=gen)
    real_train = dacs_ext.al.loop.train_model
    before, after = [], []

    def recording(model, *args, **kwargs):
        before.append([p.detach().clone() for p in model.parameters()])
        loss = real_train(model, *args, **kwargs)
        after.append([p.detach().clone() for p in model.parameters()])
        return loss

    monkeypatch.setattr(dacs_ext.al.loop, "train_model", recording)
    run_trial(Random(), small_model, x, y, x, y, LoopConfig(20, 10, 3, warm_start=warm_start), TrainConfig(epochs=2), seed=5)
    assert LoopConfig().warm_start  # the default
    for cycle in (1, 2):
        continued = all(torch.equal(a, b) for a, b in zip(before[cycle], after[cycle - 1]))
        assert continued == warm_start
    fresh = all(torch.equal(a, b) for a, b in zip(before[1], before[0]))
    assert not fresh  # each cycle's fresh initialisation is its own


def test_a_finished_trial_without_its_checkpoint_is_not_run_again(tmp_path, monkeypatch):
    whole = _trial(str(tmp_path))
    os.remove(tmp_path / CHECKPOINT)  # as in a committed result
    monkeypatch.setattr(dacs_ext.al.loop, "train_model", lambda *args, **kwargs: pytest.fail("trained again"))
    assert _trial(str(tmp_path)) == read_jsonl(str(tmp_path / CYCLES)) and without_times(whole) == without_times(_trial(str(tmp_path)))


def test_a_stale_checkpoint_never_rewrites_finished_records(tmp_path, monkeypatch):
    # A finished trial's records (say, committed from another machine) beside a
    # checkpoint from an earlier execution: resuming returns the records and
    # leaves the file byte for byte.
    _trial(str(tmp_path / "earlier"))
    _trial(str(tmp_path))
    stale = torch.load(str(tmp_path / "earlier" / CHECKPOINT), weights_only=True)
    stale["records"][1]["train_seconds"] += 100.0  # what another execution would differ in
    torch.save(stale, str(tmp_path / CHECKPOINT))
    before = (tmp_path / CYCLES).read_bytes()
    monkeypatch.setattr(dacs_ext.al.loop, "train_model", lambda *args, **kwargs: pytest.fail("trained again"))
    assert _trial(str(tmp_path)) == read_jsonl(str(tmp_path / CYCLES))
    assert (tmp_path / CYCLES).read_bytes() == before

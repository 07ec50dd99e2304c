"""The active-learning loop (paper 5.1): train on the labeled set, evaluate,
embed the pool, acquire, label; repeat. Resumable after every cycle."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import checks
from ..settings import Settings
from ..files import atomic_save, atomic_write_jsonl, read_jsonl
from .model import AuxModel
from .strategies import MC_LOGITS, PoolState, Strategy, check_selection
from .training import TrainConfig, embed, evaluate, mc_dropout_logits, train_model

CHECKPOINT, CYCLES = "checkpoint.pt", "cycles.jsonl"
CHECKPOINT_FORMAT = 1
# Independent random streams of a trial, each keyed by (seed, stream, cycle).
_INITIAL, _MODEL, _SHUFFLE, _ACQUIRE, _TRAIN, _MC_DROPOUT = range(6)


@dataclass(frozen=True)
class LoopConfig(Settings):
    """``initial`` random labels, then ``budget`` more per cycle, for
    ``measurements`` trainings in all (the paper's tables have 10).

    ``warm_start`` (the default) keeps one model per trial: each cycle continues
    training the previous cycle's model on the grown labeled set, with a fresh
    optimizer and learning-rate schedule, as the paper (section 2: "we continue
    to train the model M on the combined labeled dataset") and LearnLoss's public
    training script do. ``warm_start=False`` starts every cycle from a fresh
    initialisation instead."""

    initial: int = 500
    budget: int = 500
    measurements: int = 10
    warm_start: bool = True

    def __post_init__(self) -> None:
        self._store(
            **{name: checks.integer(getattr(self, name), name, low=1) for name in ("initial", "budget", "measurements")},
            warm_start=checks.boolean(self.warm_start, "warm_start"),
        )

    def final_labeled(self) -> int:
        return self.initial + self.budget * (self.measurements - 1)


def derived_seed(seed: int, stream: int, cycle: int = 0) -> int:
    """A 63-bit seed for one random stream of one cycle of a trial."""
    return int(np.random.SeedSequence([seed, stream, cycle]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _generator(seed: int, stream: int, cycle: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, stream, cycle))


def initial_labels(pool_size: int, initial: int, seed: int) -> torch.Tensor:
    """int64 [initial] random pool indices: the same for every method of a trial."""
    return torch.randperm(pool_size, generator=_generator(seed, _INITIAL))[:initial]


def labeled_order(records: list[dict]) -> torch.Tensor:
    """int64 [M] the pool indices labeled over a trial's records, in the order
    they were labeled: the initial set, then each cycle's acquisition; the
    first ``records[c]["labeled"]`` of them are what cycle c trained on."""
    if not records or "initial" not in records[0]:
        raise ValueError("the records do not list the labeled indices (a run from before the records carried them)")
    return torch.tensor(records[0]["initial"] + [i for r in records for i in r["acquired"]], dtype=torch.int64)


def acquisition_generator(seed: int, cycle: int) -> torch.Generator:
    """The generator a strategy gets at ``cycle`` of the trial with ``seed``."""
    return _generator(seed, _ACQUIRE, cycle)


def train_cycle(
    make_model: Callable[[], AuxModel],
    x: torch.Tensor,
    y: torch.Tensor,
    train: TrainConfig,
    *,
    seed: int,
    cycle: int,
    model_state: dict | None = None,
    strategy: Strategy | None = None,
    progress: bool = False,
) -> tuple[AuxModel, float]:
    """The model of ``cycle``: initialised under the cycle's seed, or from
    ``model_state`` (warm start: the previous cycle's trained weights), and
    trained on the labeled x [M, ...], y [M] in the cycle's batch order.
    ``strategy`` may replace the main classifier (``Strategy.classifier``),
    add heads it trains with the model (``Strategy.heads``), initialised under
    the same seed after the model, in that order, and put a dropout before the
    main classifier (``Strategy.classifier_dropout``).

    Returns:
        the trained model (on x's device) and its last epoch's mean loss.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(seed, _MODEL, cycle))
        model = make_model()
        if strategy is not None:
            strategy.check_kind(model.kind)
            classifier = strategy.classifier(model.feature_dim, model.num_classes)
            if classifier is not None:
                model.set_classifier(classifier)
            for head in strategy.heads(model.tap_channels):
                model.add_head(head)
            model.set_classifier_dropout(strategy.classifier_dropout)
        model = model.to(x.device, memory_format=torch.channels_last if train.channels_last else torch.preserve_format)
    if model_state is not None:
        model.load_state_dict(model_state)
    # Dropout draws from the global generators: seeded per cycle, so that a
    # resumed run trains exactly as an uninterrupted one.
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(derived_seed(seed, _TRAIN, cycle))
        loss = train_model(model, x, y, train, _generator(seed, _SHUFFLE, cycle), progress=progress, description=f"cycle {cycle}")
    return model, loss


def retrained(
    make_model: Callable[[], AuxModel],
    pool_x: torch.Tensor,
    pool_y: torch.Tensor,
    records: list[dict],
    train: TrainConfig,
    *,
    seed: int,
    cycles: range,
    warm_start: bool,
    strategy: Strategy | None = None,
    progress: bool = False,
) -> Iterator[tuple[int, AuxModel, float]]:
    """``(cycle, model, last-epoch loss)`` for each of ``cycles`` (ascending) of a
    recorded trial, each model trained again from the records alone (training is
    deterministic on one kind of CPU); under warm start ``cycles`` must start at
    0, each model continuing the one before (one pass over a trial, not one per
    cycle).

    Args:
        pool_x: [N, ...], pool_y: [N] the trial's pool; records: its cycle records.
        strategy: the trial's strategy (its classifier and heads).
    """
    if warm_start and cycles.start != 0:
        raise ValueError(f"under warm start the retrained cycles must start at 0, got {cycles}")
    order = labeled_order(records).to(pool_x.device)
    state = None
    for c in cycles:
        rows = order[: records[c]["labeled"]]
        model, loss = train_cycle(
            make_model, pool_x[rows], pool_y[rows], train, seed=seed, cycle=c, model_state=state, strategy=strategy, progress=progress
        )
        state = model.state_dict() if warm_start else None
        yield c, model, loss


def run_trial(
    strategy: Strategy,
    make_model: Callable[[], AuxModel],
    pool_x: torch.Tensor,
    pool_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    loop: LoopConfig,
    train: TrainConfig,
    *,
    seed: int,
    directory: str | None = None,
    progress: bool = False,
    description: str = "",
    on_cycle: Callable[[dict], None] | None = None,
) -> list[dict]:
    """One trial of one strategy.

    Args:
        strategy: picks ``loop.budget`` pool indices per cycle.
        make_model: builds a freshly initialised model (called under a seed
            derived from ``seed`` and the cycle, so every method of a trial
            trains from the same initialisation(s)).
        pool_x: [N, ...] pool inputs; pool_y: [N] labels (int64) or regression
            targets (float), revealed as acquired.
        test_x: [T, ...] test inputs; test_y: [T], as pool_y.
        seed: the trial's seed; the initial labeled set, the initialisations,
            the batch order and the strategy's randomness all derive from it.
        directory: where ``checkpoint.pt`` and ``cycles.jsonl`` go after every
            cycle (atomically); a checkpoint already there is resumed from, and
            without one a complete ``cycles.jsonl`` is returned as it is.
        on_cycle: called with each cycle's record after it is saved.

    Returns:
        one record per measurement: ``cycle``, ``labeled`` (count trained on),
        ``proportion`` (of the pool), the test metrics of the model's kind
        (``accuracy``, 0-1, for classification; ``mse`` and ``ci`` for regression),
        ``train_seconds``, ``embed_seconds``, ``select_seconds`` (of the
        acquisition after this training; 0 for the last), ``wall_seconds``,
        ``final_loss``, ``targets`` (a regression model's target statistics
        this cycle's training set, ``AuxModel.target_statistics``), ``acquired`` (the pool indices this cycle's acquisition
        picked, in pick order; empty for the last), ``initial`` (the first
        cycle's labeled pool indices, in the first record only), and ``notes``
        when the strategy left any in ``PoolState.notes`` (e.g. DACS's
        ``dacs_health``: its features' health figures). So the
        records alone tell what was labeled when: ``labeled_order(records)``.
    """
    n = pool_x.shape[0]
    if pool_y.shape[0] != n or test_x.shape[0] != test_y.shape[0]:
        raise ValueError(f"inputs and labels disagree: pool {n} vs {pool_y.shape[0]}, test {test_x.shape[0]} vs {test_y.shape[0]}")
    if loop.final_labeled() > n:
        raise ValueError(f"the loop labels {loop.final_labeled()} samples in all but the pool has {n}")
    done = finished_records(directory, loop)
    if done is not None:
        return done
    records, order, model_state = resume(directory, initial_labels(n, loop.initial, seed))

    bar = tqdm(total=loop.measurements, initial=len(records), desc=description or strategy.name, disable=not progress)
    for cycle in range(len(records), loop.measurements):
        start = time.perf_counter()
        count = order.numel()
        rows = order.to(pool_x.device)
        model, final_loss = train_cycle(
            make_model, pool_x[rows], pool_y[rows], train, seed=seed, cycle=cycle,
            model_state=model_state if loop.warm_start else None, strategy=strategy, progress=progress,
        )
        train_seconds = time.perf_counter() - start
        metrics = evaluate(model, test_x, test_y)

        embed_seconds = select_seconds = 0.0
        notes, acquired = {}, []
        if cycle + 1 < loop.measurements:
            picked, pool_notes, embed_seconds, select_seconds = acquire(strategy, model, pool_x, rows, loop.budget, seed=seed, cycle=cycle)
            order = torch.cat([order, picked.cpu()])
            notes, acquired = pool_notes, picked.tolist()
        records.append(
            dict(
                cycle=cycle, labeled=count, proportion=count / n, **metrics,
                train_seconds=train_seconds, embed_seconds=embed_seconds, select_seconds=select_seconds,
                wall_seconds=time.perf_counter() - start, final_loss=final_loss,
                **({"targets": model.target_statistics()} if model.kind == "regression" else {}),
                **({"initial": order[:count].tolist()} if cycle == 0 else {}), acquired=acquired,
                **({"notes": notes} if notes else {}),
            )
        )
        model_state = {k: v.cpu() for k, v in model.state_dict().items()} if loop.warm_start else None
        if directory:
            save(directory, records, order, model_state)
        bar.update(1)
        bar.set_postfix(labeled=records[-1]["labeled"], **{name: f"{value:.3f}" for name, value in metrics.items()})
        if on_cycle is not None:
            on_cycle(records[-1])
    bar.close()
    return records


def finished_records(directory: str | None, loop: LoopConfig) -> list[dict] | None:
    """The records of a finished trial in ``directory``, whatever checkpoint lies
    beside them (results are kept, and committed, without one; a stale one from an
    earlier execution must not rewrite them); None for an unfinished trial."""
    if directory and os.path.exists(os.path.join(directory, CYCLES)):
        done = read_jsonl(os.path.join(directory, CYCLES))
        if len(done) == loop.measurements and "initial" in done[0]:
            return done
    return None


def resume(directory: str | None, order: torch.Tensor) -> tuple[list[dict], torch.Tensor, dict | None]:
    """(records, labeled order, model state) of the checkpoint in ``directory``;
    without one a fresh start: no records, ``order`` (int64 [initial]), no state."""
    path = os.path.join(directory, CHECKPOINT) if directory else None
    if not (path and os.path.exists(path)):
        return [], order, None
    state = torch.load(path, weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise RuntimeError(f"{path}: checkpoint format {state.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    records = state["records"]
    atomic_write_jsonl(records, os.path.join(directory, CYCLES))  # in case the kill fell between the two writes
    return records, state["labeled"], state["model_state"]


def acquire(
    strategy: Strategy, model: AuxModel, pool_x: torch.Tensor, rows: torch.Tensor, budget: int, *, seed: int, cycle: int
) -> tuple[torch.Tensor, dict, float, float]:
    """One acquisition: the pool embedded as the strategy requires (``MC_LOGITS``:
    ``strategy.mc_passes`` dropout passes, their masks drawn under a seed of the
    trial's ``seed`` and the cycle), and its ``budget`` picks among the rows not in
    ``rows`` (int64 [L] labeled pool indices), checked. Returns (picks int64
    [budget], the strategy's notes, embedding seconds, selection seconds)."""
    embed_start = time.perf_counter()
    names = [name for name in strategy.requires if name != MC_LOGITS]
    outputs = embed(model, pool_x, names) if names else {}
    if MC_LOGITS in strategy.requires:
        outputs[MC_LOGITS] = mc_dropout_logits(model, pool_x, strategy.mc_passes, seed=derived_seed(seed, _MC_DROPOUT, cycle))
    labeled = torch.zeros(pool_x.shape[0], dtype=torch.bool, device=pool_x.device)
    labeled[rows] = True
    pool = PoolState(labeled, outputs, acquisition_generator(seed, cycle), cycle)
    select_start = time.perf_counter()
    picked = check_selection(strategy, pool, budget, strategy.select(pool, budget))
    return picked, pool.notes, select_start - embed_start, time.perf_counter() - select_start


def save(directory: str, records: list[dict], order: torch.Tensor, model_state: dict | None) -> None:
    """The checkpoint, then the records, each written atomically: a kill between
    the two is repaired by ``resume``."""
    atomic_save(dict(format=CHECKPOINT_FORMAT, records=records, labeled=order, model_state=model_state), os.path.join(directory, CHECKPOINT))
    atomic_write_jsonl(records, os.path.join(directory, CYCLES))

"""The Davis task (paper 5.3, Table 3): drug-target affinity regression with
DeepDTA on data in DeepDTA's layout.

A folder in that layout holds:

- ``ligands_can.txt``: a JSON object, drug id -> SMILES; its order gives the rows of Y.
- ``proteins.txt``: a JSON object, protein id -> amino-acid sequence; its order gives the columns.
- ``Y``: a pickled 2-D float array, drugs x proteins (Kd in nM for Davis); NaN
  marks an unmeasured pair. Read with a restricted unpickler (``safe_pickle``).
- ``folds/train_fold_setting1.txt``: a JSON list of lists, and
  ``folds/test_fold_setting1.txt``: a JSON list, of indices into the measured
  pairs taken in row-major order of the non-NaN entries of Y.

Split: the test fold is the test set (5,010 pairs for Davis); the pool is the
first four training folds (20,037 pairs: the paper's "about 20,000" with 1,000
labels being its 5%). The fifth training fold is left out, unused: the paper
uses no validation set.

A sample is a pair, given to the model as int64 [drug index, protein index];
the model holds every drug's and protein's encoded sequence (``DeepDTA``), so
each distinct sequence is encoded once per batch however many pairs share it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dacs_ext import checks
from dacs_ext.al import AuxModel, LoopConfig, Tapped, TrainConfig
from dacs_ext.al.model import AUX_TARGETS

from . import safe_pickle
from .base import Preset, Task, subset

DEFAULT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "davis")

# DeepDTA's character sets: 64 symbols of isomeric SMILES and 25 amino-acid
# letters (every capital but J). Indexed here in code-point order from 1, 0 being
# padding: the sets are DeepDTA's, the numbering is not, so weights trained by
# DeepDTA's code do not carry over (nothing here loads them).
SMILES_ALPHABET = "#%()+-./0123456789=@ABCDEFGHIKLMNOPRSTUVWYZ[\\]abcdefghilmnorstuy"
PROTEIN_ALPHABET = "ABCDEFGHIKLMNOPQRSTUVWXYZ"
SMILES_LENGTH, PROTEIN_LENGTH = 85, 1200
AFFINITIES = ("pkd", "none")
POOL_FOLDS = (0, 1, 2, 3)
"""The training folds that make the pool; the last one is left out."""


class DataError(ValueError):
    """A data folder that does not hold what the DeepDTA layout says."""


@dataclass
class DavisData:
    """A data set in DeepDTA's layout, checked.

    Attributes:
        drug_ids, smiles: the drugs, in file order (the rows of Y).
        protein_ids, sequences: the proteins, in file order (the columns of Y).
        pairs: int64 [P, 2] (drug, protein) of every measured pair, row-major.
        affinity: float64 [P], their affinities after the transform.
        train_folds: int64 index tensors into ``pairs``, one per training fold.
        test_fold: int64 [T] indices into ``pairs``.
    """

    drug_ids: list[str]
    smiles: list[str]
    protein_ids: list[str]
    sequences: list[str]
    pairs: torch.Tensor
    affinity: torch.Tensor
    train_folds: list[torch.Tensor]
    test_fold: torch.Tensor


def _read_json(directory: str, name: str):
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing (a DeepDTA-layout folder has ligands_can.txt, proteins.txt, Y and folds/)")

    def no_duplicates(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            repeated = sorted({k for k in keys if keys.count(k) > 1})
            raise DataError(f"{path}: the id(s) {', '.join(repeated[:5])} appear more than once")
        return dict(items)

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None


def _string_table(directory: str, name: str, what: str) -> tuple[list[str], list[str]]:
    table, path = _read_json(directory, name), os.path.join(directory, name)
    if not isinstance(table, dict) or not table:
        raise DataError(f"{path}: expected a non-empty JSON object of id -> {what}")
    for key, value in table.items():
        if not isinstance(value, str) or not value:
            raise DataError(f"{path}: the {what} of {key!r} is not a non-empty string")
    return list(table), list(table.values())


def _fold(value, path: str, measured: int, label: str) -> torch.Tensor:
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise DataError(f"{path}: {label} must be a list of integers")
    fold = torch.tensor(value, dtype=torch.int64)
    bad = (fold < 0) | (fold >= measured)
    if bad.any():
        raise DataError(f"{path}: {label} has index {int(fold[bad][0])}, outside the {measured} measured pairs")
    if fold.unique().numel() != fold.numel():
        raise DataError(f"{path}: {label} lists a pair twice")
    return fold


def load_davis(directory: str, affinity: str = "pkd") -> DavisData:
    """Reads and checks a DeepDTA-layout folder (see the module's docstring).

    Args:
        affinity: ``"pkd"``: -log10(Kd / 1e9), Kd in nM (Davis); ``"none"``: the
            values of Y as they are.

    Raises:
        FileNotFoundError: a file is missing. DataError (a ValueError): bad JSON,
        shapes that disagree, fold indices out of range, a non-positive Kd under
        ``pkd``. safe_pickle.RefusedGlobal: Y names anything but numpy arrays.
    """
    if affinity not in AFFINITIES:
        raise ValueError(f"affinity must be one of {AFFINITIES}, got {affinity!r}")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: no such data folder")
    drug_ids, smiles = _string_table(directory, "ligands_can.txt", "SMILES")
    protein_ids, sequences = _string_table(directory, "proteins.txt", "sequence")
    y_path = os.path.join(directory, "Y")
    if not os.path.isfile(y_path):
        raise FileNotFoundError(f"{y_path}: missing (the pickled drugs x proteins affinity array)")
    y = safe_pickle.load(y_path)
    if not isinstance(y, np.ndarray) or y.ndim != 2 or y.dtype.kind not in "fiu":
        raise DataError(f"{y_path}: expected a 2-D numeric array, got {type(y).__name__} {getattr(y, 'shape', '')}")
    if y.shape != (len(drug_ids), len(protein_ids)):
        raise DataError(
            f"{y_path}: shape {y.shape} disagrees with {len(drug_ids)} drugs (ligands_can.txt) x "
            f"{len(protein_ids)} proteins (proteins.txt)"
        )
    y = torch.from_numpy(np.array(y, dtype=np.float64))
    measured = ~torch.isnan(y)
    rows, cols = measured.nonzero(as_tuple=True)  # row-major, as the folds index them
    values = y[rows, cols]
    if not torch.isfinite(values).all():
        raise DataError(f"{y_path}: holds infinite values")
    if affinity == "pkd":
        if (values <= 0).any():
            raise DataError(f"{y_path}: Kd must be > 0 for affinity='pkd' (found {float(values.min())})")
        values = -torch.log10(values / 1e9)
    train_name, test_name = os.path.join("folds", "train_fold_setting1.txt"), os.path.join("folds", "test_fold_setting1.txt")
    train_path, test_path = os.path.join(directory, train_name), os.path.join(directory, test_name)
    train, test = _read_json(directory, train_name), _read_json(directory, test_name)
    if not isinstance(train, list) or not train:
        raise DataError(f"{train_path}: expected a JSON list of folds (lists of pair indices)")
    n = int(measured.sum())
    train_folds = [_fold(f, train_path, n, f"fold {k}") for k, f in enumerate(train)]
    test_fold = _fold(test, test_path, n, "the test fold")
    return DavisData(drug_ids, smiles, protein_ids, sequences, torch.stack([rows, cols], 1), values, train_folds, test_fold)


def encode(texts: list[str], ids: list[str], alphabet: str, length: int, what: str) -> torch.Tensor:
    """int64 [len(texts), length]: each character's 1-based index in ``alphabet``,
    truncated to ``length`` and padded with 0. A character outside the alphabet
    raises a DataError naming the id: an unknown index would be a silent
    feature no training pair taught the model."""
    table = {c: i + 1 for i, c in enumerate(alphabet)}
    out = torch.zeros(len(texts), length, dtype=torch.int64)
    for row, (text, key) in enumerate(zip(texts, ids)):
        unknown = sorted(set(text) - set(table))
        if unknown:
            raise DataError(f"the {what} of {key!r} has character(s) {''.join(unknown)!r} outside DeepDTA's {len(alphabet)}-symbol set")
        codes = [table[c] for c in text[:length]]
        out[row, : len(codes)] = torch.tensor(codes, dtype=torch.int64)
    return out


class SequenceBranch(nn.Module):
    """DeepDTA's encoder of one sequence type: Embedding -> three valid Conv1d
    with ReLU -> global max pool. ``forward(tokens int64 [B, L])`` -> [B, 3 x filters]."""

    def __init__(self, vocabulary: int, kernels: tuple[int, int, int], filters: int = 32, embedding: int = 128) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, embedding)
        widths = (embedding, filters, 2 * filters, 3 * filters)
        self.convs = nn.ModuleList(nn.Conv1d(widths[i], widths[i + 1], kernels[i]) for i in range(3))
        self.out_features = widths[-1]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(1, 2)
        for conv in self.convs:
            x = torch.relu(conv(x))
        return x.amax(dim=2)


class DeepDTA(nn.Module):
    """DeepDTA (Öztürk et al., 2018) up to its penultimate layer.

    Args:
        drugs: int64 [D, Ls] every drug's encoded SMILES; proteins: int64 [P, Lp]
            every protein's encoded sequence (``encode``). Kept as buffers, not
            in the state dict.
        filters: the first convolution's width (32; then 2x and 3x).
        hidden: the fully connected widths (1024, 1024, 512), dropout after the first two.
        dedupe: encode each distinct drug and protein of a batch once (the
            default); False encodes every pair's two sequences (the plain
            batched forward, kept for the benchmark).

    ``forward(pairs int64 [B, 2])`` (drug index, protein index) returns
    ``Tapped(features [B, hidden[-1]], taps)``; the taps are the two pooled
    branch outputs and the fully connected activations (what LearnLoss reads).
    """

    def __init__(
        self, drugs: torch.Tensor, proteins: torch.Tensor, *, filters: int = 32, hidden: tuple[int, ...] = (1024, 1024, 512),
        dropout: float = 0.1, dedupe: bool = True,
    ) -> None:
        super().__init__()
        self.register_buffer("drugs", drugs, persistent=False)
        self.register_buffer("proteins", proteins, persistent=False)
        self.drug = SequenceBranch(len(SMILES_ALPHABET) + 1, (4, 6, 8), filters)
        self.protein = SequenceBranch(len(PROTEIN_ALPHABET) + 1, (4, 8, 12), filters)
        widths = (self.drug.out_features + self.protein.out_features, *hidden)
        self.fc = nn.ModuleList(nn.Linear(widths[i], widths[i + 1]) for i in range(len(hidden)))
        self.dropout = nn.Dropout(dropout)
        self.dedupe = dedupe
        self.tap_channels = (self.drug.out_features, self.protein.out_features, *hidden)

    def _encode(self, branch: SequenceBranch, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        if not self.dedupe:
            return branch(table[index])
        distinct, inverse = index.unique(return_inverse=True)
        return branch(table[distinct])[inverse]

    def forward(self, pairs: torch.Tensor) -> Tapped:
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"DeepDTA takes int64 [B, 2] (drug, protein) index pairs, got shape {tuple(pairs.shape)}")
        drug = self._encode(self.drug, self.drugs, pairs[:, 0])
        protein = self._encode(self.protein, self.proteins, pairs[:, 1])
        x = torch.cat([drug, protein], 1)
        taps = [drug, protein]
        for i, layer in enumerate(self.fc):
            x = torch.relu(layer(x))
            taps.append(x)
            if i < len(self.fc) - 1:
                x = self.dropout(x)
        return Tapped(x, tuple(taps))


@dataclass(frozen=True)
class DavisPreset(Preset):
    """A Davis protocol: the loop, the training, the model's size, its
    auxiliary head (``AuxModel``'s ``aux_target``) and the affinity transform
    of the folder's values (``load_davis``: ``"pkd"`` for Kd in nM, ``"none"``
    for data sets in DeepDTA's layout whose values are already affinities)."""

    filters: int = 32
    protein_length: int = PROTEIN_LENGTH
    aux_target: str = "centered"
    affinity: str = "pkd"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._store(
            filters=checks.integer(self.filters, "filters", low=1),
            protein_length=checks.integer(self.protein_length, "protein_length", low=1),
            aux_target=checks.choice(self.aux_target, "aux_target", AUX_TARGETS),
            affinity=checks.choice(self.affinity, "affinity", AFFINITIES),
        )


# Adam, lr 0.001, batch 128, 50 epochs (the paper); the auxiliary gradient stop
# is not stated for 50 epochs: 30, the paper's 120 of 200 scaled.
PAPER_TRAIN = TrainConfig(optimizer="adam", lr=0.001, epochs=50, batch_size=128, weight_decay=0.0, lr_drop_epoch=50, aux_stop_epoch=30)

PRESETS = {
    # Section 5.4 exactly: 1,000 initial labels, 1,000 per cycle, 10 measurements
    # (5% ... 50% of the 20,037-pair pool). For a GPU (--device cuda).
    "paper": DavisPreset(LoopConfig(1000, 1000, 10), PAPER_TRAIN),
    # The paper's labels (1,000 + 1,000 per cycle, 10 measurements, the whole
    # pool and test set) on 2 CPU cores: 6 epochs per cycle instead of 50
    # (gradient stop at 4; warm start carries training across cycles), filters
    # 16/32/48 instead of 32/64/96, and bf16 autocast. One step of batch 128:
    # 0.63 s for the paper's model in float32, 0.30 s in bf16, 0.16 s at these
    # filters in bf16 (2-vCPU AMD EPYC); 0.23 s at these filters in bf16, 0.33 s
    # in float32 (2-vCPU Intel Xeon, AVX-512/AMX). A trial: about 400 s (AMD),
    # 600 s (Intel).
    "cpu": DavisPreset(
        LoopConfig(1000, 1000, 10),
        dataclasses.replace(PAPER_TRAIN, epochs=6, lr_drop_epoch=6, aux_stop_epoch=4, bf16=True),
        filters=16,
    ),
    # Seconds, for tests: a slice of the pool and test set, a small model.
    "smoke": DavisPreset(
        LoopConfig(40, 40, 3), TrainConfig(optimizer="adam", lr=0.001, epochs=3, batch_size=32, weight_decay=0.0, lr_drop_epoch=3, aux_stop_epoch=2),
        train_limit=400, test_limit=200, filters=4, protein_length=120,
    ),
}


def load(data_dir: str, preset: DavisPreset):
    """Pool and test set of a DeepDTA-layout folder.

    Returns:
        pool_x int64 [N, 2] and test_x int64 [T, 2] (drug, protein) pairs,
        pool_y and test_y float32 affinities (pKd under ``preset.affinity``
        "pkd", the folder's values under "none"), and the model's inputs:
        ``{"drugs": int64 [D, 85], "proteins": int64 [P, protein_length]}``.
    """
    data = load_davis(data_dir, preset.affinity)
    drugs = encode(data.smiles, data.drug_ids, SMILES_ALPHABET, SMILES_LENGTH, "SMILES")
    proteins = encode(data.sequences, data.protein_ids, PROTEIN_ALPHABET, preset.protein_length, "sequence")
    if len(data.train_folds) < len(POOL_FOLDS):
        raise DataError(f"{data_dir}: the pool takes training folds {POOL_FOLDS}, the folder has {len(data.train_folds)}")
    pool = torch.cat([data.train_folds[k] for k in POOL_FOLDS])
    test = data.test_fold
    pool = pool[subset(pool, preset.train_limit, classes=False)]
    test = test[subset(test, preset.test_limit, classes=False)]
    as_float = lambda rows: data.affinity[rows].to(torch.float32)  # noqa: E731
    return data.pairs[pool], as_float(pool), data.pairs[test], as_float(test), dict(drugs=drugs, proteins=proteins)


def make_model(preset: DavisPreset, *, drugs: torch.Tensor, proteins: torch.Tensor) -> AuxModel:
    """DeepDTA with its output layer as the main regressor; the auxiliary
    normalised head (``preset.aux_target``, see ``AuxModel``) reads the same
    512-d penultimate features that Core-set uses."""
    backbone = DeepDTA(drugs, proteins, filters=preset.filters)
    return AuxModel(backbone, backbone.tap_channels[-1], 1, preset.aux_dim, kind="regression", aux_target=preset.aux_target)


TASK = Task(
    name="davis",
    title="Davis (DeepDTA)",
    kind="regression",
    presets=PRESETS,
    default_data_dir=os.path.normpath(DEFAULT_DIR),
    load=load,
    make_model=make_model,
)

"""Which auxiliary head gives Davis informative 16-d features? Trains DeepDTA
(the ``cpu`` preset) with each regression ``aux_target`` on the same labels
(the trial's 1,000 initial labels, then +1,000 random labels per cycle, warm
start) and measures, at cycles 0 and 3, the features DACS would select on:

- occupied LSH buckets (of 100) and the largest bucket's share (``dacs_ext.health``);
- the effective rank of the 16-d features;
- neighbour agreement: the mean |y_i - y_j| over each pool row's 20 nearest
  neighbours (cosine) divided by the mean over random pairs; 1.0 means the
  neighbourhoods know nothing about the affinity, lower is better;
- the test MSE of the main head.

Also the same figures for the L2-normalised 512-d penultimate features of the
``centered`` model (DACS on the backbone's features, no auxiliary head).

    python scripts/davis_aux_head.py [--seeds 0 1] [--out experiments/results/analyses/davis-aux-head]

Writes ``results.json`` (every figure) and ``results.md`` (the table) to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dacs_ext  # noqa: E402
from dacs_ext import machine  # noqa: E402
from dacs_ext.al import embed, evaluate  # noqa: E402
from dacs_ext.files import atomic_write_bytes, atomic_write_json  # noqa: E402
from dacs_ext.al.loop import initial_labels, train_cycle  # noqa: E402
from dacs_ext.al.model import AUX_TARGETS  # noqa: E402
from dacs_ext.health import bucket_figures, effective_rank  # noqa: E402
from experiments.tasks import davis  # noqa: E402

CYCLES = (0, 3)
NEIGHBOURS, QUERIES = 20, 2000


def figures(z: torch.Tensor, y: torch.Tensor, seed: int) -> dict:
    """The health and neighbour-agreement figures of pool features z [N, d]."""
    gen = torch.Generator().manual_seed(seed)
    _, keys, num_keys = dacs_ext.density(z, 100, generator=gen, return_keys=True)
    occupied, largest = bucket_figures(keys, num_keys)
    unit = torch.nn.functional.normalize(z.double(), dim=1)
    queries = torch.randperm(z.shape[0], generator=gen)[:QUERIES]
    near = dacs_ext.knn_indices(unit, NEIGHBOURS, queries)
    near_gap = float((y[queries][:, None] - y[near]).abs().mean())
    others = torch.randint(z.shape[0], (QUERIES, NEIGHBOURS), generator=gen)
    random_gap = float((y[queries][:, None] - y[others]).abs().mean())
    return dict(
        occupied_buckets=occupied, largest_bucket_share=largest, effective_rank=effective_rank(unit),
        neighbour_gap=near_gap, random_gap=random_gap, neighbour_ratio=near_gap / random_gap,
    )


def measure(aux_target: str, seed: int, data: tuple) -> list[dict]:
    preset = dataclasses.replace(davis.PRESETS["cpu"], aux_target=aux_target)
    pool_x, pool_y, test_x, test_y, inputs = data
    n = pool_x.shape[0]
    first = initial_labels(n, preset.loop.initial, seed)
    rest = torch.ones(n, dtype=torch.bool)
    rest[first] = False
    order = torch.cat([first, rest.nonzero().squeeze(1)[torch.randperm(n - first.numel(), generator=torch.Generator().manual_seed(seed))]])
    make_model = lambda: davis.make_model(preset, **inputs)  # noqa: E731
    rows, state = [], None
    for cycle in range(max(CYCLES) + 1):
        labeled = order[: preset.loop.initial + cycle * preset.loop.budget]
        start = time.perf_counter()
        model, loss = train_cycle(make_model, pool_x[labeled], pool_y[labeled], preset.train, seed=seed, cycle=cycle, model_state=state)
        state = model.state_dict()
        if cycle not in CYCLES:
            continue
        out = embed(model, pool_x, ("aux_features", "features"))
        row = dict(
            head=aux_target, seed=seed, cycle=cycle, labeled=int(labeled.numel()), **evaluate(model, test_x, test_y),
            final_loss=loss, targets=model.target_statistics(), features="aux 16-d",
            **figures(out["aux_features"], pool_y.double(), seed), seconds=time.perf_counter() - start,
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
        if aux_target == "centered":
            rows.append(dict(row, features="penultimate 512-d", **figures(out["features"], pool_y.double(), seed)))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    keys = ("occupied_buckets", "largest_bucket_share", "effective_rank", "neighbour_ratio", "mse")
    lines = [
        "| head | features | cycle (labels) | occupied buckets (of 100) | largest bucket | effective rank | 20-NN / random mean abs(dy) | test MSE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups = {}
    for r in rows:
        groups.setdefault((r["head"], r["features"], r["cycle"], r["labeled"]), []).append(r)
    for (head, features, cycle, labeled), rs in groups.items():
        cells = []
        for k in keys:
            values = [r[k] for r in rs]
            fmt = "{:.0f}" if k == "occupied_buckets" else "{:.0%}" if k == "largest_bucket_share" else "{:.2f}" if k == "effective_rank" else "{:.3f}"
            cells.append(" / ".join(fmt.format(v) for v in values))
        lines.append(f"| {head} | {features} | {cycle} ({labeled}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--heads", nargs="+", default=list(AUX_TARGETS), choices=AUX_TARGETS)
    parser.add_argument("--data-dir", default=davis.DEFAULT_DIR)
    parser.add_argument("--out", default=os.path.join("experiments", "results", "analyses", "davis-aux-head"))
    args = parser.parse_args()
    started = time.perf_counter()
    data = davis.load(args.data_dir, davis.PRESETS["cpu"])
    rows = [r for head in args.heads for seed in args.seeds for r in measure(head, seed, data)]
    os.makedirs(args.out, exist_ok=True)
    wall = time.perf_counter() - started
    where = f"{machine.describe()}; {wall / 60:.0f} min wall, {time.strftime('%Y-%m-%d')}"
    atomic_write_json(dict(rows=rows, machine=where), os.path.join(args.out, "results.json"))
    text = (
        f"Davis auxiliary heads, `cpu` preset, seeds {' / '.join(map(str, args.seeds))} (one value per seed, in that order); "
        f"cycle 0 = the 1,000 initial labels, cycle 3 = +3,000 random labels (warm start).\n\n{table(rows)}\n\n{where}\n"
    )
    atomic_write_bytes(os.path.join(args.out, "results.md"), text.encode())
    print(text)


if __name__ == "__main__":
    main()

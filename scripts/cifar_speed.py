"""Times the CIFAR-10 paper preset's work on a device, on random images of
CIFAR-10's size, under each training option, and projects one paper-preset
trial of one method from it.

    python scripts/cifar_speed.py --device cuda [--steps 300] [--json FILE]

A paper trial trains 200 epochs on 1,000, 2,000, ..., 10,000 labels (11.0
million training images), embeds the 50,000-image pool 9 times and evaluates
the 10,000 test images 10 times. Selection is left out (milliseconds on a GPU;
see tests/benchmarks). Printed: one Markdown row per option.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dacs_ext.al import embed, train_model  # noqa: E402
from experiments.tasks import cifar10  # noqa: E402

PRESET = cifar10.PRESETS["paper"]
LOOP = PRESET.loop
TRAINED_IMAGES = PRESET.train.epochs * sum(LOOP.initial + LOOP.budget * c for c in range(LOOP.measurements))
EMBEDDED_IMAGES = (LOOP.measurements - 1) * 50_000 + LOOP.measurements * 10_000
OPTIONS = {
    "float32": {},
    "bf16": {"bf16": True},
    "bf16 + channels-last": {"bf16": True, "channels_last": True},
    "bf16 + channels-last + compile": {"bf16": True, "channels_last": True, "compile": True},
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_option(options: dict, device: torch.device, steps: int, width: int) -> dict:
    """Seconds per training image (one epoch of ``steps`` batches, after one
    epoch of warm-up) and per embedded image (the pool's batch size)."""
    generator = torch.Generator().manual_seed(0)
    n = steps * PRESET.train.batch_size
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator).to(device)
    labels = torch.randint(0, 10, (n,), generator=generator).to(device)
    torch.manual_seed(0)
    model = cifar10.make_model(dataclasses.replace(PRESET, width=width))
    model = model.to(device, memory_format=torch.channels_last if options.get("channels_last") else torch.preserve_format)
    config = dataclasses.replace(PRESET.train, epochs=1, **options)
    train_model(model, images, labels, config, generator)  # warm-up (and compilation)
    synchronize(device)
    start = time.perf_counter()
    train_model(model, images, labels, config, generator)
    synchronize(device)
    train = (time.perf_counter() - start) / n
    embed(model, images, ("aux_features",))
    synchronize(device)
    start = time.perf_counter()
    embed(model, images, ("aux_features", "features"))
    synchronize(device)
    return dict(train_per_image=train, embed_per_image=(time.perf_counter() - start) / n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=300, help="timed training batches of 128 per option")
    parser.add_argument("--width", type=int, default=64, help="ResNet width (64: ResNet-18; smaller only to try the script)")
    parser.add_argument("--options", default=",".join(OPTIONS), help=f"comma-separated, of: {', '.join(OPTIONS)}")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    chosen = [name for name in args.options.split(",") if name]
    unknown = [name for name in chosen if name not in OPTIONS]
    if unknown or args.steps < 1 or args.width < 1:
        parser.error(f"--options must name some of {', '.join(OPTIONS)}, --steps and --width be >= 1")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; ResNet width {args.width}; {args.steps} steps of batch {PRESET.train.batch_size}")
    print("| option | training images/s | embedding images/s | projected paper trial (min) |")
    print("|---|---|---|---|")
    results = {}
    for option in chosen:
        measured = time_option(OPTIONS[option], device, args.steps, args.width)
        minutes = (measured["train_per_image"] * TRAINED_IMAGES + measured["embed_per_image"] * EMBEDDED_IMAGES) / 60
        results[option] = dict(measured, projected_trial_minutes=minutes)
        print(f"| {option} | {1 / measured['train_per_image']:,.0f} | {1 / measured['embed_per_image']:,.0f} | {minutes:.1f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=name, torch=torch.__version__, width=args.width, steps=args.steps, results=results), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

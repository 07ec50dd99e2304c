"""Times a CIFAR-10 preset's work on a device, on random images of CIFAR-10's
size, under each training option, and projects one trial of one method of that
preset from it.

    python scripts/cifar_speed.py --device cuda [--steps 300] [--json FILE]
    python scripts/cifar_speed.py --device cpu --preset cpu --options float32,bf16

A trial trains ``epochs`` times on each cycle's labels (paper: 200 epochs on
1,000, 2,000, ..., 10,000 labels, 11.0 million training images), embeds the
pool before every acquisition (paper: 50,000 images, 9 times) and evaluates the
test images at every measurement (10,000, 10 times). Random embeds nothing, so
its trial is shorter. Selection is left out (milliseconds; see
tests/benchmarks). Printed: one Markdown row per option.
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

POOL, TEST = 50_000, 10_000
# Each option sets all three fields, whatever the preset chose.
OPTIONS = {
    "float32": {"bf16": False, "channels_last": False, "compile": False},
    "bf16": {"bf16": True, "channels_last": False, "compile": False},
    "bf16 + channels-last": {"bf16": True, "channels_last": True, "compile": False},
    "bf16 + channels-last + compile": {"bf16": True, "channels_last": True, "compile": True},
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def trial_images(preset: cifar10.CifarPreset) -> tuple[int, int]:
    """Training images and embedded images (pool and test) of one trial of the
    preset: its loop, epochs and limits on CIFAR-10's 50,000 + 10,000 images."""
    loop = preset.loop
    pool, test = min(POOL, preset.train_limit or POOL), min(TEST, preset.test_limit or TEST)
    trained = preset.train.epochs * sum(loop.initial + loop.budget * c for c in range(loop.measurements))
    return trained, (loop.measurements - 1) * pool + loop.measurements * test


def time_option(options: dict, device: torch.device, steps: int, preset: cifar10.CifarPreset) -> dict:
    """Seconds per training image (one epoch of ``steps`` batches, after one
    epoch of warm-up) and per embedded image (the pool's batch size)."""
    generator = torch.Generator().manual_seed(0)
    n = steps * preset.train.batch_size
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator).to(device)
    labels = torch.randint(0, 10, (n,), generator=generator).to(device)
    torch.manual_seed(0)
    model = cifar10.make_model(preset)
    model = model.to(device, memory_format=torch.channels_last if options.get("channels_last") else torch.preserve_format)
    config = dataclasses.replace(preset.train, epochs=1, **options)
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
    parser.add_argument("--preset", default="paper", choices=sorted(cifar10.PRESETS), help="the preset whose trial is projected")
    parser.add_argument("--steps", type=int, default=300, help="timed training batches (of the preset's batch size) per option")
    parser.add_argument("--width", type=int, default=None, help="ResNet width (default: the preset's; 64 is ResNet-18)")
    parser.add_argument("--options", default=",".join(OPTIONS), help=f"comma-separated, of: {', '.join(OPTIONS)}")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    chosen = [name for name in args.options.split(",") if name]
    unknown = [name for name in chosen if name not in OPTIONS]
    if unknown or args.steps < 1 or (args.width is not None and args.width < 1):
        parser.error(f"--options must name some of {', '.join(OPTIONS)}, --steps and --width be >= 1")
    preset = cifar10.PRESETS[args.preset]
    if args.width is not None:
        preset = dataclasses.replace(preset, width=args.width)
    trained, embedded = trial_images(preset)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; preset {args.preset}, ResNet width {preset.width}; {args.steps} steps of batch {preset.train.batch_size}")
    print(f"one trial: {trained:,} training images, {embedded:,} embedded")
    print(f"| option | training images/s | embedding images/s | projected {args.preset} trial (min) |")
    print("|---|---|---|---|")
    results = {}
    for option in chosen:
        measured = time_option(OPTIONS[option], device, args.steps, preset)
        minutes = (measured["train_per_image"] * trained + measured["embed_per_image"] * embedded) / 60
        results[option] = dict(measured, projected_trial_minutes=minutes)
        print(f"| {option} | {1 / measured['train_per_image']:,.0f} | {1 / measured['embed_per_image']:,.0f} | {minutes:.1f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=name, torch=torch.__version__, preset=args.preset, width=preset.width, steps=args.steps,
                           trained_images=trained, embedded_images=embedded, results=results), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

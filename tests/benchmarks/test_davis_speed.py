"""What makes DeepDTA fast on this machine (issue 10): embedding the pool with
each distinct drug and protein encoded once against the plain batched forward,
and one training step under the settings worth trying on a CPU (bf16 autocast,
torch.compile, threads).

    pytest tests/benchmarks/test_davis_speed.py --benchmark-json=davis.json
    python tests/benchmarks/report.py davis.json

The model is the paper preset's DeepDTA (85-symbol SMILES, 1,200-residue
proteins, filters 32/64/96) on synthetic sequences of the Davis shape: 68
drugs, 442 proteins, the 20,037 pool pairs drawn at random.
"""

import pytest
import torch

from dacs_ext.al import embed
from experiments.tasks import davis

DRUGS, PROTEINS, POOL, BATCH = 68, 442, 20_037, 128


def _model(dedupe: bool = True):
    gen = torch.Generator().manual_seed(0)
    drugs = torch.randint(1, len(davis.SMILES_ALPHABET) + 1, (DRUGS, davis.SMILES_LENGTH), generator=gen)
    proteins = torch.randint(1, len(davis.PROTEIN_ALPHABET) + 1, (PROTEINS, davis.PROTEIN_LENGTH), generator=gen)
    torch.manual_seed(0)
    model = davis.make_model(davis.PRESETS["paper"], drugs=drugs, proteins=proteins)
    model.backbone.dedupe = dedupe
    pairs = torch.stack([torch.randint(0, DRUGS, (POOL,), generator=gen), torch.randint(0, PROTEINS, (POOL,), generator=gen)], 1)
    return model, pairs


def _extra(benchmark):
    if not benchmark.disabled:
        benchmark.extra_info.update(device="cpu", threads=torch.get_num_threads(), torch=torch.__version__)


@pytest.mark.parametrize("variant", ["distinct-once", "every-pair"])
def test_davis_embed_pool(benchmark, variant):
    model, pairs = _model(dedupe=variant == "distinct-once")
    benchmark.group = "davis-embed-20k"
    run = lambda: embed(model, pairs, ("features",), batch_size=4096)["features"]  # noqa: E731
    got = benchmark.pedantic(run, rounds=1 if variant == "every-pair" else 3, iterations=1)
    # Both paths compute the same features (the dedupe only skips repeated work).
    model.backbone.dedupe = variant != "distinct-once"
    rows = torch.arange(0, POOL, 997)
    torch.testing.assert_close(embed(model, pairs[rows], ("features",))["features"], got[rows], rtol=1e-4, atol=1e-5)
    _extra(benchmark)


STEP_VARIANTS = ["fp32", "bf16-autocast", "compile", "fp32-1-thread"]


@pytest.mark.parametrize("variant", STEP_VARIANTS)
def test_davis_training_step(benchmark, variant):
    if variant == "compile" and benchmark.disabled:
        pytest.skip("compiling takes about a minute; timed only when benchmarks run")
    model, pairs = _model()
    model.train()
    batch = pairs[:BATCH]
    y = torch.rand(BATCH) * 5 + 5
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)  # DeepDTA's
    forward = torch.compile(model) if variant == "compile" else model
    threads = torch.get_num_threads()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant == "bf16-autocast"):
            out = forward(batch)
            loss = model.classifier.loss(out.logits.float(), y) + model.aux_loss(out.aux_logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    if variant == "fp32-1-thread":
        torch.set_num_threads(1)
    try:
        benchmark.group = "davis-train-step-128"
        loss = benchmark.pedantic(step, rounds=5, warmup_rounds=1, iterations=1)
        assert torch.isfinite(loss)
        _extra(benchmark)
    finally:
        torch.set_num_threads(threads)

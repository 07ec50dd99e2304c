"""Every dacs op once on small CUDA inputs, for compute-sanitizer
(``scripts/gpu_check.sh`` runs it under memcheck, racecheck and synccheck).
Sizes straddle the kernels' tile and block sizes; the outputs are synchronised
and checked against the CPU kernels so a silent corruption fails here too."""

import sys

import torch

import dacs_ext
from dacs_ext import ops


def every_op(z: torch.Tensor, rotation: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each op once on z [1031, 17] and rotation [2, 17, 37], on their device; the
    kernels' d <= 16 paths (a resident row, 16-byte loads) on their first 16 columns."""
    z16 = z[:, :16].contiguous()
    out = dict(
        buckets=ops.lsh_buckets(z, rotation),
        buckets16=ops.lsh_buckets(z16, rotation[:, :16].contiguous()),
        kcenter16=ops.kcenter_greedy(z16, ops.min_distance(z16, z16[:5], "euclidean"), 64, "euclidean"),
        chunk_density=ops.chunk_density(z, 9, "both"),
        min_distance=ops.min_distance(z, z[:257], "euclidean"),
        kcenter=ops.kcenter_greedy(z.double(), ops.min_distance(z.double(), z[:5].double(), "cosine"), 64, "cosine"),
        natural_breaks=ops.natural_breaks(z[:, 0].double(), 4),
    )
    out["bucket_sort"] = ops.bucket_sort(out["buckets"][0], 74)
    return out


def main() -> int:
    if not torch.cuda.is_available():
        print("sanitize_ops: no CUDA device", file=sys.stderr)
        return 1
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(1031, 17, generator=g), dim=1)
    rotation = torch.randn(2, 17, 37, generator=g)
    cpu, cuda = every_op(z, rotation), every_op(z.cuda(), rotation.cuda())
    zc = z.cuda()
    dacs_ext.select(zc, zc[:20], 50, "recommended", generator=torch.Generator(device="cuda").manual_seed(1))
    torch.cuda.synchronize()
    bad = [name for name in cpu if not torch.allclose(cuda[name].cpu().double(), cpu[name].double(), rtol=1e-4, atol=1e-4)]
    print("sanitize_ops: every op ran" + (f"; differs from the CPU: {', '.join(bad)}" if bad else ", all equal to the CPU kernels"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

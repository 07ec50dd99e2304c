"""Input builders and tolerances shared by the tests."""

import torch


def unit_rows(n, d, *, gen, dtype=torch.float64, device="cpu"):
    z = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return torch.nn.functional.normalize(z, dim=1).to(dtype=dtype, device=device)


def tolerance(dtype):
    """(rtol, atol) for comparing the accumulated outputs of the two implementations."""
    return (1e-10, 1e-10) if dtype == torch.float64 else (1e-4, 1e-4)

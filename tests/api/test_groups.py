"""natural_breaks against jenkspy (the exact O(N^2) oracle) and density groups."""

import jenkspy
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dacs_ext
from dacs_ext import ops


def jenks(values, classes):
    return torch.tensor(jenkspy.jenks_breaks(values.double().cpu().numpy(), n_classes=classes), dtype=torch.float64)


def sample(kind, n, gen):
    if kind == "uniform":
        return torch.rand(n, generator=gen, dtype=torch.float64)
    if kind == "normal":
        return torch.randn(n, generator=gen, dtype=torch.float64)
    if kind == "heavy_ties":
        return torch.randint(0, 12, (n,), generator=gen).double()
    if kind == "constant_runs":  # long runs of a few values, plus noise values
        runs = torch.randint(0, 5, (n,), generator=gen).double() * 10
        runs[: n // 10] = torch.randn(n // 10, generator=gen, dtype=torch.float64)
        return runs
    if kind == "skewed":
        return torch.randn(n, generator=gen, dtype=torch.float64).exp()
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["uniform", "normal", "heavy_ties", "constant_runs", "skewed"])
@pytest.mark.parametrize("n", [13, 200, 3000])
@pytest.mark.parametrize("classes", [2, 3, 4, 7])
def test_natural_breaks_equal_jenkspy(device, gen, kind, n, classes):
    values = sample(kind, n, gen)
    if int(torch.unique(values).numel()) < classes:
        with pytest.raises(ValueError, match="distinct values"):
            dacs_ext.natural_breaks(values.to(device), classes)
        return
    got = dacs_ext.natural_breaks(values.to(device), classes)
    assert got.device == values.to(device).device and got.dtype == torch.float64
    assert torch.equal(got.cpu(), jenks(values, classes))


@pytest.mark.parametrize("kind", ["normal", "heavy_ties", "constant_runs"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_natural_breaks_equal_jenkspy_on_parallel_rows(gen, kind, dtype):
    # 10,000 values: the CPU solver splits rows over 4,096 into parallel tasks,
    # and its sort (a radix sort of the values' bits) sees negatives and ties.
    values = sample(kind, 10_000, gen).to(dtype)
    for classes in (3, 5):
        assert torch.equal(ops.natural_breaks(values, classes).double(), jenks(values, classes))


@pytest.mark.parametrize("a, b", [(4, 4), (8, 8), (12, 4)])
def test_natural_breaks_keeps_the_smallest_of_tied_splits(gen, a, b):
    # a zeros, b ones, a twos: splitting after the zeros or before the twos costs
    # exactly the same (every sum is exact), and jenkspy keeps the first split.
    # The two splits lie 8 or 16 positions apart or not, so the tie is met inside
    # one vector lane or between two.
    values = torch.tensor([0.0] * a + [1.0] * b + [2.0] * a, dtype=torch.float64)
    values = values[torch.randperm(values.numel(), generator=gen)]
    want = jenks(values, 2)
    assert want.tolist() == [0.0, 0.0, 2.0]
    assert torch.equal(ops.natural_breaks(values, 2), want)


def test_natural_breaks_accepts_finite_values_whose_sum_overflows():
    # The finiteness check sums first; an overflowing sum of finite values must
    # fall back to the exact check, not be called NaN.
    values = torch.tensor([3e38, 3e38, 3e38, -1.0, 1.0])
    assert not torch.isfinite(values.sum())
    assert dacs_ext.natural_breaks(values, 2).tolist() == [-1.0, 1.0, values[0].item()]
    with pytest.raises(ValueError, match="values contains NaN or infinite values"):
        dacs_ext.natural_breaks(torch.tensor([1.0, float("nan"), 2.0]), 2)


def test_natural_breaks_refuses_2_to_the_31_values():
    with pytest.raises(RuntimeError, match="at most 2\\^31 - 1 values, got 2147483648"):
        ops.natural_breaks(torch.zeros(1).expand(2**31), 4)  # a view: no memory


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), classes=st.integers(2, 6), extra=st.integers(0, 300), levels=st.integers(2, 40))
def test_natural_breaks_property(seed, classes, extra, levels):
    gen = torch.Generator().manual_seed(seed)
    n = classes + extra
    values = torch.randint(0, levels, (n,), generator=gen).double() / 4
    values[:classes] = torch.arange(classes, dtype=torch.float64) * 100  # enough distinct values
    assert torch.equal(ops.natural_breaks(values, classes), jenks(values, classes))


def test_natural_breaks_smallest_input_and_dtypes(gen):
    values = torch.tensor([3.0, 1.0, 2.0])
    assert dacs_ext.natural_breaks(values, 3).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert dacs_ext.natural_breaks(values, 3).dtype == torch.float32
    assert dacs_ext.natural_breaks(torch.tensor([5, 1, 1, 9]), 2).tolist() == [1.0, 1.0, 9.0]


def test_natural_breaks_reference_is_jenkspy(gen):
    values = torch.randn(500, generator=gen, dtype=torch.float64)
    assert torch.equal(dacs_ext.reference.natural_breaks(values, 4), jenks(values, 4))


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: dacs_ext.natural_breaks(torch.ones(10), 2), ValueError, "at least classes = 2 distinct values, got 1"),
        (lambda: dacs_ext.natural_breaks(torch.tensor([1.0, 2.0, 2.0]), 3), ValueError, "distinct values"),
        (lambda: dacs_ext.natural_breaks(torch.arange(5.0), 1), ValueError, "classes must be >= 2, got 1"),
        (lambda: dacs_ext.natural_breaks(torch.arange(5.0), 6), ValueError, "at least classes = 6 values"),
        (lambda: dacs_ext.natural_breaks(torch.tensor([1.0, float("nan"), 2.0]), 2), ValueError, "values contains NaN"),
        (lambda: dacs_ext.natural_breaks(torch.arange(6.0).view(2, 3), 2), ValueError, "values must be 1-D"),
        (lambda: dacs_ext.natural_breaks([1.0, 2.0], 2), TypeError, "values must be a torch.Tensor or numpy array"),
        (lambda: dacs_ext.density_groups(torch.ones(10)), ValueError, "distinct values"),
        (lambda: ops.natural_breaks(torch.ones(10), 2), RuntimeError, "at least classes = 2 distinct values"),
        (lambda: ops.natural_breaks(torch.arange(5.0), 1), RuntimeError, "classes must be at least 2"),
        (lambda: ops.natural_breaks(torch.arange(5), 2), RuntimeError, "values must be a floating tensor"),
    ],
)
def test_natural_breaks_rejects(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_density_groups_follow_the_breaks(device, gen):
    density = torch.cat([torch.randn(300, generator=gen) + shift for shift in (0.0, 8.0, 16.0, 24.0)]).to(device)
    groups = dacs_ext.density_groups(density, 4)
    assert groups.dtype == torch.int64 and groups.device == density.device
    assert torch.equal(groups.cpu(), torch.arange(4).repeat_interleave(300))
    breaks = dacs_ext.natural_breaks(density, 4).cpu()
    for g in range(4):
        members = density.cpu()[groups.cpu() == g]
        assert float(members.max()) <= float(breaks[g + 1]) and float(members.min()) >= float(breaks[g])


def test_opcheck_natural_breaks(device, gen):
    torch.library.opcheck(torch.ops.dacs.natural_breaks.default, (torch.randn(100, generator=gen).to(device), 4))

"""numpy in, numpy out: every public selection function takes numpy arrays
(C- or F-ordered, strided, memory-mapped) and returns numpy for numpy input,
with the same values as the tensor call; C-contiguous arrays are not copied."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import dacs_ext
from dacs_ext.arrays import to_tensor

SEED = 11


def seeded():
    return torch.Generator().manual_seed(SEED)


def layouts(a, tmp_path):
    """The same values as C-ordered, F-ordered, strided and memory-mapped arrays."""
    strided = np.empty((a.shape[0] * 2, a.shape[1]), dtype=a.dtype)[::2]
    strided[...] = a
    path = tmp_path / "a.npy"
    np.save(path, a)
    return {"C": np.ascontiguousarray(a), "F": np.asfortranarray(a), "strided": strided, "memmap": np.load(path, mmap_mode="r")}


def features(n, d, dtype, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


def log_probs(n, c, seed):
    return torch.log_softmax(torch.from_numpy(features(n, c, np.float64, seed)), dim=1).numpy()


CALLS = {
    "select": lambda x, l: dacs_ext.select(x, l, 7, buckets=10, generator=seeded()),
    "select_details": lambda x, l: dacs_ext.select(x, l, 7, buckets=10, generator=seeded(), return_details=True),
    "DACS.select": lambda x, l: dacs_ext.DACS(buckets=10, seed=SEED).select(x, l, 7),
    "density": lambda x, l: dacs_ext.density(x, 10, generator=seeded()),
    "density_keys": lambda x, l: dacs_ext.density(x, 10, generator=seeded(), return_keys=True),
    "knn_density": lambda x, l: dacs_ext.knn_density(x, 5),
    "knn_indices": lambda x, l: dacs_ext.knn_indices(x, 5, queries=np.arange(0, 300, 7)),
    "min_distance": lambda x, l: dacs_ext.min_distance(x, l, metric="euclidean"),
    "kcenter_greedy": lambda x, l: dacs_ext.kcenter_greedy(x, l, 9, generator=seeded()),
    "kcenter_greedy_first": lambda x, l: dacs_ext.kcenter_greedy(x, None, 9, metric="euclidean", generator=seeded()),
}


def assert_same(got, want):
    """got (from numpy input) holds numpy arrays exactly where want (tensor input) holds tensors."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, np.ndarray), type(got)
        assert got.dtype == want.numpy().dtype and got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got, want.numpy())
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w)
    elif isinstance(want, dict):
        assert got.keys() == want.keys()
        for key in want:
            if key != "seconds":
                assert_same(got[key], want[key])
    else:
        assert got == want


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "memmap"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_numpy_in_numpy_out(tmp_path, call, layout, dtype):
    x = layouts(features(300, 6, dtype, 1), tmp_path)[layout]
    labeled = features(20, 6, dtype, 2)
    # The tensor twin keeps the array's layout: a strided matmul may round differently.
    want = CALLS[call](torch.from_numpy(np.array(x, order="K")), torch.from_numpy(labeled))
    assert_same(CALLS[call](x, labeled), want)


def test_dacs_with_uncertainty_takes_numpy():
    x, labeled = features(400, 6, np.float32, 3), features(10, 6, np.float32, 4)
    uncertainty = np.random.default_rng(5).random(400)
    want = dacs_ext.DACS(buckets=10, seed=SEED).select(torch.from_numpy(x), torch.from_numpy(labeled), 12, torch.from_numpy(uncertainty))
    assert_same(dacs_ext.DACS(buckets=10, seed=SEED).select(x, labeled, 12, uncertainty), want)


def test_group_functions_take_numpy():
    values = np.random.default_rng(6).random(500)
    assert_same(dacs_ext.natural_breaks(values, 4), dacs_ext.natural_breaks(torch.from_numpy(values), 4))
    assert_same(dacs_ext.density_groups(values, 3), dacs_ext.density_groups(torch.from_numpy(values), 3))
    sizes = np.array([400, 50, 30, 20], dtype=np.int64)
    assert_same(dacs_ext.split_budget(sizes, 60), dacs_ext.split_budget(torch.from_numpy(sizes), 60))
    candidates, scores = np.array([5, 2, 9, 0]), np.linspace(0, 1, 10)
    assert_same(
        dacs_ext.expand_and_squeeze(candidates, scores, 2),
        dacs_ext.expand_and_squeeze(torch.from_numpy(candidates), torch.from_numpy(scores), 2),
    )


def test_cdal_functions_take_numpy():
    p, q = log_probs(200, 4, 7), log_probs(15, 4, 8)
    assert_same(dacs_ext.cdal_kcenter(p, q, 6), dacs_ext.cdal_kcenter(torch.from_numpy(p), torch.from_numpy(q), 6))
    assert_same(dacs_ext.symmetric_kl(p, p[::-1]), dacs_ext.symmetric_kl(torch.from_numpy(p), torch.from_numpy(p[::-1].copy())))


def test_tensor_first_argument_keeps_tensor_output():
    x, labeled = features(100, 4, np.float32, 9), features(5, 4, np.float32, 10)
    got = dacs_ext.select(torch.from_numpy(x), labeled, 3, buckets=10, generator=seeded())
    assert isinstance(got, torch.Tensor)
    assert got.tolist() == dacs_ext.select(x, labeled, 3, buckets=10, generator=seeded()).tolist()


def test_c_contiguous_and_memory_mapped_arrays_are_not_copied(tmp_path):
    x = features(50, 3, np.float32, 12)
    assert to_tensor(x, "x").data_ptr() == x.ctypes.data
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert to_tensor(mapped, "x").data_ptr() == mapped.ctypes.data
    fortran = np.asfortranarray(x)
    assert to_tensor(fortran, "x").data_ptr() == fortran.ctypes.data  # a strided view, not a copy


def test_unusual_byte_order_and_negative_strides_give_the_same_picks():
    x = features(200, 5, np.float32, 13)
    want = dacs_ext.select(x, None, 6, buckets=10, generator=seeded())
    np.testing.assert_array_equal(dacs_ext.select(x.astype(">f4"), None, 6, buckets=10, generator=seeded()), want)
    reversed_rows = x[::-1]
    np.testing.assert_array_equal(
        dacs_ext.select(reversed_rows, None, 6, buckets=10, generator=seeded()),
        dacs_ext.select(reversed_rows.copy(), None, 6, buckets=10, generator=seeded()),
    )


@pytest.mark.parametrize("dtype", [object, np.complex64, "U3"])
def test_non_numeric_array_names_the_argument(dtype):
    x = features(20, 3, np.float32, 14)
    with pytest.raises(TypeError, match="labeled must be a numeric array"):
        dacs_ext.select(x, np.zeros((2, 3)).astype(dtype), 2)
    with pytest.raises(TypeError, match="unlabeled must be a numeric array"):
        dacs_ext.select(x.astype(dtype), None, 2)


def test_numpy_nan_row_is_refused():
    x = features(20, 3, np.float64, 15)
    x[7, 1] = np.nan
    with pytest.raises(ValueError, match="unlabeled contains NaN"):
        dacs_ext.select(x, None, 2)


MAPPED_ROWS, MAPPED_DIM = 10**6, 16
PEAK_FACTOR = 4.3
"""select's peak memory growth on a memory-mapped float32 pool, as a multiple
of the file: the file's own pages once mapped (1x), the unit rows (1x), the
hash keys, densities and k-center distances (about 1.8x at 10^6 x 16; measured
3.8-3.9x on 2026-12-05, Intel Xeon, torch 2.13.0). One copy of the input
(a further 1x) crosses it."""

PEAK_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, torch, dacs_ext

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024

    x = np.load(sys.argv[1], mmap_mode="r")
    labeled = np.array(x[:1000])
    dacs_ext.select(x[-2000:], labeled, 10, generator=torch.Generator().manual_seed(0))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current resident size
    base = status("VmRSS")
    picks = dacs_ext.select(x, labeled, 1000, generator=torch.Generator().manual_seed(0))
    assert isinstance(picks, np.ndarray) and len(np.unique(picks)) == 1000
    print(status("VmHWM") - base)
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc to read the peak memory")
def test_memory_mapped_million_rows_peak_memory(tmp_path):
    path = tmp_path / "pool.npy"
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(MAPPED_ROWS, MAPPED_DIM))
    rng = np.random.default_rng(16)
    for start in range(0, MAPPED_ROWS, 250_000):
        rows[start : start + 250_000] = rng.standard_normal((250_000, MAPPED_DIM), dtype=np.float32)
    rows.flush()
    del rows
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    grown, file_bytes = int(out.stdout.split()[-1]), MAPPED_ROWS * MAPPED_DIM * 4
    assert grown <= PEAK_FACTOR * file_bytes, f"select grew the process by {grown / file_bytes:.2f}x the file"

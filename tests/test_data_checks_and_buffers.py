"""The finiteness check of the data, and buffers on cache-line boundaries."""
import numpy as np
import pytest

import fastbp
from fastbp import _train


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 4_096, 4_097, 10_000])
def test_is_finite_finds_every_non_finite_value(dtype, n):
    """At any position: in a vector block, the tail of a block, the last block."""
    info = np.finfo(dtype)
    values = np.resize(np.array([0.0, -0.0, info.max, -info.max, info.tiny / 4, 1.5], dtype), n)
    assert _train.is_finite(values) and _train.is_finite(values, chunk=7)
    for position in sorted({0, n // 2, n - 1, min(16, n - 1), min(4_095, n - 1)}):
        for bad in (np.nan, np.inf, -np.inf):
            broken = values.copy()
            broken[position] = bad
            assert not _train.is_finite(broken), (position, bad)
            assert not _train.is_finite(broken, chunk=1_000), (position, bad)
    assert _train.is_finite(np.empty(0, dtype))


# ----- buffers on cache-line boundaries ------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 1000, 250_000])
def test_aligned_buffers_start_on_a_cache_line(n, dtype):
    from fastbp._buffers import aligned_empty, aligned_zeros
    for array in (aligned_empty(n, dtype), aligned_zeros(n, dtype)):
        assert array.shape == (n,) and array.dtype == dtype and array.flags.c_contiguous
        assert n == 0 or array.ctypes.data % 64 == 0  # (an empty array has no data)
    assert not aligned_zeros(n, dtype).any()


def test_the_kernels_buffers_are_aligned(tmp_path, problem):
    """Parameters (also of a loaded or copied network), workspaces, gradients and optimizer
    state start on 64-byte boundaries; each workspace buffer is a whole number of lines, so
    they all do (numpy's own large arrays start 16 bytes past one)."""
    net = fastbp.Network([784, 256, 128, 10], loss="cross_entropy", seed=0)
    X, y = problem("cross_entropy", 784, 10, 64, seed=1)
    net.fit(X, y, epochs=1, batch_size=32, optimizer="adam")
    net.save(tmp_path / "net")
    for each in (net, net.copy(), fastbp.load(tmp_path / "net")):
        assert each.state.params.ctypes.data % 64 == 0
        assert each.state.optimizer_state.ctypes.data % 64 == 0
        assert each._workspace(7).ctypes.data % 64 == 0
    for chunk in (1, 7, 64):
        for dropout in (False, True):
            assert net.architecture.workspace_size(chunk, dropout) % 16 == 0

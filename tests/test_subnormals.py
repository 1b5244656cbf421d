"""Subnormal numbers: flushed to zero inside compiled calls, IEEE everywhere else.

A weight that only the L2 penalty moves (an input that is always 0) decays geometrically; in
IEEE arithmetic it becomes subnormal and every product touching it takes the CPU's slow path.
Inside fastbp's compiled calls such values are flushed to zero (src_c/fastbp_fpmode.h), and the
caller's floating-point mode is put back afterwards.
"""
import numpy as np
import pytest

import fastbp


def subnormal_count(array):
    array = np.asarray(array)
    return int(np.sum((array != 0) & (np.abs(array) < np.finfo(array.dtype).tiny)))


def blank_column_problem(n=256, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, :2] = 0  # inputs that never carry a signal: their weights feel only the L2 penalty
    return X, rng.integers(0, 3, size=n)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("path", ["loops", "blas"])
def test_subnormal_weights_are_flushed_to_zero_by_training(dtype, path, optimizer):
    X, y = blank_column_problem()
    net = fastbp.Network([6, 8, 3], activation="relu", loss="cross_entropy", dtype=dtype,
                         seed=1, n_threads=1)
    net.architecture.blas_min_work = 0 if path == "blas" else 1 << 62
    weights = [W.copy() for W in net.weights]
    weights[0][:, :2] = np.finfo(dtype).tiny / 8  # the blank inputs' weights, subnormal
    net.set_weights(weights, net.biases)
    assert subnormal_count(net.state.params) == 16
    net.fit(X, y, epochs=2, batch_size=64, optimizer=optimizer, lr=1e-3, alpha=1e-4)
    assert subnormal_count(net.state.params) == 0
    assert np.all(net.weights[0][:, :2] == 0)
    assert subnormal_count(net.state.optimizer_state) == 0


def test_the_callers_floating_point_mode_is_put_back(dtype):
    X, y = blank_column_problem()
    net = fastbp.Network([6, 8, 3], activation="relu", loss="cross_entropy", dtype=dtype)
    tiny = np.finfo(dtype).tiny
    net.fit(X, y, epochs=1, batch_size=16)
    net.loss(X, y)
    net.predict(X)
    assert np.array(tiny, dtype) / np.array(4, dtype) != 0  # numpy still gets a subnormal

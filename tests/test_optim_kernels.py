"""The element loops in src_c/fastbp_optim.c (clones per instruction set: Adam, AdamW and
scikit-learn's Adam, momentum and Nesterov) against numpy replicas of the same operations in
the same dtypes and order: bit for bit, on lengths
around the 16-element blocks in which the fused trainer also squares the weights, with and
without the L2 term. (The squares themselves are checked by test_fused_optimizers: the fused
step's reported loss equals the two-pass step's, which sums ‖W‖² separately.)
"""
import numpy as np
import pytest

from fastbp import _optim, optim


def numpy_adam(config, theta, g, m, v, lr, t, alpha):
    """The kernel's arithmetic in the arrays' dtype: the scalars rounded from float64 as the
    kernel rounds them, every elementwise operation in its order."""
    f = theta.dtype.type
    c1, c2 = 1 - config.beta1 ** t, 1 - config.beta2 ** t
    step, inv_sqrt_c2 = f(lr / c1), f(1 / np.sqrt(c2))
    decay = f(1 - lr * getattr(config, "weight_decay", 0.0))
    if alpha:
        g = g + f(alpha) * theta
    m[:] = f(config.beta1) * m + f(1 - config.beta1) * g
    v[:] = f(config.beta2) * v + f(1 - config.beta2) * g * g
    theta[:] = decay * theta - step * m / (np.sqrt(v) * inv_sqrt_c2 + f(config.eps))


@pytest.mark.parametrize("alpha", [0.0, 0.05])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 47, 1000])
@pytest.mark.parametrize("config", [optim.Adam(beta1=0.8, beta2=0.99, eps=1e-6),
                                    optim.AdamW(weight_decay=0.1)], ids=["adam", "adamw"])
def test_adam_kernel_equals_the_numpy_replica_bit_for_bit(config, n, alpha, dtype):
    rng = np.random.default_rng(n)
    theta = rng.normal(size=n).astype(dtype)
    state = config.new_state(n, dtype)
    expected, m, v = theta.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    for t, lr in enumerate([0.01, 0.002, 0.03], start=1):
        g = rng.normal(size=n).astype(dtype)
        _optim.step(config.code, theta, g, lr, config.hyper(), state, t, alpha)
        numpy_adam(config, expected, g, m, v, lr, t, alpha)
        np.testing.assert_array_equal(theta, expected)
        np.testing.assert_array_equal(state, np.concatenate([m, v]))


def numpy_sklearn(config, theta, g, state, lr, t, alpha):
    """scikit-learn's forms as its numpy code computes them (python-float scalars taking the
    arrays' dtype; Adam's step a float64 scalar, so its update is formed in float64)."""
    f = theta.dtype.type
    if alpha:
        g = g + f(alpha) * theta
    if isinstance(config, optim.Adam):
        m, v = state
        m[:] = f(config.beta1) * m + f(1 - config.beta1) * g
        v[:] = f(config.beta2) * v + f(1 - config.beta2) * (g * g)
        step = lr * np.sqrt(1 - config.beta2 ** t) / (1 - config.beta1 ** t)
        theta[:] = theta + (-step * m.astype(np.float64)) / (np.sqrt(v) + f(config.eps))
        return
    (v,) = state
    v[:] = f(config.momentum) * v - f(lr) * g
    theta[:] = theta + (f(config.momentum) * v - f(lr) * g if config.nesterov else v)


@pytest.mark.parametrize("alpha", [0.0, 0.05])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 47, 1000])
@pytest.mark.parametrize("config", [
    optim.Adam(beta1=0.8, beta2=0.99, eps=1e-6, convention="sklearn"),
    optim.SGD(momentum=0.9, convention="sklearn"),
    optim.SGD(momentum=0.7, nesterov=True, convention="sklearn")],
    ids=["adam", "momentum", "nesterov"])
def test_sklearn_kernels_equal_the_numpy_replica_bit_for_bit(config, n, alpha, dtype):
    rng = np.random.default_rng(n)
    theta = rng.normal(size=n).astype(dtype)
    state = config.new_state(n, dtype)
    expected = theta.copy()
    replica_state = [np.zeros(n, dtype) for _ in range(config.state_size)]
    for t, lr in enumerate([0.01, 0.002, 0.03], start=1):
        g = rng.normal(size=n).astype(dtype)
        _optim.step(config.code, theta, g, lr, config.hyper(), state, t, alpha)
        numpy_sklearn(config, expected, g, replica_state, lr, t, alpha)
        np.testing.assert_array_equal(theta, expected)
        np.testing.assert_array_equal(state, np.concatenate(replica_state))

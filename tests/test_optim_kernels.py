"""The Adam/AdamW element loop in src_c/fastbp_optim.c (clones per instruction set) against a
numpy replica of the same operations in the same dtype and order: bit for bit, on lengths
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

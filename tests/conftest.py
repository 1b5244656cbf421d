"""Shared fixtures: the tolerance table per dtype and small random problems.

Tests import the *installed* fastbp (pytest runs in importlib mode), never the source folder.
"""
import signal
import threading

import numpy as np
import pytest

import fastbp


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_as_in_a_terminal():
    """A runner started in the background without job control ignores SIGINT (and so would
    this process and its children): give the Ctrl-C tests Python's own handler back."""
    ignored = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

# One tolerance table per dtype: relative agreement expected with the float64 reference.
#   exact: same algorithm, different summation order (float64 rounding only)
#   close: float32 arithmetic against the float64 reference
TOLERANCES = {
    "float64": {"exact": 1e-12, "close": 1e-12},
    "float32": {"exact": 1e-5, "close": 2e-4},
}
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "elu", "softplus", "gelu")
MSE_OUTPUTS = ("identity", "sigmoid", "tanh")


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def tol(dtype):
    return TOLERANCES[dtype]


def make_problem(loss, n_in, n_out, n, seed):
    """Random inputs and targets of the form `loss` takes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    if loss in ("mse", "mae", "huber"):
        y = rng.normal(size=(n, n_out)) if n_out > 1 else rng.normal(size=n)
    elif loss == "poisson":
        y = rng.poisson(1.5, size=(n, n_out)).astype(np.float64)
        if n_out == 1:
            y = y[:, 0]
    elif loss == "cross_entropy":
        y = rng.integers(0, n_out, size=n)
    else:
        y = rng.integers(0, 2, size=(n, n_out)).astype(np.float64)
        if n_out == 1:
            y = y[:, 0]
    return X, y


@pytest.fixture
def problem():
    return make_problem


def relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(a).max(initial=0), np.abs(b).max(initial=0), 1e-300)
    return np.abs(a - b).max(initial=0) / scale


@pytest.fixture
def rel_err():
    return relative_error


@pytest.fixture
def net_state():
    """A bit-for-bit snapshot of a network: parameters and shuffle generator state."""
    def snapshot(net):
        return (np.concatenate([np.ravel(a) for pair in zip(net.weights, net.biases) for a in pair]).tobytes(),
                repr(net.state.shuffle_rng.bit_generator.state))
    return snapshot


__all__ = ["fastbp"]

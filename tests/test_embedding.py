"""The C API from compiled code: examples/cython, built once per session in a temporary folder
against the installed fastbp (whatever ``import fastbp`` finds), then run.

Its forward pass is held to Network.predict, its per-example steps to
Network.fit(batch_size=1, shuffle=False) with plain SGD (bit for bit: the view runs fit's own
kernels, and every layer here is small enough for fit's compiled loops), and the lock and
the version to what fastbp.api documents.
"""
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import fastbp
import fastbp.api

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cython"
CASES = [("mse", 2, "tanh"), ("mse", 1, "gelu"), ("mae", 2, "relu"), ("huber", 2, "elu"),
         ("poisson", 2, "softplus"), ("cross_entropy", 3, "sigmoid"),
         ("binary_cross_entropy", 2, "leaky_relu"), ("cross_entropy", 3, "identity")]


def _compiler_missing():
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(compiler) is None


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example module, built from a copy of examples/cython (once per session)."""
    pytest.importorskip("Cython", reason="Cython is needed to build the example consumer")
    if _compiler_missing():
        pytest.skip("no C compiler to build the example consumer")
    assert EXAMPLE.is_dir(), f"{EXAMPLE} is missing: run the tests from the repository's tests/"
    folder = tmp_path_factory.mktemp("embedding")
    for name in ("simulate.pyx", "setup.py"):
        shutil.copy(EXAMPLE / name, folder / name)
    # The build runs in another interpreter: it must import the same fastbp as this one.
    env = dict(os.environ)
    installed = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [installed, env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=folder,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = glob.glob(str(folder / "simulate*.so")) + glob.glob(str(folder / "simulate*.pyd"))
    assert len(built) == 1, os.listdir(folder)
    spec = importlib.util.spec_from_file_location("simulate", built[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def view_targets(net, y):
    if net.loss_name == "cross_entropy":
        return np.eye(net.sizes[-1], dtype=net.dtype)[y]
    return np.ascontiguousarray(np.reshape(y, (len(y), -1)), dtype=net.dtype)


def test_the_example_sees_the_network_and_the_version(example, dtype):
    net = fastbp.Network([3, 5, 2], activation=["relu"], output="sigmoid", loss="huber",
                         dtype=dtype, seed=0)
    with fastbp.api.open_view(net) as view:
        seen = example.describe(view.capsule)
    assert seen["api_version"] == fastbp.api.API_VERSION == example.BUILT_AGAINST
    assert seen["dtype"] == dtype and seen["sizes"] == [3, 5, 2]
    assert seen["activations"] == [fastbp._kernels.Activation.RELU,
                                   fastbp._kernels.Activation.SIGMOID]
    assert seen["loss"] == fastbp._kernels.Loss.HUBER and seen["n_params"] == net.n_params
    address = lambda array: array.__array_interface__["data"][0]  # noqa: E731
    assert seen["params"] == address(net.state.params)
    assert seen["weights"] == [address(W) for W in net.weights]
    assert seen["biases"] == [address(b) for b in net.biases]


@pytest.mark.parametrize("loss, n_out, activation", CASES)
def test_the_examples_forward_pass_is_predict(example, dtype, problem, loss, n_out, activation):
    net = fastbp.Network([4, 6, 5, n_out], activation=activation, loss=loss, dtype=dtype, seed=1)
    X = problem(loss, 4, n_out, 200, seed=0)[0].astype(dtype)
    with fastbp.api.open_view(net) as view:
        few = example.forward(view.capsule, X[:5])
        many = example.forward(view.capsule, X)
    # Up to 8 rows predict runs the same compiled loops: exactly; more rows go through BLAS.
    np.testing.assert_array_equal(few, net.predict(X[:5]).reshape(5, -1))
    rtol = {"float32": 1e-5, "float64": 1e-12}[dtype]
    np.testing.assert_allclose(many, net.predict(X).reshape(200, -1), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("loss, n_out, activation", CASES)
def test_the_examples_training_is_fit_per_example_bit_for_bit(example, dtype, problem, loss,
                                                              n_out, activation):
    net = fastbp.Network([4, 6, 5, n_out], activation=activation, loss=loss, dtype=dtype, seed=2)
    X, y = problem(loss, 4, n_out, 50, seed=3)
    X = X.astype(dtype)
    twin = net.copy()
    twin.fit(X, y, epochs=1, batch_size=1, shuffle=False, lr=0.05, optimizer="sgd")
    with fastbp.api.open_view(net) as view:
        status, steps, mean_loss = example.train(view.capsule, X, view_targets(net, y), 0.05)
    assert (status, steps) == (fastbp.api.OK, 50)
    for a, b in zip(net.weights + net.biases, twin.weights + twin.biases):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(mean_loss, twin.history.loss[0], rtol=1e-12)


def test_fit_is_refused_while_the_example_holds_a_view_and_works_after(example):
    net = fastbp.Network([2, 16, 2], activation="tanh", dtype="float64", seed=0)
    X = np.zeros((4, 2))
    with fastbp.api.open_view(net) as view:
        simulation = example.Simulation(view)
        status, errors = simulation.run(2000, 0.05)
        assert status == fastbp.api.OK
        with pytest.raises(RuntimeError, match="held by a C view; close it first"):
            net.fit(X, X, epochs=1)
    # the struct outlives close() inside the view the simulation holds: calls are refused
    assert simulation.run(1, 0.05)[0] == fastbp.api.CLOSED
    net.fit(X, X, epochs=1)
    # the online learner got better at predicting the oscillator's next state
    assert errors[-200:].mean() < errors[:200].mean() / 3


def test_the_example_refuses_what_is_not_a_view(example):
    with pytest.raises(TypeError, match="fastbp.api view"):
        example.describe(object())
    net = fastbp.Network([2, 3, 1], dtype="float64", seed=0)
    with fastbp.api.open_view(net) as view:
        with pytest.raises(TypeError, match="dtype"):
            example.forward(view.capsule, np.zeros((1, 2), np.float32))

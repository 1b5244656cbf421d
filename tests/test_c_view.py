"""fastbp.api's C view from Python: its functions called through the struct's own pointers
(NetworkView.forward / sgd_step), the lock it holds, what close leaves, the header it ships.
tests/test_embedding.py builds the example consumer and checks the same from compiled code."""
import gc
import io
import os
import re
import threading

import numpy as np
import pytest

import fastbp
import fastbp.api
from fastbp import _kernels

# (loss, output units, hidden activation) covering every loss and every activation.
CASES = [("mse", 2, "sigmoid"), ("mse", 1, "gelu"), ("mae", 2, "tanh"), ("huber", 2, "relu"),
         ("poisson", 2, "softplus"), ("cross_entropy", 3, "leaky_relu"),
         ("binary_cross_entropy", 2, "elu"), ("mse", 2, "identity"), ("cross_entropy", 3, "gelu")]


def view_targets(net, y):
    """y as the view takes it: one row of sizes[-1] values per example, the network's dtype."""
    if net.loss_name == "cross_entropy":
        return np.eye(net.sizes[-1], dtype=net.dtype)[y]
    return np.ascontiguousarray(np.reshape(y, (len(y), -1)), dtype=net.dtype)


def fitted_twin(net, X, y, lr):
    """What fit(batch_size=1, shuffle=False) with plain SGD makes of a copy of net."""
    twin = net.copy()
    twin.fit(X, y, epochs=1, batch_size=1, shuffle=False, lr=lr, optimizer="sgd")
    return twin


def assert_same_parameters(net, twin):
    for a, b in zip(net.weights + net.biases, twin.weights + twin.biases):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("loss, n_out, activation", CASES)
def test_sgd_steps_are_fits_per_example_sgd_bit_for_bit(dtype, problem, loss, n_out, activation):
    # Every layer under 1024 weights: fit's batch of one row runs the compiled loops too, so
    # the same kernels run in the same order.
    net = fastbp.Network([4, 6, 5, n_out], activation=activation, loss=loss, dtype=dtype, seed=3)
    X, y = problem(loss, 4, n_out, 40, seed=1)
    X = X.astype(dtype)
    twin = fitted_twin(net, X, y, lr=0.05)
    Y = view_targets(net, y)
    losses = []
    with fastbp.api.open_view(net) as view:
        for x_row, y_row in zip(X, Y):
            status, example_loss = view.sgd_step(x_row, y_row, 0.05)
            assert status == fastbp.api.OK
            losses.append(example_loss)
    assert_same_parameters(net, twin)
    # each loss is the example's before its step: their mean is the epoch's reported loss
    np.testing.assert_allclose(np.mean(losses), twin.history.loss[0], rtol=1e-12)


@pytest.mark.parametrize("loss, n_out, activation", CASES[::2])
def test_forward_is_predict(dtype, problem, loss, n_out, activation):
    net = fastbp.Network([4, 7, 5, n_out], activation=activation, loss=loss, dtype=dtype, seed=2)
    X = problem(loss, 4, n_out, 300, seed=0)[0].astype(dtype)
    with fastbp.api.open_view(net) as view:
        for rows in (1, 8):  # predict's few-row path: the same compiled loops
            np.testing.assert_array_equal(view.forward(X[:rows]),
                                          net.predict(X[:rows]).reshape(rows, -1))
        # predict's general path takes BLAS on chunks of many rows: rounding apart
        out = view.forward(X)
        assert out.shape == (300, n_out)
        rtol = {"float32": 1e-5, "float64": 1e-12}[dtype]
        np.testing.assert_allclose(out, net.predict(X).reshape(300, -1), rtol=rtol,
                                   atol=rtol)


def test_large_layers_step_as_fit_within_rounding(dtype):
    # 40·64 weights: fit's rows go through BLAS, the view's through the compiled loops.
    net = fastbp.Network([40, 64, 3], activation="tanh", dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 40)).astype(dtype), rng.normal(size=(30, 3)).astype(dtype)
    twin = fitted_twin(net, X, y, lr=0.01)
    with fastbp.api.open_view(net) as view:
        for x_row, y_row in zip(X, y):
            assert view.sgd_step(x_row, y_row, 0.01)[0] == fastbp.api.OK
    rtol = {"float32": 1e-4, "float64": 1e-12}[dtype]
    for a, b in zip(net.weights + net.biases, twin.weights + twin.biases):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("loss, n_out", [("mse", 1), ("cross_entropy", 3)])
def test_a_step_whose_loss_is_not_finite_changes_nothing(dtype, loss, n_out):
    # mse: fbp_train_per_example_mse's loop; cross_entropy: fused_batch
    net = fastbp.Network([3, 4, n_out], activation="tanh", loss=loss, dtype=dtype, seed=0)
    before = net.state.params.copy()
    x = np.ones(3, dtype)
    y = np.full(n_out, np.inf, dtype)
    with fastbp.api.open_view(net) as view:
        status, example_loss = view.sgd_step(x, y, 0.1)
    assert status == fastbp.api.NOT_APPLIED and not np.isfinite(example_loss)
    np.testing.assert_array_equal(net.state.params, before)


@pytest.mark.parametrize("lr", [0.0, -0.1, np.nan, np.inf])
def test_a_step_refuses_a_bad_learning_rate(lr):
    net = fastbp.Network([2, 3, 1], seed=0)
    before = net.state.params.copy()
    with fastbp.api.open_view(net) as view:
        with pytest.raises(ValueError, match="lr"):
            view.sgd_step(np.ones(2, np.float32), np.ones(1, np.float32), lr)
    np.testing.assert_array_equal(net.state.params, before)


def test_arrays_of_another_dtype_or_shape_are_refused():
    net = fastbp.Network([2, 3, 1], seed=0)
    with fastbp.api.open_view(net) as view:
        with pytest.raises(ValueError, match="float32"):
            view.forward(np.ones((2, 2)))
        with pytest.raises(ValueError, match="2 columns"):
            view.forward(np.ones((2, 3), np.float32))
        with pytest.raises(ValueError):
            view.sgd_step(np.ones(2, np.float32), np.ones(2, np.float32), 0.1)


def test_the_view_holds_the_training_lock_until_closed():
    net = fastbp.Network([2, 3, 1], seed=0)
    X, y = np.ones((4, 2)), np.ones(4)
    view = fastbp.api.open_view(net)
    for attempt in (lambda: net.fit(X, y, epochs=1), lambda: net.partial_fit(X, y),
                    lambda: net.set_weights(net.weights, net.biases), net.copy,
                    lambda: net.save(io.BytesIO()), lambda: fastbp.api.open_view(net),
                    lambda: fastbp.train_many([net], X, y, epochs=1)):
        with pytest.raises(RuntimeError, match="held by a C view; close it first"):
            attempt()
    assert net.predict(X).shape == (4,)  # reading works
    view.close()
    view.close()  # again: nothing
    assert view.closed
    net.fit(X, y, epochs=1)
    with fastbp.api.open_view(net):  # a new view after close
        pass


def test_a_view_cannot_be_opened_while_the_network_trains():
    X, y = fastbp.datasets.house_prices(20_000, seed=0, standardize=True)
    net = fastbp.Network([3, 64, 64, 1], seed=0)
    worker = threading.Thread(target=net.fit, args=(X, y), kwargs={"epochs": 5, "batch_size": 1})
    worker.start()
    while not net._lock.locked() and worker.is_alive():
        pass
    assert worker.is_alive(), "training finished before the test could overlap it"
    with pytest.raises(RuntimeError, match="another thread"):
        fastbp.api.open_view(net)
    worker.join()
    fastbp.api.open_view(net).close()


def test_a_closed_view_refuses_calls_and_a_dropped_one_releases_the_network():
    net = fastbp.Network([2, 3, 1], seed=0)
    with fastbp.api.open_view(net) as view:
        pass
    with pytest.raises(ValueError, match="closed"):
        view.forward(np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match="closed"):
        view.capsule
    fastbp.api.open_view(net)  # dropped unclosed: closed when collected
    gc.collect()
    net.fit(np.ones((2, 2)), np.ones(2), epochs=1)


def test_networks_that_standardise_are_refused_and_so_is_anything_else():
    for scaling in ({"scale_inputs": True}, {"scale_targets": True}):
        net = fastbp.Network([2, 3, 1], seed=0, **scaling)
        with pytest.raises(ValueError, match="scale_inputs/scale_targets"):
            fastbp.api.open_view(net)
        net.fit(np.ones((2, 2)), np.ones(2), epochs=1)  # not left locked
    with pytest.raises(TypeError, match="fastbp.Network"):
        fastbp.api.open_view("net")


def test_after_close_the_network_is_consistent_and_its_optimizer_untouched(tmp_path):
    X, y = fastbp.datasets.house_prices(64, seed=0, standardize=True)
    X, y = X.astype(np.float32), y.astype(np.float32)
    net = fastbp.Network([3, 8, 1], activation="tanh", seed=0)
    net.fit(X, y, epochs=2, batch_size=8, optimizer="adam")
    optimizer_state, step = net.state.optimizer_state.copy(), net.state.step
    with fastbp.api.open_view(net) as view:
        for x_row, y_row in zip(X, y[:, None]):
            view.sgd_step(x_row, y_row, 0.01)
        stepped = view.forward(X)
    np.testing.assert_array_equal(net.state.optimizer_state, optimizer_state)
    assert net.state.step == step and net.epochs_trained == 2
    np.testing.assert_array_equal(net.predict(X[:3]), stepped[:3, 0])  # predict's few-row path
    net.save(tmp_path / "net.npz")
    np.testing.assert_array_equal(fastbp.load(tmp_path / "net.npz").predict(X), net.predict(X))
    net.fit(X, y, epochs=1, batch_size=8)  # Adam goes on from its own state


def test_the_capsule_carries_the_apis_name():
    import ctypes
    net = fastbp.Network([3, 4, 2], seed=0)
    with fastbp.api.open_view(net) as view:
        capsule = view.capsule
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        assert get_name(capsule) == b"fastbp.api.view"


def test_the_header_ships_with_the_version_and_the_codes_of_this_build():
    header_path = os.path.join(fastbp.get_include(), "fastbp_api.h")
    header = open(header_path, encoding="utf-8").read()
    defines = dict(re.findall(r"#define (FASTBP_\w+) \(?(-?\d+)\)?", header))
    assert int(defines["FASTBP_API_VERSION"]) == fastbp.api.API_VERSION >= 1
    for member in _kernels.Activation:
        assert int(defines[f"FASTBP_{member.name}"]) == member.value
    for member in _kernels.Loss:
        assert int(defines[f"FASTBP_{member.name}"]) == member.value
    assert (int(defines["FASTBP_OK"]), int(defines["FASTBP_NOT_APPLIED"]),
            int(defines["FASTBP_ERR_CLOSED"]), int(defines["FASTBP_ERR_ARGUMENT"])) == (
        fastbp.api.OK, fastbp.api.NOT_APPLIED, fastbp.api.CLOSED, fastbp.api.BAD_ARGUMENT)
    package = os.path.dirname(fastbp.__file__)
    assert os.path.exists(os.path.join(package, "api.pxd"))
    assert "src_c" not in header and '#include "fastbp' not in header


def test_zero_rows_forward_to_nothing():
    net = fastbp.Network([2, 3, 1], seed=0)
    with fastbp.api.open_view(net) as view:
        assert view.forward(np.empty((0, 2), np.float32)).shape == (0, 1)


def test_the_step_applies_no_dropout(dtype, problem):
    X, y = problem("mse", 3, 2, 30, seed=0)
    X = X.astype(dtype)
    net = fastbp.Network([3, 6, 2], activation="relu", dtype=dtype, dropout=0.5, seed=4)
    plain = fastbp.Network([3, 6, 2], activation="relu", dtype=dtype, seed=4)
    assert_same_parameters(net, plain)  # dropout draws nothing at initialisation
    plain.fit(X, y, epochs=1, batch_size=1, shuffle=False, lr=0.05, optimizer="sgd")
    with fastbp.api.open_view(net) as view:
        for x_row, y_row in zip(X, view_targets(net, y)):
            view.sgd_step(x_row, y_row, 0.05)
    assert_same_parameters(net, plain)


def test_views_of_two_networks_step_from_two_threads_at_once(problem):
    X, y = problem("mse", 4, 2, 3000, seed=0)
    X, Y = X.astype(np.float32), y.astype(np.float32)
    nets = [fastbp.Network([4, 8, 2], activation="tanh", seed=seed) for seed in (0, 1)]
    twins = [fitted_twin(net, X, y, lr=0.01) for net in nets]
    views = [fastbp.api.open_view(net) for net in nets]

    def train(view):
        for x_row, y_row in zip(X, Y):
            view.sgd_step(x_row, y_row, 0.01)  # the step itself runs without the GIL

    workers = [threading.Thread(target=train, args=(view,)) for view in views]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for view, net, twin in zip(views, nets, twins):
        view.close()
        assert_same_parameters(net, twin)

"""The public surface: views, conversions, threads, configuration and the command line."""
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastbp
from fastbp import _validate


def test_weights_are_writable_views_into_the_parameters():
    net = fastbp.Network([3, 4, 2], activation="identity", dtype="float64", seed=0)
    assert net.weights[0].shape == (4, 3) and net.biases[1].shape == (2,)
    W0 = np.arange(12.0).reshape(4, 3)
    net.weights[0][...] = W0
    net.weights[1][...] = np.eye(2, 4)
    net.biases[0][...] = 1.0
    x = np.array([[1.0, -1.0, 2.0]])
    np.testing.assert_allclose(net.predict(x), (W0 @ x[0] + 1.0)[:2][None, :])
    assert net.n_params == 4 * 3 + 4 + 2 * 4 + 2


def test_set_weights_converts_dtype():
    net = fastbp.Network([2, 2, 1], seed=0)
    net.set_weights([np.ones((2, 2), np.int64), np.ones((1, 2))], [np.zeros(2), [0.5]])
    assert net.weights[0].dtype == np.float32 and net.biases[1][0] == 0.5


def _set_like_copies(net, weights, biases):
    """set_weights(weights, biases) on net, and on a twin given copies of them: (net, twin)."""
    twin = net.copy()
    twin.set_weights([np.array(W) for W in weights], [np.array(b) for b in biases])
    net.set_weights(weights, biases)
    return net, twin


def _assert_same_parameters(net, twin):
    for a, b in zip(net.weights + net.biases, twin.weights + twin.biases):
        np.testing.assert_array_equal(a, b)


def test_set_weights_swaps_the_networks_own_layers():
    net = fastbp.Network([4, 4, 4, 4], seed=0)
    W, b = net.weights, net.biases
    net, twin = _set_like_copies(net, [W[1], W[2], W[0]], [b[2], b[0], b[1]])
    _assert_same_parameters(net, twin)
    assert not np.array_equal(net.weights[0], net.weights[1])


@pytest.mark.parametrize("shift", [1, -1, 5])
def test_set_weights_reads_shifted_views_of_the_parameters_before_writing(shift):
    net = fastbp.Network([3, 4, 4, 2], dtype="float64", seed=0)
    net.set_weights(net.weights, [np.arange(b.size) + 0.5 for b in net.biases])
    def offset(part, buffer):
        address = lambda array: array.__array_interface__["data"][0]  # noqa: E731
        return (address(part) - address(buffer)) // buffer.itemsize

    buffer = net.weights[0].base  # the (aligned) allocation that the parameters view
    flat = buffer[offset(net.weights[0], buffer):][:net.n_params]  # all parameters, in order

    def shifted(part):
        start = (offset(part, flat) + shift) % (flat.size - part.size + 1)
        return flat[start:start + part.size].reshape(part.shape)

    net, twin = _set_like_copies(net, [shifted(W) for W in net.weights],
                                 [shifted(b) for b in net.biases])
    _assert_same_parameters(net, twin)


def test_matching_input_is_used_without_copy_and_others_are_converted():
    X = np.ones((5, 3), np.float32)
    assert _validate.inputs(X, 3, np.dtype("float32")) is X
    readonly = np.ones((5, 3))
    readonly.flags.writeable = False
    assert _validate.inputs(readonly, 3, np.dtype("float64")) is readonly
    strided = np.ones((5, 6))[:, ::2]
    converted = _validate.inputs(strided, 3, np.dtype("float32"))
    assert converted.flags.c_contiguous and converted.dtype == np.float32


def test_read_only_and_integer_and_list_inputs_are_accepted(dtype):
    net = fastbp.Network([2, 3, 1], dtype=dtype, seed=0)
    X = np.array([[0, 1], [1, 0], [1, 1]])
    y = np.array([1.0, 1.0, 0.0])
    X.flags.writeable = False
    y.flags.writeable = False
    net.fit(X, y, epochs=2, batch_size=2, lr=0.1)
    assert net.predict(X.tolist()).dtype == np.dtype(dtype)


def test_repr_is_short_and_informative():
    net = fastbp.Network([3, 8, 8, 1], activation=["relu", "tanh"], seed=4)
    text = repr(net)
    assert text == ("Network([3, 8, 8, 1], activation=['relu', 'tanh'], output='identity', "
                    "loss='mse', dtype='float32', seed=4)")
    assert eval(text, {"Network": fastbp.Network}).sizes == net.sizes


def test_concurrent_fit_on_one_network_is_refused_and_the_gil_is_released():
    X, y = fastbp.datasets.house_prices(20_000, seed=0, standardize=True)
    net = fastbp.Network([3, 64, 64, 1], seed=0)
    errors = []

    def train():
        try:
            net.fit(X, y, epochs=20, batch_size=1, lr=0.001)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    worker = threading.Thread(target=train)
    worker.start()
    while not net._lock.locked() and worker.is_alive():
        pass
    # This thread runs while the other trains: the compiled epoch released the GIL.
    assert worker.is_alive(), "training finished before the test could overlap it"
    with pytest.raises(RuntimeError, match="another thread"):
        net.fit(X, y, epochs=1)
    with pytest.raises(RuntimeError, match="another thread"):
        net.set_weights(net.weights, net.biases)
    other = fastbp.Network([3, 4, 1], seed=1)
    other.fit(X[:100], y[:100], epochs=1)  # other networks train freely meanwhile
    worker.join()
    assert not errors


def test_version_and_config():
    assert fastbp.__version__.count(".") == 2
    config = fastbp.show_config(print_=False)
    assert config["fastbp"] == fastbp.__version__
    assert "-O" in config["compile_args"] or "/O" in config["compile_args"]
    assert config["compiler"] and config["numpy"] == np.__version__


def test_show_config_prints(capsys):
    fastbp.show_config()
    assert "compile_args" in capsys.readouterr().out


def test_get_include_has_the_public_header_and_the_declarations_ship():
    import os
    assert os.path.exists(os.path.join(fastbp.get_include(), "fastbp_api.h"))
    package = os.path.dirname(fastbp.__file__)  # where Cython finds fastbp/*.pxd
    for name in ("api.pxd", "_kernels.pxd"):
        assert os.path.exists(os.path.join(package, name))


def test_house_prices_generator():
    X, y = fastbp.datasets.house_prices(500, seed=3)
    X2, y2 = fastbp.datasets.house_prices(500, seed=3)
    np.testing.assert_array_equal(X, X2)
    assert X.shape == (500, 3) and y.shape == (500,)
    assert np.all((X[:, 1] >= 1) & (X[:, 1] <= 6)) and y.mean() > 100_000
    assert np.corrcoef(X[:, 0], y)[0, 1] > 0.5 and np.corrcoef(X[:, 2], y)[0, 1] < 0
    Xs, ys = fastbp.datasets.house_prices(500, seed=3, standardize=True)
    np.testing.assert_allclose(Xs.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(ys.std(), 1)


def test_demo_runs_from_the_command_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fastbp", "demo", "--epochs", "30"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "epoch  30" in result.stdout
    r2 = float(result.stdout.split("R² = ")[1].split(",")[0])
    assert r2 > 0.9

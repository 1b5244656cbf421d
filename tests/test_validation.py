"""Bad input: a clear exception naming the problem, and the network left unchanged."""
import numpy as np
import pytest

import fastbp

GOOD_X = np.random.default_rng(0).normal(size=(10, 3))
GOOD_Y = np.random.default_rng(1).normal(size=10)


def with_nan(a):
    a = np.array(a, dtype=np.float64)
    a.flat[3] = np.nan
    return a


def with_inf(a):
    a = np.array(a, dtype=np.float64)
    a.flat[0] = np.inf
    return a


BAD_FIT_CALLS = [  # (keyword changes to fit, expected exception, message fragment)
    ({"X": np.zeros((10, 4))}, ValueError, "4 features"),
    ({"X": np.zeros(3)}, ValueError, "2-D"),
    ({"X": np.zeros((0, 3)), "y": np.zeros(0)}, ValueError, "empty"),
    ({"X": np.array([["a", "b", "c"]] * 10)}, TypeError, "real numbers"),
    ({"y": np.zeros(9)}, ValueError, "9 rows"),
    ({"y": np.zeros((10, 2))}, ValueError, "shape"),
    ({"X": with_nan(GOOD_X)}, ValueError, "NaN or infinity"),
    ({"X": with_inf(GOOD_X)}, ValueError, "NaN or infinity"),
    ({"X": np.full((10, 3), 1e300)}, ValueError, "NaN or infinity"),  # overflows float32
    ({"y": with_nan(GOOD_Y)}, ValueError, "NaN or infinity"),
    ({"lr": 0}, ValueError, "lr"),
    ({"lr": -0.1}, ValueError, "lr"),
    ({"lr": float("nan")}, ValueError, "lr"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 2.5}, TypeError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": -3}, ValueError, "batch_size"),
    ({"shuffle": "yes"}, TypeError, "shuffle"),
]


@pytest.mark.parametrize("changes,error,message", BAD_FIT_CALLS)
def test_bad_fit_input_raises_and_leaves_network_unchanged(changes, error, message, net_state):
    net = fastbp.Network([3, 4, 1], seed=0)
    before = net_state(net)
    call = {"X": GOOD_X, "y": GOOD_Y, "epochs": 2, "batch_size": 4, "lr": 0.1, "shuffle": True}
    call.update(changes)
    with pytest.raises(error, match=message):
        net.fit(**call)
    assert net_state(net) == before


@pytest.mark.parametrize("labels,message", [
    ([0, 1, 3, 1], "out of range"),
    ([0, -1, 2, 1], "out of range"),
    ([0.0, 1.5, 2.0, 1.0], "whole numbers"),
    ([[1, 0, 0], [0, 1, 1], [0, 0, 1], [1, 0, 0]], "one-hot"),
])
def test_bad_labels(labels, message, net_state):
    net = fastbp.Network([2, 3], loss="cross_entropy", seed=0)
    before = net_state(net)
    with pytest.raises(ValueError, match=message):
        net.fit(np.zeros((4, 2)), labels, epochs=1)
    assert net_state(net) == before


def test_labels_in_any_integer_dtype_or_whole_floats_or_one_hot_agree():
    X = np.random.default_rng(0).normal(size=(6, 2))
    labels = np.array([0, 2, 1, 1, 0, 2])
    losses = {fastbp.Network([2, 3], loss="cross_entropy", seed=0).loss(X, y)
              for y in (labels.astype(np.uint8), labels.astype(np.int64), labels.astype(np.float32),
                        np.eye(3)[labels])}
    assert len(losses) == 1


def test_binary_targets_must_be_zero_or_one():
    net = fastbp.Network([2, 1], loss="binary_cross_entropy", seed=0)
    with pytest.raises(ValueError, match="only 0 and 1"):
        net.loss(np.zeros((2, 2)), [0.5, 1])


@pytest.mark.parametrize("kwargs,error,message", [
    ({"sizes": [3]}, ValueError, "at least"),
    ({"sizes": [3, 0, 1]}, ValueError, ">= 1"),
    ({"sizes": 5}, TypeError, "sequence"),
    ({"activation": "swish"}, ValueError, "unknown activation"),
    ({"activation": ["relu"]}, ValueError, "2 hidden layers"),
    ({"loss": "hinge"}, ValueError, "unknown loss"),
    ({"output": "relu"}, ValueError, "unknown output activation"),
    ({"loss": "cross_entropy", "output": "identity"}, ValueError, "fixes the output"),
    ({"loss": "binary_cross_entropy", "output": "sigmoid"}, ValueError, "fixes the output"),
    ({"sizes": [3, 4, 1], "loss": "cross_entropy"}, ValueError, "at least 2 outputs"),
    ({"dtype": "float16"}, ValueError, "float32 or float64"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, ValueError, "seed"),
])
def test_bad_constructor_arguments(kwargs, error, message):
    arguments = {"sizes": [3, 4, 4, 2], **kwargs}
    with pytest.raises(error, match=message):
        fastbp.Network(**arguments)


def test_predict_and_loss_check_their_input():
    net = fastbp.Network([3, 4, 1], seed=0)
    with pytest.raises(ValueError, match="features"):
        net.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        net.loss(with_nan(GOOD_X), GOOD_Y)
    with pytest.raises(ValueError, match="rows"):
        net.gradients(GOOD_X, GOOD_Y[:5])


@pytest.mark.parametrize("weights,biases,message", [
    ([np.zeros((4, 3))], [np.zeros(4), np.zeros(1)], "expected 2 weight"),
    ([np.zeros((3, 4)), np.zeros((1, 4))], [np.zeros(4), np.zeros(1)], r"shape \(4, 3\)"),
    ([np.zeros((4, 3)), np.zeros((1, 4))], [np.zeros(4), np.array([np.inf])], "NaN or infinity"),
])
def test_set_weights_checks_and_leaves_network_unchanged(weights, biases, message, net_state):
    net = fastbp.Network([3, 4, 1], seed=0)
    before = net_state(net)
    with pytest.raises(ValueError, match=message):
        net.set_weights(weights, biases)
    assert net_state(net) == before


def test_divergence_raises_and_keeps_the_last_good_weights(net_state):
    X, y = fastbp.datasets.house_prices(100, seed=0)  # unscaled dollars: lr 1 explodes
    net = fastbp.Network([3, 4, 1], activation="identity", seed=0)
    before = net_state(net)
    with pytest.raises(fastbp.TrainingDiverged, match="diverged in epoch 1") as info:
        net.fit(X, y, epochs=3, batch_size=10, lr=1.0)
    assert isinstance(info.value, ValueError) and info.value.history.epochs == 0
    assert net_state(net)[0] == before[0]
    assert all(np.all(np.isfinite(W)) for W in net.weights)

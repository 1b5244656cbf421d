"""End to end: the networks actually learn."""
import numpy as np
import pytest

import fastbp


def test_xor_is_learned(dtype):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0, 1, 1, 0], dtype=np.float64)
    net = fastbp.Network([2, 4, 1], activation="tanh", dtype=dtype, seed=0)
    net.fit(X, y, epochs=2000, batch_size=1, lr=0.1)
    assert net.loss(X, y) < 0.01
    np.testing.assert_array_equal(net.predict(X) > 0.5, y > 0.5)


def test_house_prices_generalise(dtype):
    X, y = fastbp.datasets.house_prices(1500, seed=1, standardize=True)
    X_train, y_train, X_test, y_test = X[:1200], y[:1200], X[1200:], y[1200:]
    net = fastbp.Network([3, 8, 8, 1], activation="tanh", dtype=dtype, seed=0)
    net.fit(X_train, y_train, epochs=60, batch_size=16, lr=0.05)
    residual = y_test - net.predict(X_test)
    r2 = 1 - np.sum(residual ** 2) / np.sum((y_test - y_test.mean()) ** 2)
    assert r2 >= 0.9


def test_digits_reach_95_percent():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    X, y = digits.data / 16.0, digits.target
    order = np.random.default_rng(0).permutation(len(X))  # a fixed 1437/360 split
    train, test = order[:1437], order[1437:]
    net = fastbp.Network([64, 128, 10], activation="relu", loss="cross_entropy", seed=0)
    net.fit(X[train], y[train], epochs=50, batch_size=32, lr=0.05)
    accuracy = np.mean(net.predict(X[test]).argmax(axis=1) == y[test])
    assert accuracy >= 0.95


def test_binary_cross_entropy_separates_two_classes():
    X, labels = fastbp.datasets.gaussian_classes(400, 4, 2, seed=3, spread=0.5)
    net = fastbp.Network([4, 6, 1], activation="relu", loss="binary_cross_entropy", seed=0)
    net.fit(X, labels, epochs=30, batch_size=16, lr=0.1)
    assert np.mean((net.predict(X) > 0.5) == labels) > 0.95

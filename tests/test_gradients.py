"""net.gradients against central finite differences of net.loss, and against the reference."""
import itertools

import numpy as np
import pytest

import fastbp
from fastbp.reference import ReferenceNetwork

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "elu", "softplus", "gelu")
LOSS_OUTPUTS = [("mse", "identity"), ("mse", "sigmoid"), ("mse", "tanh"),
                ("cross_entropy", None), ("binary_cross_entropy", None),
                ("mae", "identity"), ("huber", "tanh"), ("poisson", None)]


def architectures():
    """1 to 3 hidden layers, each hidden activation, each loss/output pairing."""
    rng = np.random.default_rng(7)
    cases = []
    for k, (activation, (loss, output)) in enumerate(itertools.product(ACTIVATIONS, LOSS_OUTPUTS)):
        n_hidden = 1 + k % 3
        n_out = 3 if loss == "cross_entropy" else 1 + k % 2
        sizes = [int(rng.integers(2, 5))] + [int(rng.integers(2, 6)) for _ in range(n_hidden)] + [n_out]
        cases.append((sizes, activation, loss, output))
    return cases


def finite_difference_gradients(net, X, y, eps=1e-6):
    """Central differences (L(θ+ε) − L(θ−ε)) / 2ε of net.loss for every parameter."""
    grads = []
    for W, b in zip(net.weights, net.biases):
        pair = []
        for param in (W, b):
            g = np.zeros(param.shape)
            flat, gflat = param.reshape(-1), g.reshape(-1)
            for i in range(flat.size):
                saved = flat[i]
                flat[i] = saved + eps
                up = net.loss(X, y)
                flat[i] = saved - eps
                down = net.loss(X, y)
                flat[i] = saved
                gflat[i] = (up - down) / (2 * eps)
            pair.append(g)
        grads.append(tuple(pair))
    return grads


def away_from_kinks(net, X, y, margin=1e-3):
    """Keep only the rows whose pre-activations are all at least `margin` from 0 (relu
    kinks) and whose residuals are away from the kinks of mae (0) and huber (±1)."""
    ref = ReferenceNetwork.like(net)
    _, z = ref.forward(X)
    ok = np.ones(len(X), bool)
    for layer_z in z[:-1]:
        ok &= np.all(np.abs(layer_z) > margin, axis=1)
    if net.loss_name in ("mae", "huber"):
        residual = np.abs(ref.predict(X) - ref.targets(y))
        ok &= np.all((np.abs(residual) > margin) & (np.abs(residual - 1) > margin), axis=1)
    return ok


@pytest.mark.parametrize("sizes,activation,loss,output", architectures())
def test_gradients_match_finite_differences_float64(sizes, activation, loss, output, problem):
    net = fastbp.Network(sizes, activation=activation, output=output, loss=loss, dtype="float64", seed=3)
    for k, b in enumerate(net.biases):  # non-zero biases, so no unit sits exactly on a kink
        b[...] = np.random.default_rng(k).normal(0, 0.2, b.shape)
    X, y = problem(loss, sizes[0], sizes[-1], 16, seed=sum(sizes))
    keep = away_from_kinks(net, X, y)
    X, y = X[keep], y[keep]
    assert len(X) >= 4
    analytic = net.gradients(X, y)
    numeric = finite_difference_gradients(net, X, y)
    for (dW, db), (nW, nb) in zip(analytic, numeric):
        np.testing.assert_allclose(dW, nW, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(db, nb, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("sizes,activation,loss,output", architectures()[::3])
def test_gradients_and_loss_match_reference(sizes, activation, loss, output, dtype, tol, problem, rel_err):
    net = fastbp.Network(sizes, activation=activation, output=output, loss=loss, dtype=dtype, seed=5)
    X, y = problem(loss, sizes[0], sizes[-1], 300, seed=1)  # > one 256-row chunk
    ref = ReferenceNetwork.like(net)
    assert rel_err(net.loss(X, y), ref.loss(X, y)) < tol["close"]
    for (dW, db), (rW, rb) in zip(net.gradients(X, y), ref.gradients(X, y)):
        assert dW.dtype == np.dtype(dtype) and db.dtype == np.dtype(dtype)
        assert rel_err(dW, rW) < tol["close"] * 10
        assert rel_err(db, rb) < tol["close"] * 10


def test_gradients_are_fresh_arrays():
    net = fastbp.Network([2, 3, 1], seed=0)
    X, y = np.ones((4, 2)), np.zeros(4)
    first = net.gradients(X, y)
    first[0][0][...] = 123.0
    second = net.gradients(X, y)
    assert not np.any(second[0][0] == 123.0)
    assert not np.shares_memory(first[0][0], net.weights[0])


def test_relu_derivative_is_zero_at_zero():
    net = fastbp.Network([1, 1, 1], activation="relu", dtype="float64", seed=0)
    net.set_weights([[[1.0]], [[1.0]]], [[0.0], [0.0]])
    (dW0, db0), (dW1, db1) = net.gradients(np.zeros((1, 1)), np.ones(1))  # hidden z = 0 exactly
    assert dW0[0, 0] == 0 and db0[0] == 0
    assert db1[0] == -1.0  # output error (0 − 1) reaches the output bias unchanged


def test_predict_matches_reference_for_every_loss(dtype, tol, problem, rel_err):
    for loss, output in LOSS_OUTPUTS:
        net = fastbp.Network([4, 5, 3], activation="tanh", output=output, loss=loss, dtype=dtype, seed=2)
        X, _ = problem(loss, 4, 3, 600, seed=4)
        predicted = net.predict(X)
        assert predicted.dtype == np.dtype(dtype) and predicted.shape == (600, 3)
        assert rel_err(predicted, ReferenceNetwork.like(net).predict(X)) < tol["close"]
        if loss == "cross_entropy":
            np.testing.assert_allclose(predicted.sum(axis=1), 1.0, rtol=tol["close"] * 10)


def test_predict_returns_vector_for_single_output():
    net = fastbp.Network([3, 2, 1], seed=0)
    assert net.predict(np.zeros((5, 3))).shape == (5,)


def test_classification_losses_are_stable_for_huge_logits():
    net = fastbp.Network([1, 2], loss="cross_entropy", dtype="float64", seed=0)
    net.set_weights([[[1000.0], [-1000.0]]], [[0.0, 0.0]])
    X = np.array([[1.0]])
    assert net.loss(X, [1]) == pytest.approx(2000.0)
    assert net.loss(X, [0]) == pytest.approx(0.0, abs=1e-300)
    bce = fastbp.Network([1, 1], loss="binary_cross_entropy", dtype="float32", seed=0)
    bce.set_weights([[[500.0]]], [[0.0]])
    assert bce.loss(X, [0]) == pytest.approx(500.0)
    assert np.isfinite(bce.gradients(X, [0])[0][0]).all()

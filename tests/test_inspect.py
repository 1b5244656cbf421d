"""fastbp._inspect: the traced step, the gradient check, the summary, and the house-prices example."""
import importlib.util
import math
import pathlib
import warnings

import numpy as np
import pytest

import fastbp
from fastbp import _inspect
from fastbp.reference import ReferenceNetwork

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "house_prices.py"
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "elu", "softplus", "gelu")
LOSS_OUTPUTS = [("mse", "identity"), ("mse", "sigmoid"), ("mse", "tanh"),
                ("mae", "identity"), ("mae", "tanh"), ("huber", "identity"), ("huber", "sigmoid"),
                ("poisson", None), ("cross_entropy", None), ("binary_cross_entropy", None)]
FLOAT32_RTOL = 2e-4  # float32 arithmetic against float64 (the "close" entry of conftest's table)


def params_of(net):
    return [np.array(a, np.float64) for pair in zip(net.weights, net.biases) for a in pair]


def traced_params(step):
    weights, biases = step.new_weights()
    return [a for pair in zip(weights, biases) for a in pair]


def with_random_biases(net, seed=0, scale=0.2):
    """Non-zero biases, so that every term of the computation is exercised."""
    rng = np.random.default_rng(seed)
    net.set_weights(net.weights, [rng.normal(0, scale, b.shape) for b in net.biases])
    return net


# ----- the hand-worked example -----------------------------------------------------------
# [3, 2, 2, 1]: sigmoid hidden layers, identity output, mse, float64, one example.
W1 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]
B1 = [0.1, -0.1]
W2 = [[0.7, -0.8], [0.9, 0.2]]
B2 = [0.05, -0.05]
W3 = [[1.2, -0.7]]
B3 = [0.3]
X0 = [0.5, -1.0, 2.0]
Y0 = 0.25
LR = 0.1


def hand_worked_network():
    net = fastbp.Network([3, 2, 2, 1], activation="sigmoid", dtype="float64", seed=0)
    net.set_weights([W1, W2, W3], [B1, B2, B3])
    return net


def by_hand():
    """The tutorials' step with Python floats and loops: nothing shared with _inspect."""
    def sig(t):
        return 1.0 / (1.0 + math.exp(-t))

    def dense(W, b, a):
        return [sum(W[j][k] * a[k] for k in range(len(a))) + b[j] for j in range(len(W))]

    z1 = dense(W1, B1, X0)
    a1 = [sig(t) for t in z1]
    z2 = dense(W2, B2, a1)
    a2 = [sig(t) for t in z2]
    z3 = dense(W3, B3, a2)
    yhat = z3[0]  # identity output
    loss = 0.5 * (yhat - Y0) ** 2
    d3 = [yhat - Y0]  # ∂L/∂Ŷ × 1
    da2 = [sum(W3[i][j] * d3[i] for i in range(1)) for j in range(2)]
    d2 = [da2[j] * a2[j] * (1 - a2[j]) for j in range(2)]
    da1 = [sum(W2[i][j] * d2[i] for i in range(2)) for j in range(2)]
    d1 = [da1[j] * a1[j] * (1 - a1[j]) for j in range(2)]
    grads = [([[d[j] * a[k] for k in range(len(a))] for j in range(len(d))], d)
             for d, a in ((d1, X0), (d2, a1), (d3, a2))]
    return {"z": [z1, z2, z3], "a": [a1, a2, [yhat]], "delta": [d1, d2, d3],
            "dL_da": [da1, da2, [yhat - Y0]], "loss": loss, "grads": grads}


def test_trace_of_hand_worked_example_matches_independent_computation():
    step = _inspect.trace(hand_worked_network(), X0, Y0, lr=LR)
    expected = by_hand()
    assert step.loss == pytest.approx(expected["loss"], rel=1e-12, abs=0)
    np.testing.assert_allclose(step.dL_dyhat, [[expected["dL_da"][2][0]]], rtol=1e-12)
    np.testing.assert_allclose(step.output, [expected["a"][2]], rtol=1e-12)
    for l, layer in enumerate(step.layers):
        np.testing.assert_allclose(layer.z, [expected["z"][l]], rtol=1e-12)
        np.testing.assert_allclose(layer.a_out, [expected["a"][l]], rtol=1e-12)
        np.testing.assert_allclose(layer.a_in, [X0 if l == 0 else expected["a"][l - 1]], rtol=1e-12)
        np.testing.assert_allclose(layer.dL_da, [expected["dL_da"][l]], rtol=1e-12)
        np.testing.assert_allclose(layer.delta, [expected["delta"][l]], rtol=1e-12)
        gW, gb = expected["grads"][l]
        np.testing.assert_allclose(layer.grad_W, gW, rtol=1e-12)
        np.testing.assert_allclose(layer.weight_terms[0], gW, rtol=1e-12)  # δ × a, one example
        np.testing.assert_allclose(layer.grad_b, gb, rtol=1e-12)
        np.testing.assert_allclose(layer.update_W, -LR * np.array(gW), rtol=1e-12)
        np.testing.assert_allclose(layer.update_b, -LR * np.array(gb), rtol=1e-12)
    np.testing.assert_allclose(step.layers[0].fprime, [[a * (1 - a) for a in expected["a"][0]]], rtol=1e-12)
    np.testing.assert_array_equal(step.layers[2].fprime, [[1.0]])  # identity output


def test_trace_leaves_the_network_unchanged_and_accepts_one_example_either_shape():
    net = hand_worked_network()
    before = params_of(net)
    flat = _inspect.trace(net, X0, Y0, lr=LR)
    row = _inspect.trace(net, np.array([X0]), np.array([Y0]), lr=LR)
    for ours, theirs in zip(params_of(net), before):
        np.testing.assert_array_equal(ours, theirs)
    assert flat.n_samples == row.n_samples == 1
    for a, b in zip(traced_params(flat), traced_params(row)):
        np.testing.assert_array_equal(a, b)


# ----- the traced update is one fit step ---------------------------------------------------
STEP_CASES = [  # sizes, activation, loss, output, one example's target
    ([3, 2, 2, 1], "sigmoid", "mse", None, 0.7),
    ([3, 4, 2], "tanh", "mse", "sigmoid", [0.2, 0.9]),
    ([4, 5, 3], "relu", "cross_entropy", None, 2),  # an integer label
    ([3, 3, 2, 2], "leaky_relu", "binary_cross_entropy", None, [1.0, 0.0]),
    ([3, 4, 1], "sigmoid", "binary_cross_entropy", None, 1),
    ([2, 3, 1], "identity", "mse", "tanh", -0.3),
    ([3, 4, 2], "elu", "mae", None, [0.2, -0.5]),
    ([3, 4, 2], "gelu", "huber", None, [2.5, -0.1]),  # one residual beyond 1, one within
    ([3, 3, 1], "gelu", "huber", "tanh", 0.4),
    ([3, 4, 2], "softplus", "poisson", None, [2.0, 0.0]),
]


@pytest.mark.parametrize("sizes,activation,loss,output,target", STEP_CASES)
def test_traced_update_equals_one_fit_step_float64(sizes, activation, loss, output, target, rel_err):
    net = with_random_biases(fastbp.Network(sizes, activation=activation, output=output, loss=loss,
                                            dtype="float64", seed=4))
    x = np.random.default_rng(1).normal(size=sizes[0])
    step = _inspect.trace(net, x, target, lr=0.3)
    y = np.asarray(target).reshape(1, -1) if np.ndim(target) else np.array([target])
    for (dW, db), (tW, tb) in zip(net.gradients(x.reshape(1, -1), y), step.gradients()):
        assert rel_err(tW, dW) < 1e-12 and rel_err(tb, db) < 1e-12
    assert step.loss == pytest.approx(net.loss(x.reshape(1, -1), y), rel=1e-12)
    net.fit(x.reshape(1, -1), y, epochs=1, batch_size=1, lr=0.3, shuffle=False)
    for ours, traced in zip(params_of(net), traced_params(step)):
        assert rel_err(traced, ours) < 1e-12


@pytest.mark.parametrize("sizes,activation,loss,output,target", STEP_CASES)
def test_traced_batch_update_equals_one_full_batch_fit_step(sizes, activation, loss, output, target,
                                                             problem, rel_err):
    net = with_random_biases(fastbp.Network(sizes, activation=activation, output=output, loss=loss,
                                            dtype="float64", seed=4))
    X, y = problem(loss, sizes[0], sizes[-1], 5, seed=3)
    step = _inspect.trace(net, X, y, lr=0.3)
    assert step.sample_losses.shape == (5,) and step.layers[0].delta.shape == (5, sizes[1])
    np.testing.assert_allclose(step.layers[-1].weight_terms.mean(axis=0), step.layers[-1].grad_W,
                               rtol=1e-12, atol=1e-15)
    net.fit(X, y, epochs=1, batch_size=len(X), lr=0.3, shuffle=False)
    for ours, traced in zip(params_of(net), traced_params(step)):
        assert rel_err(traced, ours) < 1e-12


@pytest.mark.parametrize("sizes,activation,loss,output,target", STEP_CASES)
def test_float32_trace_agrees_within_float32_tolerance(sizes, activation, loss, output, target, rel_err):
    net = with_random_biases(fastbp.Network(sizes, activation=activation, output=output, loss=loss,
                                            dtype="float32", seed=4))
    x = np.random.default_rng(1).normal(size=(1, sizes[0]))
    y = np.asarray(target).reshape(1, -1) if np.ndim(target) else np.array([target])
    step = _inspect.trace(net, x, y, lr=0.3)
    assert step.dtype == "float32" and step.layers[0].W.dtype == np.float64
    for (dW, db), (tW, tb) in zip(net.gradients(x, y), step.gradients()):
        assert rel_err(tW, dW) < FLOAT32_RTOL and rel_err(tb, db) < FLOAT32_RTOL
    before = params_of(net)
    net.fit(x, y, epochs=1, batch_size=1, lr=0.3, shuffle=False)
    traced_updates = [u for pair in step.updates() for u in pair]
    for old, new, update in zip(before, params_of(net), traced_updates):
        assert rel_err(update, new - old) < FLOAT32_RTOL * 10  # differences of float32 weights


@pytest.mark.parametrize("loss,output", LOSS_OUTPUTS)
def test_output_delta_is_the_chain_rule_applied_to_dL_dyhat(loss, output, problem):
    """δ at the output = ∂L/∂Ŷ through the output activation's Jacobian, for every loss,
    though the classification losses compute it in the fused form Ŷ − Y."""
    n_out = 3
    net = with_random_biases(fastbp.Network([2, 3, n_out], activation="tanh", output=output,
                                            loss=loss, dtype="float64", seed=2))
    X, y = problem(loss, 2, n_out, 4, seed=5)
    out = _inspect.trace(net, X, y, lr=0.1).layers[-1]
    if loss == "cross_entropy":
        assert out.fprime is None and out.activation == "softmax"
        Yhat = out.a_out  # softmax Jacobian: ∂Ŷᵢ/∂zₖ = Ŷᵢ(1[i = k] − Ŷₖ)
        jacobians = Yhat[:, :, None] * (np.eye(n_out)[None] - Yhat[:, None, :])
        np.testing.assert_allclose(np.einsum("ni,nik->nk", out.dL_da, jacobians), out.delta,
                                   rtol=1e-10, atol=1e-14)
    else:
        np.testing.assert_allclose(out.dL_da * out.fprime, out.delta, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(out.delta.T @ out.a_in / len(X), out.grad_W, rtol=1e-12)


def test_trace_checks_its_input_like_fit():
    net = fastbp.Network([3, 2, 2], loss="cross_entropy", seed=0)
    with pytest.raises(ValueError, match="features"):
        _inspect.trace(net, [1.0, 2.0], 0)
    with pytest.raises(ValueError, match="out of range"):
        _inspect.trace(net, [1.0, 2.0, 3.0], 5)
    with pytest.raises(ValueError, match="lr"):
        _inspect.trace(net, [1.0, 2.0, 3.0], 1, lr=0)


# ----- other optimizers: the traced update is the optimizer's actual step -------------------
def trained(problem, optimizer, lr, dtype="float64", epochs=3, **network):
    """A network trained a few epochs with `optimizer`, so that its state is not trivial."""
    net = with_random_biases(fastbp.Network([3, 4, 2], activation="tanh", dtype=dtype, seed=5,
                                            **network))
    X, y = problem("mse", 3, 2, 20, seed=6)
    net.fit(X, y, epochs=epochs, batch_size=4, lr=lr, optimizer=optimizer)
    return net


def optimizer_snapshot(net):
    return (np.array(net.state.params), np.array(net.state.optimizer_state), net.state.step)


OPTIMIZER_CASES = [  # optimizer, lr (None: iRPROP− chooses its own steps), name shown
    ("momentum", 0.05, "momentum"),
    ("nesterov", 0.05, "Nesterov"),
    ("adam", 0.01, "Adam"),
    (fastbp.optim.Adam(beta1=0.8, beta2=0.99), 0.01, "Adam"),
    (fastbp.optim.AdamW(weight_decay=0.1), 0.01, "AdamW"),
    ("rmsprop", 0.01, "RMSprop"),
    ("adagrad", 0.05, "Adagrad"),
    ("irprop-", None, "iRPROP−"),
]


@pytest.mark.parametrize("optimizer,lr,name", OPTIMIZER_CASES)
def test_traced_update_is_the_optimizers_actual_step(optimizer, lr, name, rel_err, problem):
    net = trained(problem, optimizer, lr)
    steps_so_far = net.state.step
    assert steps_so_far == 15 and np.any(net.state.optimizer_state != 0)
    X, y = problem("mse", 3, 2, 5, seed=7)
    before = optimizer_snapshot(net)
    step = _inspect.trace(net, X, y, lr=lr)
    for ours, theirs in zip(optimizer_snapshot(net), before):  # the network is unchanged
        np.testing.assert_array_equal(ours, theirs)

    fitted = net.copy()
    fitted.fit(X, y, epochs=1, batch_size=len(X), lr=lr, shuffle=False)
    for ours, traced in zip(params_of(fitted), traced_params(step)):
        assert rel_err(traced, ours) < 1e-12
    # ...and that step is not plain gradient descent, so the comparison above can fail
    plain = [-(lr or 0.01) * g for pair in step.gradients() for g in pair]
    traced_updates = [u for pair in step.updates() for u in pair]
    assert max(rel_err(u, p) for u, p in zip(traced_updates, plain)) > 1e-2
    for (dW, db), (tW, tb) in zip(net.gradients(X, y), step.gradients()):  # g as before
        assert rel_err(tW, dW) < 1e-12 and rel_err(tb, db) < 1e-12

    assert step.optimizer_name == name and step.optimizer_step == steps_so_far + 1
    assert not step.plain_sgd and step.lr == lr
    text = str(step)
    assert f"{name} step" in text and f"t = {steps_so_far + 1}" in text
    assert repr(net.optimizer) in text and f"Δw ({name})" in text
    assert "Δw = −η·∂L/∂w" not in text
    if lr is None:
        assert "no learning rate" in text and "η =" not in text


def test_float32_optimizer_trace_agrees_within_float32_tolerance(rel_err, problem):
    net = trained(problem, "momentum", 0.05, dtype="float32")
    X, y = problem("mse", 3, 2, 5, seed=7)
    step = _inspect.trace(net, X, y, lr=0.05)
    before = params_of(net)
    net.fit(X, y, epochs=1, batch_size=len(X), lr=0.05, shuffle=False)
    traced_updates = [u for pair in step.updates() for u in pair]
    for old, new, update in zip(before, params_of(net), traced_updates):
        assert rel_err(update, new - old) < FLOAT32_RTOL * 10  # differences of float32 weights


def test_trace_of_a_fresh_optimizer_is_its_first_step(rel_err, problem):
    net = with_random_biases(fastbp.Network([3, 4, 2], activation="tanh", dtype="float64", seed=5))
    X, y = problem("mse", 3, 2, 5, seed=7)
    step = _inspect.trace(net, X, y, lr=0.01, optimizer="adam")  # as fit(optimizer="adam")
    assert step.optimizer_step == 1 and step.optimizer_name == "Adam"
    assert net.optimizer == fastbp.optim.SGD() and net.state.step == 0  # unchanged
    net.fit(X, y, epochs=1, batch_size=len(X), lr=0.01, shuffle=False, optimizer="adam")
    for ours, traced in zip(params_of(net), traced_params(step)):
        assert rel_err(traced, ours) < 1e-12


def test_trace_takes_its_lr_and_optimizer_as_fit_does(rel_err, problem):
    net = trained(problem, fastbp.optim.Adam(lr=0.005), None)
    X, y = problem("mse", 3, 2, 5, seed=7)
    assert _inspect.trace(net, X, y).lr == 0.005  # the optimizer's own lr
    with pytest.raises(ValueError, match="conflicts"):
        _inspect.trace(net, X, y, lr=0.01)
    sgd = _inspect.trace(net, X, y, lr=0.1, optimizer="sgd")  # another optimizer: plain SGD
    assert sgd.plain_sgd and "Δw = −η·∂L/∂w" in str(sgd)
    for (tW, tb), (uW, ub) in zip(sgd.gradients(), sgd.updates()):
        np.testing.assert_array_equal(uW, -0.1 * tW)
    with pytest.raises(ValueError, match="L-BFGS"):
        _inspect.trace(net, X, y, optimizer="lbfgs")
    with pytest.raises(ValueError, match="no learning rate"):
        _inspect.trace(net, X, y, lr=0.1, optimizer="irprop-")


def test_trace_of_an_optimizer_step_round_trips_through_to_dict(problem):
    step = _inspect.trace(trained(problem, "adam", 0.01), *problem("mse", 3, 2, 3, seed=7), lr=0.01)
    again = _inspect.Trace.from_dict(step.to_dict())
    assert str(again) == str(step) and repr(again) == repr(step)
    for a, b in zip(traced_params(again), traced_params(step)):
        np.testing.assert_array_equal(a, b)
    old = step.to_dict()  # as written before the optimizer entries existed: a plain SGD step
    for key in ("optimizer", "optimizer_name", "optimizer_rule", "optimizer_step", "dropout",
                "scaled_inputs", "scaled_targets"):
        del old[key]
    assert _inspect.Trace.from_dict(old).plain_sgd


# ----- scaling and dropout ------------------------------------------------------------------
@pytest.mark.parametrize("loss,scale_targets", [("mse", True), ("huber", True),
                                                ("cross_entropy", False)])
def test_trace_of_a_scaled_network_works_in_its_standardised_units(loss, scale_targets, rel_err, problem):
    n_out = 3 if loss == "cross_entropy" else 2
    net = fastbp.Network([3, 4, n_out], activation="tanh", loss=loss, dtype="float64", seed=2,
                         scale_inputs=True, scale_targets=scale_targets)
    X, y = problem(loss, 3, n_out, 30, seed=8)
    X = X * [100.0, 0.01, 1.0] + [5e3, 0.0, -2.0]  # far from standardised
    if scale_targets:
        y = y * 50.0 + 300.0
    net.fit(X, y, epochs=2, batch_size=10, lr=0.05)
    x_batch, y_batch = X[:4], y[:4]
    step = _inspect.trace(net, x_batch, y_batch, lr=0.05)

    np.testing.assert_allclose(step.x, net._inputs(x_batch), rtol=1e-12)
    assert np.all(np.abs(step.x) < 5)  # the standardised inputs, not the raw ones
    np.testing.assert_allclose(step.y, net._targets(y_batch, 4), rtol=1e-12)
    assert step.loss == pytest.approx(net.loss(x_batch, y_batch), rel=1e-12)
    for (dW, db), (tW, tb) in zip(net.gradients(x_batch, y_batch), step.gradients()):
        assert rel_err(tW, dW) < 1e-12 and rel_err(tb, db) < 1e-12
    if scale_targets:
        np.testing.assert_allclose(net.predict(x_batch).reshape(4, -1),
                                   net.state.target_scaler.inverse(step.output), rtol=1e-12)
    fitted = net.copy()
    fitted.fit(x_batch, y_batch, epochs=1, batch_size=4, lr=0.05, shuffle=False)
    for ours, traced in zip(params_of(fitted), traced_params(step)):
        assert rel_err(traced, ours) < 1e-12
    assert step.scaled_inputs and step.scaled_targets == scale_targets
    text = str(step)
    assert "standardised" in text and ("x and Y =" if scale_targets else "x =") in text


def test_trace_of_an_unfitted_scaled_network_says_to_fit_first():
    net = fastbp.Network([3, 2, 1], scale_inputs=True, seed=0)
    with pytest.raises(RuntimeError, match="standardised units.*not been fitted"):
        _inspect.trace(net, [1.0, 2.0, 3.0], 0.5)


def test_trace_of_a_network_with_dropout_is_the_deterministic_step(rel_err, problem):
    net = with_random_biases(fastbp.Network([3, 5, 4, 2], activation="relu", dtype="float64",
                                            dropout=[0.5, 0.25], seed=3))
    twin = fastbp.Network([3, 5, 4, 2], activation="relu", dtype="float64", seed=3)  # no dropout
    twin.set_weights(net.weights, net.biases)
    X, y = problem("mse", 3, 2, 6, seed=1)
    step = _inspect.trace(net, X, y, lr=0.1)
    twin.fit(X, y, epochs=1, batch_size=len(X), lr=0.1, shuffle=False)
    for ours, traced in zip(params_of(twin), traced_params(step)):
        assert rel_err(traced, ours) < 1e-12
    assert step.dropout == (0.5, 0.25)
    text = str(step)
    assert "Dropout (rates 0.5, 0.25" in text and "deterministic step" in text
    assert "Dropout" not in str(_inspect.trace(twin, X, y, lr=0.1))


# ----- printing and plain data -------------------------------------------------------------
def test_str_shows_each_stage_with_its_numbers():
    step = _inspect.trace(hand_worked_network(), X0, Y0, lr=LR)
    text = str(step)
    for section in ("Forward pass", "Loss (mse)", "Backward pass", "Gradients and updates",
                    "δ × a", "Δw = −η·∂L/∂w", "layer 1 (hidden, sigmoid)", "layer 3 (output, identity)"):
        assert section in text
    expected = by_hand()
    assert f"L = {expected['loss']:.6g}" in text
    assert f"{expected['delta'][0][1]:.6g}" in text  # a δ of the first layer
    assert f"{expected['grads'][0][0][1][2]:.6g}" in text  # ∂L/∂W¹[2,3]
    assert f"{W1[1][2] - LR * expected['grads'][0][0][1][2]:.6g}" in text  # its new value
    assert "W¹[2,3]" in text and "b³[1]" in text
    assert "more" not in text  # nothing truncated in a small network
    assert text.index("Forward pass") < text.index("Loss") < text.index("Backward pass") \
        < text.index("Gradients and updates")


def test_str_truncates_a_big_network_politely():
    net = fastbp.Network([50, 40, 1], activation="tanh", seed=0)
    step = _inspect.trace(net, np.linspace(-1, 1, 50), 0.5, lr=0.01)
    text = step.format(max_rows=8)
    assert "… (42 more inputs)" in text
    assert "… (32 more units)" in text
    assert "… (1992 more weights)" in text and "… (32 more biases)" in text
    assert len(text.splitlines()) < 100
    default = str(step)
    assert f"… ({2000 - _inspect.MAX_ROWS} more weights)" in default
    assert len(default.splitlines()) < 150


def test_str_of_a_batch_lists_examples_and_averages_the_gradient(problem):
    net = fastbp.Network([3, 4, 3], activation="relu", loss="cross_entropy", dtype="float64", seed=0)
    X, y = problem("cross_entropy", 3, 3, 5, seed=0)
    text = str(_inspect.trace(net, X, y, lr=0.1))
    assert "5 examples" in text and "[example 1, example 2, …]" in text
    assert "mean(δ × a)" in text and "L = mean of [" in text
    assert "δ² = Ŷ − Y (softmax and cross entropy together)" in text


def test_to_dict_round_trips_arrays():
    step = _inspect.trace(with_random_biases(fastbp.Network([3, 4, 2], activation="tanh",
                                                           loss="binary_cross_entropy", seed=1)),
                          np.ones((2, 3)), [[1, 0], [0, 1]], lr=0.2)
    data = step.to_dict()

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, list):
            for v in value:
                yield from leaves(v)
        else:
            yield value

    assert all(isinstance(v, (np.ndarray, float, int, str, bool)) or v is None for v in leaves(data))
    assert data["loss"] == step.loss and isinstance(data["loss"], float)
    np.testing.assert_array_equal(data["x"], step.x)
    for layer, d in zip(step.layers, data["layers"]):
        for name in ("W", "b", "a_in", "z", "a_out", "dL_da", "fprime", "delta", "grad_W",
                     "grad_b", "update_W", "update_b", "W_new", "b_new", "weight_terms"):
            np.testing.assert_array_equal(d[name], getattr(layer, name))
    data["layers"][0]["delta"][...] = 99.0  # a copy: the trace is unchanged
    assert not np.any(step.layers[0].delta == 99.0)

    again = _inspect.Trace.from_dict(step.to_dict())
    assert str(again) == str(step)
    for a, b in zip(traced_params(again), traced_params(step)):
        np.testing.assert_array_equal(a, b)


# ----- gradient check ----------------------------------------------------------------------
def checked_network(sizes, activation, loss, output, dtype, seed=3):
    return with_random_biases(fastbp.Network(sizes, activation=activation, output=output, loss=loss,
                                             dtype=dtype, seed=seed), seed=seed)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_check_gradients_passes_for_every_activation(activation, dtype, problem):
    net = checked_network([4, 5, 3, 2], activation, "mse", None, dtype)
    X, y = problem("mse", 4, 2, 8, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", _inspect.KinkWarning)  # these data stay off the kinks
        check = _inspect.check_gradients(net, X, y)
    assert check.passed, str(check)
    assert check.max_error < _inspect.TOLERANCE and check.kinks == 0
    assert check.raise_if_failed() is check
    assert "PASSED" in str(check) and "FAIL" not in str(check).replace("PASSED", "")
    assert (check.dtype_errors is not None) == (dtype == "float32")


@pytest.mark.parametrize("loss,output", LOSS_OUTPUTS)
def test_check_gradients_passes_for_every_loss(loss, output, dtype, problem):
    n_out = 3 if loss == "cross_entropy" else 2
    net = checked_network([3, 4, n_out], "tanh", loss, output, dtype)
    X, y = problem(loss, 3, n_out, 8, seed=2)
    check = _inspect.check_gradients(net, X, y)
    assert check.passed, str(check)
    for (g, gb), (n, nb) in zip(check.gradients, check.numeric):
        assert g.shape == n.shape and gb.shape == nb.shape


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_check_gradients_passes_with_sample_weights_and_alpha(alpha, dtype, problem):
    net = checked_network([3, 4, 2], "tanh", "huber", None, dtype)
    X, y = problem("mse", 3, 2, 8, seed=4)
    y = 2.0 * y  # some residuals beyond huber's 1
    weights = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.0, 1.0, 0.25])
    check = _inspect.check_gradients(net, X, y, sample_weight=weights, alpha=alpha)
    assert check.passed, str(check)
    assert check.weighted and check.alpha == alpha
    assert "weighted by sample_weight" in str(check)
    assert ("alpha = 0.3" in str(check)) == (alpha > 0)
    expected = net.gradients(X, y, sample_weight=weights, alpha=alpha)
    for (g, gb), (e, eb) in zip(check.gradients, expected):
        np.testing.assert_allclose(g, e, rtol=FLOAT32_RTOL if dtype == "float32" else 1e-12)


def test_check_gradients_weights_the_finite_differences_too(problem):
    net = checked_network([3, 4, 3, 1], "sigmoid", "mse", None, "float64")
    X, y = problem("mse", 3, 1, 6, seed=0)
    weights = np.array([3.0, 0.0, 1.0, 0.5, 0.0, 2.0])
    reference = ReferenceNetwork.like(net)  # independent of fastbp's kernels
    weighted = reference.gradients(X, y, sample_weight=weights)
    assert _inspect.check_gradients(net, X, y, sample_weight=weights, gradients=weighted).passed
    unweighted = reference.gradients(X, y)
    assert not _inspect.check_gradients(net, X, y, sample_weight=weights,
                                        gradients=unweighted).passed
    assert not _inspect.check_gradients(net, X, y, gradients=weighted).passed


def test_check_gradients_adds_alpha_to_the_finite_differences_too(problem):
    net = checked_network([3, 4, 3, 1], "sigmoid", "mse", None, "float64")
    X, y = problem("mse", 3, 1, 6, seed=0)
    plain = ReferenceNetwork.like(net).gradients(X, y)
    with_penalty = [(dW + 0.2 * np.array(W, np.float64), db)
                    for (dW, db), W in zip(plain, net.weights)]
    assert _inspect.check_gradients(net, X, y, alpha=0.2, gradients=with_penalty).passed
    check = _inspect.check_gradients(net, X, y, alpha=0.2, gradients=plain)
    assert not check.passed
    assert max(check.bias_errors) < _inspect.TOLERANCE  # the penalty spares the biases


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("part", ["W", "b"])
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_check_gradients_fails_on_a_non_finite_gradient_in_any_layer(layer, part, bad, problem):
    net = checked_network([3, 4, 3, 2], "tanh", "mse", None, "float64")
    X, y = problem("mse", 3, 2, 6, seed=0)
    gradients = [[np.array(g) for g in pair] for pair in ReferenceNetwork.like(net).gradients(X, y)]
    assert _inspect.check_gradients(net, X, y, gradients=gradients).passed
    gradients[layer][part == "b"].flat[1] = bad
    check = _inspect.check_gradients(net, X, y, gradients=gradients)
    assert not check.passed and not check
    assert math.isnan(check.max_error)
    failed = check.weight_errors if part == "W" else check.bias_errors
    assert math.isnan(failed[layer]) and "FAIL" in str(check)
    with pytest.raises(_inspect.GradientCheckError):
        check.raise_if_failed()


def test_a_nan_in_the_float32_kernels_errors_fails_the_check():
    pairs = [(np.zeros((2, 2)), np.zeros(2))] * 3
    check = _inspect.GradientCheck("net", 4, [0.0] * 3, [0.0] * 3, pairs, pairs, 1e-6, 1e-5,
                                   dtype_errors=[(0.0, 0.0), (0.0, float("nan")), (0.0, 0.0)])
    assert not check.passed and "FAIL" in str(check)


def test_check_gradients_fails_where_the_loss_overflows():
    net = fastbp.Network([2, 3, 1], activation="tanh", loss="poisson", dtype="float64", seed=0)
    net.set_weights(net.weights, [net.biases[0], [800.0]])  # exp(z) = inf at the output
    X, y = np.ones((4, 2)), np.ones(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf − inf in the differences
        check = _inspect.check_gradients(net, X, y)
    assert not check.passed and math.isnan(check.max_error)


@pytest.mark.parametrize("loss,output", [("mae", "identity"), ("huber", "tanh"),
                                         ("poisson", None)])
@pytest.mark.parametrize("activation", ["elu", "softplus", "gelu"])
def test_check_gradients_fails_when_a_new_loss_or_activation_gradient_is_perturbed(
        loss, output, activation, dtype, problem):
    net = checked_network([3, 4, 2], activation, loss, output, dtype)
    X, y = problem(loss, 3, 2, 6, seed=3)
    gradients = ReferenceNetwork.like(net).gradients(X, y)
    assert _inspect.check_gradients(net, X, y, gradients=gradients).passed
    dW = gradients[0][0]
    dW.flat[2] += 1e-3 * np.linalg.norm(dW)
    check = _inspect.check_gradients(net, X, y, gradients=gradients)
    assert not check.passed and check.weight_errors[0] > _inspect.TOLERANCE


def test_check_gradients_of_a_scaled_network_works_in_its_units(dtype, problem):
    net = checked_network([3, 4, 1], "tanh", "mse", None, dtype)
    scaled = fastbp.Network([3, 4, 1], activation="tanh", dtype=dtype, seed=3,
                            scale_inputs=True, scale_targets=True)
    X, y = problem("mse", 3, 1, 8, seed=2)
    X, y = X * 40.0 + 7.0, y * 1e3
    scaled.fit(X, y, epochs=1, batch_size=8, lr=1e-3)
    scaled.set_weights(net.weights, net.biases)
    check = _inspect.check_gradients(scaled, X, y, sample_weight=np.arange(1.0, 9.0), alpha=0.1)
    assert check.passed, str(check)
    assert "standardised units" in str(check)
    for (g, _), (e, _) in zip(check.gradients, scaled.gradients(X, y, np.arange(1.0, 9.0), 0.1)):
        np.testing.assert_allclose(g, e, rtol=FLOAT32_RTOL if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("which", ["weight", "bias"])
def test_check_gradients_fails_when_one_entry_is_perturbed(which, dtype, problem):
    net = checked_network([3, 4, 3, 1], "sigmoid", "mse", None, dtype)
    X, y = problem("mse", 3, 1, 6, seed=0)
    gradients = ReferenceNetwork.like(net).gradients(X, y)  # float64, independent of fastbp's kernels
    assert _inspect.check_gradients(net, X, y, gradients=gradients).passed
    dW, db = gradients[1]
    target = dW if which == "weight" else db
    target.flat[1] += 1e-3 * np.linalg.norm(target)  # 0.1 % of the layer's gradient
    check = _inspect.check_gradients(net, X, y, gradients=gradients)
    assert not check.passed and not check
    errors = check.weight_errors if which == "weight" else check.bias_errors
    assert errors[1] > _inspect.TOLERANCE
    others = [e for l, e in enumerate(check.weight_errors + check.bias_errors)
              if (l != 1 if which == "weight" else l != 1 + len(check.weight_errors))]
    assert max(others) < _inspect.TOLERANCE  # only the perturbed layer is blamed
    rows = {line.split()[0]: line for line in str(check).splitlines()
            if line.startswith("    ") and line.split()[0].isdigit()}
    assert "FAILED" in str(check) and "FAIL" in rows["2"] and "FAIL" not in rows["1"] + rows["3"]
    with pytest.raises(_inspect.GradientCheckError, match="FAILED"):
        check.raise_if_failed()
    with pytest.raises(AssertionError):
        check.raise_if_failed()


def test_given_float32_gradients_are_held_to_the_float32_tolerance(problem):
    net = checked_network([3, 4, 3, 1], "sigmoid", "mse", None, "float32")
    X, y = problem("mse", 3, 1, 6, seed=0)
    own = net.gradients(X, y)
    assert own[0][0].dtype == np.float32
    check = _inspect.check_gradients(net, X, y, gradients=own)
    assert check.passed and check.tolerance == _inspect.FLOAT32_TOLERANCE
    own[1][0].flat[0] += 1e-2 * np.linalg.norm(own[1][0])
    assert not _inspect.check_gradients(net, X, y, gradients=own).passed


def test_check_gradients_catches_a_gradient_not_averaged_over_the_batch(problem):
    net = checked_network([3, 4, 1], "tanh", "mse", None, "float64")
    X, y = problem("mse", 3, 1, 6, seed=0)
    summed = [(dW * len(X), db * len(X)) for dW, db in net.gradients(X, y)]
    assert not _inspect.check_gradients(net, X, y, gradients=summed).passed


def test_check_gradients_checks_the_float32_kernels_too(problem, monkeypatch):
    net = checked_network([3, 4, 1], "tanh", "mse", None, "float32")
    X, y = problem("mse", 3, 1, 6, seed=0)
    right = net.gradients(X, y)
    wrong = [(dW * 1.01, db) for dW, db in right]
    # a broken float32 specialisation (with net.gradients' signature)
    monkeypatch.setattr(net, "gradients", lambda X, y, sample_weight=None, alpha=0.0: wrong)
    check = _inspect.check_gradients(net, X, y)
    assert check.max_error < _inspect.TOLERANCE  # the float64 copy is fine...
    assert not check.passed  # ...but the network's own float32 gradients are not
    assert max(w for w, _ in check.dtype_errors) > _inspect.FLOAT32_TOLERANCE


def test_check_gradients_leaves_the_network_unchanged(problem):
    net = checked_network([3, 4, 2], "relu", "cross_entropy", None, "float32")
    X, y = problem("cross_entropy", 3, 2, 6, seed=0)
    before = params_of(net)
    _inspect.check_gradients(net, X, y)
    for ours, theirs in zip(params_of(net), before):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu"])
def test_kink_warning_fires_when_a_pre_activation_is_exactly_zero(activation):
    net = fastbp.Network([1, 1, 1], activation=activation, dtype="float64", seed=0)
    net.set_weights([[[1.0]], [[1.0]]], [[0.0], [0.0]])
    with pytest.warns(_inspect.KinkWarning, match="layer 1 unit 1"):
        check = _inspect.check_gradients(net, np.zeros((1, 1)), np.ones(1))  # hidden z = 0
    assert check.kinks > 0 and check.kink_units == [(1, 1)]
    assert not check.passed  # the one-sided slopes disagree with the derivative at 0
    assert "kink" in str(check)


@pytest.mark.parametrize("loss,target,where", [
    ("mae", 0.0, "mae residual Ŷ − Y across 0"),
    ("mae", -1e-7, "mae residual Ŷ − Y across 0"),      # Ŷ − Y = 1e-7, within a step of 0
    ("huber", -1.0, "huber residual Ŷ − Y across ±1"),  # Ŷ − Y = +1
    ("huber", 1.0, "huber residual Ŷ − Y across ±1"),   # Ŷ − Y = −1
])
def test_kink_warning_fires_when_a_residual_sits_on_the_losss_kink(loss, target, where):
    net = fastbp.Network([1, 1, 1], activation="tanh", loss=loss, dtype="float64", seed=0)
    net.set_weights([[[1.0]], [[1.0]]], [[0.0], [0.0]])  # Ŷ = 0 at x = 0
    with pytest.warns(_inspect.KinkWarning, match=f"{where} \\(output 1\\)"):
        check = _inspect.check_gradients(net, np.zeros((1, 1)), [target])
    assert check.kinks > 0 and check.kink_units == [(2, 1)]
    assert "kink" in str(check) and where in str(check)
    if target == -1e-7:  # sign(Ŷ − Y) = 1, but the differences average the slopes 1 and −1
        assert not check.passed


@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_no_kink_warning_when_residuals_stay_off_the_kinks(loss):
    net = fastbp.Network([1, 1, 1], activation="tanh", loss=loss, dtype="float64", seed=0)
    net.set_weights([[[1.0]], [[1.0]]], [[0.3], [0.0]])
    X = np.array([[0.1], [-0.2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", _inspect.KinkWarning)
        for y in ([0.9, 0.8], [-1.9, -1.6], [0.7, 1.8]):  # residuals within ±1, beyond, both
            assert _inspect.check_gradients(net, X, y).passed


def test_kink_warning_ignores_examples_of_zero_weight():
    net = fastbp.Network([1, 1, 1], activation="tanh", loss="mae", dtype="float64", seed=0)
    net.set_weights([[[1.0]], [[1.0]]], [[0.0], [0.0]])
    X, y = np.array([[0.0], [0.5]]), np.array([0.0, -0.4])  # the first residual is 0
    with pytest.warns(_inspect.KinkWarning):
        _inspect.check_gradients(net, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", _inspect.KinkWarning)
        assert _inspect.check_gradients(net, X, y, sample_weight=[0.0, 1.0]).passed


def test_no_kink_warning_without_relu(problem):
    net = fastbp.Network([1, 1, 1], activation="tanh", dtype="float64", seed=0)
    net.set_weights([[[1.0]], [[1.0]]], [[0.0], [0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", _inspect.KinkWarning)
        assert _inspect.check_gradients(net, np.zeros((1, 1)), np.ones(1)).passed


def test_check_gradients_refuses_gradients_of_the_wrong_shape(problem):
    net = fastbp.Network([3, 4, 1], seed=0)
    X, y = problem("mse", 3, 1, 4, seed=0)
    with pytest.raises(ValueError, match="shapes"):
        _inspect.check_gradients(net, X, y, gradients=[(np.zeros((3, 4)), np.zeros(4)),
                                                       (np.zeros((1, 4)), np.zeros(1))])


# ----- summary --------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes,activation,loss", [
    ([3, 4, 4, 1], "sigmoid", "mse"),
    ([784, 256, 128, 10], ["relu", "tanh"], "cross_entropy"),
    ([5, 2], "tanh", "binary_cross_entropy"),
    ([3, 4, 1], "elu", "mae"),
    ([3, 4, 2], "gelu", "huber"),
    ([3, 5, 2], "softplus", "poisson"),
])
def test_summary_counts_every_weight_and_bias(sizes, activation, loss):
    net = fastbp.Network(sizes, activation=activation, loss=loss, seed=0)
    text = _inspect.summary(net)
    total = sum(W.size + b.size for W, b in zip(net.weights, net.biases))
    assert f"Total parameters: {total:,}" in text and total == net.n_params
    rows = [line for line in text.splitlines() if line.startswith("Dense ")]
    assert len(rows) == len(sizes) - 1
    assert sum(int(row.split()[-1].replace(",", "")) for row in rows) == total
    for l, (row, W) in enumerate(zip(rows, net.weights)):
        assert row.startswith(f"Dense {l + 1}") and str(W.shape) in row
        assert f"{sizes[l]} → {sizes[l + 1]}" in row
    assert loss in text and "float32" in text


def test_summary_shows_dropout_optimizer_and_scaling(problem):
    net = fastbp.Network([3, 4, 4, 1], activation="elu", loss="huber", dropout=[0.2, 0.0],
                         scale_inputs=True, scale_targets=True, seed=0)
    text = _inspect.summary(net)
    assert "that the first fit will learn" in text
    X, y = problem("mse", 3, 1, 12, seed=0)
    net.fit(X, y, epochs=2, batch_size=4, optimizer="adam")
    text = _inspect.summary(net)
    header = next(line for line in text.splitlines() if line.startswith("Layer"))
    assert header.split() == ["Layer", "Units", "Activation", "Dropout", "Weights", "Biases",
                              "Parameters"]
    rows = [line.split() for line in text.splitlines() if line.startswith("Dense ")]
    assert [row[6] for row in rows] == ["0.2", "0", "-"]  # hidden layers' rates; none at the output
    assert f"Total parameters: {net.n_params:,}" in text  # the optimizer state is not counted
    assert sum(int(row[-1].replace(",", "")) for row in rows) == net.n_params
    # (lr given to no one: Adam's default, which the summary shows since #18)
    assert "Optimizer: Adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08), 6 updates so far" in text
    assert f"2 × {net.n_params} values" in text
    assert "Scaling: inputs and targets standardised" in text and "learnt by the first fit" in text
    assert "huber (δ = 1)" in text


def test_summary_without_dropout_or_scaling_says_so():
    text = _inspect.summary(fastbp.Network([3, 4, 1], seed=0))
    assert "Dropout" not in text and "Scaling: none" in text
    assert "Optimizer: SGD(lr=None, momentum=0.0, nesterov=False), 0 updates so far" in text


# ----- the example ----------------------------------------------------------------------------
def test_house_prices_example_compares_the_three_methods(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("house_prices_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--png", str(tmp_path / "curves.png")])
    out = capsys.readouterr().out
    for method in ("per-example", "mini-batch", "full-batch"):
        assert method in out
    assert "One step of backpropagation" in out and "held-out R²" in out
    assert [r["batch_size"] for r in results] == [1, 16, None]
    for r in results:
        assert r["curve"][0] == results[0]["curve"][0]  # the same initial weights
        assert r["curve"][-1] < r["curve"][0] and r["r2"] > 0.8


# ----- the thin wrappers: these fail until Network.trace, Network.summary and ---------------
# ----- fastbp.check_gradients are added (they call the functions tested above) --------------
def test_network_trace_wrapper():
    net = hand_worked_network()
    step = net.trace(X0, Y0, lr=LR)
    assert isinstance(step, _inspect.Trace)
    assert str(step) == str(_inspect.trace(net, X0, Y0, lr=LR))


def test_network_summary_wrapper(capsys):
    net = fastbp.Network([3, 4, 4, 1], seed=0)
    assert net.summary() is None  # prints, as Keras does
    assert capsys.readouterr().out == _inspect.summary(net) + "\n"


def test_fastbp_check_gradients_export(problem):
    assert fastbp.check_gradients is _inspect.check_gradients
    assert "check_gradients" in fastbp.__all__
    X, y = problem("mse", 3, 1, 4, seed=0)
    assert fastbp.check_gradients(fastbp.Network([3, 2, 1], seed=0), X, y).passed

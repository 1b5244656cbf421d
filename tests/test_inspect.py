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
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
LOSS_OUTPUTS = [("mse", "identity"), ("mse", "sigmoid"), ("mse", "tanh"),
                ("cross_entropy", None), ("binary_cross_entropy", None)]
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
    monkeypatch.setattr(net, "gradients", lambda X, y: wrong)  # a broken float32 specialisation
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


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_kink_warning_fires_when_a_pre_activation_is_exactly_zero(activation):
    net = fastbp.Network([1, 1, 1], activation=activation, dtype="float64", seed=0)
    net.set_weights([[[1.0]], [[1.0]]], [[0.0], [0.0]])
    with pytest.warns(_inspect.KinkWarning, match="layer 1 unit 1"):
        check = _inspect.check_gradients(net, np.zeros((1, 1)), np.ones(1))  # hidden z = 0
    assert check.kinks > 0 and check.kink_units == [(1, 1)]
    assert not check.passed  # the one-sided slopes disagree with the derivative at 0
    assert "kink" in str(check)


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

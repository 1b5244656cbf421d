"""fastbp._registry: every name the Network accepts is registered once, with the compiled kernel's
code, and the registry's numpy f and f′ are the kernels' own formulas."""
import numpy as np
import pytest

import fastbp
from fastbp import _kernels, _optim, _registry, network, optim, reference

Z = np.concatenate([np.linspace(-6.0, 6.0, 49), [-1e-3, 1e-3, 0.37, -2.5]])


def test_every_activation_and_loss_the_network_accepts_is_registered():
    for name in network.HIDDEN_ACTIVATIONS + network.REGRESSION_OUTPUTS:
        assert name in _registry.ACTIVATIONS
        fastbp.Network([2, 2, 1], activation=name)  # and the Network accepts each
    for name in network.LOSSES:
        assert name in _registry.LOSSES
    for name in network.REGRESSION_OUTPUTS:
        fastbp.Network([2, 1], output=name)
    with pytest.raises(ValueError, match="unknown activation"):
        fastbp.Network([2, 2, 1], activation="swish")
    assert set(reference.ACTIVATIONS) == set(_registry.ACTIVATIONS)


def test_the_codes_are_the_kernels_enums_by_name():
    assert {name.upper(): entry.code for name, entry in _registry.ACTIVATIONS.items()} \
        == {member.name: member for member in _kernels.Activation}
    assert {name.upper(): entry.code for name, entry in _registry.LOSSES.items()} \
        == {member.name: member for member in _kernels.Loss}
    assert {name.upper().replace("-", "_MINUS"): rule.code
            for name, rule in _registry.OPTIMIZER_RULES.items()} \
        == {member.name: member for member in _optim.Optimizer}
    for name in ("sgd", "adam", "adamw", "rmsprop", "adagrad", "irprop-"):
        assert optim.resolve(name).code == _registry.OPTIMIZER_RULES[name].code
    assert optim.resolve("momentum").code == _registry.OPTIMIZER_RULES["momentum"].code
    assert optim.resolve("nesterov").code == _registry.OPTIMIZER_RULES["nesterov"].code


def test_the_name_lists_derive_from_the_entries():
    assert _registry.REGRESSION_LOSSES == ("mse", "mae", "huber")
    assert _registry.CLASSIFICATION_LOSSES == ("cross_entropy", "binary_cross_entropy")
    assert _registry.FIXED_OUTPUTS == {"cross_entropy": "softmax",
                                       "binary_cross_entropy": "sigmoid", "poisson": "exp"}
    assert _registry.REGRESSION_OUTPUTS == ("identity", "sigmoid", "tanh")
    assert _registry.KINKED_ACTIVATIONS == ("relu", "leaky_relu", "elu")
    assert set(_registry.KINKED_LOSSES) == {"mae", "huber"}


def unit_network(activation):
    """[1, 1, 1] in float64 whose output is f(z) for input z: the hidden unit computes
    f(1·z + 0), the output passes it on unchanged (identity, weight 1, bias 0)."""
    net = fastbp.Network([1, 1, 1], activation=activation, dtype="float64", seed=0)
    net.set_weights([[[1.0]], [[1.0]]], [[0.0], [0.0]])
    return net


@pytest.mark.parametrize("name", sorted(_registry.ACTIVATIONS))
def test_registry_f_is_the_compiled_activation(name):
    entry = _registry.ACTIVATIONS[name]
    compiled = unit_network(name).predict(Z[:, None])
    np.testing.assert_allclose(compiled, entry.f(Z), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", sorted(_registry.ACTIVATIONS))
def test_registry_derivative_is_the_compiled_derivative(name):
    """mse with target ŷ − 1 gives ∂L/∂b₁ = (ŷ − y)·W₂·f′(z) = f′(z), one sample at a time."""
    entry = _registry.ACTIVATIONS[name]
    net = unit_network(name)
    for z in Z:
        X = np.array([[z]])
        target = net.predict(X) - 1.0
        (_, db_hidden), _ = net.gradients(X, target)
        assert db_hidden[0] == pytest.approx(entry.derivative(np.array(z)), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", sorted(_registry.ACTIVATIONS))
def test_registry_derivative_matches_finite_differences(name):
    entry = _registry.ACTIVATIONS[name]
    z = Z[np.abs(Z) > 1e-2] if entry.kink else Z  # a central difference across a kink is off
    h = 1e-6
    numeric = (entry.f(z + h) - entry.f(z - h)) / (2 * h)
    np.testing.assert_allclose(entry.derivative(z), numeric, rtol=1e-7, atol=1e-9)


def test_kinked_activations_are_exactly_those_whose_derivative_jumps_at_zero():
    h = 1e-7
    for name, entry in _registry.ACTIVATIONS.items():
        d = entry.derivative
        slope_jump = abs(float(d(np.array(h))) - float(d(np.array(-h))))
        numeric_curvature = [float((d(np.array(s * 2 * h)) - d(np.array(s * h))) / (s * h))
                             for s in (1, -1)]
        curvature_jump = abs(numeric_curvature[0] - numeric_curvature[1])
        assert (slope_jump > 1e-3 or curvature_jump > 0.5) == entry.kink, name


def test_the_l2_penalty_and_its_gradient():
    net = fastbp.Network([3, 4, 2], dtype="float64", seed=0)
    expected = 0.5 * 0.3 * sum(float(np.sum(W ** 2)) for W in net.weights)
    assert _registry.l2_penalty(net.weights, 0.3) == pytest.approx(expected, rel=1e-14)
    assert _registry.l2_penalty(net.weights, 0.0) == 0.0
    mask = np.zeros(net.n_params)
    for w, b, _ in net.architecture.weight_slices():
        mask[w:b] = 1.0
    assert _registry.l2_penalty_flat(net.state.params, mask, 0.3) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_array_equal(_registry.l2_gradient(net.weights[0], 0.3), 0.3 * net.weights[0])

"""The optimizer step kernel (fastbp._optim) against plain-numpy float64 twins, and the
optimizer configurations (fastbp.optim): validation, resolve(), saving."""
import json

import numpy as np
import pytest

from fastbp import _optim, _registry, optim
from fastbp.optim import LBFGS, SGD, Adagrad, Adam, AdamW, IRPropMinus, RMSprop

N_PARAMS = 23
N_STEPS = 7


# --- the reference: each update rule in plain numpy float64, written to be read ---------------
# State dicts are filled in the kernel's layout order (see _optim.pxd), so that concatenating
# their values gives the kernel's flat state array.

def reference_new_state(config, n):
    zeros = np.zeros(n)
    if isinstance(config, SGD):
        return {"v": zeros.copy()} if config.momentum > 0 else {}
    if isinstance(config, (Adam, AdamW)):
        return {"m": zeros.copy(), "v": zeros.copy()}
    if isinstance(config, (RMSprop, Adagrad)):
        return {"v": zeros.copy()}
    if isinstance(config, IRPropMinus):
        return {"delta": np.full(n, config.delta0), "g_prev": zeros.copy()}
    raise AssertionError(f"no reference for {config!r}")


def reference_step(config, lr, theta, g, state, t):
    """θ after one step of `config` (state updated in place); t is 1-based."""
    if isinstance(config, SGD):
        if config.momentum == 0:
            return theta - lr * g
        mu = config.momentum
        state["v"] = mu * state["v"] + g
        if config.nesterov:
            return theta - lr * (g + mu * state["v"])
        return theta - lr * state["v"]
    if isinstance(config, (Adam, AdamW)):
        if isinstance(config, AdamW):
            theta = theta - lr * config.weight_decay * theta
        state["m"] = config.beta1 * state["m"] + (1 - config.beta1) * g
        state["v"] = config.beta2 * state["v"] + (1 - config.beta2) * g ** 2
        m_hat = state["m"] / (1 - config.beta1 ** t)
        v_hat = state["v"] / (1 - config.beta2 ** t)
        return theta - lr * m_hat / (np.sqrt(v_hat) + config.eps)
    if isinstance(config, RMSprop):
        state["v"] = config.rho * state["v"] + (1 - config.rho) * g ** 2
        return theta - lr * g / (np.sqrt(state["v"]) + config.eps)
    if isinstance(config, Adagrad):
        state["v"] = state["v"] + g ** 2
        return theta - lr * g / (np.sqrt(state["v"]) + config.eps)
    if isinstance(config, IRPropMinus):
        delta, g_prev = state["delta"], state["g_prev"]
        same = g * g_prev > 0
        flipped = g * g_prev < 0
        delta = np.where(same, np.minimum(delta * config.eta_plus, config.delta_max), delta)
        delta = np.where(flipped, np.maximum(delta * config.eta_minus, config.delta_min), delta)
        g = np.where(flipped, 0.0, g)
        state["delta"], state["g_prev"] = delta, g
        return theta - np.sign(g) * delta
    raise AssertionError(f"no reference for {config!r}")


def reference_run(config, lr, theta0, grads):
    theta = theta0.astype(np.float64)
    state = reference_new_state(config, theta.size)
    for t, g in enumerate(grads, start=1):
        theta = reference_step(config, lr, theta, g.astype(np.float64), state, t)
    flat_state = np.concatenate(list(state.values())) if state else np.zeros(0)
    return theta, flat_state


def kernel_run(config, lr, theta0, grads, dtype):
    theta = theta0.astype(dtype)
    state = config.new_state(theta.size, dtype)
    hyper = config.hyper()
    for t, g in enumerate(grads, start=1):
        _optim.step(config.code, theta, np.ascontiguousarray(g, dtype=dtype), lr, hyper, state, t)
    return theta, state


def problem(dtype, seed=0, n=N_PARAMS, steps=N_STEPS):
    """Parameters and a sequence of gradients of varying scale, some entries exactly 0,
    representable in `dtype` (so that kernel and reference see the same numbers)."""
    rng = np.random.default_rng(seed)
    theta0 = rng.normal(size=n).astype(dtype)
    scales = [1.0, 0.3, 2.0, 0.05, 1.0, 0.5, 3.0][:steps] + [1.0] * max(0, steps - 7)
    grads = []
    for scale in scales:
        g = scale * rng.normal(size=n)
        g[rng.random(n) < 0.15] = 0.0
        grads.append(g.astype(dtype))
    return theta0, grads


CONFIGS = [
    (SGD(), 0.05),
    (SGD(momentum=0.9), 0.05),
    (SGD(momentum=0.5, nesterov=True), 0.05),
    (Adam(), 0.05),
    (Adam(beta1=0.5, beta2=0.9, eps=1e-3), 0.05),
    (AdamW(), 0.05),
    (AdamW(weight_decay=0.5), 0.05),
    (RMSprop(), 0.01),
    (RMSprop(rho=0.5, eps=1e-2), 0.01),
    (Adagrad(), 0.1),
    (IRPropMinus(), 0.0),
    (IRPropMinus(eta_plus=1.5, eta_minus=0.3, delta0=0.2, delta_min=0.05, delta_max=0.4), 0.0),
]


@pytest.mark.parametrize("config,lr", CONFIGS, ids=repr)
def test_step_matches_numpy_reference_over_several_steps(config, lr, dtype, tol, rel_err):
    theta0, grads = problem(dtype)
    theta, state = kernel_run(config, lr, theta0, grads, dtype)
    ref_theta, ref_state = reference_run(config, lr, theta0, grads)
    assert theta.dtype == state.dtype == np.dtype(dtype)
    # Compare the displacement θ − θ₀, not θ: float32 rounding of θ itself would hide an
    # error in the small updates.
    displacement = theta.astype(np.float64) - theta0
    assert np.abs(displacement).max() > 0
    assert rel_err(displacement, ref_theta - theta0) < tol["close"]
    assert state.shape == ref_state.shape
    assert rel_err(state, ref_state) < tol["close"]


@pytest.mark.parametrize("config,lr", CONFIGS, ids=repr)
def test_l2_term_folded_into_the_step_equals_the_step_on_g_plus_alpha_theta(config, lr, dtype):
    # The fused trainer folds the penalty into each layer's step; the two-pass one adds α·θ to
    # the gradient first: the same rounding, bit for bit.
    theta0, grads = problem(dtype)
    alpha = np.asarray(0.3, dtype)
    folded, explicit = theta0.astype(dtype), theta0.astype(dtype)
    folded_state, explicit_state = config.new_state(theta0.size, dtype), config.new_state(theta0.size, dtype)
    for t, g in enumerate(grads, start=1):
        _optim.step(config.code, folded, g, lr, config.hyper(), folded_state, t, float(alpha))
        _optim.step(config.code, explicit, g + alpha * explicit, lr, config.hyper(),
                    explicit_state, t)
    assert not np.array_equal(folded, kernel_run(config, lr, theta0, grads, dtype)[0])
    np.testing.assert_array_equal(folded, explicit)
    np.testing.assert_array_equal(folded_state, explicit_state)


# --- Adam ------------------------------------------------------------------------------------

def test_adam_first_step_is_lr_times_g_over_abs_g_plus_eps():
    # Bias correction makes m̂ = g and v̂ = g² at t = 1, whatever β₁ and β₂.
    config = Adam(beta1=0.8, beta2=0.99, eps=1e-3)
    theta0, (g, *_) = problem("float64")
    theta, _ = kernel_run(config, 0.01, theta0, [g], "float64")
    np.testing.assert_allclose(theta, theta0 - 0.01 * g / (np.abs(g) + 1e-3), rtol=1e-12, atol=0)


def test_adam_second_step_matches_closed_form_bias_correction():
    b1, b2, eps, lr = 0.8, 0.99, 1e-8, 0.01
    theta0, (g1, g2, *_) = problem("float64")
    m_hat = (b1 * (1 - b1) * g1 + (1 - b1) * g2) / (1 - b1 ** 2)
    v_hat = (b2 * (1 - b2) * g1 ** 2 + (1 - b2) * g2 ** 2) / (1 - b2 ** 2)
    step1 = g1 / (np.abs(g1) + eps)
    expected = theta0 - lr * step1 - lr * m_hat / (np.sqrt(v_hat) + eps)
    theta, _ = kernel_run(Adam(beta1=b1, beta2=b2, eps=eps), lr, theta0, [g1, g2], "float64")
    np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("t", [1, 2, 10, 1000])
def test_adam_bias_correction_follows_the_step_counter(t, dtype, tol, rel_err):
    # One step from zero moments, numbered t: m̂ = (1−β₁)g/(1−β₁ᵗ), v̂ = (1−β₂)g²/(1−β₂ᵗ).
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    config = Adam(beta1=b1, beta2=b2, eps=eps)
    theta0, (g, *_) = problem(dtype)
    theta, state = theta0.copy(), config.new_state(theta0.size, dtype)
    _optim.step(config.code, theta, g, lr, config.hyper(), state, t)
    g = g.astype(np.float64)
    m_hat = (1 - b1) * g / (1 - b1 ** t)
    v_hat = (1 - b2) * g ** 2 / (1 - b2 ** t)
    expected = -lr * m_hat / (np.sqrt(v_hat) + eps)
    assert rel_err(theta.astype(np.float64) - theta0, expected) < tol["close"]


# --- Nesterov ----------------------------------------------------------------------------------

def test_nesterov_looks_ahead_by_mu_times_velocity():
    mu, lr = 0.9, 0.1
    theta0, (g1, g2, *_) = problem("float64")
    v1, v2 = g1, mu * g1 + g2
    nesterov, _ = kernel_run(SGD(momentum=mu, nesterov=True), lr, theta0, [g1, g2], "float64")
    heavy_ball, _ = kernel_run(SGD(momentum=mu), lr, theta0, [g1, g2], "float64")
    np.testing.assert_allclose(nesterov, theta0 - lr * (g1 + mu * v1) - lr * (g2 + mu * v2),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(heavy_ball, theta0 - lr * v1 - lr * v2, rtol=1e-12, atol=1e-15)


# --- AdamW ---------------------------------------------------------------------------------------

def test_adamw_decay_is_decoupled_from_the_gradient(dtype, tol, rel_err):
    # With zero gradients the moments stay 0: Adam does nothing, AdamW only shrinks θ.
    lr, decay = 0.1, 0.5
    theta0, _ = problem(dtype)
    zeros = [np.zeros(theta0.size, dtype)] * 5
    adam, _ = kernel_run(Adam(), lr, theta0, zeros, dtype)
    adamw, state = kernel_run(AdamW(weight_decay=decay), lr, theta0, zeros, dtype)
    np.testing.assert_array_equal(adam, theta0)
    assert rel_err(adamw, theta0 * (1 - lr * decay) ** 5) < tol["close"]
    np.testing.assert_array_equal(state, 0)


def test_adamw_without_weight_decay_is_adam_bit_for_bit(dtype):
    theta0, grads = problem(dtype)
    adam, adam_state = kernel_run(Adam(), 0.01, theta0, grads, dtype)
    adamw, adamw_state = kernel_run(AdamW(weight_decay=0.0), 0.01, theta0, grads, dtype)
    np.testing.assert_array_equal(adamw, adam)
    np.testing.assert_array_equal(adamw_state, adam_state)


# --- iRPROP− ------------------------------------------------------------------------------------

def irprop_trace(config, gradients, dtype, lr=0.0):
    """θ and Δ of one weight (starting at θ = 0) after each of `gradients`."""
    theta = np.zeros(1, dtype)
    state = config.new_state(1, dtype)
    thetas, deltas = [], []
    for t, g in enumerate(gradients, start=1):
        _optim.step(config.code, theta, np.array([g], dtype), lr, config.hyper(), state, t)
        thetas.append(float(theta[0]))
        deltas.append(float(state[0]))
    return np.array(thetas), np.array(deltas)


def test_irprop_same_sign_grows_step_up_to_delta_max(dtype, tol):
    config = IRPropMinus(eta_plus=1.2, delta0=0.1, delta_max=0.15)
    thetas, deltas = irprop_trace(config, [1.0, 2.0, 0.5, 1.0, 3.0], dtype)
    # The first step has no previous gradient to compare with: Δ stays Δ₀.
    np.testing.assert_allclose(deltas, [0.1, 0.12, 0.144, 0.15, 0.15], rtol=tol["close"])
    np.testing.assert_allclose(thetas, -np.cumsum([0.1, 0.12, 0.144, 0.15, 0.15]), rtol=tol["close"])


def test_irprop_sign_change_shrinks_step_and_skips_update(dtype, tol):
    config = IRPropMinus(eta_plus=1.2, eta_minus=0.5, delta0=0.1, delta_min=0.03)
    thetas, deltas = irprop_trace(config, [1.0, -1.0, -1.0, -1.0, 1.0, -1.0], dtype)
    # step 2 flips: Δ halves and θ stays; step 3 sees the stored 0: Δ unchanged, θ moves;
    # step 4 same sign: Δ grows; step 5 flips: Δ halves; step 6 sees 0 again.
    np.testing.assert_allclose(deltas, [0.1, 0.05, 0.05, 0.06, 0.03, 0.03], rtol=tol["close"])
    np.testing.assert_allclose(thetas, [-0.1, -0.1, -0.05, 0.01, 0.01, 0.04], rtol=tol["close"])


def test_irprop_shrinking_stops_at_delta_min(dtype, tol):
    config = IRPropMinus(eta_minus=0.5, delta0=0.1, delta_min=0.04)
    # Flips at steps 2, 4, 6 (each followed by a step that sees the stored 0).
    _, deltas = irprop_trace(config, [1.0, -1.0, 1.0, -1.0, 1.0, -1.0], dtype)
    np.testing.assert_allclose(deltas, [0.1, 0.05, 0.05, 0.04, 0.04, 0.04], rtol=tol["close"])


def test_irprop_zero_gradient_leaves_step_and_weight_unchanged(dtype, tol):
    config = IRPropMinus(delta0=0.1)
    thetas, deltas = irprop_trace(config, [1.0, 0.0, 1.0, 0.0, 0.0, -2.0], dtype)
    np.testing.assert_allclose(deltas, [0.1] * 6, rtol=tol["close"])
    np.testing.assert_allclose(thetas, [-0.1, -0.1, -0.2, -0.2, -0.2, -0.1], rtol=tol["close"])


def test_irprop_ignores_lr_and_gradient_size(dtype):
    config = IRPropMinus()
    grads = [1.0, 3.0, -0.01, -5.0, 2.0]
    thetas, deltas = irprop_trace(config, grads, dtype, lr=0.0)
    other_thetas, other_deltas = irprop_trace(config, [np.sign(g) for g in grads], dtype, lr=123.0)
    np.testing.assert_array_equal(thetas, other_thetas)
    np.testing.assert_array_equal(deltas, other_deltas)


def test_irprop_compares_signs_of_tiny_float32_gradients():
    # g·g' = ±1e-60 underflows to 0 in float32; the signs must still be compared.
    thetas, deltas = irprop_trace(IRPropMinus(delta0=0.1), [1e-30, -1e-30, -1e-30, -1e-30], "float32")
    np.testing.assert_allclose(deltas, [0.1, 0.05, 0.05, 0.06], rtol=1e-6)
    np.testing.assert_allclose(thetas, [-0.1, -0.1, -0.05, 0.01], rtol=1e-5)


# --- the kernel's Python wrapper -----------------------------------------------------------------

@pytest.mark.parametrize("name,size", [("sgd", 0), ("momentum", 1), ("nesterov", 1),
                                       ("adam", 2), ("adamw", 2), ("rmsprop", 1),
                                       ("adagrad", 1), ("irprop-", 2)])
def test_state_size_per_optimizer(name, size):
    assert _optim.state_size(_registry.OPTIMIZER_RULES[name].code) == size


def test_init_state_is_zero_except_irprop_steps(dtype):
    for name, config in [("adam", Adam()), ("irprop-", IRPropMinus(delta0=0.25))]:
        state = np.full(2 * 4, np.nan, dtype)
        _optim.init_state(_registry.OPTIMIZER_RULES[name].code, config.hyper(), state)
        expected = [0.25] * 4 + [0.0] * 4 if name == "irprop-" else [0.0] * 8
        np.testing.assert_array_equal(state, np.array(expected, dtype))


def test_step_on_empty_arrays_is_a_no_op():
    empty = np.zeros(0)
    _optim.step(_optim.Optimizer.ADAM, empty, empty, 0.1, Adam().hyper(), empty, 1)


def valid_call(dtype="float64", n=4, config=Adam()):
    """Arguments of a valid _optim.step call, as a dict to spoil one at a time."""
    return dict(code=config.code, params=np.zeros(n, dtype), grads=np.ones(n, dtype), lr=0.1,
                hyper=config.hyper(), state=config.new_state(n, dtype), t=1)


@pytest.mark.parametrize("change,message", [
    (dict(grads=np.ones(5)), "grads has 5 elements, params has 4"),
    (dict(state=np.zeros(4)), "state must hold 2 x 4 = 8 elements"),
    (dict(hyper=np.zeros(2)), "reads 3 hyper-parameters, got 2"),
    (dict(code=11), "unknown optimizer code 11"),  # the first code after the last one
    (dict(code=-1), "unknown optimizer code -1"),
    (dict(t=0), "1-based"),
])
def test_step_refuses_inconsistent_arguments(change, message):
    args = valid_call()
    params_before = args["params"].copy()
    args.update(change)
    with pytest.raises(ValueError, match=message):
        _optim.step(**args)
    np.testing.assert_array_equal(args["params"], params_before)


def test_step_refuses_mixed_dtypes():
    args = valid_call("float32")
    args["grads"] = args["grads"].astype(np.float64)
    with pytest.raises((TypeError, ValueError)):
        _optim.step(**args)


def test_init_state_refuses_state_for_sgd():
    with pytest.raises(ValueError, match="keeps no state"):
        _optim.init_state(_optim.Optimizer.SGD, np.zeros(0), np.zeros(3))


# --- configurations --------------------------------------------------------------------------

@pytest.mark.parametrize("config,name,code,hyper", [
    (SGD(), "sgd", "SGD", []),
    (SGD(momentum=0.9), "sgd", "MOMENTUM", [0.9]),
    (SGD(momentum=0.8, nesterov=True), "sgd", "NESTEROV", [0.8]),
    (Adam(beta1=0.8, beta2=0.99, eps=1e-7), "adam", "ADAM", [0.8, 0.99, 1e-7]),
    (AdamW(weight_decay=0.1), "adamw", "ADAMW", [0.9, 0.999, 1e-8, 0.1]),
    (RMSprop(rho=0.9, eps=1e-6), "rmsprop", "RMSPROP", [0.9, 1e-6]),
    (Adagrad(eps=1e-9), "adagrad", "ADAGRAD", [1e-9]),
    (IRPropMinus(eta_plus=1.3, eta_minus=0.4, delta0=0.2, delta_min=1e-6, delta_max=10.0),
     "irprop-", "IRPROP_MINUS", [1.3, 0.4, 1e-6, 10.0, 0.2]),
])
def test_config_name_code_and_hyper_layout(config, name, code, hyper):
    assert config.name == name
    assert config.code == getattr(_optim.Optimizer, code)
    h = config.hyper()
    assert h.dtype == np.float64 and h.shape == (_optim.hyper_size(config.code),)
    np.testing.assert_array_equal(h, hyper)


def test_default_learning_rates():
    assert (SGD.default_lr, Adam.default_lr, AdamW.default_lr, RMSprop.default_lr,
            Adagrad.default_lr) == (0.01, 1e-3, 1e-3, 1e-2, 1e-2)
    assert IRPropMinus.default_lr is None and LBFGS.default_lr is None


def test_lbfgs_is_configuration_only():
    config = LBFGS(max_iter=50, tol=1e-6)
    assert config.name == "lbfgs" and config.code is None
    assert config.scipy_options() == {"maxiter": 50, "gtol": 1e-6}


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        Adam().lr = 0.1


def test_hyper_parameters_are_normalised_to_plain_floats():
    config = Adam(lr=np.float32(0.5), beta1=np.float64(0.5), eps=1)
    assert type(config.lr) is float and type(config.beta1) is float and type(config.eps) is float
    assert type(SGD(momentum=0.5, nesterov=np.bool_(True)).nesterov) is bool


@pytest.mark.parametrize("make,error,message", [
    (lambda: SGD(lr=0), ValueError, "lr must be > 0"),
    (lambda: SGD(lr=-0.1), ValueError, "lr must be > 0"),
    (lambda: SGD(lr=float("nan")), ValueError, "lr must be finite"),
    (lambda: SGD(lr="0.1"), TypeError, "lr must be a real number"),
    (lambda: SGD(momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda: SGD(momentum=-0.1), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda: SGD(momentum=True), TypeError, "momentum must be a real number"),
    (lambda: SGD(nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
    (lambda: SGD(momentum=0.9, nesterov=1), TypeError, "nesterov must be True or False"),
    (lambda: Adam(beta1=1.0), ValueError, r"beta1 must be in \[0, 1\)"),
    (lambda: Adam(beta2=-0.5), ValueError, r"beta2 must be in \[0, 1\)"),
    (lambda: Adam(eps=0), ValueError, "eps must be > 0"),
    (lambda: AdamW(beta1=1.5), ValueError, r"beta1 must be in \[0, 1\)"),
    (lambda: AdamW(weight_decay=-0.01), ValueError, "weight_decay must be >= 0"),
    (lambda: AdamW(weight_decay=float("inf")), ValueError, "weight_decay must be finite"),
    (lambda: RMSprop(rho=1.0), ValueError, r"rho must be in \[0, 1\)"),
    (lambda: RMSprop(eps=-1e-8), ValueError, "eps must be > 0"),
    (lambda: Adagrad(eps=0.0), ValueError, "eps must be > 0"),
    (lambda: Adagrad(lr=0.0), ValueError, "lr must be > 0"),
    (lambda: IRPropMinus(lr=0.1), ValueError, "iRPROP- takes no learning rate"),
    (lambda: IRPropMinus(eta_plus=1.0), ValueError, "eta_plus must be > 1"),
    (lambda: IRPropMinus(eta_minus=0.0), ValueError, r"eta_minus must be in \(0, 1\)"),
    (lambda: IRPropMinus(eta_minus=1.0), ValueError, r"eta_minus must be in \(0, 1\)"),
    (lambda: IRPropMinus(delta0=0.0), ValueError, "delta0 must be > 0"),
    (lambda: IRPropMinus(delta_min=-1.0), ValueError, "delta_min must be >= 0"),
    (lambda: IRPropMinus(delta0=60.0), ValueError, "need delta_min <= delta0 <= delta_max"),
    (lambda: IRPropMinus(delta_min=0.2, delta0=0.1), ValueError, "need delta_min <= delta0"),
    (lambda: LBFGS(max_iter=0), ValueError, "max_iter must be >= 1"),
    (lambda: LBFGS(max_iter=10.0), TypeError, "max_iter must be an integer"),
    (lambda: LBFGS(tol=0.0), ValueError, "tol must be > 0"),
])
def test_config_validation_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("name,expected", [
    ("sgd", SGD()),
    ("momentum", SGD(momentum=0.9)),
    ("nesterov", SGD(momentum=0.9, nesterov=True)),
    ("adam", Adam()),
    ("adamw", AdamW()),
    ("rmsprop", RMSprop()),
    ("adagrad", Adagrad()),
    ("irprop-", IRPropMinus()),
    ("lbfgs", LBFGS()),
])
def test_resolve_names(name, expected):
    assert optim.resolve(name) == expected


def test_resolve_returns_a_configuration_unchanged():
    config = AdamW(lr=0.003, weight_decay=0.2)
    assert optim.resolve(config) is config


@pytest.mark.parametrize("value,error,message", [
    ("Adam", ValueError, "unknown optimizer 'Adam'; choose one of 'sgd'"),
    ("irprop", ValueError, "unknown optimizer 'irprop'"),
    (None, TypeError, "optimizer must be a name"),
    (3, TypeError, "optimizer must be a name"),
    (Adam, TypeError, r"pass an optimizer configuration, e.g. Adam\(\)"),
])
def test_resolve_refuses_unknown_names_and_types(value, error, message):
    with pytest.raises(error, match=message):
        optim.resolve(value)


ROUND_TRIP = [
    SGD(), SGD(lr=0.2, momentum=0.5, nesterov=True),
    Adam(lr=1e-4, beta1=0.8, beta2=0.9, eps=1e-6),
    AdamW(lr=1e-2, weight_decay=0.3),
    RMSprop(lr=0.5, rho=0.7, eps=1e-5),
    Adagrad(lr=0.3, eps=1e-7),
    IRPropMinus(eta_plus=1.1, eta_minus=0.2, delta0=0.3, delta_min=0.01, delta_max=2.0),
    LBFGS(max_iter=17, tol=1e-3),
]


@pytest.mark.parametrize("config", ROUND_TRIP, ids=repr)
def test_to_dict_from_dict_round_trip_through_json(config):
    data = json.loads(json.dumps(config.to_dict()))
    assert data["name"] == config.name
    assert optim.from_dict(data) == config
    assert type(config).from_dict(data) == config


def test_from_dict_fills_missing_settings_with_defaults():
    assert optim.from_dict({"name": "adam", "lr": 0.1}) == Adam(lr=0.1)


@pytest.mark.parametrize("call,message", [
    (lambda: optim.from_dict({"lr": 0.1}), "not a saved optimizer configuration"),
    (lambda: optim.from_dict({"name": "newton"}), "not a saved optimizer configuration"),
    (lambda: optim.from_dict({"name": "adam", "momentum": 0.9}), r"unknown Adam settings \['momentum'\]"),
    (lambda: Adam.from_dict({"name": "sgd"}), "Adam.from_dict got the settings of 'sgd'"),
    (lambda: optim.from_dict({"name": "sgd", "momentum": 2.0}), r"momentum must be in \[0, 1\)"),
])
def test_from_dict_refuses_bad_headers(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- optional cross-check against PyTorch (never installed for this) ---------------------------

def torch_optimizer(torch, config, param, lr):
    if isinstance(config, SGD):
        return torch.optim.SGD([param], lr=lr, momentum=config.momentum, nesterov=config.nesterov)
    if isinstance(config, AdamW):
        return torch.optim.AdamW([param], lr=lr, betas=(config.beta1, config.beta2),
                                 eps=config.eps, weight_decay=config.weight_decay)
    if isinstance(config, Adam):
        return torch.optim.Adam([param], lr=lr, betas=(config.beta1, config.beta2), eps=config.eps)
    if isinstance(config, RMSprop):
        return torch.optim.RMSprop([param], lr=lr, alpha=config.rho, eps=config.eps)
    if isinstance(config, Adagrad):
        return torch.optim.Adagrad([param], lr=lr, eps=config.eps)
    if isinstance(config, IRPropMinus):
        # torch's Rprop is iRPROP−: lr is its initial step size Δ₀.
        return torch.optim.Rprop([param], lr=config.delta0,
                                 etas=(config.eta_minus, config.eta_plus),
                                 step_sizes=(config.delta_min, config.delta_max))
    raise AssertionError(f"no torch optimizer for {config!r}")


@pytest.mark.parametrize("config,lr", CONFIGS, ids=repr)
def test_step_matches_torch_optim(config, lr, rel_err):
    torch = pytest.importorskip("torch")
    theta0, grads = problem("float64")
    param = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    opt = torch_optimizer(torch, config, param, lr)
    for g in grads:
        param.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    theta, _ = kernel_run(config, lr, theta0, grads, "float64")
    assert rel_err(theta - theta0, param.detach().numpy() - theta0) < 1e-10

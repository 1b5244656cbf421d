"""The optimizer's step fused into the backward pass (each layer stepped as soon as its gradient
is known) against the two-pass step (the whole gradient, then one step over all parameters),
which `Architecture.fuse_optimizer_step = False` forces: bit for bit, for every optimizer, dtype,
penalty, dropout, sample weighting and layer path; and both against a float64 numpy reference.
"""
import numpy as np
import pytest

import fastbp
from fastbp import _kernels, optim
from fastbp.reference import ReferenceNetwork

ALL_BLAS, NO_BLAS = 0, 1 << 62

CONFIGS = {  # name: (configuration, learning rate)
    "sgd": (optim.SGD(), 0.05),
    "momentum": (optim.SGD(momentum=0.9), 0.02),
    "nesterov": (optim.SGD(momentum=0.8, nesterov=True), 0.02),
    "adam": (optim.Adam(), 0.01),
    "adamw": (optim.AdamW(weight_decay=0.1), 0.01),
    "rmsprop": (optim.RMSprop(), 0.005),
    "adagrad": (optim.Adagrad(), 0.05),
    "irprop": (optim.IRPropMinus(), None),
}
PATHS = ["loops", "blas", "inplace_gemm"]
PLANNED = {"loops": {"loops"}, "blas": {"blas", "blas_transposed_input"},
           "inplace_gemm": {"inplace_gemm", "inplace_gemm_transposed_weights"}}  # (plain SGD)
SIZES = [12, 40, 24, 3]
N_SAMPLES = 70  # batches of 16: four full ones and a partial one


def network(path, dtype, dropout, fused):
    """A network whose layers all take `path`, stepping fused or in two passes."""
    net = fastbp.Network(SIZES, activation="relu", loss="cross_entropy", dtype=dtype, seed=4,
                         dropout=dropout or None, n_threads=1)
    net.architecture.blas_min_work = NO_BLAS if path == "loops" else ALL_BLAS
    if path == "inplace_gemm":
        net.architecture.inplace_gemm_min_work = 0
    net.architecture.fuse_optimizer_step = fused
    return net


def data(with_weights):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N_SAMPLES, SIZES[0]))
    y = rng.integers(0, SIZES[-1], N_SAMPLES)
    weights = rng.uniform(0.2, 3.0, N_SAMPLES) if with_weights else None
    return X, y, weights


def bits(net):
    """Every parameter's bit pattern (-0.0 and 0.0 differ)."""
    params = net.state.params
    return params.view(np.uint32 if params.dtype == np.float32 else np.uint64).copy()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("with_weights", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dropout", [0.0, 0.3], ids=["no_dropout", "dropout"])
@pytest.mark.parametrize("alpha", [0.0, 1e-2], ids=["no_l2", "l2"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_fused_step_equals_the_two_pass_step_bit_for_bit(name, alpha, dropout, with_weights,
                                                         path, dtype):
    if path == "inplace_gemm" and not (dtype == "float32" and _kernels.avx512_kernels_run()):
        pytest.skip("fastbp's in-place matrix kernel runs on float32 with AVX-512 only")
    config, lr = CONFIGS[name]
    X, y, weights = data(with_weights)
    results = []
    for fused in (True, False):
        net = network(path, dtype, dropout, fused)
        history = net.fit(X, y, epochs=2, batch_size=16, lr=lr, optimizer=config, alpha=alpha,
                          sample_weight=weights, shuffle=True)
        assert set(net.architecture.last_plan) <= PLANNED[path]
        results.append((bits(net), list(history.loss), net.state.optimizer_state.copy()))
    (fused_bits, fused_loss, fused_state), (two_pass_bits, two_pass_loss, two_pass_state) = results
    assert not np.array_equal(fused_bits, bits(network(path, dtype, dropout, True)))  # it trained
    np.testing.assert_array_equal(fused_bits, two_pass_bits)
    np.testing.assert_array_equal(fused_state, two_pass_state)
    assert fused_loss == two_pass_loss


def test_clipping_and_batches_of_several_chunks_keep_the_two_pass_step():
    """Clipping needs the whole gradient, and so does a batch of more rows than a chunk: the
    fused switch changes nothing there."""
    X, y, _ = data(False)
    X, y = np.vstack([X] * 5), np.concatenate([y] * 5)  # 350 rows: a batch of two chunks
    for settings in (dict(batch_size=16, clip_norm=0.5), dict(batch_size=None)):
        results = []
        for fused in (True, False):
            net = network("blas", "float64", 0.0, fused)
            net.fit(X, y, epochs=2, lr=0.01, optimizer=optim.Adam(), alpha=1e-2, **settings)
            results.append(bits(net))
        np.testing.assert_array_equal(*results)


# --- against the float64 numpy reference ---------------------------------------------------------

def reference_update(name, config, lr, params, grads, state, t):
    """One step of `config` on lists of float64 arrays (PyTorch's conventions)."""
    for k, (p, g) in enumerate(zip(params, grads)):
        s = state.setdefault(k, {"a": np.zeros_like(p), "b": np.zeros_like(p)})
        if name == "sgd":
            p -= lr * g
        elif name in ("momentum", "nesterov"):
            s["a"] = config.momentum * s["a"] + g
            p -= lr * (g + config.momentum * s["a"] if config.nesterov else s["a"])
        elif name in ("adam", "adamw"):
            if name == "adamw":
                p -= lr * config.weight_decay * p
            s["a"] = config.beta1 * s["a"] + (1 - config.beta1) * g
            s["b"] = config.beta2 * s["b"] + (1 - config.beta2) * g * g
            m_hat, v_hat = s["a"] / (1 - config.beta1 ** t), s["b"] / (1 - config.beta2 ** t)
            p -= lr * m_hat / (np.sqrt(v_hat) + config.eps)
        elif name == "rmsprop":
            s["b"] = config.rho * s["b"] + (1 - config.rho) * g * g
            p -= lr * g / (np.sqrt(s["b"]) + config.eps)
        elif name == "adagrad":
            s["b"] = s["b"] + g * g
            p -= lr * g / (np.sqrt(s["b"]) + config.eps)
        else:  # iRPROP−: Δ in "a" (from Δ₀), the previous gradient in "b"
            if t == 1:
                s["a"][...] = config.delta0
            same, flipped = g * s["b"] > 0, g * s["b"] < 0
            s["a"] = np.where(same, np.minimum(s["a"] * config.eta_plus, config.delta_max), s["a"])
            s["a"] = np.where(flipped, np.maximum(s["a"] * config.eta_minus, config.delta_min),
                              s["a"])
            g = np.where(flipped, 0.0, g)
            s["b"] = g
            p -= np.sign(g) * s["a"]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "two_pass"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_both_steps_equal_the_numpy_reference_with_l2_and_sample_weights(name, fused):
    config, lr = CONFIGS[name]
    alpha, batch = 1e-2, 16
    X, y, weights = data(True)
    net = network("blas", "float64", 0.0, fused)
    ref = ReferenceNetwork.like(net)
    net.fit(X, y, epochs=2, batch_size=batch, lr=lr, optimizer=config, alpha=alpha,
            sample_weight=weights, shuffle=False)
    state, t = {}, 0
    for _ in range(2):
        for start in range(0, N_SAMPLES, batch):
            rows = slice(start, start + batch)
            grads = [g for pair in ref.gradients(X[rows], y[rows], weights[rows]) for g in pair]
            params = [p for pair in zip(ref.weights, ref.biases) for p in pair]
            grads = [g + alpha * p if k % 2 == 0 else g for k, (g, p) in enumerate(zip(grads, params))]
            t += 1
            reference_update(name, config, lr, params, grads, state, t)
    for ours, theirs in zip((a for pair in zip(net.weights, net.biases) for a in pair),
                            (a for pair in zip(ref.weights, ref.biases) for a in pair)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)

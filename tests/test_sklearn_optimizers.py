"""scikit-learn's optimizer forms (``convention="sklearn"``) and its L2 convention
(``alpha_over_batch_size``): the step kernels against scikit-learn's own SGDOptimizer and
AdamOptimizer, whole fits against a float64 numpy replica on fastbp.reference's forward and
backward passes, the fused step against the two-pass one, saving and validation.
"""
import numpy as np
import pytest

import fastbp
from fastbp import _optim, optim
from fastbp.reference import ReferenceNetwork

SIZES = [5, 7, 3]
N_SAMPLES = 37          # batches of 8: four full ones and a partial one of 5
BATCH = 8
LRS = [0.05, 0.02, 0.08]  # one fit call each: η changes between steps

VARIANTS = {  # name: (configuration, hyper-parameters of the replica)
    "momentum": (optim.SGD(momentum=0.9, convention="sklearn"), {"mu": 0.9}),
    "nesterov": (optim.SGD(momentum=0.8, nesterov=True, convention="sklearn"), {"mu": 0.8}),
    # ε large enough that where it is added (to √v or √v̂) shows in float32 too
    "adam": (optim.Adam(beta1=0.8, beta2=0.95, eps=1e-3, convention="sklearn"),
             {"beta1": 0.8, "beta2": 0.95, "eps": 1e-3}),
    "sgd": (optim.SGD(convention="sklearn"), {"mu": 0.0}),
}


# ----- the configurations ---------------------------------------------------------------------
def test_codes_of_the_conventions():
    assert optim.SGD(momentum=0.9, convention="sklearn").code == _optim.Optimizer.MOMENTUM_SKLEARN
    assert optim.SGD(momentum=0.9, nesterov=True, convention="sklearn").code \
        == _optim.Optimizer.NESTEROV_SKLEARN
    assert optim.Adam(convention="sklearn").code == _optim.Optimizer.ADAM_SKLEARN
    # plain SGD is one rule in both conventions (scikit-learn's zero velocity adds nothing)
    assert optim.SGD(convention="sklearn").code == _optim.Optimizer.SGD
    assert optim.SGD(nesterov=True, convention="sklearn").code == _optim.Optimizer.SGD
    assert optim.SGD(momentum=0.9).code == _optim.Optimizer.MOMENTUM
    assert optim.Adam().code == _optim.Optimizer.ADAM


def test_repr_names_the_sklearn_convention_only():
    assert repr(optim.Adam()) == "Adam(lr=None, beta1=0.9, beta2=0.999, eps=1e-08)"
    assert repr(optim.Adam(convention="sklearn")) \
        == "Adam(lr=None, beta1=0.9, beta2=0.999, eps=1e-08, convention='sklearn')"
    assert repr(optim.SGD(momentum=0.5, convention="sklearn")) \
        == "SGD(lr=None, momentum=0.5, nesterov=False, convention='sklearn')"


@pytest.mark.parametrize("make, error, match", [
    (lambda: optim.SGD(convention="keras"), ValueError, "convention must be one of 'torch', 'sklearn'"),
    (lambda: optim.Adam(convention=None), ValueError, "convention must be one of"),
    (lambda: optim.Adam(convention="SKLEARN"), ValueError, "got 'SKLEARN'"),
    (lambda: optim.SGD(nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
])
def test_bad_conventions_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_dicts_keep_the_convention_and_old_ones_read_as_torch():
    for config in (optim.Adam(lr=0.1, convention="sklearn"),
                   optim.SGD(momentum=0.9, nesterov=True, convention="sklearn")):
        assert config.to_dict()["convention"] == "sklearn"
        assert optim.from_dict(config.to_dict(), complete=True) == config
    old = {"name": "adam", "lr": None, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert optim.from_dict(old, complete=True) == optim.Adam()
    old = {"name": "sgd", "lr": 0.1, "momentum": 0.5, "nesterov": False}
    assert optim.from_dict(old, complete=True).convention == "torch"
    with pytest.raises(ValueError, match="lack"):
        optim.from_dict({"name": "adam", "lr": None, "convention": "sklearn"}, complete=True)


def test_another_convention_is_another_optimizer():
    assert not optim.Adam(convention="sklearn").continues(optim.Adam())
    assert optim.Adam(lr=0.1, convention="sklearn").continues(optim.Adam(convention="sklearn"))
    X, y = data("float64")[:2]
    net = fastbp.Network(SIZES, activation="tanh", loss="cross_entropy", seed=1)
    net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=optim.Adam())
    assert net.state.step > 0
    net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=optim.Adam(convention="sklearn"))
    assert net.state.step == -(-N_SAMPLES // BATCH)  # t started afresh
    assert net.optimizer == optim.Adam(convention="sklearn")


# ----- the kernels against scikit-learn's optimizers -----------------------------------------
def _sklearn_optimizers():
    return pytest.importorskip("sklearn.neural_network._stochastic_optimizers")


@pytest.mark.parametrize("alpha", [0.0, 0.03])
@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
def test_kernel_steps_equal_sklearns_optimizers(name, alpha, dtype):
    """Several steps of the kernel over a flat (W, b) against scikit-learn's optimizer over the
    same arrays as a list, the learning rate changed between steps."""
    sk = _sklearn_optimizers()
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(5)
    W, b = rng.normal(size=(4, 3)).astype(dtype), rng.normal(size=4).astype(dtype)
    params = [W.copy(), b.copy()]
    flat = np.concatenate([W.ravel(), b])
    config = VARIANTS[name][0]
    if name == "adam":
        reference = sk.AdamOptimizer(params, 0.01, beta_1=config.beta1, beta_2=config.beta2,
                                     epsilon=config.eps)
    else:
        reference = sk.SGDOptimizer(params, 0.01, momentum=config.momentum,
                                    nesterov=config.nesterov)
    state = config.new_state(flat.size, dtype)
    for t, lr in enumerate([0.01, 0.03, 0.002, 0.05, 0.05, 0.01], start=1):
        gW, gb = rng.normal(size=W.shape).astype(dtype), rng.normal(size=b.shape).astype(dtype)
        if name == "adam":
            reference.learning_rate_init = lr
        else:
            reference.learning_rate = lr
        # the kernel folds alpha·θ into the gradient, in the dtype, before its update
        penalised = [gW + dtype.type(alpha) * params[0], gb]
        reference.update_params(params, penalised)
        gradient = np.concatenate([gW.ravel(), gb])
        step_like_layer_update(config, flat, gradient, state, W.size, lr, t, alpha)
        expected = np.concatenate([params[0].ravel(), params[1]])
        # the same operations in the same order and dtypes (the kernels are built with
        # -ffp-contract=off; square roots are correctly rounded): bit for bit
        np.testing.assert_array_equal(flat, expected)
        assert params[0].dtype == dtype  # scikit-learn kept the dtype too
    assert not np.allclose(flat, np.concatenate([W.ravel(), b]))  # it moved


def step_like_layer_update(config, flat, gradient, state, n_weights, lr, t, alpha):
    """The kernel over the weights (with alpha) and then the biases (without), each with its
    slice of every state slot, as the trainer steps a layer."""
    size = config.state_size
    slots = state.reshape(size, -1) if size else None
    for part, a in ((slice(0, n_weights), alpha), (slice(n_weights, flat.size), 0.0)):
        theta = flat[part].copy()
        part_state = (np.ascontiguousarray(slots[:, part]).reshape(-1) if size
                      else np.empty(0, flat.dtype))
        _optim.step(config.code, theta, np.ascontiguousarray(gradient[part]), lr, config.hyper(),
                    part_state, t, a)
        flat[part] = theta
        if size:
            slots[:, part] = part_state.reshape(size, -1)


# ----- whole fits against a float64 numpy replica ---------------------------------------------
def data(dtype, n=N_SAMPLES):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(n, SIZES[0]))
    y = rng.integers(0, SIZES[-1], n)
    weights = rng.uniform(0.5, 4.0, n)  # not rescaled: scikit-learn divides by their sum
    return X, y, weights


class Replica:
    """scikit-learn's updates and L2 convention in float64 numpy, on ReferenceNetwork's
    gradients (weights and biases as one list, as scikit-learn's optimizers take them)."""

    def __init__(self, net, name):
        self.ref = ReferenceNetwork.like(net)
        self.params = self.ref.weights + self.ref.biases  # updated in place
        self.name, self.hyper = name, VARIANTS[name][1]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self, grads, lr):
        if self.name == "adam":
            beta1, beta2, eps = self.hyper["beta1"], self.hyper["beta2"], self.hyper["eps"]
            self.t += 1
            lr_t = lr * np.sqrt(1 - beta2 ** self.t) / (1 - beta1 ** self.t)
            for p, g, m, v in zip(self.params, grads, self.m, self.v):
                m[...] = beta1 * m + (1 - beta1) * g
                v[...] = beta2 * v + (1 - beta2) * g * g
                p += -lr_t * m / (np.sqrt(v) + eps)
            return
        mu = self.hyper["mu"]
        for p, g, v in zip(self.params, grads, self.velocity):
            v[...] = mu * v - lr * g
            p += mu * v - lr * g if self.name == "nesterov" else v

    def epoch(self, X, y, weights, batch, lr, alpha, over):
        """One epoch in order; returns the reported loss (with the penalty, batch by batch)."""
        n = len(X)
        batch = n if batch is None else batch
        total = 0.0
        for start in range(0, n, batch):
            rows = slice(start, start + batch)
            w = None if weights is None else weights[rows]
            size = len(X[rows]) if w is None else w.sum()
            a = alpha / size if over else alpha
            squares = sum(float((W * W).sum()) for W in self.ref.weights)
            losses = self.ref.sample_losses(X[rows], y[rows])
            total += (losses.sum() if w is None else (w * losses).sum()) + size * 0.5 * a * squares
            gradients = self.ref.gradients(X[rows], y[rows], w)
            self.step([dW + a * W for (dW, _), W in zip(gradients, self.ref.weights)]
                      + [db for _, db in gradients], lr)
        return total / (n if weights is None else weights.sum())


FIT_TOLERANCE = {"float64": dict(rtol=1e-11, atol=1e-13),
                 # float32: rounding of ~15 steps' products and updates, against float64
                 "float32": dict(rtol=1e-4, atol=2e-5)}


def network(dtype, fused=True):
    net = fastbp.Network(SIZES, activation="tanh", loss="cross_entropy", dtype=dtype, seed=3,
                         n_threads=1)
    net.architecture.fuse_optimizer_step = fused
    return net


def fit_both(name, dtype, alpha, over, weighted, batch=BATCH, n=N_SAMPLES):
    X, y, weights = data(dtype, n)
    weights = weights if weighted else None
    net = network(dtype)
    replica = Replica(net, name)
    fastbp_losses, replica_losses = [], []
    for lr in LRS:
        history = net.fit(X, y, epochs=1, batch_size=batch, lr=lr, optimizer=VARIANTS[name][0],
                          alpha=alpha, alpha_over_batch_size=over, sample_weight=weights,
                          shuffle=False)
        fastbp_losses.append(history.loss[-1])
        replica_losses.append(replica.epoch(X, y, weights, batch, lr, alpha, over))
    return net, replica, fastbp_losses, replica_losses


def assert_matches(net, replica, fastbp_losses, replica_losses, dtype):
    tolerance = FIT_TOLERANCE[np.dtype(dtype).name]
    for W, b, W_ref, b_ref in zip(net.weights, net.biases, replica.ref.weights, replica.ref.biases):
        np.testing.assert_allclose(W, W_ref, **tolerance)
        np.testing.assert_allclose(b, b_ref, **tolerance)
    np.testing.assert_allclose(fastbp_losses, replica_losses, **tolerance)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("alpha, over", [(0.0, False), (0.05, False), (0.5, True)],
                         ids=["no_l2", "l2", "l2_over_batch_size"])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_fit_equals_the_replica(name, alpha, over, weighted, dtype):
    net, replica, losses, replica_losses = fit_both(name, dtype, alpha, over, weighted)
    assert_matches(net, replica, losses, replica_losses, dtype)
    if alpha:  # the penalty moved the weights: the test can tell the conventions apart
        other = fit_both(name, "float64", alpha, not over, weighted)[0]
        assert not np.allclose(other.weights[0], replica.ref.weights[0], rtol=1e-6, atol=0)


@pytest.mark.parametrize("batch, n", [(1, 13), (None, N_SAMPLES), (None, 300), (64, 300)],
                         ids=["per_example", "full_batch", "full_batch_of_chunks",
                              "batches_of_64"])
@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_alpha_over_batch_size_on_every_path(name, batch, n, dtype):
    """Per-example, full batch (one chunk, and more than one: the two-pass path) and batches
    whose size does not divide n."""
    for weighted in (False, True):
        net, replica, losses, replica_losses = fit_both(name, dtype, 0.3, True, weighted,
                                                        batch=batch, n=n)
        assert_matches(net, replica, losses, replica_losses, dtype)


def test_sklearn_momentum_differs_from_torchs_only_when_lr_changes():
    X, y, _ = data("float64")
    results = {}
    for convention in ("torch", "sklearn"):
        for lrs in ((0.05, 0.05), (0.05, 0.01)):
            net = network("float64")
            for lr in lrs:
                net.fit(X, y, epochs=1, batch_size=BATCH, lr=lr, shuffle=False,
                        optimizer=optim.SGD(momentum=0.9, convention=convention))
            results[convention, lrs] = net.state.params.copy()
    # η fixed: v_sklearn = −η·v_torch, the same steps up to rounding
    np.testing.assert_allclose(results["torch", (0.05, 0.05)], results["sklearn", (0.05, 0.05)],
                               rtol=1e-12, atol=1e-14)
    # η changed: torch rescales the whole velocity, scikit-learn only the new steps
    assert not np.allclose(results["torch", (0.05, 0.01)], results["sklearn", (0.05, 0.01)],
                           rtol=1e-6, atol=0)


# ----- the fused step against the two-pass step ----------------------------------------------
@pytest.mark.parametrize("over", [False, True])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_fused_step_equals_the_two_pass_step_bit_for_bit(name, over, dtype):
    X, y, weights = data(dtype)
    results = []
    for fused in (True, False):
        net = network(dtype, fused)
        history = net.fit(X, y, epochs=3, batch_size=BATCH, lr=0.03, optimizer=VARIANTS[name][0],
                          alpha=0.2, alpha_over_batch_size=over, sample_weight=weights)
        results.append((net.state.params.copy(), net.state.optimizer_state.copy(),
                        list(history.loss)))
    (params, state, loss), (params2, state2, loss2) = results
    assert not np.array_equal(params, network(dtype).state.params)  # it trained
    np.testing.assert_array_equal(params, params2)
    np.testing.assert_array_equal(state, state2)
    assert loss == loss2


# ----- L-BFGS, partial_fit, saving, validation ------------------------------------------------
def test_lbfgs_divides_alpha_by_the_whole_data_set(dtype):
    X, y, weights = data(dtype)
    results = {}
    for key, alpha, over, w in (("over", 0.5, True, None), ("plain", 0.5 / N_SAMPLES, False, None),
                                ("over_weighted", 0.5, True, weights),
                                ("plain_weighted", 0.5 / weights.sum(), False, weights)):
        net = network(dtype)
        history = net.fit(X, y, epochs=5, optimizer="lbfgs", alpha=alpha,
                          alpha_over_batch_size=over, sample_weight=w)
        results[key] = net.state.params.copy(), list(history.loss)
    np.testing.assert_array_equal(results["over"][0], results["plain"][0])  # α/n, one division
    assert results["over"][1] == results["plain"][1]
    # α/(max w · Σ w/max w) against α/Σ w: equal up to rounding
    np.testing.assert_allclose(results["over_weighted"][0], results["plain_weighted"][0],
                               rtol=1e-6 if dtype == "float32" else 1e-9, atol=1e-9)


def test_partial_fit_takes_alpha_over_batch_size(dtype):
    X, y, weights = data(dtype)
    nets = [network(dtype) for _ in range(2)]
    config = optim.Adam(convention="sklearn")
    nets[0].fit(X, y, epochs=1, batch_size=BATCH, shuffle=False, optimizer=config, alpha=0.4,
                alpha_over_batch_size=True, sample_weight=weights)
    nets[1].partial_fit(X, y, batch_size=BATCH, optimizer=config, alpha=0.4,
                        alpha_over_batch_size=True, sample_weight=weights)
    np.testing.assert_array_equal(nets[0].state.params, nets[1].state.params)
    other = network(dtype)
    other.partial_fit(X, y, batch_size=BATCH, optimizer=config, alpha=0.4, sample_weight=weights)
    assert not np.array_equal(other.state.params, nets[1].state.params)


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam"])
def test_saved_networks_keep_the_convention_and_state(name, dtype, tmp_path):
    X, y, _ = data(dtype)
    config = VARIANTS[name][0]
    net = network(dtype)
    net.fit(X, y, epochs=1, batch_size=BATCH, lr=0.02, optimizer=config)
    net.save(tmp_path / "net.fbp")
    loaded = fastbp.load(tmp_path / "net.fbp")
    assert loaded.optimizer == config and loaded.optimizer.convention == "sklearn"
    for model in (net, loaded):
        model.fit(X, y, epochs=1, batch_size=BATCH, lr=0.01, shuffle=False)
    np.testing.assert_array_equal(net.state.params, loaded.state.params)
    np.testing.assert_array_equal(net.state.optimizer_state, loaded.state.optimizer_state)


def test_alpha_over_batch_size_is_checked():
    X, y, _ = data("float64")
    net = network("float64")
    with pytest.raises(TypeError, match="alpha_over_batch_size must be True or False"):
        net.fit(X, y, epochs=1, alpha=0.1, alpha_over_batch_size="yes")
    with pytest.raises(TypeError, match="alpha_over_batch_size must be True or False"):
        net.partial_fit(X, y, alpha=0.1, alpha_over_batch_size=1)

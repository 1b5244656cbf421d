"""Optimizers, regularisation, sample weights, scaling, validation, stopping rules,
callbacks, partial_fit and interrupts: each against a plain-numpy reference or a direct check."""
import math
import os
import signal
import threading
import time

import numpy as np
import pytest

import fastbp
from fastbp import optim, schedules
from fastbp.reference import ReferenceNetwork


def params_of(net):
    return np.concatenate([np.ravel(np.asarray(a, np.float64)) for pair in zip(net.weights, net.biases) for a in pair])


def ref_params(ref):
    return np.concatenate([np.ravel(a) for pair in zip(ref.weights, ref.biases) for a in pair])


def regression(n=40, seed=0):
    return fastbp.datasets.house_prices(n, seed=seed, standardize=True)


class NumpyOptimizer:
    """The optimizers' textbook updates over a list of float64 arrays (PyTorch conventions)."""

    def __init__(self, name, lr, **hyper):
        self.name, self.lr, self.h, self.t, self.state = name, lr, hyper, 0, None

    def step(self, params, grads):
        self.t += 1
        if self.state is None:
            self.state = [dict(m=np.zeros_like(p), v=np.zeros_like(p)) for p in params]
        for p, g, s in zip(params, grads, self.state):
            h = self.h
            if self.name == "momentum":
                s["m"] = h["momentum"] * s["m"] + g
                p -= self.lr * s["m"]
            elif self.name == "nesterov":
                s["m"] = h["momentum"] * s["m"] + g
                p -= self.lr * (g + h["momentum"] * s["m"])
            elif self.name in ("adam", "adamw"):
                if self.name == "adamw":
                    p -= self.lr * h["weight_decay"] * p
                s["m"] = h["beta1"] * s["m"] + (1 - h["beta1"]) * g
                s["v"] = h["beta2"] * s["v"] + (1 - h["beta2"]) * g * g
                m_hat = s["m"] / (1 - h["beta1"] ** self.t)
                v_hat = s["v"] / (1 - h["beta2"] ** self.t)
                p -= self.lr * m_hat / (np.sqrt(v_hat) + h["eps"])
            elif self.name == "rmsprop":
                s["v"] = h["rho"] * s["v"] + (1 - h["rho"]) * g * g
                p -= self.lr * g / (np.sqrt(s["v"]) + h["eps"])
            elif self.name == "adagrad":
                s["v"] = s["v"] + g * g
                p -= self.lr * g / (np.sqrt(s["v"]) + h["eps"])
            else:
                raise AssertionError(self.name)


def reference_train(ref, X, y, epochs, batch_size, optimizer, sample_weight=None, alpha=0.0, clip_norm=None):
    n = len(X)
    for _ in range(epochs):
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            weights = None if sample_weight is None else sample_weight[rows]
            grads = ref.gradients(X[rows], y[rows], weights)
            flat = [g for pair in grads for g in pair]
            for l, W in enumerate(ref.weights):
                flat[2 * l] = flat[2 * l] + alpha * W
            if clip_norm is not None:
                norm = math.sqrt(sum(float(np.sum(g * g)) for g in flat))
                if norm > clip_norm:
                    flat = [g * (clip_norm / norm) for g in flat]
            params = [p for pair in zip(ref.weights, ref.biases) for p in pair]
            optimizer.step(params, flat)


OPTIMIZERS = [
    ("momentum", optim.SGD(momentum=0.9), dict(momentum=0.9)),
    ("nesterov", optim.SGD(momentum=0.8, nesterov=True), dict(momentum=0.8)),
    ("adam", optim.Adam(), dict(beta1=0.9, beta2=0.999, eps=1e-8)),
    ("adamw", optim.AdamW(weight_decay=0.1), dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1)),
    ("rmsprop", optim.RMSprop(), dict(rho=0.99, eps=1e-8)),
    ("adagrad", optim.Adagrad(), dict(eps=1e-10)),
]


@pytest.mark.parametrize("name,config,hyper", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_fit_with_optimizer_matches_numpy_reference(name, config, hyper):
    X, y = regression(30)
    net = fastbp.Network([3, 5, 1], activation="tanh", dtype="float64", seed=2)
    ref = ReferenceNetwork.like(net)
    net.fit(X, y, epochs=3, batch_size=7, lr=0.01, shuffle=False, optimizer=config)
    reference_train(ref, X, y, 3, 7, NumpyOptimizer(name, 0.01, **hyper))
    np.testing.assert_allclose(params_of(net), ref_params(ref), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("config", [optim.Adam(), optim.SGD(momentum=0.9), optim.IRPropMinus()],
                         ids=["adam", "momentum", "irprop"])
def test_optimizer_state_continues_across_fit_calls_and_save_load(config, tmp_path):
    X, y = regression(40)
    whole = fastbp.Network([3, 4, 1], seed=1)
    part = fastbp.Network([3, 4, 1], seed=1)
    batch = None if config.name == "irprop-" else 8
    whole.fit(X, y, epochs=5, batch_size=batch, optimizer=config)
    part.fit(X, y, epochs=2, batch_size=batch, optimizer=config)
    part.save(tmp_path / "m.npz")
    loaded = fastbp.load(tmp_path / "m.npz")
    loaded.fit(X, y, epochs=3, batch_size=batch)          # the saved optimizer continues
    part.fit(X, y, epochs=3, batch_size=batch, optimizer=config)
    np.testing.assert_array_equal(params_of(part), params_of(whole))
    np.testing.assert_array_equal(params_of(loaded), params_of(whole))
    assert loaded.optimizer.name == config.name


def test_changing_optimizer_starts_fresh_state():
    X, y = regression(40)
    a = fastbp.Network([3, 4, 1], dtype="float64", seed=1)
    b = fastbp.Network([3, 4, 1], dtype="float64", seed=1)
    a.fit(X, y, epochs=1, optimizer="adam")
    a.fit(X, y, epochs=1, optimizer="rmsprop")
    b.fit(X, y, epochs=1, optimizer="adam")
    b_state = b.copy()
    b_state.state.set_optimizer(optim.RMSprop())
    b_state.fit(X, y, epochs=1)
    np.testing.assert_array_equal(params_of(a), params_of(b_state))


def test_same_optimizer_with_new_lr_keeps_state():
    X, y = regression(40)
    net = fastbp.Network([3, 4, 1], seed=1)
    net.fit(X, y, epochs=1, optimizer=optim.Adam(lr=1e-3))
    step = net.state.step
    net.fit(X, y, epochs=1, optimizer=optim.Adam(lr=1e-4))
    assert net.state.step == 2 * step


def test_irprop_minus_full_batch_learns():
    X, y = regression(200)
    net = fastbp.Network([3, 8, 1], activation="tanh", seed=0)
    first = net.loss(X, y)
    net.fit(X, y, epochs=100, batch_size=None, optimizer="irprop-")
    assert net.loss(X, y) < 0.1 * first


def test_lbfgs_fits_a_small_regression():
    pytest.importorskip("scipy")
    X, y = regression(200)
    net = fastbp.Network([3, 8, 1], activation="tanh", dtype="float64", seed=0)
    history = net.fit(X, y, epochs=200, optimizer="lbfgs")
    assert history.loss[-1] < 0.05 and history.loss[-1] == pytest.approx(net.loss(X, y), rel=1e-6)


def test_lr_conflicts_are_refused():
    with pytest.raises(ValueError, match="conflicts"):
        fastbp.Network([3, 1]).fit(np.zeros((2, 3)), np.zeros(2), lr=0.1, optimizer=optim.Adam(lr=0.01))


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        fastbp.Network([3, 1]).fit(np.zeros((2, 3)), np.zeros(2), optimizer="sgd-ish")


# ----- schedules --------------------------------------------------------------------------
def test_schedule_sets_each_epochs_lr_and_is_recorded():
    X, y = regression(30)
    net = fastbp.Network([3, 4, 1], dtype="float64", seed=0)
    ref = ReferenceNetwork.like(net)
    history = net.fit(X, y, epochs=4, batch_size=10, lr=0.1, shuffle=False,
                      schedule=schedules.Step(step_size=2, gamma=0.5))
    assert history.lr == [0.1, 0.1, 0.05, 0.05]
    for lr in history.lr:
        ref.fit(X, y, epochs=1, batch_size=10, lr=lr)
    np.testing.assert_allclose(params_of(net), ref_params(ref), rtol=1e-12)


def test_schedule_counts_epochs_across_fit_calls():
    X, y = regression(30)
    net = fastbp.Network([3, 4, 1], seed=0)
    net.fit(X, y, epochs=2, lr=0.1, schedule=schedules.Exponential(0.5))
    assert net.fit(X, y, epochs=2, lr=0.1, schedule=schedules.Exponential(0.5)).lr == [0.025, 0.0125]
    assert net.epochs_trained == 4


def test_schedules_work_with_adam():
    X, y = regression(30)
    history = fastbp.Network([3, 4, 1], seed=0).fit(X, y, epochs=3, optimizer="adam", schedule="cosine")
    assert history.lr[0] == pytest.approx(1e-3) and history.lr[2] < history.lr[0]


# ----- regularisation -----------------------------------------------------------------------
def test_l2_penalty_is_in_loss_gradients_and_updates():
    X, y = regression(20)
    net = fastbp.Network([3, 4, 1], dtype="float64", seed=0)
    ref = ReferenceNetwork.like(net)
    penalty = 0.5 * 0.1 * sum(np.sum(W ** 2) for W in net.weights)
    assert net.loss(X, y, alpha=0.1) == pytest.approx(ref.loss(X, y) + penalty, rel=1e-12)
    for (dW, db), (rW, rb), W in zip(net.gradients(X, y, alpha=0.1), ref.gradients(X, y), net.weights):
        np.testing.assert_allclose(dW, rW + 0.1 * W, rtol=1e-12)
        np.testing.assert_allclose(db, rb, rtol=1e-12, atol=1e-15)
    net.fit(X, y, epochs=2, batch_size=5, lr=0.1, shuffle=False, alpha=0.1)
    reference_train(ref, X, y, 2, 5, NumpySGD(0.1), alpha=0.1)
    np.testing.assert_allclose(params_of(net), ref_params(ref), rtol=1e-12)


class NumpySGD:
    def __init__(self, lr):
        self.lr = lr

    def step(self, params, grads):
        for p, g in zip(params, grads):
            p -= self.lr * g


def test_gradient_clipping_bounds_the_step():
    X, y = fastbp.datasets.house_prices(20, seed=0)   # dollars: enormous gradients
    X = X / 1000.0
    net = fastbp.Network([3, 4, 1], activation="identity", dtype="float64", seed=0)
    ref = ReferenceNetwork.like(net)
    before = params_of(net)
    net.fit(X, y, epochs=1, batch_size=None, lr=0.01, clip_norm=1.0)
    assert np.linalg.norm(params_of(net) - before) == pytest.approx(0.01, rel=1e-9)
    reference_train(ref, X, y, 1, 20, NumpySGD(0.01), clip_norm=1.0)
    np.testing.assert_allclose(params_of(net), ref_params(ref), rtol=1e-10)


def test_dropout_is_seeded_off_at_predict_and_has_its_own_stream():
    X, y = regression(64)
    plain = fastbp.Network([3, 16, 1], seed=3)
    dropped = fastbp.Network([3, 16, 1], seed=3, dropout=0.5)
    twin = fastbp.Network([3, 16, 1], seed=3, dropout=0.5)
    np.testing.assert_array_equal(plain.predict(X), dropped.predict(X))   # same init, no dropout at predict
    for net in (plain, dropped, twin):
        net.fit(X, y, epochs=2, batch_size=8)
    np.testing.assert_array_equal(params_of(dropped), params_of(twin))
    assert not np.array_equal(params_of(plain), params_of(dropped))
    # Dropout draws from its own stream: the shuffle order is untouched.
    assert repr(plain.state.shuffle_rng.bit_generator.state) == repr(dropped.state.shuffle_rng.bit_generator.state)
    np.testing.assert_array_equal(dropped.predict(X[:5]), dropped.predict(X[:5]))


def test_dropout_one_step_matches_a_masked_reference():
    """With batch 1 and a known mask, the update is the reference update of the masked network."""
    X, y = regression(1)
    net = fastbp.Network([3, 6, 1], activation="tanh", dtype="float64", seed=0, dropout=0.5)
    ref = ReferenceNetwork.like(net)
    before = [np.array(W) for W in net.weights]
    net.fit(X, y, epochs=1, batch_size=1, lr=0.1)
    # Units whose outgoing weights did not move were dropped (or had zero gradient).
    moved = np.abs(net.weights[1] - before[1])[0] > 0
    a, z = ref.forward(X)
    mask = moved / 0.5
    hidden = a[1] * mask
    out = hidden @ ref.weights[1].T + ref.biases[1]
    delta_out = out - y.reshape(1, 1)
    np.testing.assert_allclose(net.weights[1], before[1] - 0.1 * delta_out.T @ hidden, rtol=1e-12)


# ----- sample and class weights ---------------------------------------------------------------
def test_sample_weight_two_equals_duplicating_the_sample():
    X, y = regression(15)
    weights = np.ones(15)
    weights[4] = 2.0
    a = fastbp.Network([3, 4, 1], dtype="float64", seed=0)
    b = fastbp.Network([3, 4, 1], dtype="float64", seed=0)
    a.fit(X, y, epochs=3, batch_size=None, lr=0.1, sample_weight=weights)
    b.fit(np.vstack([X, X[4:5]]), np.append(y, y[4]), epochs=3, batch_size=None, lr=0.1)
    np.testing.assert_allclose(params_of(a), params_of(b), rtol=1e-12)
    assert a.loss(X, y, sample_weight=weights) == pytest.approx(
        b.loss(np.vstack([X, X[4:5]]), np.append(y, y[4])), rel=1e-12)


def test_sample_weights_in_minibatches_match_reference():
    X, y = regression(20)
    w = np.random.default_rng(0).uniform(0.1, 3, 20)
    net = fastbp.Network([3, 4, 1], dtype="float64", seed=0)
    ref = ReferenceNetwork.like(net)
    net.fit(X, y, epochs=2, batch_size=6, lr=0.1, shuffle=False, sample_weight=w)
    reference_train(ref, X, y, 2, 6, NumpySGD(0.1), sample_weight=w)
    np.testing.assert_allclose(params_of(net), ref_params(ref), rtol=1e-12)
    for (dW, db), (rW, rb) in zip(net.gradients(X, y, sample_weight=w), ref.gradients(X, y, w)):
        np.testing.assert_allclose(dW, rW, rtol=1e-12)


def test_class_weight_balanced_equals_its_sample_weights():
    X, labels = fastbp.datasets.gaussian_classes(30, 3, 3, seed=0)
    labels[:15] = 0
    counts = np.bincount(labels, minlength=3)
    weights = (30 / (3 * counts))[labels]
    a = fastbp.Network([3, 3], loss="cross_entropy", dtype="float64", seed=0)
    b = fastbp.Network([3, 3], loss="cross_entropy", dtype="float64", seed=0)
    a.fit(X, labels, epochs=2, batch_size=None, lr=0.1, class_weight="balanced")
    b.fit(X, labels, epochs=2, batch_size=None, lr=0.1, sample_weight=weights)
    np.testing.assert_array_equal(params_of(a), params_of(b))
    c = fastbp.Network([3, 3], loss="cross_entropy", dtype="float64", seed=0)
    c.fit(X, labels, epochs=2, batch_size=None, lr=0.1, class_weight={0: 1.0, 1: 2.0})
    assert not np.array_equal(params_of(a), params_of(c))


@pytest.mark.parametrize("bad,message", [
    (-np.ones(4), ">= 0"), (np.zeros(4), "sum to zero"), (np.ones(3), "shape"), ([1, 1, np.nan, 1], "finite"),
])
def test_bad_sample_weight(bad, message):
    net = fastbp.Network([3, 1], seed=0)
    with pytest.raises(ValueError, match=message):
        net.fit(np.zeros((4, 3)), np.zeros(4), sample_weight=bad)


# ----- scaling --------------------------------------------------------------------------------
def test_scaling_is_learnt_once_applied_in_predict_and_saved(tmp_path):
    X, price = fastbp.datasets.house_prices(1000, seed=0)          # raw dollars
    net = fastbp.Network([3, 8, 1], activation="tanh", seed=0, scale_inputs=True, scale_targets=True)
    net.fit(X[:800], price[:800], epochs=30, batch_size=16, lr=0.05)
    predicted = net.predict(X[800:])
    r2 = 1 - np.sum((price[800:] - predicted) ** 2) / np.sum((price[800:] - price[800:].mean()) ** 2)
    assert r2 > 0.9 and abs(predicted.mean() - price[800:].mean()) < 20_000
    mean_before = net.state.input_scaler.mean.copy()
    net.fit(X[800:] * 2, price[800:], epochs=1)                   # not re-learnt
    np.testing.assert_array_equal(net.state.input_scaler.mean, mean_before)
    net.save(tmp_path / "m.npz")
    loaded = fastbp.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(X[:10]), net.predict(X[:10]))


def test_scaled_network_cannot_predict_before_fit():
    with pytest.raises(RuntimeError, match="not been fitted"):
        fastbp.Network([3, 1], scale_inputs=True).predict(np.zeros((1, 3)))


def test_scale_targets_is_for_regression():
    with pytest.raises(ValueError, match="regression"):
        fastbp.Network([3, 2], loss="cross_entropy", scale_targets=True)


# ----- validation, stopping, callbacks ------------------------------------------------------
def test_validation_figures_are_recorded_and_correct():
    X, labels = fastbp.datasets.gaussian_classes(300, 4, 3, seed=1)
    net = fastbp.Network([4, 8, 3], activation="relu", loss="cross_entropy", seed=0)
    history = net.fit(X[:200], labels[:200], epochs=3, validation_data=(X[200:], labels[200:]))
    assert len(history.val_loss) == len(history.metric) == len(history.val_metric) == 3
    assert history.val_loss[-1] == pytest.approx(net.loss(X[200:], labels[200:]), rel=1e-6)
    accuracy = np.mean(net.predict(X[200:]).argmax(axis=1) == labels[200:])
    assert history.val_metric[-1] == pytest.approx(accuracy)


def test_validation_split_holds_out_the_last_samples_and_r2_is_reported():
    X, y = regression(100)
    net = fastbp.Network([3, 4, 1], seed=0)
    history = net.fit(X, y, epochs=2, validation_split=0.2)
    residual = y[80:] - net.predict(X[80:])
    r2 = 1 - np.sum(residual ** 2) / np.sum((y[80:] - y[80:].mean()) ** 2)
    assert history.val_metric[-1] == pytest.approx(r2, rel=1e-5)
    assert history.val_loss[-1] == pytest.approx(net.loss(X[80:], y[80:]), rel=1e-6)


def test_early_stopping_restores_the_best_weights():
    X, y = regression(200, seed=3)
    noisy_val = (X[150:], y[150:] + np.random.default_rng(0).normal(0, 1.0, 50))
    net = fastbp.Network([3, 32, 1], activation="tanh", seed=0)
    history = net.fit(X[:150], y[:150], epochs=200, batch_size=4, lr=0.2,
                      validation_data=noisy_val, early_stopping=True, patience=3)
    assert history.stopped_because == "early_stopping" and history.epochs < 200
    best = int(np.argmin(history.val_loss))
    assert history.best_epoch == best + 1
    assert net.loss(*noisy_val) == pytest.approx(history.val_loss[best], rel=1e-6)


def test_early_stopping_needs_validation():
    with pytest.raises(ValueError, match="validation"):
        fastbp.Network([3, 1]).fit(np.zeros((4, 3)), np.zeros(4), early_stopping=True)


def test_tol_stops_when_the_loss_stalls():
    X, y = regression(50)
    history = fastbp.Network([3, 4, 1], seed=0).fit(X, y, epochs=500, lr=1e-6, tol=1e-3, n_iter_no_change=3)
    assert history.stopped_because == "tol" and history.epochs == 4  # the first, then 3 stale


def test_max_time_stops_inside_the_epoch():
    X, y = fastbp.datasets.house_prices(50_000, seed=0, standardize=True)
    net = fastbp.Network([3, 64, 64, 1], seed=0)
    started = time.monotonic()
    history = net.fit(X, y, epochs=1000, batch_size=1, lr=1e-4, max_time=0.3)
    elapsed = time.monotonic() - started
    assert history.stopped_because == "max_time" and history.epochs < 1000
    assert elapsed < 5.0  # generous: one epoch alone takes longer than max_time here
    assert all(np.all(np.isfinite(W)) for W in net.weights)


def test_max_updates_counts_batches():
    X, y = regression(30)
    net = fastbp.Network([3, 4, 1], dtype="float64", seed=0)
    ref = ReferenceNetwork.like(net)
    history = net.fit(X, y, epochs=10, batch_size=4, lr=0.1, shuffle=False, max_updates=10)
    # 8 batches per epoch: the second, cut short after 2, counts its updates but adds no row
    assert history.stopped_because == "max_updates" and history.epochs == 1
    assert net.state.step == 10 and net.state.epochs_trained == 1
    ref.fit(X, y, epochs=1, batch_size=4, lr=0.1)
    ref.fit(X[:8], y[:8], epochs=1, batch_size=4, lr=0.1)
    np.testing.assert_allclose(params_of(net), ref_params(ref), rtol=1e-12)


def test_callbacks_see_every_epoch_and_can_stop():
    X, y = regression(30)
    seen = []
    history = fastbp.Network([3, 4, 1], seed=0).fit(
        X, y, epochs=5, callbacks=[lambda epoch, figures: seen.append((epoch, figures["loss"]))])
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5]
    assert [loss for _, loss in seen] == history.loss
    history = fastbp.Network([3, 4, 1], seed=0).fit(X, y, epochs=5, callbacks=[lambda e, f: e < 2])
    assert history.epochs == 2 and history.stopped_because == "callback"

    def stop(epoch, figures):
        if epoch == 3:
            raise fastbp.StopTraining
    assert fastbp.Network([3, 4, 1], seed=0).fit(X, y, epochs=5, callbacks=[stop]).epochs == 3


def test_partial_fit_over_chunks_equals_one_epoch():
    X, y = regression(48)
    streamed = fastbp.Network([3, 4, 1], seed=0)
    whole = fastbp.Network([3, 4, 1], seed=0)
    for start in (0, 16, 24):
        stop = {0: 16, 16: 24, 24: 48}[start]
        streamed.partial_fit(X[start:stop], y[start:stop], batch_size=8, optimizer="adam")
    whole.fit(X, y, epochs=1, batch_size=8, shuffle=False, optimizer="adam")
    np.testing.assert_array_equal(params_of(streamed), params_of(whole))


@pytest.mark.skipif(os.name != "posix", reason="needs SIGINT delivered to this process")
def test_ctrl_c_stops_with_consistent_weights_and_history():
    X, y = fastbp.datasets.house_prices(50_000, seed=0, standardize=True)
    net = fastbp.Network([3, 64, 64, 1], seed=0)
    net.fit(X[:100], y[:100], epochs=1)  # warm-up
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=1000, batch_size=1, lr=1e-4)
    timer.join()
    assert time.monotonic() - started < 5.0
    assert net.history.stopped_because == "interrupted"
    assert all(np.all(np.isfinite(W)) for W in net.weights)
    net.fit(X[:100], y[:100], epochs=1)  # the lock was released


def test_verbose_reports_progress(capsys):
    X, y = regression(30)
    fastbp.Network([3, 4, 1], seed=0).fit(X, y, epochs=2, verbose=1)
    err = capsys.readouterr().err
    assert "loss" in err


def test_history_plot_needs_matplotlib_or_draws():
    X, y = regression(30)
    history = fastbp.Network([3, 4, 1], seed=0).fit(X, y, epochs=2)
    try:
        import matplotlib
        matplotlib.use("Agg")
    except ImportError:
        with pytest.raises(ImportError, match="matplotlib"):
            history.plot()
    else:
        assert history.plot() is not None


# ----- initialisers -------------------------------------------------------------------------
@pytest.mark.parametrize("init,std", [
    ("glorot_normal", math.sqrt(2 / 700)), ("he_normal", math.sqrt(2 / 400)),
    ("lecun_normal", math.sqrt(1 / 400)), ("glorot_uniform", math.sqrt(6 / 700) / math.sqrt(3)),
    ("he_uniform", math.sqrt(6 / 400) / math.sqrt(3)),
])
def test_initialiser_scales(init, std):
    net = fastbp.Network([400, 300, 1], init=init, dtype="float64", seed=0)
    assert net.weights[0].std() == pytest.approx(std, rel=0.02)
    assert np.all(net.biases[0] == 0)


def test_nguyen_widrow_sets_the_norm_of_each_unit():
    net = fastbp.Network([3, 8, 1], init="nguyen_widrow", dtype="float64", seed=0)
    beta = 0.7 * 8 ** (1 / 3)
    np.testing.assert_allclose(np.linalg.norm(net.weights[0], axis=1), beta, rtol=1e-12)
    assert np.all(np.abs(net.biases[0]) <= beta) and np.any(net.biases[0] != 0)


def test_init_is_saved(tmp_path):
    net = fastbp.Network([3, 4, 1], init="he_normal", dropout=0.2, seed=0)
    net.save(tmp_path / "m")
    loaded = fastbp.load(tmp_path / "m")
    assert loaded.init == "he_normal" and loaded.dropout == (0.2,)


def test_lbfgs_refuses_settings_it_would_ignore():
    X, y = regression(20)
    with pytest.raises(ValueError, match="lbfgs.*schedule.*early_stopping"):
        fastbp.Network([3, 4, 1]).fit(X, y, optimizer="lbfgs", schedule="cosine",
                                      validation_split=0.2, early_stopping=True)


def test_bad_validation_data_leaves_a_scaling_network_unfitted():
    X, y = regression(20)
    net = fastbp.Network([3, 4, 1], scale_inputs=True, scale_targets=True)
    with pytest.raises(ValueError, match="features"):
        net.fit(X, y, validation_data=(X[:, :2], y))
    with pytest.raises(ValueError, match="batch_size"):
        net.fit(X, y, batch_size=0)
    assert net.state.input_scaler is None and net.state.target_scaler is None


def test_early_stopping_restores_the_optimizer_with_the_weights():
    X, y = regression(200, seed=3)
    noisy_val = (X[150:], y[150:] + np.random.default_rng(0).normal(0, 1.0, 50))
    net = fastbp.Network([3, 32, 1], activation="tanh", seed=0)
    history = net.fit(X[:150], y[:150], epochs=200, batch_size=10, optimizer="adam", lr=0.05,
                      validation_data=noisy_val, early_stopping=True, patience=3)
    assert history.stopped_because == "early_stopping"
    assert net.state.step == history.best_epoch * 15  # 15 batches per epoch


# ----- found in review ----------------------------------------------------------------------
def test_a_callback_may_save_copy_and_pickle_the_network(tmp_path):
    import pickle
    X, y = regression(30)
    net = fastbp.Network([3, 4, 1], seed=0)
    saved = []

    def checkpoint(epoch, figures):
        net.save(tmp_path / f"epoch{epoch}.npz")
        saved.append((net.copy(), pickle.loads(pickle.dumps(net))))
    history = net.fit(X, y, epochs=3, callbacks=[checkpoint])
    assert history.epochs == 3 and len(saved) == 3
    np.testing.assert_array_equal(params_of(fastbp.load(tmp_path / "epoch3.npz")), params_of(net))
    with pytest.raises(RuntimeError, match="inside its own fit"):
        net.fit(X, y, epochs=1, callbacks=[lambda e, f: net.set_weights(net.weights, net.biases)])


def test_a_schedule_reaching_zero_ends_training():
    X, y = regression(30)
    net = fastbp.Network([3, 4, 1], seed=0)
    history = net.fit(X, y, epochs=6, schedule=schedules.Cosine(epochs=4))
    assert history.epochs == 4 and history.stopped_because == "schedule"
    assert net.fit(X, y, epochs=2, schedule=schedules.Cosine(epochs=4)).epochs == 0


def test_sample_weight_is_split_with_validation_split():
    X, y = regression(40)
    w = np.random.default_rng(1).uniform(0.5, 2.0, 40)
    a = fastbp.Network([3, 4, 1], dtype="float64", seed=0)
    b = fastbp.Network([3, 4, 1], dtype="float64", seed=0)
    ha = a.fit(X, y, epochs=2, sample_weight=w, validation_split=0.25)
    hb = b.fit(X[:30], y[:30], epochs=2, sample_weight=w[:30], validation_data=(X[30:], y[30:], w[30:]))
    np.testing.assert_array_equal(params_of(a), params_of(b))
    assert ha.val_loss == hb.val_loss
    assert ha.val_loss[-1] == pytest.approx(a.loss(X[30:], y[30:], sample_weight=w[30:]), rel=1e-12)


def test_history_loss_with_alpha_is_the_penalised_loss_seen():
    X, y = regression(30)
    net = fastbp.Network([3, 4, 1], dtype="float64", seed=0)
    before = net.loss(X, y, alpha=1.0)
    history = net.fit(X, y, epochs=1, batch_size=None, lr=0.5, alpha=1.0)
    assert history.loss[0] == pytest.approx(before, rel=1e-12)


def test_predict_before_fit_with_scaled_targets_is_refused():
    with pytest.raises(RuntimeError, match="not been fitted"):
        fastbp.Network([3, 4, 1], scale_targets=True).predict(np.zeros((2, 3)))


@pytest.mark.parametrize("scale", [1e-50, 1e-44, 1e39])
def test_sample_weights_of_any_magnitude_train_like_ones(scale):
    X, y = regression(10)
    a = fastbp.Network([3, 4, 1], seed=0)
    b = fastbp.Network([3, 4, 1], seed=0)
    a.fit(X, y, epochs=2, batch_size=None, sample_weight=np.full(10, scale))
    b.fit(X, y, epochs=2, batch_size=None)
    np.testing.assert_array_equal(params_of(a), params_of(b))
    assert a.loss(X, y, sample_weight=np.full(10, scale)) == pytest.approx(a.loss(X, y), rel=1e-6)


def test_max_updates_at_an_epoch_boundary_leaves_the_shuffle_stream_alone():
    X, y = regression(40)
    a = fastbp.Network([3, 4, 1], seed=0)
    b = fastbp.Network([3, 4, 1], seed=0)
    assert a.fit(X, y, epochs=5, batch_size=8, max_updates=10).stopped_because == "max_updates"
    b.fit(X, y, epochs=2, batch_size=8)
    a.fit(X, y, epochs=1, batch_size=8)
    b.fit(X, y, epochs=1, batch_size=8)
    np.testing.assert_array_equal(params_of(a), params_of(b))


def test_load_refuses_scalers_that_do_not_fit_the_network(tmp_path):
    import json
    X, y = regression(30)
    net = fastbp.Network([3, 4, 1], seed=0, scale_inputs=True, scale_targets=True)
    net.fit(X, y, epochs=1)
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as archive:
        header = json.loads(str(archive["header"]))
        arrays = {k: archive[k] for k in archive.files if k != "header"}
    header["scaling"]["target_scaler"] = {"mean": [0.0, 1.0], "std": [1.0, 1.0]}
    np.savez(tmp_path / "bad.npz", header=np.array(json.dumps(header)), **arrays)
    with pytest.raises(ValueError, match="target_scaler"):
        fastbp.load(tmp_path / "bad.npz")


def test_dropout_needs_hidden_layers_and_n_threads_is_bounded():
    with pytest.raises(ValueError, match="hidden"):
        fastbp.Network([3, 1], dropout=0.5)
    with pytest.raises(ValueError, match="n_threads"):
        fastbp.Network([3, 1], n_threads=10**10)

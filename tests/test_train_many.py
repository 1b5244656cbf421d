"""train_many: each network ends bit for bit as its own fit on its rows leaves it.

The reference is an independent copy of each network trained by ``Network.fit(X[idx], y[idx])``
with ``n_threads=1``; everything a fit changes is compared exactly (weights, optimizer state
and step, epochs, random streams, scalers, history).
"""
import numpy as np
import pytest

import fastbp
from fastbp.datasets import gaussian_classes, house_prices

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "irprop-")


def t1_networks(k, dtype="float32", **options):
    options.setdefault("activation", "sigmoid")
    return [fastbp.Network([3, 8, 8, 1], dtype=dtype, seed=100 + j, n_threads=1, **options)
            for j in range(k)]


@pytest.fixture(scope="module")
def houses():
    return house_prices(240, seed=3, standardize=True)


def reference_fits(nets, X, y, indices=None, lrs=None, sample_weight=None, **options):
    """Copies of `nets`, each trained by its own fit on its rows (one BLAS thread)."""
    options.pop("lanes", None)  # train_many's alone
    twins = []
    for j, net in enumerate(nets):
        twin = net.copy()
        twin.n_threads = 1
        idx = slice(None) if indices is None or indices[j] is None else indices[j]
        weights = None
        if sample_weight is not None:
            w = np.asarray(sample_weight)
            weights = (w[j] if w.ndim == 2 else w)[idx]
        if lrs is not None:
            options["lr"] = lrs[j]
        twin.fit(X[idx], y[idx], sample_weight=weights, **options)
        twins.append(twin)
    return twins


def assert_same(net, twin):
    """Everything a fit changes, equal bit for bit."""
    a, b = net.state, twin.state
    assert a.params.tobytes() == b.params.tobytes()
    assert a.optimizer == b.optimizer
    assert a.optimizer_state.tobytes() == b.optimizer_state.tobytes()
    assert (a.step, a.epochs_trained) == (b.step, b.epochs_trained)
    assert a.shuffle_rng.bit_generator.state == b.shuffle_rng.bit_generator.state
    assert a.dropout_rng.bit_generator.state == b.dropout_rng.bit_generator.state
    for scaler in ("input_scaler", "target_scaler"):
        left, right = getattr(a, scaler), getattr(b, scaler)
        assert (left is None) == (right is None)
        if left is not None:
            assert left.mean.tobytes() == right.mean.tobytes()
            assert left.std.tobytes() == right.std.tobytes()
    assert a.history.loss == b.history.loss
    assert a.history.stopped_because == b.history.stopped_because


def check(nets, X, y, indices=None, lrs=None, sample_weight=None, n_threads=2, **options):
    twins = reference_fits(nets, X, y, indices, lrs, sample_weight, **options)
    before = [net.state.params.copy() for net in nets]
    if lrs is not None:
        options["lr"] = lrs
    histories = fastbp.train_many(nets, X, y, sample_indices=indices,
                                  sample_weight=sample_weight, n_threads=n_threads, **options)
    assert len(histories) == len(nets)
    for net, twin, history, start in zip(nets, twins, histories, before):
        assert history is net.history
        assert not np.array_equal(net.state.params, start)  # it trained
        assert_same(net, twin)


@pytest.mark.parametrize("k", [1, 3, 17])
@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("shuffle", [True, False])
def test_equals_fit_per_network(houses, dtype, k, batch_size, shuffle):
    X, y = houses
    check(t1_networks(k, dtype), X, y, epochs=3, batch_size=batch_size, lr=0.05,
          shuffle=shuffle)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_each_optimizer(houses, dtype, optimizer):
    X, y = houses
    lr = None if optimizer == "irprop-" else 0.01
    check(t1_networks(3, dtype), X, y, epochs=2, batch_size=5, optimizer=optimizer, lr=lr)


@pytest.mark.parametrize("shuffle", [True, False])
def test_folds_bootstrap_and_per_network_lr(houses, dtype, shuffle):
    X, y = houses
    n = X.shape[0]
    rng = np.random.default_rng(0)
    folds = np.array_split(rng.permutation(n), 4)
    indices = [np.setdiff1d(np.arange(n), fold) for fold in folds]   # training folds
    indices += [rng.integers(0, n, n), rng.integers(0, n, n // 2), None]  # bootstrap, all rows
    lrs = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07]
    for batch_size in (1, 6):
        check(t1_networks(len(indices), dtype), X, y, indices=indices, lrs=lrs, epochs=2,
              batch_size=batch_size, shuffle=shuffle)


@pytest.mark.parametrize("per_network", [False, True])
def test_sample_weight(houses, dtype, per_network):
    X, y = houses
    rng = np.random.default_rng(1)
    k = 4
    w = rng.uniform(0, 3, (k, X.shape[0]) if per_network else X.shape[0])
    indices = [rng.integers(0, X.shape[0], 100) for _ in range(k)]
    check(t1_networks(k, dtype), X, y, indices=indices, sample_weight=w, epochs=2, batch_size=4,
          lr=0.05)


def test_scaling_learnt_from_each_networks_rows(dtype):
    X, y = house_prices(150, seed=5)  # unscaled: the scalers matter
    rng = np.random.default_rng(2)
    indices = [rng.integers(0, 150, 150) for _ in range(3)] + [np.arange(40, 150)]
    nets = t1_networks(4, dtype, scale_inputs=True, scale_targets=True)
    nets[1] = fastbp.Network([3, 8, 8, 1], activation="sigmoid", dtype=dtype, seed=7,
                             scale_targets=True, n_threads=1)  # shared X, its own Y scaling
    check(nets, X, y, indices=indices, epochs=2, batch_size=1, lr=0.05)


def test_dropout_each_network_its_own_stream(houses, dtype):
    X, y = houses
    check(t1_networks(5, dtype, dropout=0.2), X, y, epochs=2, batch_size=3, lr=0.05,
          indices=[None, np.arange(100), None, np.arange(50, 200), None])


def test_regularisation_schedule_and_budgets(houses, dtype):
    X, y = houses
    check(t1_networks(4, dtype), X, y, epochs=4, batch_size=8, lr=0.05, alpha=1e-3,
          clip_norm=0.5, schedule="cosine", optimizer="momentum")
    check(t1_networks(3, dtype), X, y, epochs=5, batch_size=8, lr=0.05, max_updates=47)
    check(t1_networks(3, dtype), X, y, epochs=30, batch_size=8, lr=0.05, tol=10.0,
          n_iter_no_change=2)


def test_classification_and_blas_backed_layers(dtype):
    X, labels = gaussian_classes(300, 64, 10, seed=1)
    nets = [fastbp.Network([64, 128, 10], activation="relu", loss="cross_entropy", dtype=dtype,
                           seed=j, n_threads=1) for j in range(3)]
    indices = [np.arange(0, 300, 2), None, np.arange(299, -1, -1)]
    check(nets, X, labels, indices=indices, epochs=2, batch_size=32, lr=0.05,
          optimizer="adam", class_weight="balanced")
    check(nets, X, labels, epochs=1, batch_size=None, lr=0.05)  # full batch, continuing


def test_thread_count_changes_nothing(houses, dtype):
    X, y = houses
    results = []
    for threads in (1, 2, 3):
        nets = t1_networks(6, dtype)
        fastbp.train_many(nets, X, y, epochs=2, batch_size=1, lr=0.05, n_threads=threads,
                          sample_indices=[np.arange(j, 240) for j in range(6)])
        results.append([net.state.params.tobytes() for net in nets])
    assert results[0] == results[1] == results[2]


def test_continues_like_fit(houses):
    """A second call continues each network's optimizer and streams, as a second fit does."""
    X, y = houses
    nets = t1_networks(3)
    twins = [net.copy() for net in nets]
    for _ in range(2):
        fastbp.train_many(nets, X, y, epochs=1, batch_size=4, optimizer="adam", lr=0.01)
        for twin in twins:
            twin.fit(X, y, epochs=1, batch_size=4, optimizer="adam", lr=0.01)
    for net, twin in zip(nets, twins):
        assert_same(net, twin)


def test_divergence_raised_after_the_others_train(houses):
    X, y = houses
    nets = t1_networks(3)
    twins = reference_fits(nets[:1] + nets[2:], X, y, epochs=2, batch_size=1, lr=0.05)
    before = nets[1].state.params.copy()
    with pytest.raises(fastbp.TrainingDiverged) as raised:
        fastbp.train_many(nets, X, y, lr=[0.05, 1e30, 0.05], epochs=2, batch_size=1)
    assert "network 1 of train_many" in "".join(raised.value.__notes__)
    assert np.array_equal(nets[1].state.params, before)  # its epoch put back, as fit does
    assert_same(nets[0], twins[0])
    assert_same(nets[2], twins[1])


@pytest.mark.parametrize("option, value, message", [
    ("validation_data", None, "net.loss"),
    ("early_stopping", True, "one by one"),
    ("callbacks", (), "history"),
    ("validation_split", 0.2, "sample_indices"),
])
def test_refused_options_say_what_to_do(houses, option, value, message):
    X, y = houses
    with pytest.raises(ValueError, match=message):
        fastbp.train_many(t1_networks(2), X, y, **{option: value})


def test_clear_errors_and_nothing_changed(houses):
    X, y = houses
    nets = t1_networks(2)
    saved = [net.state.params.copy() for net in nets]
    cases = [
        (dict(networks=[]), TypeError, "non-empty"),
        (dict(networks=[nets[0], "net"]), TypeError, r"networks\[1\]"),
        (dict(networks=[nets[0], nets[0]]), ValueError, "same network"),
        (dict(networks=[nets[0], fastbp.Network([3, 4, 1])]), ValueError, "one architecture"),
        (dict(sample_indices=[np.arange(5)]), ValueError, "one index array per network"),
        (dict(sample_indices=[np.arange(5), np.array([0, 240])]), ValueError, "outside"),
        (dict(sample_indices=[np.arange(5), np.array([-1])]), ValueError, "outside"),
        (dict(sample_indices=[np.arange(5), np.array([], int)]), ValueError, "non-empty"),
        (dict(sample_indices=[np.arange(5), np.ones(3, bool)]), ValueError, "flatnonzero"),
        (dict(lr=[0.1, 0.2, 0.3]), ValueError, "one per network"),
        (dict(optimizer="lbfgs"), ValueError, "lbfgs"),
        (dict(verbose=1), ValueError, "verbose=0"),
        (dict(n_threads=0), ValueError, "n_threads"),
        (dict(n_threads=5000), ValueError, "at most"),
        (dict(lanes="yes"), (TypeError, ValueError), "lanes"),
        (dict(sample_weight=np.zeros(240)), ValueError, "sum to zero"),
        (dict(bogus=1), TypeError, "bogus"),
    ]
    for arguments, error, message in cases:
        arguments.setdefault("networks", nets)
        with pytest.raises(error, match=message):
            fastbp.train_many(X=X, y=y, **arguments)
    X_bad = X.copy()
    X_bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastbp.train_many(nets, X_bad, y)
    for net, params in zip(nets, saved):
        assert np.array_equal(net.state.params, params)
        assert net.history is None and net.epochs_trained == 0


def test_scalers_unchanged_on_error():
    X, y = house_prices(50, seed=0)
    nets = t1_networks(2, scale_inputs=True)
    with pytest.raises(ValueError):
        fastbp.train_many(nets, X, y, sample_indices=[np.arange(50), np.array([0, 99])])
    assert all(net.state.input_scaler is None for net in nets)


def test_ensemble_mean_and_spread(houses):
    X, y = houses
    ensemble = fastbp.Ensemble.from_seeds(range(5), [3, 8, 8, 1], activation="sigmoid",
                                          n_threads=1)
    histories = ensemble.fit(X, y, epochs=2, batch_size=1, lr=0.05)
    assert len(histories) == len(ensemble) == 5
    each = np.stack([net.predict(X[:20]) for net in ensemble.networks]).astype(np.float64)
    assert ensemble.predict_all(X[:20]).shape == (5, 20)
    np.testing.assert_allclose(ensemble.predict(X[:20]), each.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ensemble.spread(X[:20]), each.std(axis=0, ddof=1), rtol=1e-12)
    assert np.all(ensemble.spread(X[:20]) > 0)  # different seeds, different networks
    assert np.all(fastbp.Ensemble(ensemble.networks[:1]).spread(X[:3]) == 0)



def test_ensemble_refuses_members_added_after_construction():
    """A member of another architecture appended to .networks is refused at predict time,
    not averaged in silently."""
    ensemble = fastbp.Ensemble.from_seeds(range(2), [3, 8, 1])
    X = np.zeros((4, 3), np.float32)
    ensemble.networks.append(fastbp.Network([3, 4, 1]))
    for method in (ensemble.predict_all, ensemble.predict, ensemble.spread):
        with pytest.raises(ValueError, match=r"networks\[2\]\.sizes"):
            method(X)

# ----- the lanes: tiny per-example networks side by side --------------------------------------
@pytest.fixture
def lane_calls(monkeypatch):
    """The number of networks of each lane kernel call train_many makes."""
    from fastbp import many
    calls = []
    original = many.train_lanes_epoch

    def spy(arch, params, *rest):
        calls.append(len(params))
        return original(arch, params, *rest)
    monkeypatch.setattr(many, "train_lanes_epoch", spy)
    return calls


@pytest.mark.parametrize("k", [1, 5, 16, 17, 40])
@pytest.mark.parametrize("shuffle", [True, False])
def test_lanes_equal_fit(houses, dtype, k, shuffle, lane_calls):
    X, y = houses
    lanes = 16 if dtype == "float32" else 8
    lrs = list(np.linspace(0.01, 0.2, k))
    check(t1_networks(k, dtype), X, y, lrs=lrs, epochs=3, batch_size=1, shuffle=shuffle)
    assert max(lane_calls) == min(k, lanes) and sum(lane_calls) == 3 * k  # 3 epochs each


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu", "elu", "softplus",
                                        "identity"])
def test_lanes_activations_and_shapes(dtype, activation, lane_calls):
    X, Y = house_prices(150, seed=1, standardize=True)
    Y2 = np.stack([Y, -0.5 * Y], axis=1)
    for sizes, y, output in (([3, 5, 2], Y2, "tanh"), ([3, 8, 7, 8, 1], Y, "sigmoid"),
                             ([3, 1], Y, "identity")):
        nets = [fastbp.Network(sizes, activation=activation, output=output, dtype=dtype,
                               seed=j, n_threads=1) for j in range(9)]
        check(nets, X, y, epochs=2, batch_size=1, lr=0.02)
    assert lane_calls


def test_lanes_grouped_by_epoch_length(houses, lane_calls):
    """Networks whose index arrays differ in length run in separate groups."""
    X, y = houses
    rng = np.random.default_rng(4)
    indices = [rng.integers(0, 240, 100 + 50 * (j % 3)) for j in range(20)]
    check(t1_networks(20), X, y, indices=indices, epochs=2, batch_size=1, lr=0.05)
    assert sorted(lane_calls) == [6, 6, 7, 7, 7, 7]


def test_lanes_budget_and_stop_rules(houses, lane_calls):
    X, y = houses
    check(t1_networks(18), X, y, epochs=4, batch_size=1, lr=0.05, max_updates=555)
    lrs = [0.05] * 9 + [0.0001] * 9  # the slow ones stop early by tol, the others run on
    check(t1_networks(18), X, y, lrs=lrs, epochs=6, batch_size=1, tol=1e-3,
          n_iter_no_change=1, schedule="cosine")
    assert lane_calls


def test_lanes_one_diverges_the_others_train(houses, lane_calls):
    X, y = houses
    nets = t1_networks(10, activation="identity")
    twins = reference_fits(nets[:3] + nets[4:], X, y, epochs=2, batch_size=1, lr=0.01)
    before = nets[3].state.params.copy()
    with pytest.raises(fastbp.TrainingDiverged, match="epoch 1"):
        fastbp.train_many(nets, X, y, lr=[0.01] * 3 + [1e6] + [0.01] * 6, epochs=2,
                          batch_size=1)
    assert np.array_equal(nets[3].state.params, before)
    for net, twin in zip(nets[:3] + nets[4:], twins):
        assert_same(net, twin)
    assert lane_calls


def test_lanes_off_and_other_settings_take_the_general_path(houses, lane_calls):
    X, y = houses
    check(t1_networks(4), X, y, epochs=2, batch_size=1, lr=0.05, lanes=False)
    check(t1_networks(4), X, y, epochs=2, batch_size=1, lr=0.05, optimizer="momentum")
    check(t1_networks(4), X, y, epochs=2, batch_size=2, lr=0.05)
    check(t1_networks(4, dropout=0.1), X, y, epochs=2, batch_size=1, lr=0.05)
    check(t1_networks(4), X, y, epochs=2, batch_size=1, lr=0.05, max_time=100.0)
    check([fastbp.Network([3, 9, 1], seed=j, n_threads=1) for j in range(3)], X, y, epochs=2,
          batch_size=1, lr=0.05)
    assert lane_calls == []


@pytest.mark.parametrize("lanes", [True, False])
def test_ctrl_c_leaves_each_network_as_max_updates_would(lanes):
    """SIGINT while train_many runs: every network that began is what fit(max_updates=k)
    leaves for its own k updates; the others are unchanged."""
    import os
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the main thread")
    X, y = house_prices(100_000, seed=0, standardize=True)
    X, y = X.astype(np.float32), y.astype(np.float32)
    nets = t1_networks(40)
    starts = [net.copy() for net in nets]
    done = threading.Event()

    def interrupt_once_one_trains():  # not on a timer: a busy machine may still be preparing
        while not done.wait(0.01):
            if any(net.state.step > 0 for net in nets):
                os.kill(os.getpid(), signal.SIGINT)
                return
    watcher = threading.Thread(target=interrupt_once_one_trains)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="max_updates"):
            fastbp.train_many(nets, X, y, epochs=1000, batch_size=1, lr=0.001, n_threads=2,
                              lanes=lanes)
    finally:
        done.set()
        watcher.join()
    began = [net for net in nets if net.state.step > 0]
    assert began
    for net, start in zip(nets, starts):
        if net.state.step == 0:
            assert net.state.params.tobytes() == start.state.params.tobytes()
            continue
        assert net.history.stopped_because == "interrupted"
        start.fit(X, y, epochs=1000, batch_size=1, lr=0.001, max_updates=net.state.step)
        assert net.state.params.tobytes() == start.state.params.tobytes()
        assert net.epochs_trained == start.epochs_trained


def test_ctrl_c_leaves_networks_not_begun_unchanged():
    """SIGINT while train_many runs: a network that never began keeps its scalers and its
    optimizer (train_many learns and sets them for every network before any trains)."""
    import os
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the main thread")
    X, y = house_prices(100_000, seed=0, standardize=True)
    nets = t1_networks(10, scale_inputs=True, scale_targets=True)
    done = threading.Event()

    def interrupt_once_one_trains():  # not on a timer: a busy machine may still be preparing
        while not done.wait(0.01):
            if any(net.state.step > 0 for net in nets):
                os.kill(os.getpid(), signal.SIGINT)
                return
    watcher = threading.Thread(target=interrupt_once_one_trains)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="max_updates"):
            fastbp.train_many(nets, X, y, epochs=1000, batch_size=1, lr=0.001, n_threads=1,
                              optimizer="adam")
    finally:
        done.set()
        watcher.join()
    not_begun = [net for net in nets if net.state.step == 0]
    assert not_begun and len(not_begun) < len(nets)
    for net in not_begun:
        assert net.state.input_scaler is None and net.state.target_scaler is None
        assert net.state.optimizer.name == "sgd"
        assert net.history is None

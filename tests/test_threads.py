"""n_threads: one setting for the BLAS-backed layers; fastbp's own kernels stay on one thread;
a network's results depend on its own n_threads only, whatever other threads run."""
import os
import threading

import numpy as np
import pytest

import fastbp
from fastbp import _blas, _train

needs_thread_control = pytest.mark.skipif(
    _blas.thread_control() is None, reason="no thread setter found in this scipy's BLAS")


def _classes(n, n_features, seed=0):
    return fastbp.datasets.gaussian_classes(n, n_features, 10, seed=seed)


def _paths(net, batch_size):
    """Which kinds of path ("loops", or "blas" for any other) the layers take, as planned."""
    chunk = min(batch_size, net.CHUNK_ROWS)
    return {"loops" if path == "loops" else "blas"
            for path in _train.plan(net.architecture, chunk, net.dtype)}


def test_own_kernels_give_the_same_weights_for_any_thread_count():
    X, y = fastbp.datasets.house_prices(300, seed=0, standardize=True)
    trained = []
    for n_threads in (1, 2):
        net = fastbp.Network([3, 8, 8, 1], seed=0, n_threads=n_threads)
        assert _paths(net, 8) == {"loops"}  # the tiny network never reaches BLAS
        net.fit(X, y, epochs=3, batch_size=8, lr=0.05)
        trained.append(net.state.params.copy())
    np.testing.assert_array_equal(trained[0], trained[1])


@pytest.mark.parametrize("n_threads", [1, 2])
def test_blas_layers_are_deterministic_for_a_fixed_thread_count(n_threads):
    X, y = _classes(1024, 784)
    X = X.astype(np.float32)
    trained = []
    for _ in range(2):
        net = fastbp.Network([784, 256, 128, 10], activation="relu", loss="cross_entropy",
                             n_threads=n_threads)
        assert "blas" in _paths(net, 64)
        net.fit(X, y, epochs=1, batch_size=64, lr=0.05, shuffle=False)
        trained.append((net.state.params.copy(), net.predict(X[:100]), net.loss(X, y)))
    np.testing.assert_array_equal(trained[0][0], trained[1][0])
    np.testing.assert_array_equal(trained[0][1], trained[1][1])
    assert trained[0][2] == trained[1][2]


@needs_thread_control
def test_fit_runs_the_blas_on_n_threads_and_restores_its_count():
    X, y = _classes(256, 784)
    before = _blas.get_threads()
    seen = []
    net = fastbp.Network([784, 256, 10], activation="relu", loss="cross_entropy",
                         n_threads=3 if before != 3 else 2)
    net.fit(X, y, epochs=2, batch_size=64, lr=0.05,
            callbacks=[lambda epoch, figures: seen.append(_blas.get_threads())])
    assert seen == [net.n_threads] * 2
    assert _blas.get_threads() == before
    net.predict(X)
    net.loss(X, y)
    net.gradients(X[:10], y[:10])
    assert _blas.get_threads() == before


@needs_thread_control
def test_a_thread_keeps_its_own_count_while_another_threads_block_runs():
    X, y = _classes(256, 784)
    inside, release = threading.Event(), threading.Event()
    seen = {"other": [], "mine": []}

    def hold(epoch, figures):
        seen["other"].append(_blas.get_threads())
        inside.set()
        release.wait(60)

    def other():
        net = fastbp.Network([784, 64, 10], activation="relu", loss="cross_entropy", n_threads=2)
        net.fit(X, y, epochs=1, batch_size=64, callbacks=[hold])

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert inside.wait(60)  # the other network is inside its fit, on 2 threads
        net = fastbp.Network([784, 64, 10], activation="relu", loss="cross_entropy", n_threads=1)
        net.fit(X, y, epochs=2, batch_size=64,
                callbacks=[lambda epoch, figures: seen["mine"].append(_blas.get_threads())])
    finally:
        release.set()
        thread.join()
    assert seen == {"other": [2], "mine": [1, 1]}


def _rounds_of_training(net, X, y, rounds=3):
    """Each round an epoch of training and a prediction: the parameters and predictions."""
    results = []
    for _ in range(rounds):
        net.fit(X, y, epochs=1, batch_size=64, lr=0.05, shuffle=False)
        results.append(([np.array(a) for a in net.weights + net.biases], net.predict(X)))
    return results


@needs_thread_control
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads, other_n_threads", [(1, 2), (2, 1)])
def test_results_depend_only_on_the_networks_own_thread_count(n_threads, other_n_threads, dtype):
    X, y = _classes(256, 784)
    X = X.astype(dtype)

    def network(n, seed=0):
        return fastbp.Network([784, 128, 64, 10], activation="relu", loss="cross_entropy",
                              dtype=dtype, seed=seed, n_threads=n)

    alone = _rounds_of_training(network(n_threads), X, y)
    # the same while another network, on another thread count, trains and predicts throughout
    started, stop = threading.Event(), threading.Event()

    def other():
        net = network(other_n_threads, seed=1)
        while not stop.is_set():
            net.fit(X, y, epochs=1, batch_size=64, lr=0.01)
            started.set()
            net.predict(X)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert started.wait(60)
        together = _rounds_of_training(network(n_threads), X, y)
    finally:
        stop.set()
        thread.join()
    for (params, predicted), (params_alone, predicted_alone) in zip(together, alone):
        for a, b in zip(params, params_alone):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(predicted, predicted_alone)


def test_none_means_the_cpus_this_process_may_use():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert fastbp.Network([2, 1]).n_threads == expected
    net = fastbp.Network([2, 1], n_threads=1)
    net.n_threads = None
    assert net.n_threads == expected


@pytest.mark.parametrize("value, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                          ("2", TypeError), (True, TypeError)])
def test_bad_thread_counts_are_rejected(value, error):
    with pytest.raises(error, match="n_threads"):
        fastbp.Network([2, 1], n_threads=value)
    net = fastbp.Network([2, 1], n_threads=2)
    with pytest.raises(error, match="n_threads"):
        net.n_threads = value
    assert net.n_threads == 2


def test_n_threads_belongs_to_the_machine_not_the_model(tmp_path):
    net = fastbp.Network([2, 3, 1], n_threads=1)
    net.n_threads = 5
    assert net.copy().n_threads == 5  # same machine
    net.save(tmp_path / "net.npz")
    assert fastbp.load(tmp_path / "net.npz").n_threads == fastbp.Network([2, 1]).n_threads


def test_show_config_reports_threads():
    threads = fastbp.show_config(print_=False)["threads"]
    assert "n_threads" in threads and "compiled loops: 1 thread" in threads
    if _blas.thread_control() is not None:
        assert _blas.thread_control() in threads and "take turns" in threads

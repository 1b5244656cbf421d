"""train_many and Ctrl-C at chosen moments: while the calling thread sleeps on a lock without
the signal waking it, between two task submissions, and after a network began but before its
first update. Whenever it comes, each network is either unchanged or exactly what
``fit(..., max_updates=k)`` leaves for its own k updates, its history ending "interrupted".

The reference is an independent copy of each network, trained by its own ``Network.fit``.
"""
import os
import signal
import threading

import numpy as np
import pytest

import fastbp
from fastbp import many
from fastbp.datasets import house_prices

EPOCHS = 300  # far more than any test here lets a network finish before its Ctrl-C


@pytest.fixture(autouse=True)
def main_thread_only():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are handled in the main thread")
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("needs Python's default SIGINT handler")


@pytest.fixture(scope="module")
def data():
    X, y = house_prices(10_000, seed=0, standardize=True)
    return X.astype(np.float32), y.astype(np.float32)


def networks(k, **options):
    options.setdefault("activation", "sigmoid")
    return [fastbp.Network([3, 8, 8, 1], seed=200 + j, n_threads=1, **options)
            for j in range(k)]


def assert_unchanged(net, start):
    a, b = net.state, start.state
    assert a.params.tobytes() == b.params.tobytes()
    assert (a.step, a.epochs_trained) == (b.step, b.epochs_trained)
    assert a.optimizer == b.optimizer
    assert a.shuffle_rng.bit_generator.state == b.shuffle_rng.bit_generator.state
    assert a.input_scaler is None and a.target_scaler is None
    assert net.history is None


def assert_each_unchanged_or_as_max_updates(nets, starts, X, y, **options):
    """Returns how many networks began."""
    began = 0
    for net, start in zip(nets, starts):
        if net.history is None:
            assert_unchanged(net, start)
            continue
        began += 1
        assert net.history.stopped_because == "interrupted"
        assert net.state.step > 0  # (one stopped before its first update is put back)
        start.fit(X, y, max_updates=net.state.step, **options)
        assert net.state.params.tobytes() == start.state.params.tobytes()
        assert net.epochs_trained == start.epochs_trained
        assert net.history.loss == start.history.loss
    return began


def interrupt_once_one_trains(nets, done):
    """A thread that sends SIGINT to this process once a network has applied updates."""
    def watch():
        while not done.wait(0.005):
            if any(net.state.step > 0 for net in nets):
                os.kill(os.getpid(), signal.SIGINT)
                return
    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


@pytest.mark.parametrize("lanes", [True, False])
def test_ctrl_c_the_calling_thread_is_not_woken_by(data, lanes):
    """The signal reaches the process while the calling thread sleeps on a lock and does not
    wake it (here SIGINT is blocked in that thread, so another thread takes it: what happens
    when it lands just before the sleep begins). Python runs the handler only when the
    calling thread next wakes: train_many wakes it often enough to stop every network."""
    X, y = data
    nets = networks(20)
    starts = [net.copy() for net in nets]
    done = threading.Event()
    watcher = interrupt_once_one_trains(nets, done)  # started first: SIGINT not blocked in it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with pytest.raises(KeyboardInterrupt, match="max_updates"):
            fastbp.train_many(nets, X, y, epochs=EPOCHS, batch_size=1, lr=0.001, n_threads=2,
                              lanes=lanes)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        done.set()
        watcher.join()
    began = assert_each_unchanged_or_as_max_updates(nets, starts, X, y, epochs=EPOCHS,
                                                    batch_size=1, lr=0.001)
    assert began > 0


def counting_pool(monkeypatch, on_submit=None):
    """train_many's pool, counting its submissions (`on_submit(count)` after each)."""
    class Pool(many.ThreadPoolExecutor):
        submitted = 0

        def submit(self, *args, **kwargs):
            future = super().submit(*args, **kwargs)
            Pool.submitted += 1
            if on_submit is not None:
                on_submit(Pool.submitted)
            return future
    monkeypatch.setattr(many, "ThreadPoolExecutor", Pool)
    return Pool


def wait_until(condition):
    """Bounded: a train_many that never gets there fails its test rather than hanging it."""
    for _ in range(4000):
        if condition():
            return
        threading.Event().wait(0.005)


@pytest.mark.parametrize("lanes", [True, False])
def test_ctrl_c_between_two_submissions(data, lanes, monkeypatch):
    """Ctrl-C after the first task is handed to the pool and before the next: the tasks
    already running stop, the others never begin."""
    X, y = data
    nets = networks(20)
    starts = [net.copy() for net in nets]

    def interrupt_after_the_first(count):
        if count == 1:
            os.kill(os.getpid(), signal.SIGINT)
    pool = counting_pool(monkeypatch, interrupt_after_the_first)
    with pytest.raises(KeyboardInterrupt, match="max_updates"):
        fastbp.train_many(nets, X, y, epochs=EPOCHS, batch_size=1, lr=0.001, n_threads=2,
                          lanes=lanes)
    assert pool.submitted == (2 if lanes else 20)  # (lanes: a group of 16 and one of 4)
    assert_each_unchanged_or_as_max_updates(nets, starts, X, y, epochs=EPOCHS, batch_size=1,
                                            lr=0.001)


@pytest.mark.parametrize("lanes", [True, False])
def test_ctrl_c_after_a_network_began_before_its_first_update(data, lanes, monkeypatch):
    """Ctrl-C once every task is handed to the pool and a network's fit has begun in its
    thread, before its first epoch: it applied no update, so it is put back as it was
    (scalers, optimizer, streams, history), as are the networks never begun."""
    X, y = data
    options = {} if lanes else dict(scale_inputs=True, scale_targets=True)
    nets = networks(6, **options)
    starts = [net.copy() for net in nets]
    pool = counting_pool(monkeypatch)
    tasks = 1 if lanes else 6  # (lanes: one group)
    original = many._fit.run
    sent = threading.Lock()
    calls = []

    def run(state, runner, settings):
        calls.append(runner)
        if sent.acquire(blocking=False):
            wait_until(lambda: pool.submitted == tasks)
            os.kill(os.getpid(), signal.SIGINT)
        wait_until(lambda: runner.options.interrupt_requested)
        return original(state, runner, settings)
    monkeypatch.setattr(many._fit, "run", run)
    with pytest.raises(KeyboardInterrupt, match="max_updates"):
        fastbp.train_many(nets, X, y, epochs=EPOCHS, batch_size=1, lr=0.001, n_threads=1,
                          optimizer=None if lanes else "adam", lanes=lanes)
    assert pool.submitted == tasks
    assert calls and all(isinstance(runner, many._LaneRunner) == lanes for runner in calls)
    for net, start in zip(nets, starts):
        assert_unchanged(net, start)


@pytest.mark.parametrize("raised", [KeyboardInterrupt, RuntimeError])
def test_a_handler_of_the_users_raising_stops_every_network(data, raised):
    """Under a SIGINT handler of the user's (left in place), what it raises in the calling
    thread stops every network as Ctrl-C does, and is raised (a KeyboardInterrupt with
    train_many's message)."""
    X, y = data
    nets = networks(20)
    starts = [net.copy() for net in nets]

    def handler(signum, frame):
        raise raised("the user's")
    done = threading.Event()
    previous = signal.signal(signal.SIGINT, handler)
    watcher = interrupt_once_one_trains(nets, done)
    try:
        with pytest.raises(raised, match="max_updates" if raised is KeyboardInterrupt
                           else "the user's"):
            fastbp.train_many(nets, X, y, epochs=EPOCHS, batch_size=1, lr=0.001, n_threads=2)
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, previous)
        done.set()
        watcher.join()
    began = assert_each_unchanged_or_as_max_updates(nets, starts, X, y, epochs=EPOCHS,
                                                    batch_size=1, lr=0.001)
    assert began > 0

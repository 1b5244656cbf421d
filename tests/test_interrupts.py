"""Ctrl-C in fit: the network it leaves is the one fit(..., max_updates=k) leaves for the k
updates applied (L-BFGS: fit(..., epochs=m) for its m iterations), on every training path and
optimizer; and the looks for Ctrl-C come after a bounded amount of work.

Most tests interrupt through a test hook of the compiled trainer, ``_train._interrupt_at_look(n)``:
the n-th look (signal check) from now acts as a Ctrl-C found there. n is drawn from a seeded
generator among the looks the same fit takes uninterrupted, so each test is deterministic. The
tests named ``real_sigint`` send a real SIGINT instead, and use the public API only.
"""
import math
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest

import fastbp
from fastbp import _kernels, _train

# (getattr: the real-SIGINT tests also run against builds from before the kernels had it)
needs_avx512 = pytest.mark.skipif(not getattr(_kernels, "avx512_kernels_run", lambda: True)(),
                                  reason="fastbp's matrix kernels need AVX-512")
needs_sigint = pytest.mark.skipif(os.name != "posix", reason="needs SIGINT sent to this process")

HISTORY_FIELDS = ("loss", "val_loss", "metric", "val_metric", "lr")


def data(n, n_in, n_out, classify, seed=0, dtype=np.float64):
    """(X, y); X in `dtype` (the network's: a real SIGINT is then not spent converting it)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if classify:
        return X, rng.integers(0, n_out, n)
    y = np.tanh(X[:, :n_out] + 0.1 * rng.normal(size=(n, n_out)))
    return X, (y[:, 0] if n_out == 1 else y)


def rows(history):
    return {name: list(getattr(history, name)) for name in HISTORY_FIELDS}


def looks_of(make, X, y, fit_args, warm_up=0):
    """The looks an uninterrupted fit takes (on a network of its own, after `warm_up` epochs
    of the same fit)."""
    net = make()
    if warm_up:
        net.fit(X, y, **{**fit_args, "epochs": warm_up})
    before = _train._looks_taken()
    net.fit(X, y, **fit_args)
    return _train._looks_taken() - before


def fit_interrupted_at(net, X, y, fit_args, look):
    """net.fit with its `look`-th look acting as Ctrl-C: (updates applied, the exception)."""
    step = net.state.step
    _train._interrupt_at_look(look)
    try:
        with pytest.raises(KeyboardInterrupt) as raised:
            net.fit(X, y, **fit_args)
    finally:
        _train._interrupt_at_look(0)
    return net.state.step - step, raised.value


def assert_same_network(net, twin):
    """Weights, optimizer state and step, random streams, epoch count: bit for bit."""
    assert net.state.step == twin.state.step
    assert net.state.epochs_trained == twin.state.epochs_trained
    assert pickle.dumps(net) == pickle.dumps(twin)


def assert_interrupt_equals_replay(make, X, y, fit_args, seed, warm_up=1, draws=2):
    """Interrupt a fit at `draws` seeded random looks; each time the network must equal the
    one fit(..., max_updates=k) gives from the same start, and its history the replay's
    completed epochs. Both start after `warm_up` epochs of the same fit (optimizer state,
    step and epoch count already under way)."""
    total = looks_of(make, X, y, fit_args, warm_up)
    assert total >= 2, "the fit must take several looks for the test to mean something"
    rng = np.random.default_rng(seed)
    for look in rng.integers(1, total + 1, size=draws):
        net, twin = make(), make()
        for each in (net, twin):
            each.fit(X, y, **{**fit_args, "epochs": warm_up})
        updates, error = fit_interrupted_at(net, X, y, fit_args, int(look))
        assert net.history.stopped_because == "interrupted"
        assert f"max_updates={updates}" in str(error)
        if updates > 0:
            replay = twin.fit(X, y, **fit_args, max_updates=updates)
            assert rows(net.history) == rows(replay)
        else:
            assert net.history.epochs == 0
        assert_same_network(net, twin)


def network(sizes, *, setup=None, **kwargs):
    """A factory of identical networks (the architecture's switches set on each)."""
    def make():
        net = fastbp.Network(list(sizes), seed=3, **kwargs)
        if setup is not None:
            setup(net.architecture)
        return net
    return make


def unfused(arch):
    arch.fuse_per_example = False


def all_blas(arch):
    arch.blas_min_work = 0


def all_packed(arch):
    arch.packed_gemm_min_weights = 0


# (network factory, data, fit arguments, the plan the fit must take (or a test of it) or None)
SMALL = dict(activation="sigmoid", output="identity", loss="mse")
PATHS = {
    "per_example_fused": (network((3, 8, 8, 1), dtype="float32", **SMALL),
                          data(30_000, 3, 1, False),
                          dict(epochs=3, batch_size=1, lr=0.02), ["loops"] * 3),
    "per_example_unfused": (network((3, 8, 8, 1), dtype="float64", setup=unfused, **SMALL),
                            data(20_000, 3, 1, False),
                            dict(epochs=3, batch_size=1, lr=0.02), ["loops"] * 3),
    "loops": (network((3, 8, 8, 1), dtype="float64", **SMALL), data(40_000, 3, 1, False),
              dict(epochs=3, batch_size=8, lr=0.05), ["loops"] * 3),
    "blas": (network((20, 32, 16, 4), dtype="float64", setup=all_blas, **SMALL),
             data(10_000, 20, 4, False), dict(epochs=3, batch_size=32, lr=0.05),
             lambda plan: all(path.startswith("blas") for path in plan)),
    "full_batch": (network((256, 512, 10), dtype="float32", activation="relu",
                           loss="cross_entropy", n_threads=1),
                   data(2048, 256, 10, True), dict(epochs=3, batch_size=None, lr=0.05), None),
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_interrupt_equals_max_updates_replay_on_each_path(path):
    make, (X, y), fit_args, plan = PATHS[path]
    net = make()
    net.fit(X[:64], y[:64], epochs=1, batch_size=fit_args["batch_size"] or 64)
    if plan is not None:
        net.fit(X, y, **fit_args, max_updates=1)
        assert plan(net.architecture.last_plan) if callable(plan) else net.architecture.last_plan == plan
    assert_interrupt_equals_replay(make, X, y, fit_args, seed=sorted(PATHS).index(path))


@needs_avx512
def test_interrupt_with_the_first_layer_trained_transposed_and_the_in_place_kernel():
    """(Defect a: W of the first layer, trained transposed for the epoch, stayed the epoch's
    start while the other layers moved on.)"""
    make = network((784, 256, 128, 10), dtype="float32", activation="relu",
                   loss="cross_entropy", n_threads=1)
    X, y = data(1500, 784, 10, True)
    fit_args = dict(epochs=2, batch_size=64, lr=0.01)
    expected = ["inplace_gemm_transposed_weights", "inplace_gemm", "blas"]
    assert _train.plan(make().architecture, 64, np.float32, epoch_rows=1500, batch_size=64,
                       plain_sgd=True, blas_threads=1) == expected
    net = make()
    net.fit(X, y, **fit_args, max_updates=1)
    assert net.architecture.last_plan == expected
    assert_interrupt_equals_replay(make, X, y, fit_args, seed=10, draws=3)


@needs_avx512
def test_interrupt_on_the_packed_kernel():
    make = network((128, 256, 64, 10), dtype="float32", activation="relu",
                   loss="cross_entropy", n_threads=1, setup=all_packed)
    X, y = data(3000, 128, 10, True)
    fit_args = dict(epochs=2, batch_size=32, lr=0.01)
    net = make()
    net.fit(X, y, **fit_args, max_updates=1)
    assert "packed_gemm" in net.architecture.last_plan
    assert_interrupt_equals_replay(make, X, y, fit_args, seed=11)


OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "irprop-"]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_interrupt_equals_max_updates_replay_for_each_optimizer(optimizer, dtype):
    """(Defect b: the interrupted epoch's updates were applied but not counted, so Adam's
    bias correction resumed from the wrong t.)"""
    make = network((64, 256, 10), dtype=dtype, activation="relu", loss="cross_entropy",
                   n_threads=1)
    X, y = data(3000, 64, 10, True)
    fit_args = dict(epochs=3, batch_size=32, lr=0.01, optimizer=optimizer)
    if optimizer == "irprop-":  # a full-batch method, choosing its own steps
        fit_args.update(batch_size=None, lr=None)
    assert_interrupt_equals_replay(make, X, y, fit_args, seed=OPTIMIZERS.index(optimizer) + (100 if dtype == "float64" else 0))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_interrupt_equals_max_updates_replay_with_dropout_penalty_and_validation(optimizer):
    make = network((64, 256, 10), dtype="float32", activation="relu", loss="cross_entropy",
                   dropout=0.2, n_threads=1)
    X, y = data(3000, 64, 10, True)
    fit_args = dict(epochs=3, batch_size=32, lr=0.01, optimizer=optimizer, alpha=1e-4,
                    clip_norm=5.0, validation_split=0.2)
    assert_interrupt_equals_replay(make, X, y, fit_args, seed=20 if optimizer == "sgd" else 21)


def test_an_interrupted_epoch_adds_no_row_and_runs_no_validation():
    make = network((64, 256, 10), dtype="float32", activation="relu", loss="cross_entropy")
    X, y = data(6000, 64, 10, True)
    seen = []
    fit_args = dict(epochs=5, batch_size=32, lr=0.01, validation_split=0.2,
                    early_stopping=True, patience=10, callbacks=[lambda e, f: seen.append(e)])
    per_epoch = looks_of(make, X, y, {**fit_args, "epochs": 1})
    seen.clear()
    net = make()
    updates, _ = fit_interrupted_at(net, X, y, fit_args, per_epoch + per_epoch // 2)
    assert per_epoch >= 2 and updates > 0
    assert net.history.epochs == len(seen) == net.state.epochs_trained == 1
    assert len(net.history.val_loss) == net.history.epochs
    assert net.history.best_epoch is None  # no best weights put back: the last update kept


def test_a_batch_interrupted_while_its_gradient_accumulates_is_not_applied():
    make, (X, y), fit_args, _ = PATHS["full_batch"]
    net = make()
    before = pickle.dumps(net)
    updates, _ = fit_interrupted_at(net, X, y, fit_args, 1)  # inside the first full batch
    assert updates == 0 and net.history.epochs == 0
    assert pickle.dumps(net) == before  # weights, step, streams: as if fit had not begun


def test_lbfgs_interrupt_keeps_the_last_accepted_iterate_and_its_iterations():
    def make():
        return fastbp.Network([256, 256, 10], activation="tanh", loss="cross_entropy",
                              dtype="float64", seed=5, n_threads=1)
    X, y = data(1024, 256, 10, True)
    fit_args = dict(epochs=12, optimizer="lbfgs")
    total = looks_of(make, X, y, fit_args)
    assert total >= 10
    for look in np.random.default_rng(30).integers(1, total + 1, size=3):
        net, twin = make(), make()
        before = net.state.params.copy()
        _, error = fit_interrupted_at(net, X, y, fit_args, int(look))
        iterations = net.history.epochs
        assert net.history.stopped_because == "interrupted"
        assert net.state.epochs_trained == iterations
        assert f"{iterations} iterations" in str(error)
        if iterations == 0:  # (the optimizer is L-BFGS now, as after any fit with it)
            np.testing.assert_array_equal(net.state.params, before)
            continue
        replay = twin.fit(X, y, epochs=iterations, optimizer="lbfgs")
        assert net.history.loss == replay.loss
        assert_same_network(net, twin)


# ----- how often a fit looks up: in work, not time -----------------------------------------

def row_work(sizes, training=True):
    """Lookout's work for one row: the products' multiply-adds (×3 to train) and a fixed cost."""
    products = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return products * (3 if training else 1) + _train.LOOK_WORK["row_overhead"]


def test_a_full_batch_of_an_l1_sized_layer_looks_up_after_every_chunk():
    """A full batch over many chunks looks up between them (before: only between batches, 1.4-
    1.6 s for L1): every CHECK_WORK of work or one chunk, whichever is more."""
    sizes = [1024, 2048, 10]
    net = fastbp.Network(sizes, activation="relu", loss="cross_entropy", dtype="float32",
                         seed=0, n_threads=1)
    X, y = data(2048, 1024, 10, True)
    chunk_work = 256 * row_work(sizes)
    assert chunk_work > _train.LOOK_WORK["check_work"]  # so: a look after each chunk
    before = _train._looks_taken()
    net.fit(X, y, epochs=1, batch_size=None, lr=0.01)
    assert _train._looks_taken() - before == 2048 // 256 - 1  # between each two chunks


@pytest.mark.parametrize("batch_size", [1, 16])
def test_small_batches_look_up_every_check_work(batch_size):
    sizes = [3, 8, 8, 1]
    net = fastbp.Network(sizes, seed=0)
    X, y = data(40_000, 3, 1, False)
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    work = (len(X) * row_work(sizes)
            + math.ceil(len(X) / batch_size) * (n_params + _train.LOOK_WORK["update_overhead"]))
    step = max(1024 if batch_size == 1 else batch_size, 1) * (  # the largest step between looks
        row_work(sizes) + n_params + _train.LOOK_WORK["update_overhead"])
    check_work = _train.LOOK_WORK["check_work"]
    before = _train._looks_taken()
    net.fit(X, y, epochs=3, batch_size=batch_size, lr=0.01)
    looks = _train._looks_taken() - before
    assert 3 * work // (check_work + step) - 1 <= looks <= 3 * work // check_work


def test_net_loss_looks_up_between_chunks():
    sizes = [1024, 2048, 10]
    net = fastbp.Network(sizes, activation="relu", loss="cross_entropy", dtype="float32",
                         seed=0, n_threads=1)
    X, y = data(4096, 1024, 10, True)
    assert 256 * row_work(sizes, training=False) > _train.LOOK_WORK["check_work"]
    _train._interrupt_at_look(3)
    try:
        with pytest.raises(KeyboardInterrupt):
            net.loss(X, y)
    finally:
        _train._interrupt_at_look(0)


# ----- a real SIGINT (public API only: these also run against older builds) ---------------

def saved_counts(net):
    """(optimizer step, epochs trained) as saved to file (public on older builds too)."""
    header = net.__reduce__()[1][0]
    return header["optimizer"]["step"], header["epochs_trained"]


def send_sigint_after(seconds, then=None):
    def fire():
        if then is not None:
            then()
        os.kill(os.getpid(), signal.SIGINT)
    timer = threading.Timer(seconds, fire)
    timer.start()
    return timer


def sigint_replay(make, X, y, fit_args, delay, warm_up=1):
    """A real SIGINT `delay` s into a fit: (net, twin replayed with max_updates, updates)."""
    net, twin = make(), make()
    for each in (net, twin):
        each.fit(X, y, **{**fit_args, "epochs": warm_up})
    step = saved_counts(net)[0]
    timer = send_sigint_after(delay)
    try:
        with pytest.raises(KeyboardInterrupt) as raised:
            net.fit(X, y, **fit_args)
    finally:
        timer.join()
    updates = saved_counts(net)[0] - step
    assert updates > 0
    replay = twin.fit(X, y, **fit_args, max_updates=updates)
    return net, twin, replay, raised.value


@needs_sigint
@needs_avx512
def test_real_sigint_with_the_first_layer_trained_transposed_equals_the_replay():
    """Defect (a): W of the first layer stayed the epoch's start (and the updates went
    uncounted: b)."""
    def make():
        return fastbp.Network([784, 256, 10], activation="relu", loss="cross_entropy",
                              dtype="float32", seed=1, n_threads=1)
    X, y = data(3000, 784, 10, True, dtype=np.float32)
    fit_args = dict(epochs=1000, batch_size=64, lr=0.01)
    net, twin, replay, _ = sigint_replay(make, X, y, fit_args, delay=0.4)
    for ours, theirs in zip(net.weights, twin.weights):
        np.testing.assert_array_equal(ours, theirs)
    assert pickle.dumps(net) == pickle.dumps(twin)
    assert net.history.stopped_because == "interrupted"
    assert rows(net.history) == rows(replay)


@needs_sigint
def test_real_sigint_raises_keyboard_interrupt_saying_what_the_network_holds():
    """Defect (c): README's interrupted-fit message never appeared."""
    net = fastbp.Network([3, 64, 64, 1], seed=0, n_threads=1)
    X, y = fastbp.datasets.house_prices(50_000, seed=0, standardize=True)
    X, y = X.astype(np.float32), y.astype(np.float32)
    net.fit(X[:100], y[:100], epochs=1, batch_size=1, lr=1e-4)
    timer = send_sigint_after(0.3)
    try:
        with pytest.raises(KeyboardInterrupt, match="training interrupted after") as raised:
            net.fit(X, y, epochs=1000, batch_size=1, lr=1e-4)
    finally:
        timer.join()
    step, epochs_trained = saved_counts(net)
    assert f"max_updates={step - 100}" in str(raised.value)
    assert f"{epochs_trained} epochs trained" in str(raised.value)
    assert net.history.stopped_because == "interrupted"


@needs_sigint
def test_real_sigint_counts_every_update_applied_with_adam():
    """Defect (b): the optimizer step (Adam's t), epochs and history after Ctrl-C."""
    def make():
        return fastbp.Network([3, 64, 64, 1], seed=0, n_threads=1)
    X, y = fastbp.datasets.house_prices(50_000, seed=0, standardize=True)
    X, y = X.astype(np.float32), y.astype(np.float32)
    fit_args = dict(epochs=1000, batch_size=4, lr=1e-4, optimizer="adam")
    net, twin, replay, _ = sigint_replay(make, X, y, fit_args, delay=0.4)
    assert net.history.stopped_because == "interrupted"
    assert rows(net.history) == rows(replay)
    assert pickle.dumps(net) == pickle.dumps(twin)
    # and it trains on from there exactly as the replay does
    for each in (net, twin):
        each.fit(X[:1000], y[:1000], epochs=1, batch_size=4, optimizer="adam")
    assert pickle.dumps(net) == pickle.dumps(twin)


@needs_sigint
def test_real_sigint_looks_up_at_the_first_look_after_the_signal():
    """How much work runs after the signal: none beyond the next look (looks counted)."""
    def make():
        return fastbp.Network([784, 256, 10], activation="relu", loss="cross_entropy",
                              dtype="float32", seed=1, n_threads=1)
    X, y = data(3000, 784, 10, True, dtype=np.float32)
    at_signal = []
    net = make()
    net.fit(X, y, epochs=1, batch_size=64, lr=0.01)
    timer = send_sigint_after(0.3, then=lambda: at_signal.append(_train._looks_taken()))
    try:
        with pytest.raises(KeyboardInterrupt):
            net.fit(X, y, epochs=1000, batch_size=64, lr=0.01)
    finally:
        timer.join()
    assert _train._looks_taken() - at_signal[0] <= 1


@needs_sigint
def test_real_sigint_in_a_full_batch_stops_without_finishing_the_batch():
    """A full batch of many chunks stops at the next chunk: the batch in progress is not
    applied (before: it ran to its end, 1.4-1.6 s for L1, and was applied uncounted)."""
    def make():
        return fastbp.Network([512, 1024, 10], activation="relu", loss="cross_entropy",
                              dtype="float32", seed=2, n_threads=1)
    X, y = data(4096, 512, 10, True, dtype=np.float32)
    net, twin = make(), make()
    timers, completed = [], []

    def callback(epoch, figures):
        # Two epochs in, Ctrl-C a quarter of an epoch into the third, in its one batch.
        completed.append(epoch)
        if epoch == 2:
            timers.append(send_sigint_after(figures["seconds"] / 4))
    try:
        with pytest.raises(KeyboardInterrupt):
            net.fit(X, y, epochs=10, batch_size=None, lr=0.05, callbacks=[callback])
    finally:
        for timer in timers:
            timer.join()
    assert completed == [1, 2] and net.history.epochs == 2
    twin.fit(X, y, epochs=2, batch_size=None, lr=0.05)
    for ours, theirs in zip(net.weights, twin.weights):
        np.testing.assert_array_equal(ours, theirs)
    assert pickle.dumps(net) == pickle.dumps(twin)


LBFGS_LONG = fastbp.optim.LBFGS(max_iter=10_000, tol=1e-12)


@needs_sigint
def test_real_sigint_stops_lbfgs_at_its_last_accepted_iterate():
    def make():
        return fastbp.Network([256, 256, 10], activation="tanh", loss="cross_entropy",
                              dtype="float64", seed=5, n_threads=1)
    pytest.importorskip("scipy.optimize")  # (imported before the signal, not during it)
    X, y = data(4096, 256, 10, True)
    net, twin = make(), make()
    timers = []

    def callback(iteration, figures):  # Ctrl-C half an iteration into the third
        if iteration == 2:
            timers.append(send_sigint_after(figures["seconds"] / 2))
    try:
        with pytest.raises(KeyboardInterrupt):
            net.fit(X, y, epochs=10_000, optimizer=LBFGS_LONG, callbacks=[callback])
    finally:
        for timer in timers:
            timer.join()
    iterations = net.history.epochs
    assert iterations >= 2 and net.history.stopped_because == "interrupted"
    assert saved_counts(net)[1] == iterations
    replay = twin.fit(X, y, epochs=iterations, optimizer=LBFGS_LONG)
    assert net.history.loss == replay.loss
    for ours, theirs in zip(net.weights, twin.weights):
        np.testing.assert_array_equal(ours, theirs)


@needs_sigint
def test_a_signal_handler_of_the_users_raises_its_own_exception_after_the_bookkeeping():
    class Alarm(Exception):
        pass

    def handler(signum, frame):
        raise Alarm

    previous = signal.signal(signal.SIGINT, handler)
    try:
        net = fastbp.Network([784, 256, 10], activation="relu", loss="cross_entropy",
                             dtype="float32", seed=1, n_threads=1)
        X, y = data(20_000, 784, 10, True, dtype=np.float32)
        net.fit(X[:64], y[:64], epochs=1, batch_size=64, lr=0.01)
        timer = send_sigint_after(0.3)  # in an epoch long against the Python between epochs
        try:
            with pytest.raises(Alarm):
                net.fit(X, y, epochs=1000, batch_size=64, lr=0.01)
        finally:
            timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert net.history.stopped_because == "interrupted"
    step, epochs_trained = saved_counts(net)
    assert step > 1 and epochs_trained == net.history.epochs + 1


def test_fit_puts_back_the_sigint_handler():
    before = signal.getsignal(signal.SIGINT)
    X, y = data(100, 3, 1, False)
    fastbp.Network([3, 4, 1], seed=0).fit(X, y, epochs=2)
    fastbp.Network([3, 4, 1], seed=0).fit(X, y, epochs=2, optimizer="lbfgs")
    assert signal.getsignal(signal.SIGINT) is before

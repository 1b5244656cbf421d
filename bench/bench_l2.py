"""What an L2 penalty costs an Adam fit: the digits (64-128-10 relu, 1,797 images, pixels / 16,
float32, batch 32, 200 epochs in order, one thread) with Adam and alpha = 0 against alpha =
1e-4, in one benchmark group so that the ratio comes from one run (#17's target: within 1.1×).
The digits' constant pixel columns get no gradient but the penalty's, which once decayed their
weights into subnormal numbers. A third entry trains scikit-learn's forms (Adam with
convention="sklearn", alpha divided by each batch's size), as fastbp.sklearn does.
"""
import numpy as np
import pytest

import fastbp

sklearn_datasets = pytest.importorskip("sklearn.datasets")

ENTRIES = {  # name: (optimizer, alpha, alpha_over_batch_size)
    "adam": (fastbp.optim.Adam(), 0.0, False),
    "adam+l2": (fastbp.optim.Adam(), 1e-4, False),
    "adam-sklearn+l2-per-batch": (fastbp.optim.Adam(convention="sklearn"), 1e-4, True),
}


@pytest.fixture(scope="module")
def digits():
    X, y = sklearn_datasets.load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


@pytest.mark.benchmark(group="digits-adam-l2")
@pytest.mark.parametrize("name", list(ENTRIES))
def test_digits_adam_l2(benchmark, digits, smoke, name):
    X, y = digits
    config, alpha, over = ENTRIES[name]
    epochs = 2 if smoke else 200

    def setup():
        return (fastbp.Network([64, 128, 10], activation="relu", loss="cross_entropy", seed=0,
                               dtype="float32", n_threads=1),), {}

    def train(net):
        net.fit(X, y, epochs=epochs, batch_size=32, shuffle=False, optimizer=config, lr=1e-3,
                alpha=alpha, alpha_over_batch_size=over)
        return net

    net = benchmark.pedantic(train, setup=setup, rounds=1 if smoke else 5, iterations=1)
    initial = fastbp.Network([64, 128, 10], activation="relu", loss="cross_entropy", seed=0,
                             dtype="float32").loss(X, y)
    final = net.loss(X, y)
    assert np.isfinite(final) and final < 0.5 * initial, f"{name}: loss {initial} -> {final}"
    benchmark.extra_info.update(workload="digits", optimizer=name, alpha=alpha, epochs=epochs,
                                final_loss=float(final))

"""M2 with other optimizers: what momentum, Nesterov and Adam cost per batch over plain SGD.

The M2 network and data (784-256-128-10 relu, softmax cross-entropy, batch 64, one epoch in
order); each optimizer is timed in the same run as plain SGD, and each result is checked
against a float64 numpy run of the same optimizer from the same initial weights.
"""
import numpy as np
import pytest

import fastbp

pytestmark = pytest.mark.benchmark(group="M2-optimizers")

OPTIMIZERS = {  # name: (fastbp config, learning rate)
    "sgd": (fastbp.optim.SGD(), 0.05),
    "momentum": (fastbp.optim.SGD(momentum=0.9), 0.01),
    "nesterov": (fastbp.optim.SGD(momentum=0.9, nesterov=True), 0.01),
    "adam": (fastbp.optim.Adam(), 1e-3),
}


@pytest.fixture(scope="module")
def workload(m2_workload):
    return m2_workload


def numpy_training(workload, config, lr):
    """The same optimizer written out in float64 numpy (PyTorch's conventions), with the
    config's settings, for the check."""
    ref = workload.reference_network()
    params = [p for pair in zip(ref.weights, ref.biases) for p in pair]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    X, y, batch = workload.X, workload.y, workload.batch_size
    for t, start in enumerate(range(0, len(X), batch), 1):
        grads = [g for pair in ref.gradients(X[start:start + batch], y[start:start + batch])
                 for g in pair]
        for p, g, m, v in zip(params, grads, first, second):
            if isinstance(config, fastbp.optim.Adam):
                b1, b2 = config.beta1, config.beta2
                m[...] = b1 * m + (1 - b1) * g
                v[...] = b2 * v + (1 - b2) * g * g
                p -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + config.eps)
            elif config.momentum > 0:
                m *= config.momentum
                m += g
                p -= lr * (g + config.momentum * m if config.nesterov else m)
            else:
                p -= lr * g
    return ref.loss(X, y)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_m2_optimizer(benchmark, workload, name):
    config, lr = OPTIMIZERS[name]

    def train(net):
        net.fit(workload.X32, workload.y32, epochs=1, batch_size=workload.batch_size,
                shuffle=False, optimizer=config, lr=lr)
        return net

    net = benchmark.pedantic(train, setup=lambda: ((workload.network(),), {}),
                             rounds=workload.rounds, iterations=1)
    final_loss = net.loss(workload.X32, workload.y32)
    if name == "sgd" and lr == workload.lr:  # the workload's own reference run
        expected = workload.reference_loss()
    else:
        expected = numpy_training(workload, config, lr)
    assert final_loss == pytest.approx(expected, rel=1e-2), (
        f"{name}: fastbp's final loss {final_loss:.6g}, numpy's {expected:.6g}")
    assert final_loss < workload.initial_loss
    info = benchmark.extra_info
    info.update(workload="M2", implementation=f"fastbp {name}", optimizer=name, lr=lr,
                final_loss=float(final_loss), reference_loss=float(expected),
                batches=workload.batches_per_epoch)
    if benchmark.stats:
        median = benchmark.stats.stats.median
        info.update(samples_per_s=workload.samples_trained / median,
                    seconds_per_batch=median / info["batches"])

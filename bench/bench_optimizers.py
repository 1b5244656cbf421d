"""M2 and M1 with other optimizers: what momentum, Nesterov, Adam, and Adam with dropout and an
L2 penalty cost per batch over fastbp's own plain SGD, and against PyTorch's Adam with the same
settings.

Each workload's entries share one benchmark group (M2-optimizers, M1-optimizers), so every
ratio comes from one run: M2 is 784-256-128-10 relu, softmax cross-entropy, batch 64, one
epoch in order (bench_m2's data); M1 is 64-128-10 on the digits, batch 32, 50 epochs
(bench_m1's). Every run starts from the same initial weights and is checked afterwards: without
dropout, against a float64 numpy run of the same optimizer and penalty; with dropout (whose
masks no two libraries draw alike), it must have learned.
"""
import numpy as np
import pytest

import fastbp

sklearn_datasets = pytest.importorskip("sklearn.datasets")

ADAM = fastbp.optim.Adam()
ENTRIES = {  # name: (fastbp config, learning rate (None: the workload's), alpha, dropout)
    "sgd": (fastbp.optim.SGD(), None, 0.0, 0.0),
    "momentum": (fastbp.optim.SGD(momentum=0.9), 0.01, 0.0, 0.0),
    "nesterov": (fastbp.optim.SGD(momentum=0.9, nesterov=True), 0.01, 0.0, 0.0),
    "adam": (ADAM, 1e-3, 0.0, 0.0),
    "adam+dropout+l2": (ADAM, 1e-3, 1e-4, 0.2),
}
TORCH_ENTRIES = ["adam", "adam+dropout+l2"]
# A run with dropout must have learned: its final loss below this fraction of the untrained
# one (no two libraries draw the same masks, and M2's losses end between 1e-7 and 1e-4, where
# dropout moves them by orders of magnitude; M1's smoke run trains 2 epochs); the float64 run
# without dropout is recorded beside it.
DROPOUT_LEARNED = 0.5


@pytest.fixture(scope="module")
def m2(m2_workload):
    return m2_workload


@pytest.fixture(scope="module")
def m1(make_workload, smoke):
    """bench_m1's workload: the digits' fixed 1437-image training split, pixels / 16."""
    digits = sklearn_datasets.load_digits()
    X, y = digits.data / 16.0, digits.target
    train = np.random.default_rng(0).permutation(len(X))[:1437]
    return make_workload("M1", sizes=(64, 128, 10), activation="relu", loss="cross_entropy",
                         X=X[train], y=y[train], epochs=2 if smoke else 50, batch_size=32,
                         lr=0.05)


_numpy_losses = {}


def numpy_training(workload, config, lr, alpha):
    """The final loss of the same optimizer and L2 penalty written out in float64 numpy
    (PyTorch's conventions), no dropout; cached per workload and settings."""
    key = (workload.name, repr(config), lr, alpha)
    if key in _numpy_losses:
        return _numpy_losses[key]
    ref = workload.reference_network()
    params = [p for pair in zip(ref.weights, ref.biases) for p in pair]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    X, y, batch = workload.X, workload.y, workload.batch_size
    t = 0
    for _ in range(workload.epochs):
        for start in range(0, len(X), batch):
            t += 1
            grads = [g for pair in ref.gradients(X[start:start + batch], y[start:start + batch])
                     for g in pair]
            for k, (p, g, m, v) in enumerate(zip(params, grads, first, second)):
                if k % 2 == 0:  # a weight matrix: the L2 term
                    g = g + alpha * p
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
    _numpy_losses[key] = ref.loss(workload.X, workload.y)
    return _numpy_losses[key]


def check_and_record(benchmark, workload, implementation, name, final_loss, lr, alpha, dropout):
    config = ENTRIES[name][0]
    expected = numpy_training(workload, config, lr, alpha)
    if name == "sgd" and lr == workload.lr:
        assert expected == pytest.approx(workload.reference_loss(), rel=1e-9)
    if dropout:
        agrees = final_loss < DROPOUT_LEARNED * workload.initial_loss
    else:
        agrees = final_loss == pytest.approx(expected, rel=1e-2)
    assert agrees, (f"{workload.name} {implementation} {name}: final loss {final_loss:.6g}, "
                    f"numpy's {expected:.6g}{' (without dropout)' if dropout else ''}")
    assert final_loss < workload.initial_loss
    info = benchmark.extra_info
    info.update(workload=workload.name, implementation=f"{implementation} {name}", optimizer=name,
                lr=lr, alpha=alpha, dropout=dropout, final_loss=float(final_loss),
                reference_loss=float(expected), batches=workload.epochs * workload.batches_per_epoch)
    if benchmark.stats:
        median = benchmark.stats.stats.median
        info.update(samples_per_s=workload.samples_trained / median,
                    seconds_per_batch=median / info["batches"])


def run_fastbp(benchmark, workload, name, rounds):
    config, lr, alpha, dropout = ENTRIES[name]
    lr = workload.lr if lr is None else lr

    def setup():
        net = workload.network()
        if dropout:
            net = fastbp.Network(workload.sizes, activation=workload.activation,
                                 loss=workload.loss, dtype="float32", seed=0,
                                 n_threads=net.n_threads, dropout=dropout)
        return (net,), {}

    def train(net):
        net.fit(workload.X32, workload.y32, epochs=workload.epochs,
                batch_size=workload.batch_size, shuffle=False, optimizer=config, lr=lr,
                alpha=alpha)
        return net

    net = benchmark.pedantic(train, setup=setup, rounds=1 if workload.rounds == 1 else rounds,
                             iterations=1)
    check_and_record(benchmark, workload, "fastbp", name, net.loss(workload.X32, workload.y32),
                     lr, alpha, dropout)


def run_torch(benchmark, workload, name, rounds, peers_torch):
    torch = pytest.importorskip("torch")
    config, lr, alpha, dropout = ENTRIES[name]
    torch.set_num_threads(1)
    X = torch.from_numpy(workload.X32)
    Y = torch.from_numpy(workload.y.astype(np.int64))
    loss_fn = torch.nn.functional.cross_entropy

    def setup():
        torch.manual_seed(0)
        model = peers_torch.sequential_like(workload.network(), workload.activation, dropout)
        return (model, peers_torch.adam_like(model, config, lr, alpha)), {}

    model = benchmark.pedantic(
        lambda model, optimizer: peers_torch.train(model, optimizer, X, Y, loss_fn,
                                                   workload.epochs, workload.batch_size),
        setup=setup, rounds=1 if workload.rounds == 1 else rounds, iterations=1)
    with torch.no_grad():
        final_loss = float(loss_fn(model(X), Y))
    check_and_record(benchmark, workload, "torch", name, final_loss, lr, alpha, dropout)
    benchmark.extra_info["torch_version"] = torch.__version__


@pytest.mark.benchmark(group="M2-optimizers")
@pytest.mark.parametrize("name", list(ENTRIES))
def test_m2_fastbp(benchmark, m2, name):
    run_fastbp(benchmark, m2, name, rounds=m2.rounds)


@pytest.mark.benchmark(group="M2-optimizers")
@pytest.mark.parametrize("name", TORCH_ENTRIES)
def test_m2_torch(benchmark, m2, name, bench_module):
    pytest.importorskip("torch")  # before peers_torch, which imports it
    run_torch(benchmark, m2, name, m2.rounds, bench_module("peers_torch"))


@pytest.mark.benchmark(group="M1-optimizers")
@pytest.mark.parametrize("name", list(ENTRIES))
def test_m1_fastbp(benchmark, m1, name):
    run_fastbp(benchmark, m1, name, rounds=10)  # 0.1 s a round: more rounds, steadier median


@pytest.mark.benchmark(group="M1-optimizers")
@pytest.mark.parametrize("name", TORCH_ENTRIES)
def test_m1_torch(benchmark, m1, name, bench_module):
    pytest.importorskip("torch")  # before peers_torch, which imports it
    run_torch(benchmark, m1, name, 5, bench_module("peers_torch"))

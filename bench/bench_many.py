"""Many networks at once (fastbp.train_many): T1 and M1 trained as 64 and 16 networks.

Group many-T1: 64 T1 networks (3-8-8-1 sigmoid, per-example SGD, in order; T1's data and
epochs) trained by one train_many call (16 float32 networks per vector register), against
one T1 network's fit, the same 64 networks trained one by one inside train_many
(lanes=False), and ``jax.vmap`` of bench/'s JAX T1 trainer over the 64 networks. samples/s
counts samples × networks.

Group many-M1: sixteen M1 networks (64-128-10 relu, batch 32, M1's data and epochs) by one
train_many call on FASTBP_BENCH_THREADS threads, against sixteen separate one-thread fits.
The two-thread targets (train_many on 2 threads against 1; sixteen M1s on 2 threads against
sixteen one-thread fits) come from running this file with FASTBP_BENCH_THREADS=2 beside a
run with the default 1.

Every network starts from its own seed; each entry checks what it trained: fastbp's networks
equal, bit for bit, those of the one-by-one fits (the first network checked against its own
fit), and JAX's first network reaches that network's fastbp loss to a relative 1e-2.
"""
import os

import numpy as np
import pytest

import fastbp
from fastbp.datasets import house_prices

SMOKE = os.environ.get("FASTBP_BENCH_SMOKE", "") == "1"  # as conftest reads them
THREADS = int(os.environ.get("FASTBP_BENCH_THREADS", "1"))

T1_NETWORKS = 64
M1_NETWORKS = 16


class Many:
    """One many-network workload: data, and its K networks built fresh (seeds 0..K-1)."""

    def __init__(self, name, sizes, activation, loss, X, y, epochs, batch_size, lr, k):
        self.name, self.sizes, self.activation, self.loss = name, tuple(sizes), activation, loss
        self.X = np.ascontiguousarray(X, np.float32)
        self.y = np.ascontiguousarray(y, np.intp if loss == "cross_entropy" else np.float32)
        self.epochs, self.batch_size, self.lr, self.k = epochs, batch_size, lr, k

    def networks(self, k=None, threads=1):
        return [fastbp.Network(self.sizes, activation=self.activation, loss=self.loss,
                               dtype="float32", seed=seed, n_threads=threads)
                for seed in range(self.k if k is None else k)]

    def options(self):
        return dict(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, shuffle=False)

    def samples(self, k):
        return self.epochs * self.X.shape[0] * k


@pytest.fixture(scope="module")
def t1():
    X, y = house_prices(2_000 if SMOKE else 20_000, seed=0, standardize=True)
    return Many("T1", (3, 8, 8, 1), "sigmoid", "mse", X, y, epochs=1 if SMOKE else 5,
                batch_size=1, lr=0.01, k=T1_NETWORKS)


@pytest.fixture(scope="module")
def m1():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    X, y = digits.data / 16.0, digits.target
    train = np.random.default_rng(0).permutation(len(X))[:1437]
    return Many("M1", (64, 128, 10), "relu", "cross_entropy", X[train], y[train],
                epochs=2 if SMOKE else 50, batch_size=32, lr=0.05, k=M1_NETWORKS)


@pytest.fixture(scope="module")
def t1_reference(t1):
    """The 64 T1 networks, each fitted alone (not timed): what every entry must equal."""
    nets = t1.networks()
    for net in nets:
        net.fit(t1.X, t1.y, **t1.options())
    return nets


def _timed(benchmark, train, setup, rounds):
    return benchmark.pedantic(train, setup=setup, rounds=1 if SMOKE else rounds, iterations=1)


def _record(benchmark, workload, implementation, k, threads, **more):
    info = benchmark.extra_info
    info.update(workload=f"{workload.name}x{k}", implementation=implementation,
                networks=k, threads=threads, samples=workload.samples(k), smoke=SMOKE, **more)
    stats = benchmark.stats  # None under --benchmark-disable
    if stats:
        info.update(seconds_median=stats.stats.median,
                    samples_per_s=workload.samples(k) / stats.stats.median)


def _same(nets, reference):
    for net, twin in zip(nets, reference):
        assert net.state.params.tobytes() == twin.state.params.tobytes()


@pytest.mark.benchmark(group="many-T1")
def test_t1_one_network(benchmark, t1, t1_reference):
    def train(net):
        net.fit(t1.X, t1.y, **t1.options())
        return net
    net = _timed(benchmark, train, lambda: ((t1.networks(1)[0],), {}), rounds=10)
    _same([net], t1_reference[:1])
    _record(benchmark, t1, "fastbp fit", 1, 1)


@pytest.mark.benchmark(group="many-T1")
def test_t1_train_many(benchmark, t1, t1_reference):
    def train(nets):
        fastbp.train_many(nets, t1.X, t1.y, n_threads=THREADS, **t1.options())
        return nets
    nets = _timed(benchmark, train, lambda: ((t1.networks(),), {}), rounds=5)
    _same(nets, t1_reference)
    _record(benchmark, t1, "fastbp train_many", t1.k, THREADS)


@pytest.mark.benchmark(group="many-T1")
def test_t1_train_many_one_by_one(benchmark, t1, t1_reference):
    def train(nets):
        fastbp.train_many(nets, t1.X, t1.y, n_threads=THREADS, lanes=False, **t1.options())
        return nets
    nets = _timed(benchmark, train, lambda: ((t1.networks(),), {}), rounds=3)
    _same(nets, t1_reference)
    _record(benchmark, t1, "fastbp train_many, lanes=False", t1.k, THREADS)


@pytest.mark.benchmark(group="many-T1")
def test_t1_jax_vmap(benchmark, t1, t1_reference, bench_module):
    """jax.vmap of bench/peers_jax.py's T1 trainer (jit, lax.scan) over the 64 networks'
    stacked parameters, compiled ahead of time (not timed)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    train_t1 = bench_module("peers_jax").train_t1

    nets = t1.networks()
    trainer = train_t1(nets[0].weights, nets[0].biases, t1.X, t1.y, t1.epochs, 1, t1.lr)
    stacked = [(jnp.stack([jnp.asarray(net.weights[l]) for net in nets]),
                jnp.stack([jnp.asarray(net.biases[l]) for net in nets]))
               for l in range(len(nets[0].weights))]
    many = jax.jit(jax.vmap(trainer._train)).lower(stacked).compile()

    def train():
        out = many(stacked)
        jax.block_until_ready(out)
        return out
    trained = _timed(benchmark, train, None, rounds=5)
    first = nets[0]
    first.set_weights([np.asarray(W[0]) for W, _ in trained], [np.asarray(b[0]) for _, b in trained])
    expected = t1_reference[0].loss(t1.X, t1.y)
    assert first.loss(t1.X, t1.y) == pytest.approx(expected, rel=1e-2)
    _record(benchmark, t1, "jax.vmap", t1.k, THREADS, jax_version=jax.__version__)


@pytest.mark.benchmark(group="many-M1")
def test_m1_separate_fits(benchmark, m1):
    def train(nets):
        for net in nets:
            net.fit(m1.X, m1.y, **m1.options())
        return nets
    _timed(benchmark, train, lambda: ((m1.networks(threads=1),), {}), rounds=3)
    _record(benchmark, m1, "fastbp fit, one by one, n_threads=1", m1.k, 1)


@pytest.mark.benchmark(group="many-M1")
def test_m1_train_many(benchmark, m1):
    def train(nets):
        fastbp.train_many(nets, m1.X, m1.y, n_threads=THREADS, **m1.options())
        return nets
    nets = _timed(benchmark, train, lambda: ((m1.networks(),), {}), rounds=3)
    twin = m1.networks(1, threads=1)[0]
    twin.fit(m1.X, m1.y, **m1.options())
    _same(nets[:1], [twin])
    _record(benchmark, m1, "fastbp train_many", m1.k, THREADS)

"""M1: scikit-learn's bundled digits, 64-128-10 relu, softmax cross-entropy.

The 1437 training images of a fixed 1437/360 split (the one tests/test_learning.py uses),
pixels / 16; SGD lr 0.05, batch 32, 50 epochs in order.
"""
import numpy as np
import pytest

sklearn_datasets = pytest.importorskip("sklearn.datasets")

pytestmark = pytest.mark.benchmark(group="M1")


@pytest.fixture(scope="module")
def workload(make_workload, smoke):
    digits = sklearn_datasets.load_digits()
    X, y = digits.data / 16.0, digits.target
    train = np.random.default_rng(0).permutation(len(X))[:1437]
    return make_workload("M1", sizes=(64, 128, 10), activation="relu", loss="cross_entropy",
                         X=X[train], y=y[train], epochs=2 if smoke else 50, batch_size=32, lr=0.05)


def test_m1_reference(benchmark, measure, workload):
    measure.reference(benchmark, workload)


def test_m1_fastbp(benchmark, measure, workload):
    measure.fastbp(benchmark, workload, rounds=10)  # 0.1 s a round: more rounds, steadier median


def test_m1_fastbp_one_thread(benchmark, measure, workload):
    """fastbp with n_threads=1 in a run on more (FASTBP_BENCH_THREADS=2): the default's gain
    from its extra threads is fastbp ÷ this, in the same run (skipped on one thread)."""
    measure.fastbp(benchmark, workload, rounds=10, n_threads=1)


def test_m1_numba(benchmark, measure, workload):
    measure.numba(benchmark, workload, rounds=10)


def test_m1_jax(benchmark, measure, workload):
    measure.jax(benchmark, workload, rounds=10)


def test_m1_torch(benchmark, measure, workload):
    pytest.importorskip("torch")
    measure.torch(benchmark, workload)


def test_m1_sklearn(benchmark, measure, workload):
    measure.sklearn(benchmark, workload)

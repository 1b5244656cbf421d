"""T1: the tutorials' tiny network, 3-8-8-1 sigmoid, per-example SGD on house prices.

Per-sample overhead dominates: 20,000 standardised samples, batch 1, lr 0.01, 5 epochs in order.
"""
import pytest

from fastbp.datasets import house_prices

pytestmark = pytest.mark.benchmark(group="T1")


@pytest.fixture(scope="module")
def workload(make_workload, smoke):
    X, y = house_prices(2_000 if smoke else 20_000, seed=0, standardize=True)
    return make_workload("T1", sizes=(3, 8, 8, 1), activation="sigmoid", output="identity",
                         loss="mse", X=X, y=y, epochs=1 if smoke else 5, batch_size=1, lr=0.01)


def test_t1_reference(benchmark, measure, workload):
    measure.reference(benchmark, workload)


def test_t1_fastbp(benchmark, measure, workload):
    measure.fastbp(benchmark, workload, rounds=10)  # 0.1 s a round: more rounds, steadier median


def test_t1_fastbp_one_thread(benchmark, measure, workload):
    """fastbp with n_threads=1 in a run on more (FASTBP_BENCH_THREADS=2): the default's gain
    from its extra threads is fastbp ÷ this, in the same run (skipped on one thread)."""
    measure.fastbp(benchmark, workload, rounds=10, n_threads=1)


def test_t1_numba(benchmark, measure, workload):
    measure.numba(benchmark, workload, rounds=10)


def test_t1_fused_c(benchmark, measure, workload):
    measure.fused_c(benchmark, workload, rounds=10)


def test_t1_fann(benchmark, measure, workload):
    measure.fann(benchmark, workload, rounds=10)


def test_t1_jax(benchmark, measure, workload):
    measure.jax(benchmark, workload, rounds=10)


def test_t1_torch(benchmark, measure, workload):
    pytest.importorskip("torch")
    measure.torch(benchmark, workload)


def test_t1_sklearn(benchmark, measure, workload):
    pytest.importorskip("sklearn")
    measure.sklearn(benchmark, workload)

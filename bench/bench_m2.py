"""M2: 784-256-128-10 relu, softmax cross-entropy: mid-sized matrix products.

60,000 synthetic samples around 10 Gaussian class centres in 784 dimensions; SGD lr 0.05,
batch 64, one epoch in order. test_m2_memory checks the memory budget of training (see
memory_m2.py, which also measures the peers when run as a script).
"""
import pytest

pytestmark = pytest.mark.benchmark(group="M2")


@pytest.fixture(scope="module")
def workload(m2_workload):
    return m2_workload


def test_m2_reference(benchmark, measure, workload):
    measure.reference(benchmark, workload)


def test_m2_fastbp(benchmark, measure, workload):
    measure.fastbp(benchmark, workload)


def test_m2_fastbp_one_thread(benchmark, measure, workload):
    """fastbp with n_threads=1 in a run on more (FASTBP_BENCH_THREADS=2): the default's gain
    from its extra threads is fastbp ÷ this, in the same run (skipped on one thread)."""
    measure.fastbp(benchmark, workload, n_threads=1)


def test_m2_sgemm(benchmark, measure, workload):
    """The sgemm ceiling: the run's matrix products alone (fastbp ÷ this = fraction of sgemm;
    the Python call per product adds a few percent here, 8 calls a batch)."""
    measure.sgemm(benchmark, workload)


def test_m2_numba(benchmark, measure, workload):
    measure.numba(benchmark, workload)


def test_m2_jax(benchmark, measure, workload):
    measure.jax(benchmark, workload)


def test_m2_torch(benchmark, measure, workload):
    pytest.importorskip("torch")
    measure.torch(benchmark, workload)


def test_m2_sklearn(benchmark, measure, workload):
    pytest.importorskip("sklearn")
    measure.sklearn(benchmark, workload)


def test_m2_memory(bench_module, smoke):
    """Resident memory fastbp's training adds over the loaded data, sampled from outside."""
    memory = bench_module("memory_m2")
    result = memory.measure("fastbp", n_samples=1_024 if smoke else 60_000)
    print(result.line())
    assert result.rss_samples > 0
    assert result.increase_mb <= memory.BUDGET_MB, result.line()

"""L1: wide layers, 1024-2048-2048-10 relu, softmax cross-entropy: large matrix products.

The workload is 16,384 synthetic samples (10 Gaussian class centres in 1024 dimensions), batch
256, one epoch in order, lr 0.05. A round on all of them takes tens of seconds (the float64
reference about 20 s here, fastbp longer while its kernels were plain loops), so a full run
trains on 1,024 samples by default, every implementation alike (the same data keeps the
reference check and the ratios like for like); extra_info's note says so.
FASTBP_BENCH_L1_SAMPLES=16384 runs the whole workload.
"""
import os

import pytest

from fastbp.datasets import gaussian_classes

WORKLOAD_SAMPLES = 16_384
FULL_RUN_SAMPLES = int(os.environ.get("FASTBP_BENCH_L1_SAMPLES", "1024"))

pytestmark = pytest.mark.benchmark(group="L1")


@pytest.fixture(scope="module")
def workload(make_workload, smoke):
    n = 512 if smoke else FULL_RUN_SAMPLES
    note = None
    if n != WORKLOAD_SAMPLES:
        why = "smoke mode" if smoke else "full-mode default, to keep a round short"
        note = (f"{n:,} of the workload's {WORKLOAD_SAMPLES:,} samples ({why}; "
                f"FASTBP_BENCH_L1_SAMPLES={WORKLOAD_SAMPLES} runs them all)")
    X, y = gaussian_classes(n, 1024, 10, seed=0)
    return make_workload("L1", sizes=(1024, 2048, 2048, 10), activation="relu",
                         loss="cross_entropy", X=X, y=y, epochs=1, batch_size=256, lr=0.05,
                         note=note)


def test_l1_reference(benchmark, measure, workload):
    measure.reference(benchmark, workload)


def test_l1_fastbp(benchmark, measure, workload):
    measure.fastbp(benchmark, workload)


def test_l1_fastbp_one_thread(benchmark, measure, workload):
    """fastbp with n_threads=1 in a run on more (FASTBP_BENCH_THREADS=2): the default's gain
    from its extra threads is fastbp ÷ this, in the same run (skipped on one thread)."""
    measure.fastbp(benchmark, workload, n_threads=1)


def test_l1_sgemm(benchmark, measure, workload):
    """The sgemm ceiling: the run's matrix products alone (fastbp ÷ this = fraction of sgemm)."""
    measure.sgemm(benchmark, workload)


def test_l1_numba(benchmark, measure, workload):
    measure.numba(benchmark, workload)


def test_l1_jax(benchmark, measure, workload):
    measure.jax(benchmark, workload)


def test_l1_torch(benchmark, measure, workload):
    pytest.importorskip("torch")
    measure.torch(benchmark, workload)


def test_l1_sklearn(benchmark, measure, workload):
    pytest.importorskip("sklearn")
    measure.sklearn(benchmark, workload)

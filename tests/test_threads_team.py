"""fastbp's own matrix kernels on n_threads threads (src_c/fastbp_team.c): each product's tiles
split over a team, never a sum, so that the weights are the same bit for bit whatever the
thread count (DESIGN.md's determinism rule), on every path that runs them; interrupts, fork
and changes of n_threads between fits behave as on one thread."""
import importlib.util
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

import fastbp
from fastbp import _blas, _kernels, _train



def _sibling(name):
    """A test module beside this one (the tests run with --import-mode=importlib)."""
    path = Path(__file__).with_name(name + ".py")
    spec = importlib.util.spec_from_file_location(f"_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# test_interrupts' replay of an interrupted fit, and its data and network factories
_interrupts = _sibling("test_interrupts")
assert_interrupt_equals_replay, data, network = (
    _interrupts.assert_interrupt_equals_replay, _interrupts.data, _interrupts.network)

needs_avx512 = pytest.mark.skipif(not _kernels.avx512_kernels_run(),
                                  reason="fastbp's own matrix kernels need AVX-512")
needs_thread_control = pytest.mark.skipif(
    _blas.thread_control() is None, reason="no thread setter found in this scipy's BLAS")
needs_team = pytest.mark.skipif(sys.platform == "win32", reason="no team of threads on Windows")

# Tolerance of float32 products of depth k against float64: a few ulps per step.
FLOAT32_PRODUCT_TOLERANCE = 1e-5


# ----- the split ------------------------------------------------------------------------------

@pytest.mark.parametrize("m,n", [(1, 1), (5, 7), (64, 256), (256, 64), (131, 77), (7, 1000),
                                 (600, 1100), (13, 65), (2048, 1024)])
@pytest.mark.parametrize("parts", [1, 2, 3, 4, 7])
def test_the_parts_cover_every_element_of_c_once_in_whole_tiles(m, n, parts):
    covered = np.zeros((m, n), np.int64)
    split = _kernels.team_split(m, n, parts)
    assert len(split) == parts
    for row0, row1, col0, col1 in split:
        covered[row0:row1, col0:col1] += 1
        assert row0 % 6 == 0 and col0 % 64 == 0  # each part starts on a tile of the kernels
    np.testing.assert_array_equal(covered, 1)


def test_two_parts_are_even_to_a_tile():
    """M2's products split into halves of equal work (to a tile of 6 rows or 64 columns)."""
    for m, n in [(64, 256), (128, 64), (128, 256), (64, 784), (784, 256)]:
        sizes = [(row1 - row0) * (col1 - col0)
                 for row0, row1, col0, col1 in _kernels.team_split(m, n, 2)]
        assert abs(sizes[0] - sizes[1]) <= max(6 * n, 64 * m), (m, n, sizes)


# ----- the kernels on a team ----------------------------------------------------------------

SHAPES = [(64, 256, 784), (256, 64, 784), (131, 77, 50), (7, 1000, 33), (600, 1100, 300),
          (1, 130, 20), (13, 65, 1)]


@needs_team
@pytest.mark.parametrize("packed", [False, True], ids=["inplace", "packed"])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_a_product_on_a_team_equals_the_one_thread_product_bit_for_bit(m, n, k, packed):
    rng = np.random.default_rng(m * n + k)
    A = rng.standard_normal((m, k)).astype(np.float32)
    B = rng.standard_normal((k, n)).astype(np.float32)
    C = rng.standard_normal((m, n)).astype(np.float32)
    results = {}
    for n_threads in (1, 2, 3, 4):
        out = C.copy()
        _kernels.team_product(0.5, A, B, 0.25, out, n_threads, packed)
        results[n_threads] = out
    for n_threads in (2, 3, 4):
        np.testing.assert_array_equal(results[n_threads], results[1])
    expected = 0.5 * (A.astype(np.float64) @ B) + 0.25 * C
    scale = np.abs(A).astype(np.float64) @ np.abs(B) + np.abs(C)
    assert np.all(np.abs(results[1] - expected) <= FLOAT32_PRODUCT_TOLERANCE * (scale + 1))


@needs_team
def test_transposed_operands_on_a_team():
    """A given transposed (the weight products' dZᵀ), B transposed for the packed kernel."""
    rng = np.random.default_rng(5)
    A = rng.standard_normal((90, 200)).astype(np.float32).T  # 200 × 90, column-major view
    B = rng.standard_normal((140, 90)).astype(np.float32).T  # 90 × 140
    for packed in (False, True):
        b = B if packed else np.ascontiguousarray(B)
        one, two = np.zeros((200, 140), np.float32), np.zeros((200, 140), np.float32)
        _kernels.team_product(1.0, A, b, 0.0, one, 1, packed)
        _kernels.team_product(1.0, A, b, 0.0, two, 2, packed)
        np.testing.assert_array_equal(one, two)
        np.testing.assert_allclose(one, A.astype(np.float64) @ B, rtol=1e-4, atol=1e-3)


# ----- training, loss, gradients and predict on 1, 2 and 3 threads -------------------------

def all_inplace(arch):
    arch.inplace_gemm_min_work = 0


def all_packed(arch):
    arch.packed_gemm_min_weights = 0
    arch.inplace_gemm_min_work = 1 << 62


def untransposed(arch):
    arch.first_layer_transposed = False


# (sizes, batch, the architecture's switches, the plan of an epoch of plain SGD on one thread);
# the shapes give uneven splits (rows and columns that are not whole tiles, odd batches)
CASES = {
    "m2": ([784, 256, 128, 10], 64, None,
           ["inplace_gemm_transposed_weights", "inplace_gemm", "blas"]),
    "m2_untransposed": ([784, 256, 128, 10], 64, untransposed,
                        ["inplace_gemm", "inplace_gemm", "blas"]),
    "uneven_inplace": ([130, 250, 70, 5], 37, all_inplace,
                       ["inplace_gemm_transposed_weights", "inplace_gemm", "inplace_gemm"]),
    "uneven_packed": ([130, 250, 70, 5], 37, all_packed,
                      ["packed_gemm", "packed_gemm", "packed_gemm"]),
}


def make_net(case, n_threads, dtype="float32", **kwargs):
    sizes, _, setup, _ = CASES[case]
    net = fastbp.Network(sizes, activation="relu", loss="cross_entropy", dtype=dtype, seed=4,
                         n_threads=n_threads, **kwargs)
    if setup is not None:
        setup(net.architecture)
    return net


def trained(case, n_threads, dtype="float32", fit_args=None, **kwargs):
    sizes, batch, _, _ = CASES[case]
    X, y = data(1000, sizes[0], sizes[-1], True, seed=1, dtype=np.float32)
    net = make_net(case, n_threads, dtype, **kwargs)
    net.fit(X, y, epochs=2, batch_size=batch, lr=0.02, shuffle=True,
            **(fit_args or {}))
    return net, X, y


@needs_avx512
@needs_thread_control
@pytest.mark.parametrize("case", sorted(CASES))
def test_plain_sgd_gives_the_same_weights_on_one_two_and_three_threads(case):
    nets = {n: trained(case, n)[0] for n in (1, 2, 3)}
    assert nets[1].architecture.last_plan == CASES[case][3]
    for n in (2, 3):
        assert nets[n].architecture.last_plan == CASES[case][3]
        assert nets[n].architecture.last_team_threads == n  # the team did run
        assert pickle.dumps(nets[n].state.params) == pickle.dumps(nets[1].state.params)
    assert nets[1].architecture.last_team_threads == 1


@needs_avx512
@needs_thread_control
@pytest.mark.parametrize("case", ["m2", "uneven_inplace", "uneven_packed"])
@pytest.mark.parametrize("fit_args", [
    {"optimizer": "adam"},  # each layer stepped as its gradient is known
    {"optimizer": "momentum", "alpha": 1e-3, "clip_norm": 1.0},  # the whole gradient first
], ids=["adam_fused", "momentum_clipped"])
def test_optimizers_give_the_same_weights_on_one_and_two_threads(case, fit_args):
    one = trained(case, 1, fit_args=fit_args)[0]
    two = trained(case, 2, fit_args=fit_args)[0]
    assert two.architecture.last_team_threads == 2
    assert pickle.dumps(one) == pickle.dumps(two)


@needs_avx512
@needs_thread_control
def test_dropout_gives_the_same_weights_on_one_and_two_threads():
    one = trained("uneven_inplace", 1, dropout=0.2)[0]
    two = trained("uneven_inplace", 2, dropout=0.2)[0]
    assert two.architecture.last_team_threads == 2
    assert pickle.dumps(one) == pickle.dumps(two)


@needs_avx512
@needs_thread_control
@pytest.mark.parametrize("case", ["m2", "uneven_packed"])
def test_predict_loss_and_gradients_are_the_same_on_one_and_two_threads(case):
    net, X, y = trained(case, 1)
    results = []
    for n_threads in (1, 2):
        net.n_threads = n_threads
        results.append((net.predict(X), net.loss(X, y), net.gradients(X, y)))
        assert net.architecture.last_team_threads == n_threads
        # a call too small for a team (TEAM_MIN_CALL_WORK) runs on one thread
        results[-1] += (net.gradients(X[:20], y[:20]),)
        assert net.architecture.last_team_threads == 1
    (p1, l1, g1, small_1), (p2, l2, g2, small_2) = results
    np.testing.assert_array_equal(p1, p2)
    assert l1 == l2
    for pair_1, pair_2 in zip(g1 + small_1, g2 + small_2):
        for a, b in zip(pair_1, pair_2):
            np.testing.assert_array_equal(a, b)


@needs_thread_control
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_team_runs_only_fastbps_own_kernels(dtype):
    """float64 layers (and CPUs without AVX-512) stay on BLAS's n_threads: no team; a float32
    network whose BLAS layers hold more than TEAM_MAX_BLAS_SHARE of the work too."""
    net, X, y = trained("m2", 2, dtype)
    expect_team = dtype == "float32" and _kernels.avx512_kernels_run()
    assert net.architecture.last_team_threads == (2 if expect_team else 1)
    # 513 inputs: 525,312 weights, above the in-place kernel's 2¹⁹ and below the packed one's
    # 2²⁰: on BLAS, which would then hold most of the work
    mixed = fastbp.Network([784, 256, 513, 1024, 10], activation="relu", n_threads=2,
                           loss="cross_entropy", dtype="float32", seed=0)
    plan = _train.plan(mixed.architecture, 64, np.float32, blas_threads=2)
    assert plan == _train.plan(mixed.architecture, 64, np.float64, blas_threads=2)
    mixed.fit(X[:128], y[:128], epochs=1, batch_size=64)
    assert mixed.architecture.last_team_threads == 1


@needs_avx512
@needs_thread_control
def test_m1_on_two_threads_runs_as_on_one():
    """M1 (64-128-10, batch 32): its first layer, trained transposed, on fastbp's kernel with
    BLAS's small second layer on one thread beside it (13 % of the work), as on one thread;
    an epoch of its 1,437 rows is below TEAM_MIN_CALL_WORK, so no team: the same weights."""
    X, y = data(1437, 64, 10, True, seed=3, dtype=np.float32)
    nets = []
    for n_threads in (1, 2):
        net = fastbp.Network([64, 128, 10], activation="relu", loss="cross_entropy",
                             dtype="float32", seed=0, n_threads=n_threads)
        net.fit(X, y, epochs=2, batch_size=32, lr=0.05, shuffle=False)
        assert net.architecture.last_plan == ["inplace_gemm_transposed_weights", "blas"]
        assert net.architecture.last_team_threads == 1
        nets.append(net)
    assert pickle.dumps(nets[0].state.params) == pickle.dumps(nets[1].state.params)


@needs_avx512
@needs_thread_control
def test_n_threads_may_change_between_fits():
    """A fit on 2 threads, then 1, then 2 gives the weights three fits on one thread give."""
    X, y = data(700, 784, 10, True, seed=2, dtype=np.float32)
    changing, steady = make_net("m2", 2), make_net("m2", 1)
    for n_threads in (2, 1, 2):
        changing.n_threads = n_threads
        changing.fit(X, y, epochs=1, batch_size=64, lr=0.02)
        assert changing.architecture.last_team_threads == n_threads
        steady.fit(X, y, epochs=1, batch_size=64, lr=0.02)
    assert pickle.dumps(changing.state.params) == pickle.dumps(steady.state.params)


@needs_thread_control
def test_blas_count_is_back_after_a_fit_on_a_team():
    """The trainer puts BLAS on one thread beside its team for the call, and back after."""
    X, y = data(300, 784, 10, True, seed=2, dtype=np.float32)
    before = _blas.get_threads()
    seen = []
    net = make_net("m2", 2)
    net.fit(X, y, epochs=2, batch_size=64,
            callbacks=[lambda epoch, figures: seen.append(_blas.get_threads())])
    assert seen == [2, 2]
    assert _blas.get_threads() == before


# ----- interrupts, fork ---------------------------------------------------------------------

@needs_avx512
@needs_thread_control
@pytest.mark.parametrize("setup", [None, all_packed], ids=["inplace", "packed"])
def test_interrupt_on_two_threads_equals_the_max_updates_replay(setup):
    make = network((784, 256, 128, 10), dtype="float32", activation="relu",
                   loss="cross_entropy", n_threads=2, setup=setup)
    X, y = data(1500, 784, 10, True)
    fit_args = dict(epochs=2, batch_size=64, lr=0.01)
    net = make()
    net.fit(X, y, **fit_args, max_updates=1)
    assert net.architecture.last_team_threads == 2
    assert_interrupt_equals_replay(make, X, y, fit_args, seed=21, draws=2)
    # and the interrupted network on two threads is the one on one thread
    one, two = (network((784, 256, 128, 10), dtype="float32", activation="relu",
                        loss="cross_entropy", n_threads=n, setup=setup)() for n in (1, 2))
    for each in (one, two):
        each.fit(X, y, **fit_args, max_updates=30)
    assert pickle.dumps(one.state.params) == pickle.dumps(two.state.params)


@needs_team
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_after_a_two_thread_fit_trains_on_two_threads():
    """The team lives for one call: a child forked after it (as joblib/loky and Dask start
    workers) inherits no threads and starts its own."""
    X, y = data(700, 784, 10, True, seed=2, dtype=np.float32)
    net = make_net("m2", 2)
    net.fit(X, y, epochs=1, batch_size=64, lr=0.02)
    twin = pickle.loads(pickle.dumps(net))
    twin.n_threads = 2
    twin.fit(X, y, epochs=1, batch_size=64, lr=0.02)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: train, send the weights, exit without pytest's teardown
        code = 1
        try:
            os.close(read)
            net.fit(X, y, epochs=1, batch_size=64, lr=0.02)
            payload = pickle.dumps((net.architecture.last_team_threads, net.state.params))
            with os.fdopen(write, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    team_threads, params = pickle.loads(payload)
    if _kernels.avx512_kernels_run() and _blas.thread_control() is not None:
        assert team_threads == 2
    np.testing.assert_array_equal(params, twin.state.params)

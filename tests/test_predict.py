"""predict's fast path (``net.state.predictor``): a few rows of the right array checked and
computed in one compiled call, every layer through the compiled loops.

It must give what the general path gives (bit for bit where that path runs the same compiled
loops, within float rounding where it runs BLAS or fastbp's matrix kernels), and the reference
within the dtype's tolerance; anything it does not take must reach the general path and so get
the same result or the same error as before. ``predictor.max_rows = 0`` forces the general
path for the comparisons.
"""
import threading

import numpy as np
import pytest

import fastbp
from fastbp import network as network_module
from fastbp.reference import ReferenceNetwork

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "elu", "softplus", "gelu")
LOSSES = [  # loss, output, n_out
    ("mse", "identity", 1), ("mse", "sigmoid", 3), ("mse", "tanh", 2),
    ("cross_entropy", None, 4), ("binary_cross_entropy", None, 1),
    ("binary_cross_entropy", None, 3), ("poisson", None, 2), ("huber", None, 1),
]
# Layer sizes whose products run on BLAS or fastbp's kernels in the general path (M1, M2's).
LARGE = [(64, 128, 10), (784, 256, 128, 10)]
# Float32 against the float64 reference (the conftest's "close"; softmax outputs are probabilities).
TOLERANCE = {"float32": 2e-4, "float64": 1e-12}


def network(sizes, dtype, activation="tanh", loss="mse", output=None, seed=3, **kwargs):
    net = fastbp.Network(list(sizes), activation=activation, loss=loss, output=output,
                         dtype=dtype, seed=seed, **kwargs)
    # Weights of both signs and of the order of the initialisation's: no saturated units.
    rng = np.random.default_rng(seed)
    net.set_weights([rng.normal(0, 1 / np.sqrt(W.shape[1]), W.shape) for W in net.weights],
                    [rng.normal(0, 0.1, b.shape) for b in net.biases])
    return net


def rows(n, width, dtype, seed=0):
    return np.random.default_rng(seed).normal(size=(n, width)).astype(dtype)


def general(net, X):
    """predict through the general path."""
    predictor = net.state.predictor
    kept, predictor.max_rows = predictor.max_rows, 0
    try:
        return net.predict(X)
    finally:
        predictor.max_rows = kept


def takes(net, X):
    return net.state.predictor(X) is not None


# ----- the same results -------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss, output, n_out", LOSSES)
def test_small_networks_equal_the_general_path_bit_for_bit(dtype, activation, loss, output,
                                                           n_out):
    """Layers small enough for the compiled loops in both paths: the same arithmetic."""
    net = network((3, 8, 8, n_out), dtype, activation, loss, output)
    ref = ReferenceNetwork.like(net)
    for n in range(1, net.state.predictor.max_rows + 1):
        X = rows(n, 3, dtype, seed=n)
        assert takes(net, X)
        fast = net.predict(X)
        assert fast.dtype == np.dtype(dtype)
        assert fast.shape == ((n,) if n_out == 1 else (n, n_out))
        np.testing.assert_array_equal(fast, general(net, X))
        np.testing.assert_allclose(fast, ref.predict(X.astype(np.float64)).reshape(fast.shape),
                                   rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.parametrize("sizes", LARGE)
@pytest.mark.parametrize("activation", ["relu", "gelu", "sigmoid"])
def test_large_layers_equal_the_general_path_within_rounding(dtype, sizes, activation):
    """One row through M1's and M2's layers: a matrix-vector product per layer instead of
    BLAS's or fastbp's kernels, the same sums in another order."""
    net = network(sizes, dtype, activation, "cross_entropy")
    ref = ReferenceNetwork.like(net)
    for n in range(1, net.state.predictor.max_rows + 1):
        X = rows(n, sizes[0], dtype, seed=n)
        assert takes(net, X)
        fast = net.predict(X)
        np.testing.assert_allclose(fast, general(net, X), rtol=TOLERANCE[dtype],
                                   atol=TOLERANCE[dtype] / 10)
        np.testing.assert_allclose(fast, ref.predict(X.astype(np.float64)),
                                   rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] / 10)


def test_more_rows_than_the_fast_path_takes_are_unchanged(dtype):
    net = network((3, 8, 8, 1), dtype, "sigmoid")
    X = rows(net.state.predictor.max_rows + 1, 3, dtype)
    assert not takes(net, X)
    np.testing.assert_array_equal(net.predict(X), general(net, X))
    # Each row alone (fast) is the row of the batch (same loops, row by row).
    np.testing.assert_array_equal(np.concatenate([net.predict(X[i:i + 1]) for i in range(len(X))]),
                                  net.predict(X))


def test_each_call_returns_a_fresh_array():
    net = network((3, 8, 8, 2), "float32")
    X = rows(1, 3, "float32")
    first = net.predict(X)
    kept = first.copy()
    second = net.predict(rows(1, 3, "float32", seed=1))
    assert first is not second and not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)


def test_weights_changed_after_a_prediction_are_used():
    net = network((3, 8, 1), "float32")
    X = rows(1, 3, "float32")
    before = net.predict(X)
    net.fit(rows(32, 3, "float32"), rows(32, 1, "float32")[:, 0], epochs=2, lr=0.1)
    after = net.predict(X)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, general(net, X))


def test_wide_layers_go_beyond_the_stack_buffer(dtype):
    """Rows × the widest hidden layer beyond the scratch kept on the C stack: allocated."""
    net = network((5, 3000, 3000, 2), dtype, "relu")
    X = rows(net.state.predictor.max_rows, 5, dtype)
    assert takes(net, X)
    np.testing.assert_allclose(net.predict(X), general(net, X), rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype])


def test_copies_and_loaded_networks_have_their_own_fast_path(tmp_path):
    net = network((4, 16, 3), "float32", "relu", "cross_entropy")
    X = rows(1, 4, "float32")
    twin = net.copy()
    net.save(tmp_path / "net.npz")
    loaded = fastbp.load(tmp_path / "net.npz")
    net.set_weights([W * 2 for W in net.weights], net.biases)
    assert takes(twin, X) and takes(loaded, X)
    np.testing.assert_array_equal(twin.predict(X), loaded.predict(X))
    assert not np.array_equal(twin.predict(X), net.predict(X))


def test_threads_predicting_at_once_get_their_own_results():
    """No state is shared between calls: eight threads, each its own rows, all at once."""
    net = network((784, 256, 128, 10), "float32", "relu", "cross_entropy")
    inputs = [rows(1 + k % net.state.predictor.max_rows, 784, "float32", seed=k)
              for k in range(8)]
    expected = [net.predict(X) for X in inputs]
    results = [None] * len(inputs)
    start = threading.Barrier(len(inputs))

    def work(k):
        start.wait()
        results[k] = [net.predict(inputs[k]) for _ in range(50)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for k, outs in enumerate(results):
        for out in outs:
            np.testing.assert_array_equal(out, expected[k])


# ----- what the fast path leaves to the general one ----------------------------------------------
def error_of(net, X):
    with pytest.raises(Exception) as info:
        net.predict(X)
    return type(info.value), str(info.value)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("make", [
    lambda X: X.tolist(),                                  # a list
    lambda X: X.astype(np.float64),                        # another dtype (float32 net)
    lambda X: X.astype(np.float16),
    lambda X: np.asfortranarray(np.repeat(X, 2, axis=0)),  # not C-contiguous
    lambda X: np.repeat(X, 2, axis=0)[::2],                # strided rows
    lambda X: X.astype(X.dtype.newbyteorder()),            # byte-swapped
    lambda X: np.round(X * 10).astype(np.int32),           # integers
    lambda X: np.asmatrix(X),                              # an ndarray subclass
], ids=["list", "float64", "float16", "fortran", "strided", "byteswapped", "int32", "matrix"])
def test_other_arrays_take_the_general_path_with_the_same_result(make):
    net = network((3, 8, 2), "float32")
    X = make(rows(2, 3, "float32"))
    assert not takes(net, X)
    np.testing.assert_array_equal(net.predict(X), general(net, X))


def test_a_read_only_array_is_taken():
    net = network((3, 8, 2), "float32")
    X = rows(2, 3, "float32")
    X.flags.writeable = False
    assert takes(net, X)
    np.testing.assert_array_equal(net.predict(X), general(net, X))


@pytest.mark.parametrize("X", [
    np.array([[1.0, np.nan, 0.0]], np.float32),
    np.array([[1.0, 0.0, np.inf]], np.float32),
    np.array([[-np.inf, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32),
    np.zeros((0, 3), np.float32),
    np.zeros((1, 4), np.float32),
    np.zeros((1, 2), np.float32),
    np.zeros(3, np.float32),
    np.zeros((1, 1, 3), np.float32),
    np.array([["a", "b", "c"]]),
    np.zeros((1, 3), "datetime64[s]"),  # (numpy exports no buffer of it)
    np.zeros((1, 3), object),
], ids=["nan", "inf", "-inf second row", "no rows", "too wide", "too narrow", "1-D", "3-D",
        "strings", "datetime", "objects"])
def test_bad_inputs_give_the_general_paths_errors(X):
    net = network((3, 8, 2), "float32")
    assert not takes(net, X)
    assert error_of(net, X) == error_of_general(net, X)


def error_of_general(net, X):
    predictor = net.state.predictor
    kept, predictor.max_rows = predictor.max_rows, 0
    try:
        return error_of(net, X)
    finally:
        predictor.max_rows = kept


def test_nan_gives_the_non_finite_error():
    net = network((3, 8, 2), "float64")
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.predict(np.array([[0.0, np.nan, 1.0]]))


def test_scaled_networks_take_the_validating_path():
    X = rows(64, 3, "float32")
    y = X.sum(axis=1) * 100 + 5
    net = fastbp.Network([3, 8, 1], scale_inputs=True, scale_targets=True, seed=0)
    with pytest.raises(RuntimeError, match="not been fitted"):
        net.predict(X[:1])
    net.fit(X, y, epochs=3, lr=0.05)
    one = net.predict(X[:1])
    np.testing.assert_allclose(one, net.predict(X)[:1], rtol=1e-6)


# ----- BLAS's thread count ---------------------------------------------------------------------
class CountingLimit:
    """Stands in for limit_threads and counts its uses."""

    uses = 0

    def __init__(self, n_threads):
        type(self).uses += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


@pytest.fixture
def counting_limit(monkeypatch):
    CountingLimit.uses = 0
    monkeypatch.setattr(network_module, "limit_threads", CountingLimit)
    return CountingLimit


def test_no_layer_on_blas_leaves_the_thread_count_alone(counting_limit):
    """A network whose layers all run the compiled loops never sets BLAS's thread count (it
    cannot change the result) in predict, loss or gradients, whatever the rows."""
    net = network((3, 8, 8, 1), "float32", "sigmoid")
    X = rows(10, 3, "float32")
    y = X.sum(axis=1)
    net.predict(X[:1])
    net.predict(X)
    net.loss(X, y)
    net.gradients(X[:1], y[:1])
    assert counting_limit.uses == 0


def test_layers_on_blas_still_set_the_thread_count(counting_limit):
    net = network((64, 128, 10), "float32", "relu", "cross_entropy")
    X = rows(300, 64, "float32")
    net.predict(X)
    net.loss(X, np.arange(300) % 10)
    assert counting_limit.uses == 2


# ----- many float32 rows: each large W transposed once per call --------------------------------
def general_transposed(net, X):
    """predict of many rows through training's forward passes (no Wᵀ)."""
    state = net.state
    state.predict_transposed = False
    try:
        return net.predict(X)
    finally:
        state.predict_transposed = True


def own_kernels_run():
    from fastbp import _kernels
    return _kernels.avx512_kernels_run()


@pytest.mark.parametrize("sizes, activation, loss, output", [
    ((784, 256, 128, 10), "relu", "cross_entropy", None),
    ((64, 128, 10), "gelu", "cross_entropy", None),
    ((40, 96, 64, 1), "tanh", "mse", "sigmoid"),
    ((30, 700, 1000, 3), "elu", "binary_cross_entropy", None),  # 700·1000 > 2¹⁹: not transposed
])
@pytest.mark.parametrize("n", [512, 700, 2000])
def test_many_float32_rows_equal_training_forward_path_within_rounding(sizes, activation, loss,
                                                                       output, n):
    net = network(sizes, "float32", activation, loss, output, n_threads=1)
    X = rows(n, sizes[0], "float32")
    fast = net.predict(X)
    plan = net.architecture.last_plan
    if own_kernels_run():  # (the other layers: what the pass runs for them)
        assert "inplace_gemm_transposed_weights" in plan
        assert set(plan) <= {"inplace_gemm_transposed_weights", "loops", "packed_gemm", "blas"}
    ref = ReferenceNetwork.like(net).predict(X.astype(np.float64)).reshape(fast.shape)
    np.testing.assert_allclose(fast, general_transposed(net, X), rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(fast, ref, rtol=2e-4, atol=2e-5)


def test_fewer_rows_float64_or_small_layers_keep_the_general_path():
    """Where predict_transposed does not run, predict is training's forward path, bit for bit."""
    cases = [((784, 256, 10), "float32", 511), ((784, 256, 10), "float64", 512),
             ((3, 8, 8, 1), "float32", 1000)]
    for sizes, dtype, n in cases:
        net = network(sizes, dtype, "relu", n_threads=1)
        X = rows(n, sizes[0], dtype)
        fast = net.predict(X)
        assert "inplace_gemm_transposed_weights" not in net.architecture.last_plan
        np.testing.assert_array_equal(fast, general_transposed(net, X))

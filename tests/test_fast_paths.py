"""The fast paths against the simple one: BLAS-backed layers and fastbp's own compiled loops,
each held to the plain-numpy reference on the same networks, on both sides of the crossover.

`Architecture.blas_min_work` (per network) moves the crossover: 0 sends every layer to BLAS, a huge value
keeps every layer on the compiled loops, the default picks per layer by size.
"""
import numpy as np
import pytest

import fastbp
from fastbp import _kernels, _train
from fastbp.reference import ReferenceNetwork

ALL_BLAS, NO_BLAS = 0, 1 << 62
CHUNK_ROWS = 256  # rows per compiled pass: full batches of more rows are accumulated in chunks

CASES = [  # sizes, activation, loss, output
    ([3, 8, 8, 1], "sigmoid", "mse", None),                  # T1's shape: narrower than a block
    ([19, 37, 2], "tanh", "mse", "sigmoid"),                 # blocks of 16 and 8 plus tails
    ([33, 17, 5], "relu", "cross_entropy", None),
    ([6, 20, 3], "leaky_relu", "binary_cross_entropy", None),
    ([18, 16, 3], "identity", "mse", "tanh"),
]


def n_samples(batch_size):
    """300 samples, so that 7 leaves a partial last batch and a full batch spans two chunks;
    per-example SGD gets 60 (300 sequential steps let rounding differences grow past 1e-12)."""
    return 60 if batch_size == 1 else 300


def params_of(net):
    return [np.array(a, np.float64) for pair in zip(net.weights, net.biases) for a in pair]


def reference_params(ref):
    return [a for pair in zip(ref.weights, ref.biases) for a in pair]


class KernelPath:
    """Builds networks whose layers all go to BLAS, all to the compiled loops, or follow the
    default crossover."""

    def __init__(self, name):
        self.name = name

    def network(self, *args, **kwargs):
        net = fastbp.Network(*args, **kwargs)
        if self.name != "crossover":
            net._arch.blas_min_work = ALL_BLAS if self.name == "blas" else NO_BLAS
        return net


@pytest.fixture(params=["blas", "loops", "crossover"])
def kernel_path(request):
    return KernelPath(request.param)


@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("sizes,activation,loss,output", CASES)
def test_fit_equals_reference_float64(kernel_path, sizes, activation, loss, output, batch_size,
                                      problem, rel_err):
    net = kernel_path.network(sizes, activation=activation, output=output, loss=loss, dtype="float64",
                         seed=5)
    ref = ReferenceNetwork.like(net)
    X, y = problem(loss, sizes[0], sizes[-1], n_samples(batch_size), seed=1)
    history = net.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05, shuffle=False)
    ref_losses = ref.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05)
    for ours, theirs in zip(params_of(net), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-12
    assert history.loss[0] == pytest.approx(ref_losses[0], rel=1e-12)


@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("sizes,activation,loss,output", CASES)
def test_fit_float32_tracks_reference(kernel_path, sizes, activation, loss, output, batch_size,
                                      problem, rel_err):
    net = kernel_path.network(sizes, activation=activation, output=output, loss=loss, dtype="float32",
                         seed=5)
    ref = ReferenceNetwork.like(net)  # the same (float32) starting weights, in float64
    X, y = problem(loss, sizes[0], sizes[-1], n_samples(batch_size), seed=1)
    net.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05, shuffle=False)
    ref.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05)
    for ours, theirs in zip(params_of(net), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-4


@pytest.mark.parametrize("sizes,activation,loss,output", CASES)
def test_gradients_loss_and_predict_equal_reference(kernel_path, sizes, activation, loss, output,
                                                    problem, rel_err):
    net = kernel_path.network(sizes, activation=activation, output=output, loss=loss, dtype="float64",
                         seed=3)
    ref = ReferenceNetwork.like(net)
    X, y = problem(loss, sizes[0], sizes[-1], CHUNK_ROWS + 45, seed=4)
    for (dW, db), (rW, rb) in zip(net.gradients(X, y), ref.gradients(X, y)):
        assert rel_err(dW, rW) < 1e-12 and rel_err(db, rb) < 1e-12
    assert net.loss(X, y) == pytest.approx(ref.loss(X, y), rel=1e-12)
    ours = net.predict(X)
    assert rel_err(ours, ref.predict(X).reshape(ours.shape)) < 1e-12


def test_the_paths_are_the_ones_forced(kernel_path):
    """The fixture really moves the crossover (else the tests above would test one path twice)."""
    net = kernel_path.network([40, 30, 2], seed=0)
    paths = {chunk: _train.layer_paths(net._arch, chunk) for chunk in (1, 64)}
    if kernel_path.name == "blas":
        assert paths == {1: ["blas", "blas"], 64: ["blas", "blas"]}
    elif kernel_path.name == "loops":
        assert paths == {1: ["loops", "loops"], 64: ["loops", "loops"]}
    else:  # 40·30 = 1200 multiply-adds per row: a wide layer is large enough alone
        assert paths[1] == ["blas", "loops"] and paths[64] == ["blas", "blas"]


def test_default_crossover_keeps_tiny_layers_on_the_loops():
    net = fastbp.Network([3, 8, 8, 1], seed=0)
    assert _train.layer_paths(net._arch, 1) == ["loops"] * 3
    wide = fastbp.Network([784, 256, 128, 10], seed=0)
    assert _train.layer_paths(wide._arch, 64) == ["blas"] * 3


@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_same_seed_same_weights_bit_for_bit(kernel_path, batch_size, dtype, problem):
    X, y = problem("cross_entropy", 19, 4, 300, seed=7)

    def trained():
        net = kernel_path.network([19, 24, 17, 4], activation="tanh", loss="cross_entropy", dtype=dtype,
                             seed=8)
        net.fit(X, y, epochs=2, batch_size=batch_size, lr=0.05, shuffle=True)
        return np.concatenate([np.ravel(a) for a in params_of(net)]).tobytes()

    assert trained() == trained()


def test_blas_and_loops_paths_agree_on_a_mixed_network(problem, rel_err):
    """One net whose layers straddle the crossover, trained each way: the same weights."""
    X, y = problem("mse", 64, 1, 200, seed=2)
    results = []
    for threshold in (ALL_BLAS, NO_BLAS, None):
        net = fastbp.Network([64, 40, 3, 1], activation="sigmoid", dtype="float64", seed=1)
        if threshold is not None:
            net._arch.blas_min_work = threshold
        net.fit(X, y, epochs=2, batch_size=16, lr=0.1, shuffle=False)
        results.append(params_of(net))
    for a, b, c in zip(*results):
        assert rel_err(a, b) < 1e-12 and rel_err(a, c) < 1e-12


def test_blas_min_work_is_per_network_and_rejects_negatives():
    net = fastbp.Network([40, 30, 2], seed=0)
    other = fastbp.Network([40, 30, 2], seed=0)
    net._arch.blas_min_work = 0
    assert _train.layer_paths(net._arch, 1) == ["blas", "blas"]
    assert other._arch.blas_min_work == _train.DEFAULT_BLAS_MIN_WORK
    with pytest.raises(ValueError):
        net._arch.blas_min_work = -1


# ----- the vectorised sigmoid ----------------------------------------------------------------

def ulps_apart(ours, exact):
    """|ours − exact| in units of the float32 spacing at the correctly rounded exact value."""
    rounded = exact.astype(np.float32)
    return np.abs(ours.astype(np.float64) - exact) / np.spacing(np.abs(rounded)).astype(np.float64)


def test_vectorised_sigmoid_is_within_a_few_ulp_of_numpy():
    x = np.concatenate([np.linspace(-110, 110, 400_001), np.linspace(-1e-3, 1e-3, 2001),
                        np.random.default_rng(0).normal(scale=8, size=100_000)]).astype(np.float32)
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    ours = x.copy()
    _kernels.sigmoid_f(ours)
    assert ulps_apart(ours, exact).max() <= 4


def test_vectorised_sigmoid_edge_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 88.8, -88.8, -103.5, -150.0, 1e-30],
                 dtype=np.float32)
    ours = x.copy()
    _kernels.sigmoid_f(ours)
    assert ours[0] == 0.5 and ours[1] == 0.5
    assert ours[2] == 1.0 and ours[3] == 0.0
    assert np.isnan(ours[4])  # NaN passes through, so that divergence is noticed
    assert ours[5] == 1.0 and ours[8] == 0.0 and ours[9] == 0.5
    with np.errstate(under="ignore"):
        exact = 1 / (1 + np.exp(-x[[6, 7]].astype(np.float64)))
    assert ulps_apart(ours[[6, 7]], exact).max() <= 4  # tiny and subnormal results


@pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 33])
def test_vectorised_sigmoid_every_length(n):
    """Vector bodies and scalar tails give the same values."""
    x = np.random.default_rng(n).normal(scale=5, size=64).astype(np.float32)
    whole = x.copy()
    _kernels.sigmoid_f(whole)
    part = x[:n].copy()
    _kernels.sigmoid_f(part)
    np.testing.assert_array_equal(part, whole[:n])


def test_show_config_reports_kernels_and_blas():
    config = fastbp.show_config(print_=False)
    assert config["simd"] == _kernels.simd_level()
    assert "dispatch" in config["simd"] or "portable" in config["simd"]
    assert "BLAS" in config["kernels"]

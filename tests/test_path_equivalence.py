"""Every layer path against the simple one: BLAS-backed layers, fastbp's own matrix kernels and
its compiled loops, each held to the plain-numpy reference (and to each other) on the same
networks, on both sides of each threshold. Which path a layer takes: test_layer_paths.py.

`Architecture.blas_min_work` (per network) moves the crossover: 0 sends every layer to BLAS, a huge value
keeps every layer on the compiled loops, the default picks per layer by size.
`Architecture.transpose_max_work` = 0 keeps BLAS layers' inputs in their own orientation.
`Architecture.inplace_gemm_min_work` = 0 sends every float32 BLAS layer to fastbp's in-place
matrix kernel (on CPUs with AVX-512, with BLAS on one thread); `first_layer_transposed_min_work` does
the same for a first layer trained transposed by plain SGD; `packed_gemm_min_weights` = 0
sends every float32 BLAS layer that kernel does not take to its packed kernel.
"""
import numpy as np
import pytest

import fastbp
from fastbp import _blas, _kernels, _train
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
    """Builds networks whose layers all go to BLAS (small products with their input transposed,
    as by default, or never: "blas_untransposed"; or, for float32 where they run, to fastbp's
    in-place matrix kernel: "inplace_gemm", or its packed kernel: "packed_gemm", on one thread; the
    layers here are too small for either by default), all to the compiled loops, or follow
    the default crossover."""

    def __init__(self, name):
        self.name = name

    def network(self, *args, **kwargs):
        net = fastbp.Network(*args, **kwargs)
        if self.name != "crossover":
            net.architecture.blas_min_work = NO_BLAS if self.name == "loops" else ALL_BLAS
        if self.name == "blas_untransposed":
            net.architecture.transpose_max_work = 0
        if self.name == "inplace_gemm":
            net.architecture.inplace_gemm_min_work = 0
            net.n_threads = 1
        if self.name == "packed_gemm":
            net.architecture.packed_gemm_min_weights = 0
            net.n_threads = 1
        return net


@pytest.fixture(params=["blas", "blas_untransposed", "inplace_gemm", "packed_gemm", "loops",
                        "crossover"])
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
    arch = net.architecture
    paths = {chunk: ["loops" if path == "loops" else "blas"
                     for path in _train.plan(arch, chunk, np.float64)] for chunk in (1, 64)}
    transposed = _train.plan(kernel_path.network([19, 37, 2], seed=0).architecture, 7, np.float64)
    # 7·19·37 multiply-adds go to BLAS by default too; 37 outputs >= 32, 2 < 32
    assert [path == "blas_transposed_input" for path in transposed] == [
        kernel_path.name in ("blas", "crossover", "inplace_gemm", "packed_gemm"), False]
    inplace = kernel_path.name == "inplace_gemm" and _kernels.avx512_kernels_run()
    packed = kernel_path.name == "packed_gemm" and _kernels.avx512_kernels_run()
    with _blas.limit_threads(net.n_threads):
        plans = {(chunk, dtype): _train.plan(arch, chunk, dtype)
                 for chunk in (1, 64) for dtype in (np.float32, np.float64)}
    assert [path == "inplace_gemm" for path in plans[64, np.float32]] == [inplace, inplace]
    assert [path == "inplace_gemm" for path in plans[64, np.float64]] == [False, False]
    assert [path == "packed_gemm" for path in plans[64, np.float32]] == [packed, packed]
    assert [path == "packed_gemm" for path in plans[1, np.float32]] == [packed, packed]
    assert [path == "packed_gemm" for path in plans[64, np.float64]] == [False, False]
    if kernel_path.name in ("blas", "blas_untransposed", "inplace_gemm", "packed_gemm"):
        assert paths == {1: ["blas", "blas"], 64: ["blas", "blas"]}
    elif kernel_path.name == "loops":
        assert paths == {1: ["loops", "loops"], 64: ["loops", "loops"]}
    else:  # 40·30 = 1200 multiply-adds per row: a wide layer is large enough alone
        assert paths[1] == ["blas", "loops"] and paths[64] == ["blas", "blas"]


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
            net.architecture.blas_min_work = threshold
        net.fit(X, y, epochs=2, batch_size=16, lr=0.1, shuffle=False)
        results.append(params_of(net))
    for a, b, c in zip(*results):
        assert rel_err(a, b) < 1e-12 and rel_err(a, c) < 1e-12


# ----- fastbp's own float32 matrix kernels ---------------------------------------------------

needs_avx512 = pytest.mark.skipif(not _kernels.avx512_kernels_run(),
                                  reason="fastbp's own matrix kernels need AVX-512")


@needs_avx512
@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_packed_gemm_training_gradients_and_predict_equal_openblas(optimizer, problem, rel_err):
    """Every product of a packed layer, the in-place update of plain SGD and the accumulated
    gradient of the other optimizers (momentum here: Adam, which takes the same gradient,
    turns the last bits of gradients near 0 into steps of ±lr), `gradients`, `loss` and
    `predict` (chunks of 256 rows and a partial one): the same through the packed kernel as
    through OpenBLAS, and plain SGD's with the reference."""
    X, y = problem("cross_entropy", 40, 5, 300, seed=9)
    results = []
    for packed in (True, False):
        net = fastbp.Network([40, 1100, 1000, 5], activation="tanh", loss="cross_entropy",
                             dtype="float32", seed=2, n_threads=1)
        if not packed:
            net.architecture.packed_gemm_min_weights = 1 << 62
        with _blas.limit_threads(1):
            paths = _train.plan(net.architecture, 60, np.float32)
        assert [path == "packed_gemm" for path in paths] == [False, packed, False]
        ref = ReferenceNetwork.like(net)
        net.fit(X, y, epochs=1, batch_size=60, lr=0.01, optimizer=optimizer, shuffle=False)
        results.append((params_of(net), net.gradients(X, y), net.loss(X, y), net.predict(X)))
    (params, grads, loss, predicted), (params_b, grads_b, loss_b, predicted_b) = results
    for ours, theirs in zip(params, params_b):
        assert rel_err(ours, theirs) < 1e-4
    for (dW, db), (rW, rb) in zip(grads, grads_b):
        assert rel_err(dW, rW) < 1e-5 and rel_err(db, rb) < 1e-5
    assert loss == pytest.approx(loss_b, rel=1e-5)
    assert rel_err(predicted, predicted_b) < 1e-5
    if optimizer == "sgd":
        ref.fit(X, y, epochs=1, batch_size=60, lr=0.01)
        for ours, theirs in zip(params, reference_params(ref)):
            assert rel_err(ours, theirs) < 1e-4


@needs_avx512
@pytest.mark.parametrize("batch_size", [32, 7])
def test_small_first_layer_trained_transposed_tracks_openblas_and_the_reference(
        batch_size, problem, rel_err):
    """M1's shape under plain SGD, its first layer through the kernel (trained transposed)
    and through OpenBLAS: the same weights within float32 rounding, and the reference's."""
    X, y = problem("cross_entropy", 64, 10, 150, seed=12)
    trained = []
    for first_min_work in (_train.DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK, 1 << 62):
        net = fastbp.Network([64, 128, 10], activation="relu", loss="cross_entropy",
                             dtype="float32", seed=5, n_threads=1)
        net.architecture.first_layer_transposed_min_work = first_min_work
        with _blas.limit_threads(1):
            paths = _train.plan(net.architecture, batch_size, np.float32,
                                epoch_rows=len(X), batch_size=batch_size, plain_sgd=True)
        assert paths[0] == ("inplace_gemm_transposed_weights" if first_min_work < 1 << 62
                            else "blas_transposed_input")
        assert paths[1] == "blas"
        ref = ReferenceNetwork.like(net)
        net.fit(X, y, epochs=2, batch_size=batch_size, lr=0.05, shuffle=False)
        trained.append(params_of(net))
    ref.fit(X, y, epochs=2, batch_size=batch_size, lr=0.05)
    for ours, openblas, theirs in zip(*trained, reference_params(ref)):
        assert rel_err(ours, openblas) < 1e-5
        assert rel_err(ours, theirs) < 1e-4


@needs_avx512
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("sizes", [
    [300, 70, 5],     # 64·300·70 = 1.3·10⁶ multiply-adds: the default sends the first layer
    [500, 1000, 20],  # 500,000 weights (at most 2¹⁹), then 20,000 (1.3·10⁶ multiply-adds)
])
def test_inplace_gemm_by_default_tracks_the_reference(sizes, shuffle, problem, rel_err):
    """float32 training through it stays with the float64 reference from the same weights
    (shuffled: the gradients at the weights reached, since the reference does not shuffle)."""
    net = fastbp.Network(sizes, activation="relu", loss="cross_entropy", dtype="float32",
                         seed=4, n_threads=1)
    with _blas.limit_threads(1):
        assert _train.plan(net.architecture, 64, np.float32)[0] == "inplace_gemm"
    ref = ReferenceNetwork.like(net)
    X, y = problem("cross_entropy", sizes[0], sizes[-1], 200, seed=6)
    net.fit(X, y, epochs=2, batch_size=64, lr=0.05, shuffle=shuffle)
    if shuffle:
        ref = ReferenceNetwork.like(net)
        for (dW, db), (rW, rb) in zip(net.gradients(X, y), ref.gradients(X, y)):
            assert rel_err(dW, rW) < 1e-4 and rel_err(db, rb) < 1e-4
        assert net.loss(X, y) == pytest.approx(ref.loss(X, y), rel=1e-4)
        return
    ref.fit(X, y, epochs=2, batch_size=64, lr=0.05)
    for ours, theirs in zip(params_of(net), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-4


@needs_avx512
@pytest.mark.parametrize("batch_size", [64, 50])
@pytest.mark.parametrize("shuffle", [False, True])
def test_first_layer_trained_transposed_gives_the_same_weights(shuffle, batch_size, problem):
    """Plain SGD trains the first layer's W as Wᵀ through fbp_sgemm for the epoch
    (inplace_gemm_transposed_weights; with first_layer_transposed off: inplace_gemm): the same
    products in the same order as with W in place, so the same weights bit for bit, put back
    in place at the end of each epoch, a partial last batch included (200 = 3·64 + 8)."""
    X, y = problem("cross_entropy", 300, 5, 200, seed=9)
    trained = []
    for transposed in (True, False):
        net = fastbp.Network([300, 70, 5], activation="relu", loss="cross_entropy",
                             dtype="float32", seed=3, n_threads=1)
        net.architecture.first_layer_transposed = transposed
        net.fit(X, y, epochs=2, batch_size=batch_size, lr=0.05, shuffle=shuffle)
        trained.append((params_of(net), net.history.loss))
    (params, losses), (params_b, losses_b) = trained
    for ours, theirs in zip(params, params_b):
        np.testing.assert_array_equal(ours, theirs)
    assert losses == losses_b


@needs_avx512
@pytest.mark.parametrize("stop", ["max_updates", "diverged"])
def test_first_layer_trained_transposed_is_put_back_when_an_epoch_stops_early(stop, problem):
    """An epoch cut short (an update budget in the middle of it; a batch that diverges) still
    leaves W in place: the same as training it in place, bit for bit."""
    X, y = problem("cross_entropy", 300, 5, 200, seed=11)
    if stop == "diverged":
        X = X.copy()
        X[150, 3] = 1e30  # finite, but its batch's loss overflows float32
    outcomes = []
    for transposed in (True, False):
        net = fastbp.Network([300, 70, 5], activation="relu", loss="cross_entropy",
                             dtype="float32", seed=3, n_threads=1)
        net.architecture.first_layer_transposed = transposed
        if stop == "max_updates":
            net.fit(X, y, epochs=3, batch_size=64, lr=0.05, shuffle=False, max_updates=5)
            # (the second epoch, cut short, adds no history row)
            assert net.history.stopped_because == "max_updates" and net.history.epochs == 1
        else:
            with pytest.raises(fastbp.TrainingDiverged):
                net.fit(X, y, epochs=1, batch_size=64, lr=0.05, shuffle=False)
        outcomes.append(params_of(net))
    for ours, theirs in zip(*outcomes):
        np.testing.assert_array_equal(ours, theirs)


@needs_avx512
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_inplace_gemm_accumulated_gradients_equal_openblas(optimizer, problem, rel_err):
    """Optimizers other than plain SGD accumulate the gradient (layer_gradient), as do
    `gradients` and `loss` on up to 256 rows: the same through fbp_sgemm as through OpenBLAS."""
    X, y = problem("cross_entropy", 300, 5, 120, seed=8)
    results = []
    for min_work in (_train.DEFAULT_INPLACE_GEMM_MIN_WORK, 1 << 62):
        net = fastbp.Network([300, 70, 5], activation="tanh", loss="cross_entropy",
                             dtype="float32", seed=2, n_threads=1)
        net.architecture.inplace_gemm_min_work = min_work
        with _blas.limit_threads(1):
            for rows in (60, 120):  # 60·300·70 = 1.26·10⁶ multiply-adds
                paths = _train.plan(net.architecture, rows, np.float32)
                assert (paths[0] == "inplace_gemm") == (min_work < 1 << 62)
        net.fit(X, y, epochs=2, batch_size=60, lr=0.01, optimizer=optimizer, shuffle=False)
        results.append((params_of(net), net.gradients(X, y), net.loss(X, y)))
    (params, grads, loss), (params_b, grads_b, loss_b) = results
    for ours, theirs in zip(params, params_b):  # (Adam's step magnifies the last bits)
        assert rel_err(ours, theirs) < 1e-4
    for (dW, db), (rW, rb) in zip(grads, grads_b):
        assert rel_err(dW, rW) < 1e-5 and rel_err(db, rb) < 1e-5
    assert loss == pytest.approx(loss_b, rel=1e-5)


@needs_avx512
@pytest.mark.parametrize("kernel", ["inplace", "packed"])
@pytest.mark.parametrize("activation,network_options,fit_options", [
    ("relu", {"dropout": 0.2}, {}),
    ("gelu", {}, {"alpha": 1e-3, "clip_norm": 0.5}),
    ("tanh", {}, {"sample_weight": "random"}),
])
def test_own_kernels_with_dropout_penalty_and_weights_equal_openblas(
        kernel, activation, network_options, fit_options, problem, rel_err):
    """The paths around the products: dropped-out inputs and masked deltas, gelu's kept
    pre-activations, the L2 term and clipping, weighted samples; through the in-place kernel
    (its default size rule) or the packed one (moved down to this layer's size)."""
    X, y = problem("cross_entropy", 300, 5, 128, seed=10)
    if fit_options.get("sample_weight") == "random":
        fit_options = {"sample_weight": np.random.default_rng(1).uniform(0.5, 2.0, len(X))}
    trained = []
    for on in (True, False):
        net = fastbp.Network([300, 70, 5], activation=activation, loss="cross_entropy",
                             dtype="float32", seed=6, n_threads=1, **network_options)
        if kernel == "packed" or not on:
            net.architecture.inplace_gemm_min_work = 1 << 62
        if kernel == "packed" and on:
            net.architecture.packed_gemm_min_weights = 0
        with _blas.limit_threads(1):
            paths = _train.plan(net.architecture, 64, np.float32)
        assert (paths[0] == kernel + "_gemm") == on
        net.fit(X, y, epochs=2, batch_size=64, lr=0.05, shuffle=False, **fit_options)
        trained.append(params_of(net))
    for ours, theirs in zip(*trained):
        assert rel_err(ours, theirs) < 1e-5


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("batch_size", [8, 3])
def test_large_float32_layers_on_openblas_or_packed(batch_size, packed, problem, rel_err):
    """A float32 BLAS layer of 2²² weights or more that is not on the packed kernel computes
    dAᵀ = Wᵀ·dZᵀ and transposes it back; on the packed kernel (the default where it runs,
    from 2²⁰ weights) it computes dA = dZ·W from W packed. Either way training (a partial
    last batch included) and gradients stay with the reference; float64 and smaller layers
    compute dA = dZ·W through BLAS."""
    sizes = [6, 2048, 2048, 3]
    net = fastbp.Network(sizes, activation="tanh", loss="cross_entropy", dtype="float32",
                         seed=7, n_threads=1)
    on_packed = packed and _kernels.avx512_kernels_run()
    if not packed:
        net.architecture.packed_gemm_min_weights = 1 << 62
    with _blas.limit_threads(1):
        paths = _train.plan(net.architecture, 8, np.float32)
        assert [path == "packed_gemm" for path in paths] == [False, on_packed, False]
        assert [path == "blas_transposed_delta" for path in paths] == [False, not on_packed, False]
        assert "blas_transposed_delta" not in _train.plan(net.architecture, 8, np.float64)
        smaller = fastbp.Network([6, 2048, 2047, 3], seed=0).architecture  # 2²² − 2048 weights
        smaller.packed_gemm_min_weights = 1 << 62
        assert "blas_transposed_delta" not in _train.plan(smaller, 8, np.float32)
    X, y = problem("cross_entropy", sizes[0], sizes[-1], 22, seed=13)
    ref = ReferenceNetwork.like(net)
    net.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05, shuffle=False)
    ref.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05)
    for ours, theirs in zip(params_of(net), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-4
    for (dW, db), (rW, rb) in zip(net.gradients(X, y), ReferenceNetwork.like(net).gradients(X, y)):
        assert rel_err(dW, rW) < 1e-4 and rel_err(db, rb) < 1e-4

"""The fast paths against the simple one: BLAS-backed layers and fastbp's own compiled loops,
each held to the plain-numpy reference on the same networks, on both sides of the crossover.

`Architecture.blas_min_work` (per network) moves the crossover: 0 sends every layer to BLAS, a huge value
keeps every layer on the compiled loops, the default picks per layer by size.
`Architecture.transpose_max_work` = 0 keeps BLAS layers' inputs in their own orientation.
`Architecture.own_gemm_min_work` = 0 sends every float32 BLAS layer to fastbp's own matrix
kernel (on CPUs with AVX-512, with BLAS on one thread); `own_gemm_first_layer_min_work` does
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
    own matrix kernel: "own_gemm", or its packed kernel: "packed_gemm", on one thread; the
    layers here are too small for either by default), all to the compiled loops, or follow
    the default crossover."""

    def __init__(self, name):
        self.name = name

    def network(self, *args, **kwargs):
        net = fastbp.Network(*args, **kwargs)
        if self.name != "crossover":
            net._arch.blas_min_work = NO_BLAS if self.name == "loops" else ALL_BLAS
        if self.name == "blas_untransposed":
            net._arch.transpose_max_work = 0
        if self.name == "own_gemm":
            net._arch.own_gemm_min_work = 0
            net.n_threads = 1
        if self.name == "packed_gemm":
            net._arch.packed_gemm_min_weights = 0
            net.n_threads = 1
        return net


@pytest.fixture(params=["blas", "blas_untransposed", "own_gemm", "packed_gemm", "loops",
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
    paths = {chunk: _train.layer_paths(net._arch, chunk) for chunk in (1, 64)}
    transposed = _train.transposed_inputs(kernel_path.network([19, 37, 2], seed=0)._arch, 7)
    # 7·19·37 multiply-adds go to BLAS by default too; 37 outputs >= 32, 2 < 32
    assert transposed == [kernel_path.name in ("blas", "crossover", "own_gemm", "packed_gemm"),
                          False]
    own = kernel_path.name == "own_gemm" and _train.own_gemm_available()
    packed = kernel_path.name == "packed_gemm" and _train.own_gemm_available()
    with _blas.limit_threads(net.n_threads):
        assert _train.own_gemm_layers(net._arch, 64, np.float32) == [own, own]
        assert _train.own_gemm_layers(net._arch, 64, np.float64) == [False, False]
        assert _train.packed_gemm_layers(net._arch, 64, np.float32) == [packed, packed]
        assert _train.packed_gemm_layers(net._arch, 1, np.float32) == [packed, packed]
        assert _train.packed_gemm_layers(net._arch, 64, np.float64) == [False, False]
    if kernel_path.name in ("blas", "blas_untransposed", "own_gemm", "packed_gemm"):
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


def test_small_blas_products_take_their_input_transposed():
    """Up to 10⁶ multiply-adds, with at least 32 outputs (M1's first layer at batch 32)."""
    net = fastbp.Network([64, 128, 10], loss="cross_entropy", seed=0)
    assert _train.transposed_inputs(net._arch, 32) == [True, False]
    assert _train.transposed_inputs(net._arch, 256) == [False, False]  # 2.1·10⁶: as it is
    assert net._arch.transpose_max_work == _train.DEFAULT_TRANSPOSE_MAX_WORK
    net._arch.transpose_max_work = 0
    assert _train.transposed_inputs(net._arch, 32) == [False, False]
    with pytest.raises(ValueError):
        net._arch.transpose_max_work = -1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (7, 19), (8, 8), (32, 64), (45, 17), (3, 40)])
def test_the_transposing_kernel(dtype, shape):
    """Whole 8 × 8 tiles and the edges past them."""
    A = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    np.testing.assert_array_equal(_kernels.transposed(A), A.T)


# ----- fastbp's own float32 matrix kernel -----------------------------------------------------

needs_avx512 = pytest.mark.skipif(not _train.own_gemm_available(),
                                  reason="fastbp's own matrix kernel needs AVX-512")

GEMM_SHAPES = [  # m, n, k: whole 6 × 64 tiles, and every kind of edge past them
    (1, 1, 1), (6, 64, 8), (7, 19, 37), (13, 70, 300), (12, 128, 256), (5, 48, 513),
    (64, 784, 64), (256, 64, 784), (3, 17, 2), (40, 33, 1), (4, 5, 0),
    # the last 4 or 8 rows of whole columns in tiles of 4 rows
    (4, 64, 10), (32, 128, 64), (14, 192, 300),
]


def sgemm_tolerance(k):
    """float32 sums of k products of values below 1 in size: a few ulp per term at most."""
    return 4 * np.finfo(np.float32).eps * max(k, 1)


# The packed kernel's blocks are 528 rows × 256 steps of A and 256 steps × 512 columns of B,
# in panels of 6 rows and 64 columns; A's row-major blocks are transposed 16 × 16 at a time.
PACKED_GEMM_SHAPES = [  # m, n, k: whole blocks, panels and transposed blocks, and edges of each
    (1, 1, 1), (6, 64, 16), (7, 19, 37), (16, 512, 256), (17, 65, 257), (529, 70, 20),
    (40, 513, 300), (5, 1030, 530), (600, 130, 17), (33, 16, 15), (3, 17, 0),
]

# The two float32 products, as the tests call them: the in-place kernel (B needs a unit column
# stride) and the packed one (any strides).
PRODUCTS = {"own": _kernels.sgemm_product, "packed": _kernels.sgemm_packed_product}


@pytest.mark.parametrize("kernel,m,n,k,transposed_a,transposed_b", [
    (kernel, *shape, transposed_a, transposed_b)
    for kernel, shapes in (("own", GEMM_SHAPES), ("packed", PACKED_GEMM_SHAPES))
    for shape in shapes for transposed_a in (False, True)
    for transposed_b in ((False, True) if kernel == "packed" else (False,))])
def test_sgemm_equals_the_float64_product(kernel, m, n, k, transposed_a, transposed_b):
    """C := alpha·A·B + beta·C, each operand given as it is or as the transpose of a stored
    matrix (the packed kernel's B too: a layer's W is B transposed in the forward product)."""
    rng = np.random.default_rng(m * 1000 + n + k)
    A = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    B = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    C = rng.uniform(-1, 1, (m, n)).astype(np.float32)
    expected = -0.75 * A.astype(np.float64) @ B + 1.5 * C
    a = np.ascontiguousarray(A.T).T if transposed_a else A
    b = np.ascontiguousarray(B.T).T if transposed_b else B
    PRODUCTS[kernel](-0.75, a, b, 1.5, C)
    np.testing.assert_allclose(C, expected, rtol=0, atol=sgemm_tolerance(k))


@pytest.mark.parametrize("kernel", ["own", "packed"])
@pytest.mark.parametrize("m,n,k", [(7, 19, 37), (64, 784, 64), (530, 520, 260)])
def test_sgemm_does_not_read_c_when_beta_is_zero(kernel, m, n, k):
    """C may hold anything (a fresh buffer): with beta = 0, NaN in C must not leak out (in
    the packed kernel's first block of depth or later ones)."""
    rng = np.random.default_rng(2)
    A = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    B = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    C = np.full((m, n), np.nan, np.float32)
    PRODUCTS[kernel](1.0, A, B, 0.0, C)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B, rtol=0, atol=sgemm_tolerance(k))


@pytest.mark.parametrize("kernel", ["own", "packed"])
@pytest.mark.parametrize("m,n,k", [(7, 21, 9), (13, 70, 300), (2, 128, 5), (8, 64, 3),
                                   (535, 530, 3)])
def test_sgemm_writes_nothing_outside_c(kernel, m, n, k):
    """Edge tiles are stored under masks (and the packed kernel's zero padding never reaches
    C): within a larger buffer (row stride > n), the elements around C's block keep their
    values; A and B may be blocks of wider arrays, B's rows strided."""
    rng = np.random.default_rng(3)
    A = rng.uniform(-1, 1, (m, k + 3)).astype(np.float32)[:, 1:k + 1]
    B = rng.uniform(-1, 1, (2 * k, n + 5)).astype(np.float32)[::2, 2:n + 2]
    buffer = np.full((m + 2, n + 40), 7.0, np.float32)
    C = buffer[1:m + 1, 3:n + 3]
    PRODUCTS[kernel](1.0, A, B, 0.0, C)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B, rtol=0, atol=sgemm_tolerance(k))
    outside = np.ones(buffer.shape, bool)
    outside[1:m + 1, 3:n + 3] = False
    assert (buffer[outside] == 7.0).all()
    with pytest.raises(ValueError):
        PRODUCTS[kernel](1.0, A, B[:-1], 0.0, C)
    with pytest.raises(ValueError):  # C needs a unit column stride
        PRODUCTS[kernel](1.0, A, B, 0.0, np.zeros((m, 2 * n), np.float32)[:, ::2])


@pytest.mark.parametrize("shape", [(1, 1), (16, 16), (7, 19), (64, 784), (45, 17), (3, 40),
                                   (33, 16), (16, 33)])
def test_the_own_kernels_transpose(shape):
    """16 × 16 blocks in registers, and masked blocks at the edges."""
    A = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    np.testing.assert_array_equal(_kernels.transposed(A, own=True), A.T)


def test_own_gemm_takes_large_float32_layers_on_one_thread():
    """M2's first two layers at batch 64 (12.8·10⁶ and 2.1·10⁶ multiply-adds), not its third
    (82·10³), nor M1's (0.26·10⁶), nor layers of more than 2¹⁹ weights, nor chunks of more
    than 256 rows; never for float64, nor when BLAS runs on two threads."""
    arch = fastbp.Network([784, 256, 128, 10], loss="cross_entropy", seed=0)._arch
    assert arch.own_gemm_min_work == _train.DEFAULT_OWN_GEMM_MIN_WORK
    own = _train.own_gemm_available()
    m1 = fastbp.Network([64, 128, 10], loss="cross_entropy", seed=0)._arch
    with _blas.limit_threads(1):
        assert _train.own_gemm_layers(arch, 64, np.float32) == [own, own, False]
        assert _train.own_gemm_layers(arch, 64, np.float64) == [False] * 3
        assert _train.own_gemm_layers(m1, 32, np.float32) == [False, False]
    if _blas.thread_control() is not None:
        with _blas.limit_threads(2):
            assert _train.own_gemm_layers(arch, 64, np.float32) == [False] * 3
    wide = fastbp.Network([1100, 480, 3], seed=0)._arch  # 528,000 weights: more than 2¹⁹
    with _blas.limit_threads(1):
        assert _train.own_gemm_layers(wide, 64, np.float32) == [False, False]
        assert _train.own_gemm_layers(arch, 256, np.float32) == [own, own, False]
        assert _train.own_gemm_layers(arch, 257, np.float32) == [False] * 3  # more rows
    arch.own_gemm_min_work = 1 << 62
    with _blas.limit_threads(1):
        assert _train.own_gemm_layers(arch, 64, np.float32) == [False] * 3
    with pytest.raises(ValueError):
        arch.own_gemm_min_work = -1


def test_packed_gemm_takes_float32_layers_of_2_20_weights_on_one_thread():
    """L1's first two layers (2²¹ and 2²² weights) at any chunk, not its 2048→10 (on the
    in-place kernel) nor 1024→1023 (below 2²⁰ weights), nor a layer the in-place kernel
    takes (M2's, even with the threshold at 0); never for float64,
    nor when BLAS runs on two threads; the threshold is per network and not negative."""
    arch = fastbp.Network([1024, 2048, 2048, 10], loss="cross_entropy", seed=0)._arch
    assert arch.packed_gemm_min_weights == _train.DEFAULT_PACKED_GEMM_MIN_WEIGHTS == 1 << 20
    packed = _train.own_gemm_available()
    with _blas.limit_threads(1):
        for chunk in (1, 7, 64, 256):
            assert _train.packed_gemm_layers(arch, chunk, np.float32) == [packed, packed, False]
        assert _train.packed_gemm_layers(arch, 256, np.float64) == [False] * 3
        assert _train.own_gemm_layers(arch, 256, np.float32) == [False, False, packed]
        at_edge = fastbp.Network([1024, 1024, 1023], seed=0)._arch  # 2²⁰ and 2²⁰ − 1024
        assert _train.packed_gemm_layers(at_edge, 64, np.float32) == [packed, False]
        m2 = fastbp.Network([784, 256, 128, 10], loss="cross_entropy", seed=0)._arch
        m2.packed_gemm_min_weights = 0  # its first two layers stay on the in-place kernel
        assert _train.packed_gemm_layers(m2, 64, np.float32) == [False, False, packed]
        assert _train.own_gemm_layers(m2, 64, np.float32) == [packed, packed, False]
    if _blas.thread_control() is not None:
        with _blas.limit_threads(2):
            assert _train.packed_gemm_layers(arch, 256, np.float32) == [False] * 3
    other = fastbp.Network([1024, 2048, 2048, 10], loss="cross_entropy", seed=0)._arch
    arch.packed_gemm_min_weights = 1 << 62
    with _blas.limit_threads(1):
        assert _train.packed_gemm_layers(arch, 256, np.float32) == [False] * 3
        assert _train.packed_gemm_layers(other, 256, np.float32) == [packed, packed, False]
    with pytest.raises(ValueError):
        arch.packed_gemm_min_weights = -1


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
            net._arch.packed_gemm_min_weights = 1 << 62
        with _blas.limit_threads(1):
            assert _train.packed_gemm_layers(net._arch, 60, np.float32) == [False, packed, False]
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


def test_own_gemm_takes_small_first_layers_trained_transposed():
    """Under plain SGD (which trains the first layer transposed) a first layer above 2¹⁴
    multiply-adds per chunk whose outputs are a multiple of 64 takes the kernel: M1's 64→128
    at batch 32 (0.26·10⁶), not its second layer; nor 100 outputs, nor 2¹⁴ multiply-adds or
    fewer, nor with transpose_first_layer off or the threshold raised."""
    def first_layers(sizes, chunk, plain_sgd=True, **settings):
        arch = fastbp.Network(sizes, loss="cross_entropy", seed=0)._arch
        for name, value in settings.items():
            setattr(arch, name, value)
        with _blas.limit_threads(1):
            return _train.own_gemm_layers(arch, chunk, np.float32, plain_sgd=plain_sgd)

    own = _train.own_gemm_available()
    assert first_layers([64, 128, 10], 32) == [own, False]
    assert first_layers([64, 128, 10], 32, plain_sgd=False) == [False, False]
    assert first_layers([64, 128, 10], 32, transpose_first_layer=False) == [False, False]
    assert first_layers([64, 128, 10], 32, own_gemm_first_layer_min_work=1 << 62) == [False] * 2
    assert first_layers([100, 100, 10], 32) == [False, False]
    assert first_layers([16, 64, 10], 16) == [False, False]  # 16·16·64 = 2¹⁴
    assert first_layers([16, 64, 10], 17) == [own, False]
    assert first_layers([64, 128, 10], 257) == [False, False]  # more rows than the kernel's
    assert (fastbp.Network([4, 64, 2], seed=0)._arch.own_gemm_first_layer_min_work
            == _train.DEFAULT_OWN_GEMM_FIRST_LAYER_MIN_WORK)
    with pytest.raises(ValueError):
        fastbp.Network([4, 64, 2], seed=0)._arch.own_gemm_first_layer_min_work = -1


def test_first_layer_trained_transposed_only_in_epochs_of_four_batches_or_more():
    """Two transposes of W an epoch pay from four batches on (M2's and M1's shapes); with
    fewer, the first layer keeps W in place; never for batches larger than a chunk."""
    own = _train.own_gemm_available()
    m1 = fastbp.Network([64, 128, 10], loss="cross_entropy", seed=0)._arch
    m2 = fastbp.Network([784, 256, 128, 10], loss="cross_entropy", seed=0)._arch
    with _blas.limit_threads(1):
        for arch, batch in ((m1, 32), (m2, 64)):
            assert _train.first_layer_transposed_for(arch, 4 * batch, batch, batch) == own
            assert _train.first_layer_transposed_for(arch, 3 * batch + 1, batch, batch) == own
            assert not _train.first_layer_transposed_for(arch, 3 * batch, batch, batch)
            assert not _train.first_layer_transposed_for(arch, 4 * batch, 2 * batch, batch)
        m2.transpose_first_layer = False
        assert not _train.first_layer_transposed_for(m2, 4096, 64, 64)


@needs_avx512
@pytest.mark.parametrize("batch_size", [32, 7])
def test_small_first_layer_trained_transposed_tracks_openblas_and_the_reference(
        batch_size, problem, rel_err):
    """M1's shape under plain SGD, its first layer through the kernel (trained transposed)
    and through OpenBLAS: the same weights within float32 rounding, and the reference's."""
    X, y = problem("cross_entropy", 64, 10, 150, seed=12)
    trained = []
    for first_min_work in (_train.DEFAULT_OWN_GEMM_FIRST_LAYER_MIN_WORK, 1 << 62):
        net = fastbp.Network([64, 128, 10], activation="relu", loss="cross_entropy",
                             dtype="float32", seed=5, n_threads=1)
        net._arch.own_gemm_first_layer_min_work = first_min_work
        with _blas.limit_threads(1):
            own = _train.own_gemm_layers(net._arch, batch_size, np.float32, plain_sgd=True)
        assert own == [first_min_work < 1 << 62, False]
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
def test_own_gemm_by_default_tracks_the_reference(sizes, shuffle, problem, rel_err):
    """float32 training through it stays with the float64 reference from the same weights
    (shuffled: the gradients at the weights reached, since the reference does not shuffle)."""
    net = fastbp.Network(sizes, activation="relu", loss="cross_entropy", dtype="float32",
                         seed=4, n_threads=1)
    with _blas.limit_threads(1):
        assert _train.own_gemm_layers(net._arch, 64, np.float32)[0]
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
    """Plain SGD trains the first layer's W as Wᵀ through fbp_sgemm for the epoch: the same
    products in the same order as with W in place, so the same weights bit for bit, put back
    in place at the end of each epoch, a partial last batch included (200 = 3·64 + 8)."""
    X, y = problem("cross_entropy", 300, 5, 200, seed=9)
    trained = []
    for transposed in (True, False):
        net = fastbp.Network([300, 70, 5], activation="relu", loss="cross_entropy",
                             dtype="float32", seed=3, n_threads=1)
        net._arch.transpose_first_layer = transposed
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
        net._arch.transpose_first_layer = transposed
        if stop == "max_updates":
            net.fit(X, y, epochs=3, batch_size=64, lr=0.05, shuffle=False, max_updates=5)
            assert net.history.stopped_because == "max_updates" and net.history.epochs == 2
        else:
            with pytest.raises(fastbp.TrainingDiverged):
                net.fit(X, y, epochs=1, batch_size=64, lr=0.05, shuffle=False)
        outcomes.append(params_of(net))
    for ours, theirs in zip(*outcomes):
        np.testing.assert_array_equal(ours, theirs)


@needs_avx512
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_own_gemm_accumulated_gradients_equal_openblas(optimizer, problem, rel_err):
    """Optimizers other than plain SGD accumulate the gradient (layer_gradient), as do
    `gradients` and `loss` on up to 256 rows: the same through fbp_sgemm as through OpenBLAS."""
    X, y = problem("cross_entropy", 300, 5, 120, seed=8)
    results = []
    for min_work in (_train.DEFAULT_OWN_GEMM_MIN_WORK, 1 << 62):
        net = fastbp.Network([300, 70, 5], activation="tanh", loss="cross_entropy",
                             dtype="float32", seed=2, n_threads=1)
        net._arch.own_gemm_min_work = min_work
        with _blas.limit_threads(1):
            for rows in (60, 120):  # 60·300·70 = 1.26·10⁶ multiply-adds
                own = _train.own_gemm_layers(net._arch, rows, np.float32)
                assert own[0] == (min_work < 1 << 62)
        net.fit(X, y, epochs=2, batch_size=60, lr=0.01, optimizer=optimizer, shuffle=False)
        results.append((params_of(net), net.gradients(X, y), net.loss(X, y)))
    (params, grads, loss), (params_b, grads_b, loss_b) = results
    for ours, theirs in zip(params, params_b):  # (Adam's step magnifies the last bits)
        assert rel_err(ours, theirs) < 1e-4
    for (dW, db), (rW, rb) in zip(grads, grads_b):
        assert rel_err(dW, rW) < 1e-5 and rel_err(db, rb) < 1e-5
    assert loss == pytest.approx(loss_b, rel=1e-5)


@needs_avx512
@pytest.mark.parametrize("kernel", ["own", "packed"])
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
            net._arch.own_gemm_min_work = 1 << 62
        if kernel == "packed" and on:
            net._arch.packed_gemm_min_weights = 0
        with _blas.limit_threads(1):
            layers = (_train.own_gemm_layers if kernel == "own" else _train.packed_gemm_layers)(
                net._arch, 64, np.float32)
            assert layers[0] == on
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
    on_packed = packed and _train.own_gemm_available()
    if not packed:
        net._arch.packed_gemm_min_weights = 1 << 62
    with _blas.limit_threads(1):
        assert _train.packed_gemm_layers(net._arch, 8, np.float32) == [False, on_packed, False]
        assert _train.transposed_delta_layers(net._arch, 8, np.float32) == [
            False, not on_packed, False]
        assert _train.transposed_delta_layers(net._arch, 8, np.float64) == [False] * 3
        smaller = fastbp.Network([6, 2048, 2047, 3], seed=0)._arch  # 2²² − 2048 weights
        smaller.packed_gemm_min_weights = 1 << 62
        assert _train.transposed_delta_layers(smaller, 8, np.float32) == [False] * 3
    X, y = problem("cross_entropy", sizes[0], sizes[-1], 22, seed=13)
    ref = ReferenceNetwork.like(net)
    net.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05, shuffle=False)
    ref.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05)
    for ours, theirs in zip(params_of(net), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-4
    for (dW, db), (rW, rb) in zip(net.gradients(X, y), ReferenceNetwork.like(net).gradients(X, y)):
        assert rel_err(dW, rW) < 1e-4 and rel_err(db, rb) < 1e-4


def test_blas_min_work_is_per_network_and_rejects_negatives():
    net = fastbp.Network([40, 30, 2], seed=0)
    other = fastbp.Network([40, 30, 2], seed=0)
    net._arch.blas_min_work = 0
    assert _train.layer_paths(net._arch, 1) == ["blas", "blas"]
    assert other._arch.blas_min_work == _train.DEFAULT_BLAS_MIN_WORK
    with pytest.raises(ValueError):
        net._arch.blas_min_work = -1


# ----- per-example SGD as one compiled loop ---------------------------------------------------

PER_EXAMPLE_CASES = [  # squared-error networks of small layers: the fused loop's domain
    # every layer at most 8 wide: the loop for tiny networks (padded vectors)
    ([3, 8, 8, 1], "sigmoid", None),
    ([2, 2, 2], "sigmoid", "sigmoid"),
    ([5, 7, 3, 2], "relu", "tanh"),
    ([8, 1, 8, 3], "elu", None),
    ([1, 6, 5], "softplus", "sigmoid"),
    ([4, 8, 7, 6, 5, 4, 3, 2, 1, 2, 3, 4, 5, 6, 7, 8, 1], "tanh", None),  # 16 layers, the most
    # wider layers: the general loop
    ([19, 37, 2], "tanh", "sigmoid"),
    ([18, 16, 3], "identity", "tanh"),
    ([6, 20, 9, 4, 2], "leaky_relu", None),
    ([3, 9, 1], "sigmoid", None),
]


def test_per_example_cases_cover_both_fused_loops():
    if _kernels.per_example_loop([1, 1]) == "general":
        pytest.skip("built without the loop for tiny networks (it needs GCC or Clang)")
    loops = [_kernels.per_example_loop(sizes) for sizes, _, _ in PER_EXAMPLE_CASES]
    assert loops[:6] == ["tiny"] * 6 and loops[6:] == ["general"] * 4
    assert _kernels.per_example_loop([2] * 18) == "general"  # 17 layers: past the fused loops


def per_example_pair(sizes, activation, output, dtype):
    """Two identical networks: one runs per-example SGD as one compiled loop, the other
    layer by layer."""
    fused, stepwise = (fastbp.Network(sizes, activation=activation, output=output, loss="mse",
                                      dtype=dtype, seed=3) for _ in range(2))
    stepwise._arch.fuse_per_example = False
    return fused, stepwise


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes,activation,output", PER_EXAMPLE_CASES)
def test_fused_per_example_loop_equals_the_layer_by_layer_steps(sizes, activation, output,
                                                                dtype, problem):
    """Same weights bit for bit and the same losses, over 2,500 shuffled samples (the loop
    runs in blocks of 1,024) and two epochs."""
    X, y = problem("mse", sizes[0], sizes[-1], 2_500, seed=2)
    fused, stepwise = per_example_pair(sizes, activation, output, dtype)
    h_fused = fused.fit(X, y, epochs=2, batch_size=1, lr=0.02)
    h_stepwise = stepwise.fit(X, y, epochs=2, batch_size=1, lr=0.02)
    for a, b in zip(params_of(fused), params_of(stepwise)):
        np.testing.assert_array_equal(a, b)
    # The losses are summed in another order (per block, then per epoch).
    np.testing.assert_allclose(h_fused.loss, h_stepwise.loss, rtol=1e-12)


def test_fused_per_example_loop_stops_at_max_updates_inside_a_block(problem):
    X, y = problem("mse", 3, 1, 2_500, seed=4)
    fused, stepwise = per_example_pair([3, 8, 8, 1], "sigmoid", None, "float64")
    for net in (fused, stepwise):
        history = net.fit(X, y, epochs=3, batch_size=1, lr=0.02, max_updates=3_700)
        assert history.stopped_because == "max_updates" and history.epochs == 2
    for a, b in zip(params_of(fused), params_of(stepwise)):
        np.testing.assert_array_equal(a, b)


def test_fused_per_example_loop_reports_divergence_and_keeps_the_last_good_weights(net_state):
    X, y = fastbp.datasets.house_prices(3_000, seed=0)  # unscaled dollars: lr 1 explodes
    net = fastbp.Network([3, 4, 1], activation="identity", seed=0)
    net.fit(X[:10] / 1e6, y[:10] / 1e6, epochs=1, batch_size=1, lr=0.01)  # one good epoch
    before = net_state(net)
    with pytest.raises(fastbp.TrainingDiverged, match="diverged in epoch 1") as info:
        net.fit(X, y, epochs=2, batch_size=1, lr=1.0)
    assert info.value.history.epochs == 0
    assert net_state(net)[0] == before[0]


def test_the_fused_per_example_loop_is_only_taken_where_it_applies(problem, rel_err):
    """Cross-entropy, gelu and BLAS-sized layers keep the layer-by-layer path: switching the
    fused loop off changes nothing for them."""
    X, y = problem("cross_entropy", 5, 3, 300, seed=1)
    for activation in ("relu", "gelu"):
        fused, stepwise = (fastbp.Network([5, 7, 3], activation=activation,
                                          loss="cross_entropy", dtype="float64", seed=3)
                           for _ in range(2))
        stepwise._arch.fuse_per_example = False
        fused.fit(X, y, epochs=1, batch_size=1, lr=0.05)
        stepwise.fit(X, y, epochs=1, batch_size=1, lr=0.05)
        for a, b in zip(params_of(fused), params_of(stepwise)):
            np.testing.assert_array_equal(a, b)
    X, y = problem("mse", 40, 1, 300, seed=1)
    fused, stepwise = per_example_pair([40, 64, 1], "tanh", None, "float64")  # 40·64 >= 1024: BLAS
    assert _train.layer_paths(fused._arch, 1) == ["blas", "loops"]
    ref = ReferenceNetwork.like(fused)
    fused.fit(X, y, epochs=1, batch_size=1, lr=0.01, shuffle=False)
    ref.fit(X, y, epochs=1, batch_size=1, lr=0.01)
    for ours, theirs in zip(params_of(fused), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-12


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


def test_vectorised_tanh_is_within_a_few_ulp_of_numpy():
    x = np.concatenate([np.linspace(-60, 60, 400_001), np.linspace(-1e-3, 1e-3, 2001),
                        np.linspace(0.6, 0.65, 20_001), np.linspace(-0.65, -0.6, 20_001),
                        np.random.default_rng(1).normal(scale=2, size=100_000)]).astype(np.float32)
    exact = np.tanh(x.astype(np.float64))
    ours = x.copy()
    _kernels.tanh_f(ours)
    assert ulps_apart(ours, exact).max() <= 4


def test_vectorised_tanh_edge_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-40, 9.5, 200.0], dtype=np.float32)
    ours = x.copy()
    _kernels.tanh_f(ours)
    assert ours[0] == 0 and not np.signbit(ours[0])
    assert ours[1] == 0 and np.signbit(ours[1])
    assert ours[2] == 1 and ours[3] == -1 and np.isnan(ours[4])
    assert ours[5] == x[5] and ours[6] == x[6]  # tanh(x) = x below the float32 resolution
    assert ours[7] == 1 and ours[8] == 1


def reference_softmax_cross_entropy(Z, Y, scale, weights):
    """float64 softmax cross-entropy: (Σ w·loss, scale·w·(softmax − y))"""
    Z = Z.astype(np.float64)
    shifted = Z - Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1)) + Z.max(axis=1)
    P = np.exp(Z - lse[:, None])
    w = np.ones(len(Z)) if weights is None else weights.astype(np.float64)
    loss = (Y * (lse[:, None] - Z)).sum(axis=1)
    return (w * loss).sum(), scale * w[:, None] * (P - Y)


@pytest.mark.parametrize("n_out", [1, 2, 10, 16, 17, 40])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("rows", [1, 4, 5, 16, 20, 37])
def test_float32_softmax_cross_entropy_matches_float64(n_out, weighted, rows):
    """The float32 kernel (fastbp's own e^x, rows shifted by their max) against float64,
    including logits far from zero where an unshifted e^x would overflow. Up to 16 logits a
    row, an AVX-512 CPU takes blocks of 16 rows (a last one of 5 or more rows too) in
    registers and the rest row by row: row counts that take each path and both."""
    rng = np.random.default_rng(n_out)
    Z = (rng.normal(scale=4, size=(rows, n_out)) + rng.choice([0, 80, -80], size=(rows, 1))
         ).astype(np.float32)
    Y = np.eye(n_out, dtype=np.float32)[rng.integers(0, n_out, rows)]
    Y[0] = 1.0 / n_out  # a soft target
    weights = rng.uniform(0, 2, rows).astype(np.float32) if weighted else None
    total, dZ = _kernels.softmax_cross_entropy_f(Z, Y, 0.25, weights)
    exact_total, exact_dZ = reference_softmax_cross_entropy(Z, Y, 0.25, weights)
    assert abs(total - exact_total) <= 1e-5 * max(1.0, abs(exact_total))
    np.testing.assert_allclose(dZ, exact_dZ, rtol=0, atol=1e-6)


@pytest.mark.parametrize("rows", [4, 16, 21])
@pytest.mark.parametrize("first", [False, True])
def test_float32_softmax_cross_entropy_reports_non_finite_logits(rows, first):
    """A NaN or ±inf logit, first in its row or not, makes the loss non-finite (by rows and
    by blocks of rows)."""
    Y = np.array([[1, 0, 0]] * rows, dtype=np.float32)
    for bad in (np.nan, np.inf, -np.inf):
        Z = np.zeros((rows, 3), np.float32)
        Z[2, 0 if first else 1] = bad
        total, _ = _kernels.softmax_cross_entropy_f(Z, Y, 1.0)
        assert not np.isfinite(total)


def test_softmax_cross_entropy_blocks_on_avx512():
    """The 16-row kernel is there for rows of 1 to 16 logits exactly when the CPU has
    AVX-512 (the same check as fastbp's own matrix kernel)."""
    assert _kernels.softmax_cross_entropy_by_blocks(10) == _train.own_gemm_available()
    assert _kernels.softmax_cross_entropy_by_blocks(16) == _train.own_gemm_available()
    assert not _kernels.softmax_cross_entropy_by_blocks(17)


def test_vectorised_log_is_within_an_ulp_of_numpy():
    """The log of the 16-row softmax (of Σ e^(z − max), in [1, n]), over all positive normal
    floats; NaN stays NaN."""
    x = np.concatenate([np.linspace(1, 40, 400_001), np.linspace(0.5, 2, 100_001),
                        np.geomspace(np.finfo(np.float32).tiny, np.finfo(np.float32).max,
                                     100_001)]).astype(np.float32)
    ours = x.copy()
    _kernels.log_f(ours)
    assert ulps_apart(ours, np.log(x.astype(np.float64))).max() <= 1
    edge = np.array([np.nan, 1.0, 2.0], np.float32)
    _kernels.log_f(edge)
    assert np.isnan(edge[0]) and edge[1] == 0 and edge[2] == np.float32(np.log(2.0))


def test_float32_softmax_matches_float64():
    rng = np.random.default_rng(3)
    Z = (rng.normal(scale=5, size=(50, 10)) + 70).astype(np.float32)
    ours = Z.copy()
    _kernels.softmax_f(ours)
    Z64 = Z.astype(np.float64)
    exact = np.exp(Z64 - Z64.max(axis=1, keepdims=True))
    exact /= exact.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ours, exact, rtol=2e-6, atol=1e-12)


def test_show_config_reports_kernels_and_blas():
    config = fastbp.show_config(print_=False)
    assert config["simd"] == _kernels.simd_level()
    assert "dispatch" in config["simd"] or "portable" in config["simd"]
    assert "BLAS" in config["kernels"]
    assert ("AVX-512 kernel" in config["own_gemm"]) == _train.own_gemm_available()


# ----- the finiteness check of the data -------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 4_096, 4_097, 10_000])
def test_is_finite_finds_every_non_finite_value(dtype, n):
    """At any position: in a vector block, the tail of a block, the last block."""
    info = np.finfo(dtype)
    values = np.resize(np.array([0.0, -0.0, info.max, -info.max, info.tiny / 4, 1.5], dtype), n)
    assert _train.is_finite(values) and _train.is_finite(values, chunk=7)
    for position in sorted({0, n // 2, n - 1, min(16, n - 1), min(4_095, n - 1)}):
        for bad in (np.nan, np.inf, -np.inf):
            broken = values.copy()
            broken[position] = bad
            assert not _train.is_finite(broken), (position, bad)
            assert not _train.is_finite(broken, chunk=1_000), (position, bad)
    assert _train.is_finite(np.empty(0, dtype))


# ----- buffers on cache-line boundaries -------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 1000, 250_000])
def test_aligned_buffers_start_on_a_cache_line(n, dtype):
    from fastbp._buffers import aligned_empty, aligned_zeros
    for array in (aligned_empty(n, dtype), aligned_zeros(n, dtype)):
        assert array.shape == (n,) and array.dtype == dtype and array.flags.c_contiguous
        assert n == 0 or array.ctypes.data % 64 == 0  # (an empty array has no data)
    assert not aligned_zeros(n, dtype).any()


def test_the_kernels_buffers_are_aligned(tmp_path, problem):
    """Parameters (also of a loaded or copied network), workspaces, gradients and optimizer
    state start on 64-byte boundaries; each workspace buffer is a whole number of lines, so
    they all do (numpy's own large arrays start 16 bytes past one)."""
    net = fastbp.Network([784, 256, 128, 10], loss="cross_entropy", seed=0)
    X, y = problem("cross_entropy", 784, 10, 64, seed=1)
    net.fit(X, y, epochs=1, batch_size=32, optimizer="adam")
    net.save(tmp_path / "net")
    for each in (net, net.copy(), fastbp.load(tmp_path / "net")):
        assert each._params.ctypes.data % 64 == 0
        assert each._optimizer_state.ctypes.data % 64 == 0
        assert each._workspace(7).ctypes.data % 64 == 0
    for chunk in (1, 7, 64):
        for dropout in (False, True):
            assert net._arch.workspace_size(chunk, dropout) % 16 == 0

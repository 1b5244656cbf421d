"""The planner: which path each layer takes (_train.plan, the function the compiled calls
use), at each threshold and on each side of it, and that training, loss, gradients and
predict run the plan that plan() reports. The paths' arithmetic: test_path_equivalence.py."""
import numpy as np
import pytest

import fastbp
from fastbp import _blas, _kernels, _train
from fastbp.reference import ReferenceNetwork


def kinds(arch, chunk):
    """Per layer, "loops" or "blas" (any path off the compiled loops), as planned at `chunk`
    rows."""
    return ["loops" if path == "loops" else "blas" for path in _train.plan(arch, chunk, np.float64)]


def takes(arch, chunk, dtype, *paths, **epoch):
    """Per layer, whether the plan at `chunk` rows of `dtype` gives it one of `paths` (BLAS's
    thread count: the one in force)."""
    return [path in paths for path in _train.plan(arch, chunk, dtype, **epoch)]


TRANSPOSED_INPUT = ("blas_transposed_input", "blas_transposed_input_and_delta")
TRANSPOSED_DELTA = ("blas_transposed_delta", "blas_transposed_input_and_delta")
INPLACE = ("inplace_gemm",)
INPLACE_ANY = ("inplace_gemm", "inplace_gemm_transposed_weights")
PACKED = ("packed_gemm",)


def epoch_of(batches, batch):
    """plan()'s arguments for an epoch of plain SGD of `batches` batches of `batch` rows."""
    return {"epoch_rows": batches * batch, "batch_size": batch, "plain_sgd": True}


def test_default_crossover_keeps_tiny_layers_on_the_loops():
    net = fastbp.Network([3, 8, 8, 1], seed=0)
    assert kinds(net.architecture, 1) == ["loops"] * 3
    wide = fastbp.Network([784, 256, 128, 10], seed=0)
    assert kinds(wide.architecture, 64) == ["blas"] * 3


def test_small_blas_products_take_their_input_transposed():
    """Up to 10⁶ multiply-adds, with at least 32 outputs (M1's first layer at batch 32)."""
    net = fastbp.Network([64, 128, 10], loss="cross_entropy", seed=0)
    assert takes(net.architecture, 32, np.float64, *TRANSPOSED_INPUT) == [True, False]
    assert takes(net.architecture, 256, np.float64, *TRANSPOSED_INPUT) == [False, False]  # 2.1·10⁶: as it is
    assert net.architecture.transpose_max_work == _train.DEFAULT_TRANSPOSE_MAX_WORK
    net.architecture.transpose_max_work = 0
    assert takes(net.architecture, 32, np.float64, *TRANSPOSED_INPUT) == [False, False]
    with pytest.raises(ValueError):
        net.architecture.transpose_max_work = -1


def test_inplace_gemm_takes_large_float32_layers_on_one_thread():
    """M2's first two layers at batch 64 (12.8·10⁶ and 2.1·10⁶ multiply-adds), not its third
    (82·10³), nor M1's (0.26·10⁶), nor layers of more than 2¹⁹ weights, nor chunks of more
    than 256 rows; never for float64. On two threads the same layers (split over a team)."""
    arch = fastbp.Network([784, 256, 128, 10], loss="cross_entropy", seed=0).architecture
    assert arch.inplace_gemm_min_work == _train.DEFAULT_INPLACE_GEMM_MIN_WORK
    own = _kernels.avx512_kernels_run()
    m1 = fastbp.Network([64, 128, 10], loss="cross_entropy", seed=0).architecture
    with _blas.limit_threads(1):
        assert takes(arch, 64, np.float32, *INPLACE) == [own, own, False]
        assert takes(arch, 64, np.float64, *INPLACE) == [False] * 3
        assert takes(m1, 32, np.float32, *INPLACE) == [False, False]
    if _blas.thread_control() is not None:
        with _blas.limit_threads(2):
            assert takes(arch, 64, np.float32, *INPLACE) == [own, own, False]
    wide = fastbp.Network([1100, 480, 3], seed=0).architecture  # 528,000 weights: more than 2¹⁹
    with _blas.limit_threads(1):
        assert takes(wide, 64, np.float32, *INPLACE) == [False, False]
        assert takes(arch, 256, np.float32, *INPLACE) == [own, own, False]
        assert takes(arch, 257, np.float32, *INPLACE) == [False] * 3  # more rows
    arch.inplace_gemm_min_work = 1 << 62
    with _blas.limit_threads(1):
        assert takes(arch, 64, np.float32, *INPLACE) == [False] * 3
    with pytest.raises(ValueError):
        arch.inplace_gemm_min_work = -1


def test_packed_gemm_takes_float32_layers_of_2_20_weights_on_one_thread():
    """L1's first two layers (2²¹ and 2²² weights) at any chunk, not its 2048→10 (on the
    in-place kernel) nor 1024→1023 (below 2²⁰ weights), nor a layer the in-place kernel
    takes (M2's, even with the threshold at 0); never for float64; on two threads the same
    layers (split over a team); the threshold is per network and not negative."""
    arch = fastbp.Network([1024, 2048, 2048, 10], loss="cross_entropy", seed=0).architecture
    assert arch.packed_gemm_min_weights == _train.DEFAULT_PACKED_GEMM_MIN_WEIGHTS == 1 << 20
    packed = _kernels.avx512_kernels_run()
    with _blas.limit_threads(1):
        for chunk in (1, 7, 64, 256):
            assert takes(arch, chunk, np.float32, *PACKED) == [packed, packed, False]
        assert takes(arch, 256, np.float64, *PACKED) == [False] * 3
        assert takes(arch, 256, np.float32, *INPLACE) == [False, False, packed]
        at_edge = fastbp.Network([1024, 1024, 1023], seed=0).architecture  # 2²⁰ and 2²⁰ − 1024
        assert takes(at_edge, 64, np.float32, *PACKED) == [packed, False]
        m2 = fastbp.Network([784, 256, 128, 10], loss="cross_entropy", seed=0).architecture
        m2.packed_gemm_min_weights = 0  # its first two layers stay on the in-place kernel
        assert takes(m2, 64, np.float32, *PACKED) == [False, False, packed]
        assert takes(m2, 64, np.float32, *INPLACE) == [packed, packed, False]
    if _blas.thread_control() is not None:
        with _blas.limit_threads(2):
            assert takes(arch, 256, np.float32, *PACKED) == [packed, packed, False]
    other = fastbp.Network([1024, 2048, 2048, 10], loss="cross_entropy", seed=0).architecture
    arch.packed_gemm_min_weights = 1 << 62
    with _blas.limit_threads(1):
        assert takes(arch, 256, np.float32, *PACKED) == [False] * 3
        assert takes(other, 256, np.float32, *PACKED) == [packed, packed, False]
    with pytest.raises(ValueError):
        arch.packed_gemm_min_weights = -1


def test_inplace_gemm_takes_small_first_layers_trained_transposed():
    """Under plain SGD (which trains the first layer transposed) a first layer above 2¹⁴
    multiply-adds per chunk whose outputs are a multiple of 64 takes the kernel: M1's 64→128
    at batch 32 (0.26·10⁶), not its second layer; nor 100 outputs, nor 2¹⁴ multiply-adds or
    fewer, nor with first_layer_transposed off or the threshold raised."""
    def first_layers(sizes, chunk, plain_sgd=True, **settings):
        """Per layer, whether it takes the in-place kernel in an epoch of four batches."""
        arch = fastbp.Network(sizes, loss="cross_entropy", seed=0).architecture
        for name, value in settings.items():
            setattr(arch, name, value)
        epoch = epoch_of(4, chunk) if plain_sgd else {}
        with _blas.limit_threads(1):
            return takes(arch, chunk, np.float32, *INPLACE_ANY, **epoch)

    own = _kernels.avx512_kernels_run()
    assert first_layers([64, 128, 10], 32) == [own, False]
    assert first_layers([64, 128, 10], 32, plain_sgd=False) == [False, False]
    assert first_layers([64, 128, 10], 32, first_layer_transposed=False) == [False, False]
    assert first_layers([64, 128, 10], 32, first_layer_transposed_min_work=1 << 62) == [False] * 2
    assert first_layers([100, 100, 10], 32) == [False, False]
    assert first_layers([16, 64, 10], 16) == [False, False]  # 16·16·64 = 2¹⁴
    assert first_layers([16, 64, 10], 17) == [own, False]
    assert first_layers([64, 128, 10], 257) == [False, False]  # more rows than the kernel's
    assert (fastbp.Network([4, 64, 2], seed=0).architecture.first_layer_transposed_min_work
            == _train.DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK)
    with pytest.raises(ValueError):
        fastbp.Network([4, 64, 2], seed=0).architecture.first_layer_transposed_min_work = -1


def test_first_layer_trained_transposed_only_in_epochs_of_four_batches_or_more():
    """Two transposes of W an epoch pay from four batches on (M2's and M1's shapes); with
    fewer, the first layer keeps W in place; never for batches larger than a chunk."""
    def first_transposed(arch, n, batch, chunk):
        paths = _train.plan(arch, chunk, np.float32, epoch_rows=n, batch_size=batch,
                            plain_sgd=True)
        return paths[0] == "inplace_gemm_transposed_weights"

    own = _kernels.avx512_kernels_run()
    m1 = fastbp.Network([64, 128, 10], loss="cross_entropy", seed=0).architecture
    m2 = fastbp.Network([784, 256, 128, 10], loss="cross_entropy", seed=0).architecture
    with _blas.limit_threads(1):
        for arch, batch in ((m1, 32), (m2, 64)):
            assert first_transposed(arch, 4 * batch, batch, batch) == own
            assert first_transposed(arch, 3 * batch + 1, batch, batch) == own
            assert not first_transposed(arch, 3 * batch, batch, batch)
            assert not first_transposed(arch, 4 * batch, 2 * batch, batch)
        m2.first_layer_transposed = False
        assert not first_transposed(m2, 4096, 64, 64)


def test_blas_min_work_is_per_network_and_rejects_negatives():
    net = fastbp.Network([40, 30, 2], seed=0)
    other = fastbp.Network([40, 30, 2], seed=0)
    net.architecture.blas_min_work = 0
    assert kinds(net.architecture, 1) == ["blas", "blas"]
    assert other.architecture.blas_min_work == _train.DEFAULT_BLAS_MIN_WORK
    with pytest.raises(ValueError):
        net.architecture.blas_min_work = -1


def test_show_config_reports_kernels_and_blas():
    config = fastbp.show_config(print_=False)
    assert config["simd"] == _kernels.simd_level()
    assert "dispatch" in config["simd"] or "portable" in config["simd"]
    assert "BLAS" in config["kernels"]
    assert ("AVX-512 in-place kernel" in config["own_gemm"]) == _kernels.avx512_kernels_run()
    m2 = fastbp.Network([784, 256, 128, 10], activation="relu", loss="cross_entropy").architecture
    m2_paths = _train.plan(m2, 64, np.float32, blas_threads=1, **epoch_of(100, 64))
    assert f"784-256-128-10 at batch 64: {', '.join(m2_paths)};" in config["plans"]


# ----- each threshold's edge, as plan_layers decides it ---------------------------------------

def arch_of(sizes, **settings):
    arch = fastbp.Network(sizes, loss="cross_entropy", seed=0).architecture
    for name, value in settings.items():
        setattr(arch, name, value)
    return arch


needs_avx512 = pytest.mark.skipif(not _kernels.avx512_kernels_run(),
                                  reason="fastbp's own matrix kernels need AVX-512")


@pytest.mark.parametrize("sizes,chunk,dtype,expected", [
    # DEFAULT_BLAS_MIN_WORK: 1024 multiply-adds a chunk go to BLAS, 1023 stay on the loops
    ([32, 32, 2], 1, np.float64, ["blas_transposed_input", "loops"]),
    ([31, 33, 2], 1, np.float64, ["loops", "loops"]),
    # DEFAULT_TRANSPOSE_MAX_WORK (10⁶ included) and TRANSPOSE_MIN_OUT (32 outputs)
    ([125, 250, 2], 32, np.float64, ["blas_transposed_input", "blas"]),
    ([126, 250, 2], 32, np.float64, ["blas", "blas"]),
    ([64, 31, 2], 32, np.float64, ["blas", "blas"]),
    # DELTA_TRANSPOSED_MIN_WEIGHTS (2²², float32 on BLAS; never layer 0 nor float64)
    ([8, 2048, 2048, 2], 4, np.float32, ["blas_transposed_input", "blas_transposed_delta", "blas"]),
    ([8, 2048, 2047, 2], 4, np.float32, ["blas_transposed_input", "blas", "blas"]),
    ([8, 2048, 2048, 2], 4, np.float64, ["blas_transposed_input", "blas", "blas"]),
])
def test_plan_at_the_edges_of_the_blas_thresholds(sizes, chunk, dtype, expected):
    """With fastbp's own kernels' thresholds out of reach: BLAS's paths alone."""
    arch = arch_of(sizes, inplace_gemm_min_work=1 << 62, packed_gemm_min_weights=1 << 62)
    assert _train.plan(arch, chunk, dtype, blas_threads=2) == expected


@needs_avx512
@pytest.mark.parametrize("sizes,chunk,settings,expected", [
    # DEFAULT_INPLACE_GEMM_MIN_WORK: above 10⁶ multiply-adds a chunk, not at it
    ([250, 251, 2], 16, {}, ["inplace_gemm", "blas"]),
    ([250, 250, 2], 16, {}, ["blas_transposed_input", "blas"]),
    ([250, 250, 2], 16, {"inplace_gemm_min_work": 999_999}, ["inplace_gemm", "blas"]),
    # INPLACE_GEMM_MAX_WEIGHTS (2¹⁹ included) and INPLACE_GEMM_MAX_ROWS (256 included)
    ([512, 1024, 2], 16, {}, ["inplace_gemm", "blas"]),
    ([513, 1024, 2], 16, {}, ["blas", "blas"]),
    ([300, 70, 2], 256, {}, ["inplace_gemm", "blas"]),
    ([300, 70, 2], 257, {}, ["blas", "blas"]),
    # DEFAULT_PACKED_GEMM_MIN_WEIGHTS: 2²⁰ weights included, the in-place kernel's first
    ([1024, 1024, 2], 4, {}, ["packed_gemm", "blas"]),
    ([1024, 1023, 2], 4, {}, ["blas", "blas"]),
    ([784, 256, 2], 64, {"packed_gemm_min_weights": 0}, ["inplace_gemm", "packed_gemm"]),
])
def test_plan_at_the_edges_of_the_own_kernels_thresholds(sizes, chunk, settings, expected):
    """float32, where fastbp's own kernels run: the same paths on one thread and on two (there
    split over a team: each of these networks leaves BLAS a small share of its work)."""
    assert _train.plan(arch_of(sizes, **settings), chunk, np.float32, blas_threads=1) == expected
    assert _train.plan(arch_of(sizes, **settings), chunk, np.float32, blas_threads=2) == expected


@needs_avx512
@pytest.mark.parametrize("sizes,chunk,batches,batch,expected", [
    # DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK: above 2¹⁴ multiply-adds a chunk
    ([16, 64, 2], 17, 4, 17, "inplace_gemm_transposed_weights"),
    ([16, 64, 2], 16, 4, 16, "blas_transposed_input"),
    # TILE_COLUMNS: outputs that fill whole tiles of 64 only
    ([64, 128, 2], 32, 4, 32, "inplace_gemm_transposed_weights"),
    ([64, 100, 2], 32, 4, 32, "blas_transposed_input"),
    # FIRST_LAYER_TRANSPOSED_MIN_BATCHES: 4 batches (a partial fourth included), not 3
    ([64, 128, 2], 32, 3.5, 32, "inplace_gemm_transposed_weights"),
    ([64, 128, 2], 32, 3, 32, "blas_transposed_input"),
    # batches no larger than the chunk
    ([64, 128, 2], 32, 4, 33, "blas_transposed_input"),
    # an in-place layer at any size stays one with the transposed weights
    ([784, 256, 2], 64, 4, 64, "inplace_gemm_transposed_weights"),
])
def test_plan_of_the_first_layer_trained_transposed(sizes, chunk, batches, batch, expected):
    arch = arch_of(sizes)
    epoch = {"epoch_rows": int(batches * batch), "batch_size": batch, "plain_sgd": True}
    assert _train.plan(arch, chunk, np.float32, blas_threads=1, **epoch)[0] == expected
    assert _train.plan(arch, chunk, np.float32, blas_threads=1,
                       **dict(epoch, plain_sgd=False))[0] != "inplace_gemm_transposed_weights"
    assert _train.plan(arch, chunk, np.float64, blas_threads=1, **epoch)[0] in (
        "blas", "blas_transposed_input")


def test_plan_takes_float32_or_float64_and_whole_chunks():
    arch = arch_of([4, 8, 2])
    with pytest.raises(ValueError, match="float32 or float64"):
        _train.plan(arch, 4, np.int32)
    with pytest.raises(ValueError, match="chunk"):
        _train.plan(arch, 0, np.float32)
    assert _train.plan(arch, 4, "float32") == _train.plan(arch, 4, np.dtype(np.float64))


def test_transposed_input_and_delta_together_where_the_thresholds_allow(problem, rel_err):
    """With transpose_max_work raised past a layer of 2²² weights, its forward product takes
    its input transposed and its input delta is computed transposed, each as alone; training
    stays with the reference."""
    net = fastbp.Network([6, 2048, 2048, 3], activation="tanh", loss="cross_entropy",
                         dtype="float32", seed=7, n_threads=2)
    net.architecture.transpose_max_work = 1 << 62
    net.architecture.packed_gemm_min_weights = 1 << 62  # (else the packed kernel takes it)
    assert _train.plan(net.architecture, 4, np.float32, blas_threads=2) == [
        "blas_transposed_input", "blas_transposed_input_and_delta", "blas"]
    assert _train.plan(net.architecture, 4, np.float64, blas_threads=2) == [
        "blas_transposed_input", "blas_transposed_input", "blas"]
    X, y = problem("cross_entropy", 6, 3, 8, seed=13)
    ref = ReferenceNetwork.like(net)
    net.fit(X, y, epochs=1, batch_size=4, lr=0.05, shuffle=False)
    ref.fit(X, y, epochs=1, batch_size=4, lr=0.05)
    if _blas.thread_control() is not None:  # (else BLAS's own count: no plan to compare with)
        assert net.architecture.last_plan == _train.plan(net.architecture, 4, np.float32,
                                                          blas_threads=2)
    for ours, theirs in zip([np.array(a, np.float64) for pair in zip(net.weights, net.biases)
                             for a in pair], [a for pair in zip(ref.weights, ref.biases)
                                              for a in pair]):
        assert rel_err(ours, theirs) < 1e-4


# ----- the compiled calls run the plan that plan() reports ------------------------------------

@pytest.mark.parametrize("sizes,dtype,n_threads,fit_options", [
    ([3, 8, 8, 1], "float64", 1, {"batch_size": 1}),
    ([64, 128, 10], "float32", 1, {"batch_size": 32}),
    ([64, 128, 10], "float64", 1, {"batch_size": 32}),
    ([64, 128, 10], "float32", 1, {"batch_size": 32, "optimizer": "adam"}),
    ([784, 256, 128, 10], "float32", 1, {"batch_size": 64}),
    ([784, 256, 128, 10], "float32", 1, {"batch_size": 64, "alpha": 1e-3}),
    ([784, 256, 128, 10], "float32", 2, {"batch_size": 64}),
    ([40, 1100, 1000, 5], "float32", 1, {"batch_size": 60}),
])
def test_training_loss_and_predict_run_the_reported_plan(sizes, dtype, n_threads, fit_options,
                                                          problem):
    """The plan a compiled call used (Architecture.last_plan, written by the call from its
    workspace's paths) is plan() with that call's arguments: an epoch of plain SGD plans its
    first layer trained transposed where it pays, other calls do not."""
    loss = "mse" if sizes[-1] == 1 else "cross_entropy"
    X, y = problem(loss, sizes[0], sizes[-1], 300, seed=3)
    net = fastbp.Network(sizes, activation="relu", loss=loss, dtype=dtype, seed=1,
                         n_threads=n_threads)
    assert net.architecture.last_plan is None
    net.fit(X, y, epochs=1, lr=0.01, shuffle=False, **fit_options)
    batch = fit_options["batch_size"]
    plain_sgd = set(fit_options) == {"batch_size"}
    threads = _blas.get_threads() if _blas.thread_control() is None else n_threads
    expected = _train.plan(net.architecture, min(batch, net.CHUNK_ROWS), dtype,
                           epoch_rows=len(X), batch_size=batch, plain_sgd=plain_sgd,
                           blas_threads=threads)
    assert net.architecture.last_plan == expected
    if plain_sgd and dtype == "float32" and threads == 1 and _kernels.avx512_kernels_run():
        assert expected[0] == ("inplace_gemm_transposed_weights" if sizes[1] in (128, 256)
                               else expected[0])
    net.predict(X[:100])
    assert net.architecture.last_plan == _train.plan(net.architecture, 100, dtype,
                                                      blas_threads=threads)
    net.loss(X, y)
    assert net.architecture.last_plan == _train.plan(net.architecture, min(len(X), 256), dtype,
                                                      blas_threads=threads)

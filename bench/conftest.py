"""Shared machinery of the benchmark suite: the smoke switch, the Workload, and `measure`,
which times one implementation of a workload, checks what it learned and records extra_info.

Every benchmark of a module shares one group (T1, M1, M2, L1), so fastbp, the numpy reference
and the peers are timed in the same run on the same machine; ratios, not wall times, are the
result. Each round trains a freshly built network from the same seed (construction is in the
untimed setup), and every run is checked afterwards: fastbp must reach the reference's final loss
from the same initial weights, so a fast but wrong kernel fails its benchmark.

FASTBP_BENCH_SMOKE=1 shrinks samples and epochs so that the whole suite runs in seconds (CI runs
it with --benchmark-disable: no timing, but every result is still checked).

FASTBP_BENCH_THREADS=n (default 1) runs every entry on n threads: fastbp's n_threads, the
BLAS libraries (environment and threadpoolctl), PyTorch's intra-op threads and XLA's.
"""
import functools
import os
import platform
import warnings
from pathlib import Path

# One thread everywhere unless FASTBP_BENCH_THREADS says otherwise (the figures in
# shared/BENCHMARKS.md are single-threaded). The environment reaches BLAS libraries (and XLA)
# loaded after this point; threadpoolctl, below, also limits the ones already loaded.
THREADS = int(os.environ.get("FASTBP_BENCH_THREADS", "1"))
if THREADS < 1:
    raise ValueError(f"FASTBP_BENCH_THREADS must be >= 1, got {THREADS}")
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, str(THREADS))
os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen={str(THREADS > 1).lower()} "
                                   f"intra_op_parallelism_threads={THREADS}")
# The process runs on THREADS CPUs. JAX's CPU runtime ignores the XLA flags above and sizes
# its thread pool by the CPU affinity (it ran L1 on both cores of a 2-core machine with them
# set); pinning also keeps every other entry's helper threads to the same share of the machine.
CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
if CPUS and THREADS < len(CPUS):
    os.sched_setaffinity(0, CPUS[:THREADS])

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastbp  # noqa: E402
from fastbp.reference import ReferenceNetwork  # noqa: E402

try:
    import threadpoolctl
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
    threadpoolctl = None

SMOKE = os.environ.get("FASTBP_BENCH_SMOKE", "") == "1"
SEED = 0
# float32 fastbp against the float64 reference after a whole training run: relative agreement
# of the final loss (seen: 1e-6 to 1e-4; a wrong gradient is off by far more).
FLOAT32_VS_REFERENCE = 1e-2
# The reference is deterministic: timing rounds and a separate check run agree to rounding.
REFERENCE_REPEAT = 1e-9
_records = []  # one per timed benchmark, for the summary at the end of the run


# ----- the machine ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _describe(info):
    description = f"{info.get('internal_api', '?')} {info.get('version', '?')}"
    if info.get("architecture"):
        description += f" ({info['architecture']})"
    return description


def blas_libraries():
    """Every BLAS loaded into the process, as {file name: library and kernel}."""
    if threadpoolctl is None:
        return {}
    return {Path(info.get("filepath", "?")).name: _describe(info)
            for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"}


@functools.lru_cache(maxsize=None)
def blas_kernel():
    """numpy's BLAS and the kernel it runs (OpenBLAS's core type), via threadpoolctl."""
    if threadpoolctl is None:
        return "unknown"
    blas = [info for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]
    # numpy's own library, not another one loaded into the process (scipy's, torch's).
    blas.sort(key=lambda info: "numpy" not in info.get("filepath", ""))
    return _describe(blas[0]) if blas else "unknown"


@pytest.fixture(scope="session", autouse=True)
def _steady_process():
    """One BLAS thread, and the allocator in the state every benchmark sees, whatever ran first.

    glibc serves blocks above its mmap threshold (128 KiB at start) by mmap, paying page
    faults on every allocation, and raises the threshold when such a block is freed, up to
    32 MiB. The numpy reference allocates per batch: it ran up to twice as fast in a process
    that had once freed a large array (after L1, say) as in a fresh one. Freeing one such
    block first gives every benchmark the raised threshold, in any order or selection.
    """
    block = np.empty(30 << 20, dtype=np.uint8)  # 30 MiB: under glibc's 32 MiB cap
    del block
    blas_kernel()  # read before any peer loads its own BLAS
    if threadpoolctl is None:
        yield
        return
    with threadpoolctl.threadpool_limits(limits=THREADS):
        yield


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["cpu_model"] = cpu_model()
    machine_info["blas"] = blas_kernel()
    machine_info["blas_libraries"] = blas_libraries()  # fastbp's may be scipy's, not numpy's
    machine_info["fastbp_own_gemm"] = fastbp.show_config(print_=False)["own_gemm"]
    machine_info["openblas_coretype"] = os.environ.get("OPENBLAS_CORETYPE", "")
    machine_info["smoke"] = SMOKE
    machine_info["threads"] = THREADS
    machine_info["cpu_affinity"] = sorted(os.sched_getaffinity(0)) if CPUS else None


# ----- workloads --------------------------------------------------------------------------------
class Workload:
    """One benchmark workload: its data and how every implementation trains on it.

    X and y are kept in float64 for the reference and as float32 (X, and y for mse) for fastbp
    and the peers, converted once here so that no timed run pays for it. Training visits the
    samples in order (no shuffle) in batches of `batch_size`, for `epochs`, at learning rate
    `lr`; fastbp networks are float32 and built from `SEED`.
    """

    def __init__(self, name, sizes, activation, loss, X, y, epochs, batch_size, lr,
                 output=None, rounds=3, note=None):
        self.name = name
        self.sizes = tuple(sizes)
        self.activation = activation
        self.loss = loss
        self.output = output
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.rounds = 1 if SMOKE else rounds
        self.note = note
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        if loss == "cross_entropy":
            self.y = np.ascontiguousarray(y, dtype=np.intp)
            self.y32 = self.y
        else:
            self.y = np.ascontiguousarray(y, dtype=np.float64)
            self.y32 = self.y.astype(np.float32)
        self.X32 = self.X.astype(np.float32)
        self._reference_loss = None

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def batches_per_epoch(self):
        """Batches of one epoch, the last one possibly partial."""
        return -(-self.n_samples // self.batch_size)

    @property
    def samples_trained(self):
        """Samples visited by one training run: the numerator of samples/s."""
        return self.epochs * self.n_samples

    def network(self, n_threads=None):
        """A fresh float32 fastbp network, the same weights every call, on n_threads threads
        (None: the run's, FASTBP_BENCH_THREADS)."""
        return fastbp.Network(self.sizes, activation=self.activation, output=self.output,
                              loss=self.loss, dtype="float32", seed=SEED,
                              n_threads=THREADS if n_threads is None else n_threads)

    def reference_network(self):
        """A fresh float64 reference with the initial weights of network()."""
        return ReferenceNetwork.like(self.network())

    def fit_fastbp(self, net):
        net.fit(self.X32, self.y32, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                shuffle=False)
        return net

    def fit_reference(self, ref):
        ref.fit(self.X, self.y, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)
        return ref

    @functools.cached_property
    def initial_loss(self):
        """The untrained loss, from the weights every run starts with."""
        return self.reference_network().loss(self.X, self.y)

    def reference_loss(self):
        """The reference's final loss: the one its benchmark recorded, else trained now."""
        if self._reference_loss is None:
            self._reference_loss = self.fit_reference(self.reference_network()).loss(self.X, self.y)
        return self._reference_loss

    def remember_reference_loss(self, loss):
        """Keep the reference benchmark's result, so that the group's checks need not train again."""
        if self._reference_loss is None:
            self._reference_loss = loss
        assert loss == pytest.approx(self._reference_loss, rel=REFERENCE_REPEAT)


def _learned(workload, final_loss, initial_loss=None, who=""):
    initial_loss = workload.initial_loss if initial_loss is None else initial_loss
    assert np.isfinite(final_loss), f"{workload.name} {who}: final loss {final_loss}"
    assert final_loss < initial_loss, (
        f"{workload.name} {who}: loss {final_loss:.6g} did not fall below the untrained "
        f"{initial_loss:.6g}")


# ----- measuring ----------------------------------------------------------------------------------
class Measure:
    """Time one implementation of a workload, check its result, record extra_info.

    Each method runs ``benchmark.pedantic`` with a setup that builds a fresh model (untimed),
    ``workload.rounds`` rounds of one training run each (one round in smoke mode), then
    evaluates the trained model on the training data.
    """

    def reference(self, benchmark, workload, rounds=None):
        ref = benchmark.pedantic(workload.fit_reference,
                                 setup=lambda: ((workload.reference_network(),), {}),
                                 rounds=self._rounds(workload, rounds), iterations=1)
        final_loss = ref.loss(workload.X, workload.y)
        workload.remember_reference_loss(final_loss)
        _learned(workload, final_loss, who="reference")
        _record(benchmark, workload, "reference", "float64", final_loss)

    def fastbp(self, benchmark, workload, rounds=None, n_threads=None):
        """fastbp on the run's threads, or on n_threads (fewer than the run's: the entry beside
        the default that shows what the extra threads give, in the same run)."""
        if n_threads is not None and n_threads >= THREADS:
            pytest.skip(f"fastbp on {n_threads} thread(s) needs a run on more "
                        f"(FASTBP_BENCH_THREADS={n_threads + 1})")
        more = {} if n_threads is None else {"threads": n_threads}
        net = benchmark.pedantic(workload.fit_fastbp,
                                 setup=lambda: ((workload.network(n_threads),), {}),
                                 rounds=self._rounds(workload, rounds), iterations=1)
        final_loss = net.loss(workload.X32, workload.y32)
        expected = workload.reference_loss()
        assert final_loss == pytest.approx(expected, rel=FLOAT32_VS_REFERENCE), (
            f"{workload.name}: fastbp's final loss {final_loss:.8g} is not the reference's "
            f"{expected:.8g} (same initial weights, same batches)")
        _learned(workload, final_loss, who="fastbp")
        _record(benchmark, workload, "fastbp", net.dtype.name, final_loss,
                reference_loss=expected, fastbp_version=fastbp.__version__, **more)

    def torch(self, benchmark, workload, rounds=None):
        """PyTorch eager: nn.Sequential of Linear layers with fastbp's initial weights, float32,
        torch.optim.SGD (no momentum) over in-order batches."""
        import torch

        torch.set_num_threads(THREADS)
        X = torch.from_numpy(workload.X32)
        if workload.loss == "cross_entropy":
            Y = torch.from_numpy(workload.y.astype(np.int64))
            loss_fn = torch.nn.functional.cross_entropy
        elif workload.loss == "mse" and (workload.output or "identity") == "identity":
            Y = torch.from_numpy(workload.y32.reshape(workload.n_samples, -1))

            def loss_fn(out, target):  # fastbp's mse: mean over samples of ½Σₖ(ŷₖ − yₖ)²
                return 0.5 * ((out - target) ** 2).sum(dim=1).mean()
        else:
            raise NotImplementedError(f"no torch variant for loss {workload.loss!r}")
        peers_torch = load_bench_module("peers_torch")

        def setup():
            model = peers_torch.sequential_like(workload.network(), workload.activation)
            return (model, torch.optim.SGD(model.parameters(), lr=workload.lr)), {}

        def fit(model, optimizer):
            n, batch = workload.n_samples, workload.batch_size
            for _ in range(workload.epochs):
                for start in range(0, n, batch):
                    optimizer.zero_grad()
                    loss = loss_fn(model(X[start:start + batch]), Y[start:start + batch])
                    loss.backward()
                    optimizer.step()
            return model

        model = benchmark.pedantic(fit, setup=setup, rounds=self._rounds(workload, rounds),
                                   iterations=1)
        with torch.no_grad():
            final_loss = float(loss_fn(model(X), Y))
        _learned(workload, final_loss, who="torch")
        _record(benchmark, workload, "torch", "float32", final_loss, torch_version=torch.__version__,
                torch_threads=torch.get_num_threads())

    def sklearn(self, benchmark, workload, rounds=None):
        """scikit-learn's MLPClassifier / MLPRegressor: plain SGD (no momentum, no L2, constant
        rate, no early stopping), in-order batches, float32 data (which it keeps in float32).
        Its own initialisation (Glorot, from random_state)."""
        import sklearn
        from sklearn.base import clone
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        activation = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}[workload.activation]
        if workload.loss == "cross_entropy":
            estimator_class = MLPClassifier
        elif workload.loss == "mse" and (workload.output or "identity") == "identity":
            estimator_class = MLPRegressor
        else:
            raise NotImplementedError(f"no scikit-learn variant for loss {workload.loss!r}")
        y = workload.y32 if estimator_class is MLPRegressor else workload.y
        estimator = estimator_class(
            hidden_layer_sizes=workload.sizes[1:-1], activation=activation, solver="sgd",
            alpha=0.0, batch_size=workload.batch_size, learning_rate="constant",
            learning_rate_init=workload.lr, max_iter=workload.epochs, shuffle=False,
            random_state=SEED, momentum=0.0, nesterovs_momentum=False, early_stopping=False,
            n_iter_no_change=workload.epochs + 1)

        def loss_of(fitted):
            if estimator_class is MLPRegressor:
                residual = fitted.predict(workload.X32).astype(np.float64) - workload.y
                return 0.5 * float(np.mean(residual ** 2))
            proba = fitted.predict_proba(workload.X32).astype(np.float64)
            rows = np.arange(workload.n_samples)
            return -float(np.mean(np.log(np.clip(proba[rows, workload.y], 1e-300, None))))

        with warnings.catch_warnings():
            # max_iter is the epoch count, so "not converged" is expected.
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = benchmark.pedantic(lambda est: est.fit(workload.X32, y),
                                        setup=lambda: ((clone(estimator),), {}),
                                        rounds=self._rounds(workload, rounds), iterations=1)
            # Its untrained loss: the same random_state gives the same initial weights, and one
            # full-batch step at lr 1e-12 leaves them unchanged to float32 rounding.
            untrained = clone(estimator).set_params(
                max_iter=1, learning_rate_init=1e-12, batch_size=workload.n_samples)
            initial_loss = loss_of(untrained.fit(workload.X32, y))
        final_loss = loss_of(fitted)
        _learned(workload, final_loss, initial_loss, who="scikit-learn")
        _record(benchmark, workload, "sklearn", fitted.coefs_[0].dtype.name, final_loss,
                initial_loss=initial_loss, sklearn_version=sklearn.__version__)

    def numba(self, benchmark, workload, rounds=None):
        """Numba: bench/peers_numba.py's @njit epoch loop for the workload, from fastbp's
        initial weights, float32; compiled on a few samples first (not timed)."""
        peers = _peer("numba")
        import numba

        train = getattr(peers, f"train_{workload.name.lower()}")
        start = workload.network()
        peers.warm_up(train, start.weights, start.biases, workload.X32, workload.y32,
                      workload.batch_size)

        self._time_in_place(
            benchmark, workload, rounds, peers.copies(start.weights, start.biases),
            lambda weights, biases: train(weights, biases, workload.X32, workload.y32,
                                          workload.epochs, workload.batch_size, workload.lr),
            "numba", numba_version=numba.__version__)

    def jax(self, benchmark, workload, rounds=None):
        """JAX: bench/peers_jax.py's jit + lax.scan trainer for the workload, from fastbp's
        initial weights, float32; data on the device and compiled ahead of time (not timed)."""
        peers = _peer("jax")
        import jax

        start = workload.network()
        trainer = getattr(peers, f"train_{workload.name.lower()}")(
            start.weights, start.biases, workload.X32, workload.y32, workload.epochs,
            workload.batch_size, workload.lr).compile()
        weights, biases = benchmark.pedantic(trainer.run, rounds=self._rounds(workload, rounds),
                                             iterations=1)
        self._check_peer(benchmark, workload, "jax", weights, biases, jax_version=jax.__version__,
                         jax_backend=jax.default_backend())

    def fused_c(self, benchmark, workload, rounds=None):
        """T1's hand-fused C loop (bench/peer_fused_t1.c, -O3 -march=native), from fastbp's
        initial weights; skipped without a C compiler."""
        peers = load_bench_module("peers_c")
        lib = peers.library("fused_t1")
        if lib is None:
            pytest.skip("no working C compiler for the fused C loop")
        start = workload.network()

        self._time_in_place(
            benchmark, workload, rounds, peers.copies(start.weights, start.biases),
            lambda weights, biases: peers.train_fused(lib, weights, biases, workload.X32,
                                                      workload.y32, workload.epochs, workload.lr),
            "fused C loop", compiler=f"{peers.compiler()} {' '.join(peers.FLAGS)}")

    def sgemm(self, benchmark, workload, rounds=None):
        """The ceiling of a workload of large layers: one run's matrix products alone, as
        single-precision GEMM calls into scipy's BLAS (the library fastbp's large layers call;
        threads limited as for every entry), with the shapes of each batch's forward,
        weight-gradient and input-gradient products. Its samples/s are what training would
        reach if it were nothing but those products; fastbp's over it is the fraction of sgemm
        speed reached. The operands are F-ordered views of row-major arrays (no copies in the
        wrapper)."""
        from scipy.linalg.blas import sgemm

        rng = np.random.default_rng(0)
        rows = workload.batch_size
        acts = [rng.standard_normal((rows, n), dtype=np.float32) for n in workload.sizes]
        weights = [rng.standard_normal((n_out, n_in), dtype=np.float32)
                   for n_in, n_out in zip(workload.sizes, workload.sizes[1:])]
        # The results land in preallocated F-ordered buffers (overwrite_c): no allocation.
        outputs = [np.empty_like(a).T for a in acts]
        grads = [np.empty_like(W).T for W in weights]
        n_batches = workload.epochs * workload.batches_per_epoch

        def products():
            for _ in range(n_batches):
                for layer, W in enumerate(weights):  # Z = A·Wᵀ, as Zᵀ = W·Aᵀ
                    sgemm(1.0, W.T, acts[layer].T, c=outputs[layer + 1], trans_a=True,
                          overwrite_c=True)
                for layer in reversed(range(len(weights))):
                    dZ = acts[layer + 1]
                    sgemm(1.0, acts[layer].T, dZ.T, c=grads[layer], trans_b=True,
                          overwrite_c=True)  # dW = dZᵀ·A
                    if layer:
                        sgemm(1.0, weights[layer].T, dZ.T, c=outputs[layer],
                              overwrite_c=True)  # dA = dZ·W

        benchmark.pedantic(products, rounds=self._rounds(workload, rounds), iterations=1)
        _record(benchmark, workload, "sgemm", "float32", float("nan"))

    def fann(self, benchmark, workload, rounds=None):
        """FANN 2.2 (bench/peer_fann_t1.c), incremental training from fastbp's initial
        weights; skipped unless FANN's headers and library are installed."""
        peers = load_bench_module("peers_c")
        lib = peers.library("fann_t1", "floatfann")
        if lib is None:
            pytest.skip("FANN (libfann-dev) is not installed")
        start = workload.network()
        networks = []

        def setup():  # building the network and copying the data in is not timed
            networks.append(peers.Fann(lib, *peers.copies(start.weights, start.biases),
                                       workload.X32, workload.y32, workload.lr))
            return (networks[-1],), {}

        last = benchmark.pedantic(lambda net: net.train(workload.epochs), setup=setup,
                                  rounds=self._rounds(workload, rounds), iterations=1)
        weights, biases = last.parameters(*peers.copies(start.weights, start.biases))
        for net in networks[:-1]:
            net.parameters(*peers.copies(start.weights, start.biases))  # frees it
        self._check_peer(benchmark, workload, "FANN", weights, biases, fann="2.2 (floatfann)")

    def _time_in_place(self, benchmark, workload, rounds, start, train, implementation, **more):
        """Time `train(weights, biases)`, which trains its arguments in place, each round on
        fresh copies of `start` (made untimed), then check the last round's result."""
        def fit(weights, biases):
            train(weights, biases)
            return weights, biases

        weights, biases = benchmark.pedantic(
            fit, setup=lambda: (([W.copy() for W in start[0]], [b.copy() for b in start[1]]), {}),
            rounds=self._rounds(workload, rounds), iterations=1)
        self._check_peer(benchmark, workload, implementation, weights, biases, **more)

    @staticmethod
    def _check_peer(benchmark, workload, implementation, weights, biases, **more):
        """A peer trained from fastbp's initial weights on the same batches: its weights, put
        into a fastbp network, must give the reference's final loss."""
        net = workload.network()
        net.set_weights(weights, biases)
        final_loss = net.loss(workload.X32, workload.y32)
        expected = workload.reference_loss()
        assert final_loss == pytest.approx(expected, rel=FLOAT32_VS_REFERENCE), (
            f"{workload.name}: {implementation}'s final loss {final_loss:.8g} is not the "
            f"reference's {expected:.8g} (same initial weights, same batches)")
        _learned(workload, final_loss, who=implementation)
        _record(benchmark, workload, implementation, "float32", final_loss,
                reference_loss=expected, **more)

    @staticmethod
    def _rounds(workload, rounds):
        return 1 if SMOKE else (rounds or workload.rounds)

    def prediction(self, benchmark, workload, implementation, predict, X, expected, rtol,
                   rounds=15, iterations=1, **more):
        """Time `predict(X)` (`iterations` calls a round, `rounds` rounds; one of each in smoke
        mode), check its output against `expected` (the reference's probabilities or values)
        and record rows/s as the table's samples/s. `workload`: a name (T1, M1, M2), and so
        the group's first column; `more` goes to extra_info."""
        if SMOKE:
            rounds = iterations = 1
        out = benchmark.pedantic(predict, args=(X,), rounds=rounds, iterations=iterations,
                                 warmup_rounds=0 if SMOKE else 1)
        out = np.asarray(out, dtype=np.float64).reshape(expected.shape)
        np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * 1e-2,
                                   err_msg=f"{workload}: {implementation}'s predictions")
        info = benchmark.extra_info
        info.update(workload=workload, implementation=implementation, threads=THREADS,
                    rows=X.shape[0], samples=X.shape[0], cpu=cpu_model(), blas=blas_kernel(),
                    smoke=SMOKE, **more)
        stats = benchmark.stats  # None under --benchmark-disable
        if stats:
            median = stats.stats.median
            info.update(seconds_median=median, rows_per_s=X.shape[0] / median,
                        microseconds_per_call=median * 1e6)
            _records.append(dict(group=benchmark.group, name=benchmark.name,
                                 extra_info=dict(info), stats={"median": median}))


def _record(benchmark, workload, implementation, dtype, final_loss, **more):
    info = benchmark.extra_info
    info.update(
        workload=workload.name, implementation=implementation, threads=THREADS, dtype=dtype,
        n_samples=workload.n_samples, epochs=workload.epochs, batch_size=workload.batch_size,
        lr=workload.lr, samples=workload.samples_trained, cpu=cpu_model(), blas=blas_kernel(),
        smoke=SMOKE, final_loss=float(final_loss), initial_loss=float(workload.initial_loss))
    if workload.note:
        info["note"] = workload.note
    info.update(more)
    stats = benchmark.stats  # None under --benchmark-disable
    if stats:
        median, best = stats.stats.median, stats.stats.min
        info.update(seconds_median=median, samples_per_s=workload.samples_trained / median,
                    samples_per_s_best=workload.samples_trained / best)
        _records.append(dict(group=benchmark.group, name=benchmark.name, extra_info=dict(info),
                             stats={"median": median}))


@pytest.fixture(scope="session")
def smoke():
    """True under FASTBP_BENCH_SMOKE=1: modules shrink their samples and epochs."""
    return SMOKE


@pytest.fixture(scope="session")
def m2_workload(smoke):
    """M2's data and settings (bench_m2 and bench_optimizers time it), built once a session."""
    from fastbp.datasets import gaussian_classes
    X, y = gaussian_classes(1_024 if smoke else 60_000, 784, 10, seed=0)
    return Workload("M2", sizes=(784, 256, 128, 10), activation="relu", loss="cross_entropy",
                    X=X, y=y, epochs=1, batch_size=64, lr=0.05)


@pytest.fixture(scope="session")
def make_workload():
    """The Workload class, for the modules' workload fixtures."""
    return Workload


@pytest.fixture(scope="session")
def measure():
    return Measure()


@pytest.fixture(scope="session")
def bench_module():
    """load_bench_module: a script beside this file (memory_m2, ...) as a module."""
    return load_bench_module


# ----- modules beside this file (bench/ is not a package, and importlib mode keeps it off sys.path)
@functools.lru_cache(maxsize=None)
def load_bench_module(name):
    """bench/<name>.py as a module."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"fastbp_bench_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _peer(library):
    """bench/peers_<library>.py, or skip the test when <library> is not installed."""
    pytest.importorskip(library)
    return load_bench_module(f"peers_{library}")


def _load_report():
    return load_bench_module("report")


def pytest_terminal_summary(terminalreporter):
    if not _records:
        return
    terminalreporter.section("fastbp: samples/s, and ratio to the reference in each group")
    for line in _load_report().table(_records):
        terminalreporter.write_line(line)
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
        terminalreporter.write_line(
            "note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set, which slows OpenBLAS (numpy, "
            "scikit-learn); compare with both unset: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE")

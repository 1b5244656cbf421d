"""The compiled trainer: whole epochs, full-data losses, gradients and predictions.

Each entry point extracts pointers while it holds the GIL, then runs all of its batches
and chunks in one ``nogil`` block. Nothing here raises once the work has begun: training
returns a status code that Python turns into a result or an exception.

Memory: parameters and gradients are flat arrays laid out by :class:`Architecture`
(per layer, W row-major (n_out, n_in) then b). Data is processed in chunks of at most
``chunk`` rows through a workspace the caller allocates once per call
(``Architecture.workspace_size(chunk)`` elements): one activation buffer per layer, two
delta buffers, and room to gather shuffled input and target rows.

Large layers go through BLAS (fastbp._blas), small ones through fastbp's own compiled
loops: a call into BLAS costs about a microsecond, which only pays off above a certain
amount of work. The larger float32 layers take fastbp's own matrix kernels instead of BLAS
where they run (AVX-512, one thread): the in-place kernel up to 2¹⁹ weights, the packed one
from 2²⁰. The choice is made per layer once per call, from the chunk size.
"""
from cpython.exc cimport PyErr_CheckSignals, PyErr_Clear
from cython cimport floating
from libc.limits cimport INT_MAX
from libc.math cimport isfinite, sqrt, INFINITY
from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

import numpy as np

from fastbp._blas cimport gemm, blas_threads
from fastbp._kernels cimport (
    dense_forward, bias_activate, activate, activation_backward, loss_and_delta,
    output_probabilities, dense_backward_params, dense_backward_input, bias_backward,
    dense_step_one, sgd_step, train_per_example_mse, transpose, all_finite, GELU, IDENTITY,
    MSE, sgemm, sgemm_fast, sgemm_packed, sgemm_packed_work, stranspose,
    FBP_MAX_FUSED_LAYERS,
)
from fastbp._optim cimport optimizer_step, SGD


cdef extern from "fastbp_random.h" nogil:
    ctypedef struct fbp_rng:
        pass
    void fbp_rng_seed(fbp_rng* rng, uint64_t seed)
    double fbp_rng_uniform(fbp_rng* rng)


cdef extern from "fastbp_clock.h" nogil:
    double fbp_monotonic_seconds()

# How often a long epoch looks up from its batches (for Ctrl-C and the time budget).
cdef double CHECK_SECONDS = 0.1

# A layer goes to BLAS when chunk × n_in × n_out (multiply-adds per pass) reaches this;
# measured on Zen 5 with scipy's OpenBLAS, BLAS wins from about 1,000 (e.g. 8-8-1 at batch
# 16: 2× faster) and the compiled loops below that (3-8-8-1 per example: 3× faster).
DEFAULT_BLAS_MIN_WORK = 1024

# A BLAS layer's forward product takes its input transposed (feature-major, one transpose per
# chunk) when chunk × n_in × n_out is at most this and n_out at least TRANSPOSE_MIN_OUT.
# Measured with scipy's OpenBLAS 0.3.30 (an AVX-512 Xeon; SkylakeX and Haswell kernels; float
# and double): for products of up to 10⁶ multiply-adds, its small-matrix kernels compute X·Wᵀ
# twice as fast from Xᵀ ('T','T') as from X ('T','N'), e.g. M1's 32×64 by 64×128 in 2.9 µs
# instead of 5.6 µs; above, the two are within a few percent. Narrow outputs gain too little
# to pay for the transpose (32×128 by 128×10: 0.5 µs instead of 0.6).
DEFAULT_TRANSPOSE_MAX_WORK = 1_000_000
cdef Py_ssize_t TRANSPOSE_MIN_OUT = 32

# A float32 BLAS layer whose products exceed this many multiply-adds per chunk of at most
# OWN_GEMM_MAX_ROWS rows, and whose weights fit in OWN_GEMM_MAX_WEIGHTS, goes to fastbp's own
# kernel (src_c/fastbp_gemm.c) when the CPU has AVX-512 and BLAS would run on one thread (the
# kernel is single-threaded). Measured against scipy's OpenBLAS 0.3.30 on an AVX-512 Xeon:
# M2's 64×784·784×256 forward product 1.4–1.5× as fast (from 210 to 145 µs), its second
# layer's products 1.3–1.4×, M2's whole epoch 1.1–1.2× (transposes included); M1's products of
# 0.26·10⁶ stay with OpenBLAS's small-matrix kernels, 10 % faster there.
DEFAULT_OWN_GEMM_MIN_WORK = 1_000_000
# 2 MB of float32 weights, an L2 cache of the CPUs measured: with larger W (L1's 2048 × 2048),
# the kernel, which reads W in place where OpenBLAS packs it, loses (L1's epoch 11 % slower;
# its weight update 117 against 153 GFLOP/s; with aligned buffers still 9 % slower). Layers of
# 2²⁰ weights or more take the packed kernel (DEFAULT_PACKED_GEMM_MIN_WEIGHTS).
cdef Py_ssize_t OWN_GEMM_MAX_WEIGHTS = 1 << 19
# M2's epoch at batch 32, 64, 128, 256: 1.4, 1.23, 1.13, 1.05× OpenBLAS's speed (predict and
# full-batch passes over 20,000 rows, 256 a chunk: 1.02–1.06×). Larger chunks are not measured.
cdef Py_ssize_t OWN_GEMM_MAX_ROWS = 256
# A float32 BLAS layer on BLAS (not on fastbp's kernels: BLAS on two threads or more, or a CPU
# without AVX-512) of at least this many weights computes its input delta transposed,
# dAᵀ = Wᵀ·dZᵀ, then transposes it back (one chunk × n_in transpose):
# scipy's OpenBLAS 0.3.30 computes dA = dZ·W ('N','N') well below its speed on the other two
# products of such layers. Measured on an AVX-512 Xeon, products alone, dA then dAᵀ: L1's
# 256 × 2048 by 2048 × 2048 101 → 118 GFLOP/s (L1's epoch 1.05×), 32 rows 46 → 62, 128 × 4096
# by 4096 × 1024 89 → 92; below, nothing to gain or a loss (256 × 1024 by 1024 × 1024: 142 →
# 137, before the transpose).
cdef Py_ssize_t DELTA_TRANSPOSED_MIN_WEIGHTS = 1 << 22
# The first layer trained transposed (first_layer_transposed: plain SGD) has no transposes
# around the kernel, which then pays on far smaller products, provided its outputs fill whole
# tiles of 64 columns. Measured against OpenBLAS over whole epochs (the layers after it on
# OpenBLAS): M1's 64→128 at batch 32 (0.26·10⁶ multiply-adds) 1.04–1.06×; 64→64 and 32→128
# at 32, 128→128 at 16: 1.08–1.14×; 16→64 at 32 (33·10³): 1.08×; 64→128 at batch 2–8:
# 1.4–2×. Outputs that do not fill their last tile lose: 100 at batch 32 0.91–0.96×, 32
# at 32 0.97×.
DEFAULT_OWN_GEMM_FIRST_LAYER_MIN_WORK = 1 << 14
# An epoch trains the first layer transposed only if it has this many batches or more: the two
# transposes of W per epoch cost about what they save on a batch. Measured with 1, 2, 4, 8 or
# 45 batches an epoch: M2's shape 0.85, 0.95, 1.00, 1.03× the in-place kernel; M1's 0.90,
# 0.97, 1.00 and 1.06× OpenBLAS (at 45).
cdef Py_ssize_t FIRST_LAYER_TRANSPOSED_MIN_BATCHES = 4
# A float32 BLAS layer that is not on the kernel above and has at least this many weights
# takes fastbp's packed kernel (src_c/fastbp_gemm_packed.c) under the same conditions (AVX-512,
# one BLAS thread). Like OpenBLAS, it copies blocks of both operands into a buffer in the order
# its tiles read them; unlike it, it packs a transposed operand as it copies (no transposes
# around it) and prefetches each panel of B into L1 ahead of the tile. Measured over whole
# epochs against scipy's OpenBLAS 0.3.30 on an AVX-512 Xeon: L1's 1024-2048-2048 at batch 256,
# 64, 32, 16, 4, 1: 1.11, 1.17, 1.23, 1.36, 1.63, 1.48×; 1024-1024-1024 at 256, 32, 4: 1.07,
# 1.20, 1.36×; 4096→1024 at 128 1.11×, 256→4096 at 64 1.02×. Below 2²⁰ weights it does not
# pay everywhere: 784→1024 at 256 and 32 1.00 and 0.99× (1.10× at 4), 512→512 at batches of 2
# 0.75×. Single-threaded: split over two threads by columns (each C element the same sum for
# any thread count), L1's epoch ran level with OpenBLAS's two threads (7.06 k against 7.11 k
# samples/s), and OpenBLAS's idle threads, spinning after its calls for the other layers,
# took the second core from it (4.4 k).
DEFAULT_PACKED_GEMM_MIN_WEIGHTS = 1 << 20
cdef Py_ssize_t TILE_COLUMNS = 64  # the width of fbp_sgemm's tiles (src_c/fastbp_gemm.c)

# Every workspace buffer starts on a 64-byte boundary (the workspace itself does: see
# fastbp._buffers), so that the kernels' vector loads and stores never straddle two cache lines
# (with numpy's 16-byte offsets they all did: M2's products 10–15 % slower).
cdef enum:
    LINE_ELEMENTS = 16  # elements per 64 bytes of float, per 128 of double


cdef inline Py_ssize_t in_lines(Py_ssize_t n) noexcept nogil:
    """n elements rounded up to whole lines of LINE_ELEMENTS."""
    return (n + LINE_ELEMENTS - 1) // LINE_ELEMENTS * LINE_ELEMENTS

cdef Py_ssize_t multiply_adds(str name, Py_ssize_t value) except -1:
    """`value` for one of Architecture's thresholds, which count multiply-adds: at least 0."""
    if value < 0:
        raise ValueError(f"{name} must be >= 0")
    return value


# Status codes of train_epoch.
cpdef enum Status:
    STATUS_OK = 0
    STATUS_DIVERGED = 1        # a batch loss or a parameter became NaN or infinite
    STATUS_INTERRUPTED = 2     # Ctrl-C (or another signal whose handler raised)
    STATUS_TIME_UP = 3         # the time budget ran out
    STATUS_UPDATES_DONE = 4    # the update budget ran out
    STATUS_NONFINITE_INPUT = 5  # a row of X about to be trained on holds NaN or infinity


cdef class TrainOptions:
    """What an epoch does beyond plain SGD: the optimizer, L2 penalty, gradient clipping,
    dropout, and the budgets. Python fills it once per fit call (budgets and the dropout seed
    once per epoch); the compiled loop reads it."""
    cdef public int optimizer
    cdef double[::1] hyper
    cdef public long long step          # updates applied so far by this optimizer
    cdef public double alpha            # L2: grad_W += alpha·W
    cdef public double clip_norm        # 0: off
    cdef double[::1] dropout            # per activation buffer l (0 for none)
    cdef public bint has_dropout
    cdef public uint64_t dropout_seed
    cdef public long long max_updates   # < 0: unlimited
    cdef public double max_seconds      # inf: unlimited
    cdef public bint check_inputs       # check each batch's rows of X before training on them

    def __init__(self, int optimizer=SGD, hyper=None, long long step=0, double alpha=0.0,
                 double clip_norm=0.0, dropout=None):
        """dropout: one rate per hidden layer, or None."""
        self.optimizer = optimizer
        self.hyper = np.zeros(1) if hyper is None else np.ascontiguousarray(hyper, np.float64).copy()
        if self.hyper.shape[0] == 0:
            self.hyper = np.zeros(1)  # never an empty view: its pointer is taken
        self.step = step
        self.alpha = alpha
        self.clip_norm = clip_norm
        self.has_dropout = dropout is not None and any(rate > 0 for rate in dropout)
        rates = np.zeros(2 if dropout is None else len(dropout) + 2)
        if dropout is not None:
            rates[1:-1] = dropout   # activation buffers 1..L-1 are the hidden layers
        self.dropout = rates
        self.dropout_seed = 0
        self.max_updates = -1
        self.max_seconds = INFINITY
        self.check_inputs = False

    cdef bint plain_sgd(self):
        return (self.optimizer == SGD and self.alpha == 0 and self.clip_norm == 0
                and not self.has_dropout)


cdef class Architecture:
    """Layer sizes, activation and loss codes, and the flat parameter layout of a network."""
    cdef readonly Py_ssize_t n_layers
    cdef readonly Py_ssize_t n_params
    cdef readonly int loss
    cdef Py_ssize_t[::1] sizes
    cdef Py_ssize_t[::1] w_offset
    cdef Py_ssize_t[::1] b_offset
    cdef int[::1] activation
    cdef Py_ssize_t _blas_min_work
    cdef Py_ssize_t _transpose_max_work
    cdef Py_ssize_t _own_gemm_min_work
    cdef Py_ssize_t _own_gemm_first_layer_min_work
    cdef Py_ssize_t _packed_gemm_min_weights
    cdef public bint fuse_per_example
    cdef public bint transpose_first_layer

    @property
    def blas_min_work(self):
        """The BLAS crossover of this network: multiply-adds per layer per chunk from which
        BLAS is used. 0 sends every layer to BLAS, a huge value none (the tests hold both
        paths to the reference on the same sizes this way)."""
        return self._blas_min_work

    @blas_min_work.setter
    def blas_min_work(self, Py_ssize_t value):
        self._blas_min_work = multiply_adds("blas_min_work", value)

    @property
    def transpose_max_work(self):
        """Up to how many multiply-adds per layer per chunk a BLAS layer's forward product
        takes its input transposed (see DEFAULT_TRANSPOSE_MAX_WORK). 0: never (the tests
        hold both orientations to the reference this way)."""
        return self._transpose_max_work

    @transpose_max_work.setter
    def transpose_max_work(self, Py_ssize_t value):
        self._transpose_max_work = multiply_adds("transpose_max_work", value)

    @property
    def own_gemm_min_work(self):
        """From how many multiply-adds per layer per chunk a float32 BLAS layer of at most 2¹⁹
        weights, in chunks of at most 256 rows, takes fastbp's own matrix kernel where it runs
        (see DEFAULT_OWN_GEMM_MIN_WORK). 0: every such layer, a huge value: none (the tests
        hold both to the reference this way)."""
        return self._own_gemm_min_work

    @own_gemm_min_work.setter
    def own_gemm_min_work(self, Py_ssize_t value):
        self._own_gemm_min_work = multiply_adds("own_gemm_min_work", value)

    @property
    def own_gemm_first_layer_min_work(self):
        """The same for the first layer when an epoch of plain SGD trains it transposed
        (transpose_first_layer), if its outputs are a multiple of 64 (see
        DEFAULT_OWN_GEMM_FIRST_LAYER_MIN_WORK); it takes the kernel from whichever of the two
        thresholds is met. A huge value: from own_gemm_min_work only."""
        return self._own_gemm_first_layer_min_work

    @own_gemm_first_layer_min_work.setter
    def own_gemm_first_layer_min_work(self, Py_ssize_t value):
        self._own_gemm_first_layer_min_work = multiply_adds("own_gemm_first_layer_min_work",
                                                            value)

    @property
    def packed_gemm_min_weights(self):
        """From how many weights a float32 BLAS layer that does not take fastbp's own matrix
        kernel takes its packed one where that runs (see DEFAULT_PACKED_GEMM_MIN_WEIGHTS).
        0: every such layer, a huge value: none (the tests hold both to the reference this
        way)."""
        return self._packed_gemm_min_weights

    @packed_gemm_min_weights.setter
    def packed_gemm_min_weights(self, Py_ssize_t value):
        if value < 0:
            raise ValueError("packed_gemm_min_weights must be >= 0")
        self._packed_gemm_min_weights = value

    def __init__(self, sizes, activation_codes, int loss):
        """sizes: n_layers + 1 widths; activation_codes: one per layer (the last is the output's).

        fuse_per_example (True): per-example plain SGD with the squared error on small layers
        runs as one compiled loop over the samples; False steps through the layers call by
        call (the same arithmetic: the tests hold one to the other).

        transpose_first_layer (True): an epoch of plain SGD (of at least
        FIRST_LAYER_TRANSPOSED_MIN_BATCHES batches) whose first layer takes fastbp's own
        matrix kernel trains that layer's W transposed (first_layer_transposed); False keeps
        it in place, with transposes around each product (the same arithmetic).
        """
        if len(sizes) < 2 or len(activation_codes) != len(sizes) - 1:
            raise ValueError("need len(sizes) >= 2 and one activation code per layer")
        self.n_layers = len(sizes) - 1
        self.loss = loss
        self._blas_min_work = DEFAULT_BLAS_MIN_WORK
        self._transpose_max_work = DEFAULT_TRANSPOSE_MAX_WORK
        self._own_gemm_min_work = DEFAULT_OWN_GEMM_MIN_WORK
        self._own_gemm_first_layer_min_work = DEFAULT_OWN_GEMM_FIRST_LAYER_MIN_WORK
        self._packed_gemm_min_weights = DEFAULT_PACKED_GEMM_MIN_WEIGHTS
        self.fuse_per_example = True
        self.transpose_first_layer = True
        self.sizes = np.asarray(sizes, dtype=np.intp).copy()
        self.activation = np.asarray(activation_codes, dtype=np.intc).copy()
        self.w_offset = np.empty(self.n_layers, dtype=np.intp)
        self.b_offset = np.empty(self.n_layers, dtype=np.intp)
        cdef Py_ssize_t l, offset = 0
        for l in range(self.n_layers):
            self.w_offset[l] = offset
            offset += self.sizes[l + 1] * self.sizes[l]
            self.b_offset[l] = offset
            offset += self.sizes[l + 1]
        self.n_params = offset

    def weight_slices(self):
        """[(w_start, b_start, b_stop)] per layer: where W and b sit in the flat array."""
        return [(self.w_offset[l], self.b_offset[l], self.b_offset[l] + self.sizes[l + 1])
                for l in range(self.n_layers)]

    def workspace_size(self, Py_ssize_t chunk, bint dropout=False):
        """Elements of workspace that processing `chunk` rows at a time needs (with room for
        dropout masks when `dropout`), each buffer rounded up to whole lines (in_lines)."""
        cdef Py_ssize_t l, total = 0, widest = 0
        for l in range(self.n_layers + 1):
            total += in_lines(chunk * self.sizes[l])          # activations (0: gathered inputs)
        for l in range(1, self.n_layers + 1):
            widest = max(widest, self.sizes[l])
        total += 2 * in_lines(chunk * widest)                 # deltas, ping-pong
        total += in_lines(chunk * self.sizes[self.n_layers])  # gathered targets
        total += in_lines(chunk)                              # gathered sample weights
        total += in_lines(chunk * widest_transposed(self, chunk, False))  # a transposed input
        total += in_lines(chunk * widest_transposed(self, chunk, True))   # ... output or delta
        for l in range(1, self.n_layers):
            if self.activation[l - 1] == GELU:
                total += in_lines(chunk * self.sizes[l])      # z, for gelu's derivative
            if dropout:
                total += 2 * in_lines(chunk * self.sizes[l])  # dropout mask, dropped activations
        return total


cdef struct Workspace:
    Py_ssize_t chunk
    void** acts      # acts[l]: chunk × sizes[l] activations (acts[0]: gathered inputs)
    void** pre       # pre[l]: z of gelu layers (NULL for the others)
    void** mask      # mask[l]: 0 or 1/(1 − p) per unit while dropout is on (else NULL)
    void** dropped   # dropped[l]: acts[l] ⊙ mask[l], the next layer's input (else NULL)
    void* delta0
    void* delta1
    void* targets    # chunk × n_out gathered targets
    void* weights    # chunk gathered sample weights
    bint* blas       # blas[l]: layer l's products go through BLAS
    bint* transposed  # transposed[l]: layer l's forward product reads its input transposed
    bint* own        # own[l]: layer l's products go through fbp_sgemm (never for double)
    bint* delta_transposed  # delta_transposed[l]: float32 layer l computes dAᵀ = Wᵀ·dZᵀ
    bint* packed     # packed[l]: layer l's products go through fbp_sgemm_packed (float32)
    void* pack       # fbp_sgemm_packed's blocks (if any layer is packed), 64-byte aligned,
    void* pack_block  # ... in this allocation
    void* inputs_t   # chunk × n_in: that transposed input, or a transposed input delta
    void* outputs_t  # chunk × n_out: an own-kernel layer's transposed output, then delta
    void* weights_t  # layer 0's Wᵀ while an epoch of plain SGD trains it so (else NULL):
    void* weights_t_block  # ... at the first 64-byte boundary of this allocation
    const double* dropout  # dropout rate per activation buffer, or NULL: no dropout
    fbp_rng rng


cdef bint uses_blas(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l goes through BLAS when `chunk` rows are processed at a time."""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    # (BLAS takes 32-bit sizes.)
    return (chunk * n_in * n_out >= arch._blas_min_work
            and chunk <= INT_MAX and n_in * n_out <= INT_MAX)


cdef bint transposes_input(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l's forward product takes its input transposed (DEFAULT_TRANSPOSE_MAX_WORK)."""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    return (uses_blas(arch, l, chunk) and n_out >= TRANSPOSE_MIN_OUT
            and chunk * n_in * n_out <= arch._transpose_max_work)


cdef bint own_gemm_size(Architecture arch, Py_ssize_t l, Py_ssize_t chunk,
                        bint trained_transposed=False) noexcept:
    """Layer l is the size for fbp_sgemm (used if float32, AVX-512 and one BLAS thread);
    trained_transposed: layer 0 in an epoch that trains it transposed."""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    cdef Py_ssize_t work = chunk * n_in * n_out
    if not (uses_blas(arch, l, chunk) and n_in * n_out <= OWN_GEMM_MAX_WEIGHTS
            and chunk <= OWN_GEMM_MAX_ROWS):
        return False
    return work > arch._own_gemm_min_work or (
        trained_transposed and l == 0 and n_out % TILE_COLUMNS == 0
        and work > arch._own_gemm_first_layer_min_work)


cdef bint packed_gemm_size(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l is the size for fbp_sgemm_packed (used if float32, AVX-512 and one BLAS
    thread), at `chunk` rows a pass."""
    return (uses_blas(arch, l, chunk) and not own_gemm_size(arch, l, chunk)
            and arch.sizes[l] * arch.sizes[l + 1] >= arch._packed_gemm_min_weights)


cdef bint own_gemm_runs() noexcept:
    """fbp_sgemm beats BLAS here: the CPU has AVX-512 and BLAS would run on one thread."""
    return sgemm_fast() and blas_threads() == 1


cdef bint transposes_delta(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l (> 0), if float32 and on BLAS, computes its input delta transposed, then
    transposes it (DELTA_TRANSPOSED_MIN_WEIGHTS)."""
    return (l > 0 and uses_blas(arch, l, chunk)
            and arch.sizes[l] * arch.sizes[l + 1] >= DELTA_TRANSPOSED_MIN_WEIGHTS)


cdef Py_ssize_t widest_transposed(Architecture arch, Py_ssize_t chunk, bint outputs) noexcept:
    """Room per row for a transposed layer input (outputs False: layers that transpose their
    input for BLAS, might take fbp_sgemm or compute their input delta transposed) or output
    (True: those that might take fbp_sgemm, which computes Zᵀ and takes dZᵀ for the weight
    gradient)."""
    cdef Py_ssize_t l, widest = 0
    for l in range(arch.n_layers):
        if outputs and own_gemm_size(arch, l, chunk):
            widest = max(widest, arch.sizes[l + 1])
        elif not outputs and (transposes_input(arch, l, chunk) or own_gemm_size(arch, l, chunk)
                              or transposes_delta(arch, l, chunk)):
            widest = max(widest, arch.sizes[l])
    return widest


def transposed_inputs(Architecture arch, Py_ssize_t chunk):
    """Per layer, whether its forward product reads its input transposed at `chunk` rows."""
    return [bool(transposes_input(arch, l, chunk)) for l in range(arch.n_layers)]


def layer_paths(Architecture arch, Py_ssize_t chunk):
    """Per layer, "blas" or "loops": which kernels process `chunk` rows at a time."""
    return ["blas" if uses_blas(arch, l, chunk) else "loops" for l in range(arch.n_layers)]


def own_gemm_layers(Architecture arch, Py_ssize_t chunk, dtype, bint plain_sgd=False):
    """Per layer, whether its products go through fastbp's own kernel (fbp_sgemm) at `chunk`
    rows of `dtype`, on this CPU and with the BLAS thread count now in force; plain_sgd: in
    an epoch of plain SGD of at least FIRST_LAYER_TRANSPOSED_MIN_BATCHES batches of at most
    `chunk` rows (which may train the first layer transposed, see
    DEFAULT_OWN_GEMM_FIRST_LAYER_MIN_WORK)."""
    use = np.dtype(dtype) == np.float32 and own_gemm_runs()
    first = plain_sgd and arch.transpose_first_layer
    return [bool(use and own_gemm_size(arch, l, chunk, first)) for l in range(arch.n_layers)]


def packed_gemm_layers(Architecture arch, Py_ssize_t chunk, dtype):
    """Per layer, whether its products go through fastbp's packed kernel (fbp_sgemm_packed)
    at `chunk` rows of `dtype`, on this CPU and with the BLAS thread count now in force."""
    use = np.dtype(dtype) == np.float32 and own_gemm_runs()
    return [bool(use and packed_gemm_size(arch, l, chunk)) for l in range(arch.n_layers)]


def transposed_delta_layers(Architecture arch, Py_ssize_t chunk, dtype):
    """Per layer, whether its input delta is computed transposed (dAᵀ = Wᵀ·dZᵀ) at `chunk`
    rows of `dtype` (DELTA_TRANSPOSED_MIN_WEIGHTS), on this CPU and BLAS thread count."""
    own = own_gemm_layers(arch, chunk, dtype)
    packed = packed_gemm_layers(arch, chunk, dtype)
    return [bool(np.dtype(dtype) == np.float32 and transposes_delta(arch, l, chunk)
                 and not own[l] and not packed[l]) for l in range(arch.n_layers)]


def own_gemm_available():
    """Whether fastbp's own float32 matrix kernel runs on this CPU (AVX-512F)."""
    return bool(sgemm_fast())


cdef int workspace_init(Workspace* ws, Architecture arch, floating* work,
                        Py_ssize_t chunk, const double* dropout=NULL) except -1:
    """Carve `work` (arch.workspace_size(chunk, dropout != NULL) elements) into the buffers
    of a Workspace."""
    cdef Py_ssize_t l, widest = 0, n_buffers = arch.n_layers + 1
    cdef bint own = floating is float and own_gemm_runs()
    ws.chunk = chunk
    ws.dropout = dropout
    ws.acts = <void**>malloc(n_buffers * sizeof(void*))
    ws.pre = <void**>malloc(n_buffers * sizeof(void*))
    ws.mask = <void**>malloc(n_buffers * sizeof(void*))
    ws.dropped = <void**>malloc(n_buffers * sizeof(void*))
    ws.blas = <bint*>malloc(arch.n_layers * sizeof(bint))
    ws.transposed = <bint*>malloc(arch.n_layers * sizeof(bint))
    ws.own = <bint*>malloc(arch.n_layers * sizeof(bint))
    ws.delta_transposed = <bint*>malloc(arch.n_layers * sizeof(bint))
    ws.packed = <bint*>malloc(arch.n_layers * sizeof(bint))
    # (workspace_free frees these too: NULL until allocated)
    ws.pack = ws.pack_block = ws.weights_t = ws.weights_t_block = NULL
    if (ws.acts == NULL or ws.pre == NULL or ws.mask == NULL or ws.dropped == NULL
            or ws.blas == NULL or ws.transposed == NULL or ws.own == NULL
            or ws.delta_transposed == NULL or ws.packed == NULL):
        workspace_free(ws)
        raise MemoryError()
    for l in range(arch.n_layers):
        ws.blas[l] = uses_blas(arch, l, chunk)
        ws.own[l] = own and own_gemm_size(arch, l, chunk)
        ws.packed[l] = own and packed_gemm_size(arch, l, chunk)
        ws.transposed[l] = (transposes_input(arch, l, chunk) and not ws.own[l]
                            and not ws.packed[l])
        ws.delta_transposed[l] = (floating is float and transposes_delta(arch, l, chunk)
                                  and not ws.own[l] and not ws.packed[l])
        if ws.packed[l] and ws.pack_block == NULL:  # one buffer for every packed layer
            ws.pack_block = malloc(sgemm_packed_work() * sizeof(float) + 64)
            if ws.pack_block == NULL:
                workspace_free(ws)
                raise MemoryError()
            ws.pack = <void*>((<size_t>ws.pack_block + 63) & ~(<size_t>63))
    for l in range(arch.n_layers + 1):
        ws.acts[l] = work
        work += in_lines(chunk * arch.sizes[l])
    for l in range(1, arch.n_layers + 1):
        widest = max(widest, arch.sizes[l])
    ws.delta0 = work
    work += in_lines(chunk * widest)
    ws.delta1 = work
    work += in_lines(chunk * widest)
    ws.targets = work
    work += in_lines(chunk * arch.sizes[arch.n_layers])
    ws.weights = work
    work += in_lines(chunk)
    ws.inputs_t = work
    work += in_lines(chunk * widest_transposed(arch, chunk, False))
    ws.outputs_t = work
    work += in_lines(chunk * widest_transposed(arch, chunk, True))
    for l in range(n_buffers):
        ws.pre[l] = ws.mask[l] = ws.dropped[l] = NULL
    for l in range(1, arch.n_layers):
        if arch.activation[l - 1] == GELU:
            ws.pre[l] = work
            work += in_lines(chunk * arch.sizes[l])
        if dropout != NULL:
            ws.mask[l] = work
            work += in_lines(chunk * arch.sizes[l])
            ws.dropped[l] = work
            work += in_lines(chunk * arch.sizes[l])
    return 0


cdef void workspace_free(Workspace* ws) noexcept:
    free(ws.acts)
    free(ws.pre)
    free(ws.mask)
    free(ws.dropped)
    free(ws.blas)
    free(ws.transposed)
    free(ws.own)
    free(ws.delta_transposed)
    free(ws.packed)
    free(ws.pack_block)
    free(ws.weights_t_block)
    ws.weights_t = ws.weights_t_block = ws.pack = ws.pack_block = NULL
    ws.acts = ws.pre = ws.mask = ws.dropped = NULL
    ws.blas = ws.transposed = ws.own = ws.delta_transposed = ws.packed = NULL


cdef inline bint dropping(Workspace* ws, Py_ssize_t l) noexcept nogil:
    """Activation buffer l is dropped out in this pass."""
    return ws.dropout != NULL and ws.dropout[l] > 0


cdef inline const floating* layer_input(Workspace* ws, Py_ssize_t l,
                                        const floating* inputs) noexcept nogil:
    """What layer l reads: the inputs, or the activations below it (after dropout)."""
    if l == 0:
        return inputs
    if dropping(ws, l):
        return <floating*>ws.dropped[l]
    return <floating*>ws.acts[l]


cdef inline const floating* derivative_source(Workspace* ws, Py_ssize_t l,
                                              const floating* activations) noexcept nogil:
    """What f' of activation buffer l is computed from: its activations a = f(z), or z for
    gelu."""
    return <floating*>ws.pre[l] if ws.pre[l] != NULL else activations


cdef void drop_out(Workspace* ws, Py_ssize_t l, Py_ssize_t n, floating* a) noexcept nogil:
    """mask := 1/(1 − p) with probability 1 − p, else 0; dropped := acts ⊙ mask (inverted
    dropout: the expected activation is unchanged, so predict needs no rescaling)"""
    cdef floating* m = <floating*>ws.mask[l]
    cdef floating* out = <floating*>ws.dropped[l]
    cdef double p = ws.dropout[l]
    cdef floating keep = <floating>(1.0 / (1.0 - p))
    cdef Py_ssize_t k
    for k in range(n):
        m[k] = keep if fbp_rng_uniform(&ws.rng) >= p else 0
        out[k] = a[k] * m[k]


cdef void gather_rows(const floating* src, Py_ssize_t width, const Py_ssize_t* rows,
                      Py_ssize_t count, floating* dst) noexcept nogil:
    """dst[j] := src[rows[j]] for j < count (rows of `width` elements)"""
    cdef Py_ssize_t j, k
    cdef const floating* row
    cdef floating* out
    for j in range(count):
        # A loop the compiler vectorises, not a memcpy call per row: rows of a few values
        # (targets, the tutorials' inputs) cost a call each (shuffled M1: +5 %).
        row = src + rows[j] * width
        out = dst + j * width
        for k in range(width):
            out[k] = row[k]


# ----- fastbp's own matrix kernel (float32 layers with ws.own set) ----------------------------
# fbp_sgemm reads its B operand row by row and broadcasts A's elements one at a time. So the
# forward product is computed transposed, Zᵀ = W·Aᵀ, between two transposes (a few µs against
# M2's 145 µs product), and the weight gradient from a transposed copy of dZ, whose column
# reads would otherwise touch a cache line per element. The first layer under plain SGD needs
# neither: its W is trained transposed for the epoch (first_layer_transposed).

cdef void own_forward(const float* A, Py_ssize_t rows, Py_ssize_t n_in, const float* W,
                      Py_ssize_t n_out, Workspace* ws, float* Z) noexcept nogil:
    """Z := A·Wᵀ"""
    cdef float* AT = <float*>ws.inputs_t
    cdef float* ZT = <float*>ws.outputs_t
    stranspose(A, rows, n_in, AT)
    sgemm(n_out, rows, n_in, 1, W, n_in, 1, AT, rows, 0, ZT, rows)
    stranspose(ZT, n_out, rows, Z)


cdef void own_weight_product(const float* dZ, const float* A, Py_ssize_t rows,
                             Py_ssize_t n_in, Py_ssize_t n_out, float alpha, Workspace* ws,
                             float* W) noexcept nogil:
    """W += alpha·dZᵀ·A (W: a weight matrix or its gradient)"""
    cdef float* dZT = <float*>ws.outputs_t
    stranspose(dZ, rows, n_out, dZT)
    sgemm(n_out, n_in, rows, alpha, dZT, rows, 1, A, n_in, 1, W, n_in)


cdef const floating* forward_chunk(Architecture arch, const floating* params,
                                   const floating* inputs, Py_ssize_t rows,
                                   Workspace* ws) noexcept nogil:
    """acts[l+1] := f_l(W_l·acts[l] + b_l) for every layer; returns the output buffer"""
    cdef Py_ssize_t l, n_in, n_out
    cdef const floating* a_in = inputs
    cdef floating* a_out
    cdef int activation
    for l in range(arch.n_layers):
        a_out = <floating*>ws.acts[l + 1]
        n_in = arch.sizes[l]
        n_out = arch.sizes[l + 1]
        activation = arch.activation[l]
        if ws.pre[l + 1] != NULL:  # gelu: keep z for the derivative, then activate a copy
            a_out = <floating*>ws.pre[l + 1]
            activation = IDENTITY
        if floating is float and ws.own[l]:  # (never set for double: BLAS below)
            if l == 0 and ws.weights_t != NULL:  # Z = A·Wᵀ, Wᵀ read row by row
                sgemm(rows, n_out, n_in, 1, a_in, n_in, 1, <float*>ws.weights_t, n_out, 0,
                      a_out, n_out)
            else:
                own_forward(a_in, rows, n_in, params + arch.w_offset[l], n_out, ws, a_out)
            bias_activate(a_out, rows, n_out, params + arch.b_offset[l], activation)
        elif floating is float and ws.packed[l]:  # Z = A·Wᵀ, Wᵀ packed from W's rows
            sgemm_packed(rows, n_out, n_in, 1, a_in, n_in, 1, params + arch.w_offset[l], 1,
                         n_in, 0, a_out, n_out, <float*>ws.pack)
            bias_activate(a_out, rows, n_out, params + arch.b_offset[l], activation)
        elif ws.blas[l]:
            if ws.transposed[l]:  # Z = (Aᵀ)ᵀ·Wᵀ
                transpose(a_in, rows, n_in, <floating*>ws.inputs_t)
                gemm(True, True, <int>rows, <int>n_out, <int>n_in, <floating>1,
                     <floating*>ws.inputs_t, <int>rows, params + arch.w_offset[l], <int>n_in,
                     <floating>0, a_out, <int>n_out)
            else:  # Z = A·Wᵀ
                gemm(False, True, <int>rows, <int>n_out, <int>n_in, <floating>1, a_in,
                     <int>n_in, params + arch.w_offset[l], <int>n_in, <floating>0, a_out,
                     <int>n_out)
            bias_activate(a_out, rows, n_out, params + arch.b_offset[l], activation)
        else:
            dense_forward(a_in, rows, n_in, params + arch.w_offset[l], params + arch.b_offset[l],
                          n_out, a_out, activation)
        if ws.pre[l + 1] != NULL:
            a_out = <floating*>ws.acts[l + 1]
            memcpy(a_out, ws.pre[l + 1], rows * n_out * sizeof(floating))
            activate(a_out, rows * n_out, arch.activation[l])
        if dropping(ws, l + 1):
            drop_out(ws, l + 1, rows * n_out, a_out)
            a_out = <floating*>ws.dropped[l + 1]
        a_in = a_out
    return <floating*>ws.acts[arch.n_layers]


cdef void layer_gradient(Architecture arch, Workspace* ws, Py_ssize_t l, const floating* dZ,
                         const floating* A, Py_ssize_t rows, floating* grads) noexcept nogil:
    """layer l: dW += dZᵀ·A, db += Σ_r dZ"""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    if ws.blas[l]:
        if floating is float and ws.own[l]:
            own_weight_product(dZ, A, rows, n_in, n_out, 1, ws, grads + arch.w_offset[l])
        elif floating is float and ws.packed[l]:
            sgemm_packed(n_out, n_in, rows, 1, dZ, 1, n_out, A, n_in, 1, 1,
                         grads + arch.w_offset[l], n_in, <float*>ws.pack)
        else:
            gemm(True, False, <int>n_out, <int>n_in, <int>rows, <floating>1, dZ, <int>n_out,
                 A, <int>n_in, <floating>1, grads + arch.w_offset[l], <int>n_in)
        bias_backward(dZ, rows, n_out, grads + arch.b_offset[l])
    else:
        dense_backward_params(dZ, A, rows, n_in, n_out, grads + arch.w_offset[l],
                              grads + arch.b_offset[l])


cdef void layer_input_delta(Architecture arch, Workspace* ws, Py_ssize_t l,
                            const floating* params, const floating* dZ, Py_ssize_t rows,
                            floating* dA) noexcept nogil:
    """dA := dZ·W_l ⊙ f'_{l-1}: the delta of layer l − 1, from layer l's"""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    cdef Py_ssize_t k
    cdef const floating* mask
    if floating is float and ws.own[l]:
        sgemm(rows, n_in, n_out, 1, dZ, n_out, 1, params + arch.w_offset[l], n_in, 0, dA, n_in)
    elif floating is float and ws.packed[l]:
        sgemm_packed(rows, n_in, n_out, 1, dZ, n_out, 1, params + arch.w_offset[l], n_in, 1, 0,
                     dA, n_in, <float*>ws.pack)
    elif floating is float and ws.delta_transposed[l]:  # dAᵀ = Wᵀ·dZᵀ, then dA
        gemm(True, True, <int>n_in, <int>rows, <int>n_out, <floating>1,
             params + arch.w_offset[l], <int>n_in, dZ, <int>n_out, <floating>0,
             <floating*>ws.inputs_t, <int>rows)
        stranspose(<float*>ws.inputs_t, n_in, rows, dA)
    elif ws.blas[l]:
        gemm(False, False, <int>rows, <int>n_in, <int>n_out, <floating>1, dZ, <int>n_out,
             params + arch.w_offset[l], <int>n_in, <floating>0, dA, <int>n_in)
    else:
        dense_backward_input(dZ, params + arch.w_offset[l], rows, n_in, n_out, dA)
    if dropping(ws, l):
        mask = <floating*>ws.mask[l]
        for k in range(rows * n_in):
            dA[k] *= mask[k]
    activation_backward(dA, derivative_source(ws, l, <floating*>ws.acts[l]), rows * n_in,
                        arch.activation[l - 1])


cdef bint rows_finite(const floating* X, Py_ssize_t width, const Py_ssize_t* order,
                      Py_ssize_t start, Py_ssize_t count) noexcept nogil:
    """Rows order[start:start+count] of X (rows start.. when order is NULL) hold only finite
    values. Checked just before they are trained on, a batch's rows come into the cache for
    its first product, which otherwise stalled reading them from memory: the check costs what
    a pass over X before training cost (reading X from memory once), and M2's one-epoch fit
    gained 1.5–2 %."""
    cdef Py_ssize_t i
    if order == NULL:
        return all_finite(X + start * width, count * width)
    for i in range(start, start + count):
        if not all_finite(X + order[i] * width, width):
            return False
    return True


cdef double accumulate_gradient(Architecture arch, const floating* params, floating* grads,
                                const floating* X, const floating* Y, const floating* weights,
                                const Py_ssize_t* order, Py_ssize_t start, Py_ssize_t count,
                                floating scale, Workspace* ws) noexcept nogil:
    """grads += scale · Σ w·∂loss/∂θ over samples order[start:start+count] (rows start.. when
    order is NULL; w = 1 when weights is NULL); returns Σ w·loss. grads may be NULL: loss
    only."""
    cdef Py_ssize_t n_in = arch.sizes[0], n_out = arch.sizes[arch.n_layers]
    cdef Py_ssize_t done, rows, l
    cdef double total = 0
    cdef const floating* inputs
    cdef const floating* targets
    cdef const floating* row_weights = NULL
    cdef const floating* out
    cdef floating* delta
    cdef floating* delta_next
    cdef floating* swap
    done = 0
    while done < count:  # (range with a run-time step would not compile to a C loop)
        rows = min(ws.chunk, count - done)
        if order == NULL:
            inputs = X + (start + done) * n_in
            targets = Y + (start + done) * n_out
            if weights != NULL:
                row_weights = weights + start + done
        else:
            gather_rows(X, n_in, order + start + done, rows, <floating*>ws.acts[0])
            gather_rows(Y, n_out, order + start + done, rows, <floating*>ws.targets)
            inputs = <floating*>ws.acts[0]
            targets = <floating*>ws.targets
            if weights != NULL:
                gather_rows(weights, 1, order + start + done, rows, <floating*>ws.weights)
                row_weights = <floating*>ws.weights
        out = forward_chunk(arch, params, inputs, rows, ws)
        delta = <floating*>ws.delta0
        delta_next = <floating*>ws.delta1
        total += loss_and_delta(out, targets, rows, n_out, arch.loss,
                                arch.activation[arch.n_layers - 1], scale, row_weights, delta)
        done += rows
        if grads == NULL:
            continue
        for l in range(arch.n_layers - 1, -1, -1):
            layer_gradient(arch, ws, l, delta, layer_input(ws, l, inputs), rows, grads)
            if l > 0:
                layer_input_delta(arch, ws, l, params, delta, rows, delta_next)
                swap = delta
                delta = delta_next
                delta_next = swap
    return total


cdef void layer_step(Architecture arch, Workspace* ws, Py_ssize_t l, const floating* dZ,
                     const floating* A, Py_ssize_t rows, floating lr, floating* params,
                     floating* grads) noexcept nogil:
    """layer l: W −= lr·dZᵀ·A, b −= lr·Σ_r dZ (dZ holds the batch-mean scale already)"""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    cdef floating* b_grad = grads + arch.b_offset[l]
    if ws.blas[l]:
        # The product lands on W directly (beta = 1): no gradient buffer to clear and read.
        if floating is float and ws.own[l]:
            if l == 0 and ws.weights_t != NULL:  # Wᵀ −= lr·Aᵀ·dZ
                sgemm(n_in, n_out, rows, -lr, A, 1, n_in, dZ, n_out, 1, <float*>ws.weights_t,
                      n_out)
            else:
                own_weight_product(dZ, A, rows, n_in, n_out, -lr, ws, params + arch.w_offset[l])
        elif floating is float and ws.packed[l]:
            sgemm_packed(n_out, n_in, rows, -lr, dZ, 1, n_out, A, n_in, 1, 1,
                         params + arch.w_offset[l], n_in, <float*>ws.pack)
        else:
            gemm(True, False, <int>n_out, <int>n_in, <int>rows, -lr, dZ, <int>n_out,
                 A, <int>n_in, <floating>1, params + arch.w_offset[l], <int>n_in)
        memset(b_grad, 0, n_out * sizeof(floating))
        bias_backward(dZ, rows, n_out, b_grad)
        sgd_step(params + arch.b_offset[l], b_grad, n_out, lr)
    else:
        # W and b of a layer are adjacent in the flat arrays: one clear, one step.
        memset(grads + arch.w_offset[l], 0, (n_in + 1) * n_out * sizeof(floating))
        dense_backward_params(dZ, A, rows, n_in, n_out, grads + arch.w_offset[l], b_grad)
        sgd_step(params + arch.w_offset[l], grads + arch.w_offset[l], (n_in + 1) * n_out, lr)


cdef double train_batch(Architecture arch, floating* params, floating* grads,
                        const floating* X, const floating* Y, const Py_ssize_t* order,
                        Py_ssize_t start, Py_ssize_t count, floating lr,
                        Workspace* ws) noexcept nogil:
    """θ −= lr · mean gradient over samples order[start:start+count] (rows start.. when order
    is NULL), for a batch of at most ws.chunk rows; returns Σ of their losses.

    Each layer is stepped as soon as its gradient is known, after the delta below it has been
    computed with its old weights: the same step as accumulating the whole gradient first, but
    without a full gradient buffer. A non-finite loss leaves θ unchanged.
    """
    cdef Py_ssize_t n_in = arch.sizes[0], n_out = arch.sizes[arch.n_layers], l
    cdef double total
    cdef const floating* inputs
    cdef const floating* targets
    cdef const floating* A
    cdef floating* delta = <floating*>ws.delta0
    cdef floating* delta_next = <floating*>ws.delta1
    cdef floating* swap
    if order == NULL:
        inputs = X + start * n_in
        targets = Y + start * n_out
    else:
        gather_rows(X, n_in, order + start, count, <floating*>ws.acts[0])
        gather_rows(Y, n_out, order + start, count, <floating*>ws.targets)
        inputs = <floating*>ws.acts[0]
        targets = <floating*>ws.targets
    forward_chunk(arch, params, inputs, count, ws)
    total = loss_and_delta(<floating*>ws.acts[arch.n_layers], targets, count, n_out, arch.loss,
                           arch.activation[arch.n_layers - 1], <floating>(1.0 / count), NULL,
                           delta)
    if not isfinite(total):
        return total
    for l in range(arch.n_layers - 1, -1, -1):
        A = layer_input(ws, l, inputs)
        if count == 1 and not ws.blas[l] and (l == 0 or ws.pre[l] == NULL):
            # One sample through a small layer: input delta, f' and the step in one pass.
            dense_step_one(delta, A, arch.sizes[l], arch.sizes[l + 1], lr,
                           params + arch.w_offset[l], params + arch.b_offset[l],
                           delta_next if l > 0 else NULL,
                           arch.activation[l - 1] if l > 0 else 0)
        else:
            if l > 0:
                layer_input_delta(arch, ws, l, params, delta, count, delta_next)
            layer_step(arch, ws, l, delta, A, count, lr, params, grads)
        swap = delta
        delta = delta_next
        delta_next = swap
    return total


cdef double train_one_batch(Architecture arch, TrainOptions options, floating* params,
                            floating* grads, Py_ssize_t n_params, const floating* X,
                            const floating* Y, const floating* weights, const Py_ssize_t* order,
                            Py_ssize_t start, Py_ssize_t count, double batch_weight_sum,
                            double lr, floating* state, long long step, bint fused_sgd,
                            Workspace* ws) noexcept nogil:
    """One update from the batch order[start:start+count] (rows start.. when order is NULL):
    the (weighted) mean gradient, the L2 term and clipping, then the optimizer's step (plain
    SGD in one pass when `fused_sgd` and the batch fits a chunk). Returns Σ w·loss over the
    batch (with the L2 term); when that is not finite, θ is left unchanged."""
    cdef double batch_loss
    if fused_sgd and count <= ws.chunk:
        return train_batch(arch, params, grads, X, Y, order, start, count, <floating>lr, ws)
    memset(grads, 0, n_params * sizeof(floating))
    batch_loss = accumulate_gradient(
        arch, params, grads, X, Y, weights, order, start, count,
        <floating>(1.0 / batch_weight_sum) if batch_weight_sum > 0 else 0, ws)
    if not isfinite(batch_loss):
        return batch_loss
    if options.alpha != 0:  # the reported loss includes ½·alpha·Σ‖W‖²
        batch_loss += batch_weight_sum * 0.5 * options.alpha * weights_squared(arch, params)
    if batch_weight_sum > 0:  # a batch of zero-weight samples changes nothing
        regularise_and_clip(arch, params, grads, options.alpha, options.clip_norm)
        optimizer_step(options.optimizer, params, grads, n_params, lr, &options.hyper[0], state,
                       step)
    return batch_loss


# Samples per call of the fused per-example loop: the epoch loop looks up (clock, Ctrl-C,
# budgets) between calls, as it does between batches.
cdef Py_ssize_t PER_EXAMPLE_BLOCK = 1024


cdef bint fused_per_example(Architecture arch, Workspace* ws) noexcept:
    """Per-example plain SGD on this network can run as one compiled loop over the samples
    (fbp_train_per_example_mse): squared error, every layer on fastbp's own loops, no gelu."""
    cdef Py_ssize_t l
    if not arch.fuse_per_example or arch.loss != MSE or arch.n_layers > FBP_MAX_FUSED_LAYERS:
        return False
    for l in range(arch.n_layers):
        if ws.blas[l] or arch.activation[l] == GELU:
            return False
    return True


cdef int check_call(Architecture arch, Py_ssize_t n_params, Py_ssize_t work_size,
                    Py_ssize_t chunk, Py_ssize_t X_rows, Py_ssize_t X_cols,
                    Py_ssize_t Y_rows, Py_ssize_t Y_cols) except -1:
    """Shapes the Python layer guarantees, checked once more before the GIL is released."""
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    if n_params != arch.n_params:
        raise ValueError("parameter array does not match the architecture")
    if work_size < arch.workspace_size(chunk):
        raise ValueError("workspace too small for this chunk size")
    if X_cols != arch.sizes[0] or (Y_rows >= 0 and (Y_rows != X_rows or Y_cols != arch.sizes[arch.n_layers])):
        raise ValueError("X or Y does not match the architecture")
    return 0


cdef double batch_weight(const floating* weights, const Py_ssize_t* order, Py_ssize_t start,
                         Py_ssize_t count) noexcept nogil:
    """Σ w over the batch's samples (its size when weights is NULL)"""
    cdef Py_ssize_t k
    cdef double total = 0
    if weights == NULL:
        return <double>count
    for k in range(start, start + count):
        total += weights[k if order == NULL else order[k]]
    return total


cdef double weights_squared(Architecture arch, const floating* params) noexcept nogil:
    """Σ‖W‖² over the layers' weights (biases spared)"""
    cdef Py_ssize_t l, k
    cdef double total = 0
    for l in range(arch.n_layers):
        for k in range(arch.w_offset[l], arch.b_offset[l]):
            total += <double>params[k] * <double>params[k]
    return total


cdef void regularise_and_clip(Architecture arch, const floating* params, floating* grads,
                              double alpha, double clip_norm) noexcept nogil:
    """grad_W += alpha·W (the L2 penalty ½·alpha·Σ‖W‖², biases spared); then, if clip_norm > 0
    and ‖g‖ > clip_norm, g := g · clip_norm/‖g‖"""
    cdef Py_ssize_t l, k
    cdef double norm2 = 0, factor
    if alpha != 0:
        for l in range(arch.n_layers):
            for k in range(arch.w_offset[l], arch.b_offset[l]):
                grads[k] += <floating>alpha * params[k]
    if clip_norm > 0:
        for k in range(arch.n_params):
            norm2 += <double>grads[k] * <double>grads[k]
        if norm2 > clip_norm * clip_norm:
            factor = clip_norm / sqrt(norm2)
            for k in range(arch.n_params):
                grads[k] *= <floating>factor


cdef bint trains_first_layer_transposed(Architecture arch, Py_ssize_t n, Py_ssize_t batch_size,
                                       Py_ssize_t chunk) noexcept:
    """An epoch of plain SGD over n float32 rows in batches of batch_size trains the first
    layer transposed (first_layer_transposed): it takes fastbp's kernel so, the batches fit a
    chunk, and there are enough of them (FIRST_LAYER_TRANSPOSED_MIN_BATCHES)."""
    return (arch.transpose_first_layer and batch_size <= chunk
            and (n + batch_size - 1) // batch_size >= FIRST_LAYER_TRANSPOSED_MIN_BATCHES
            and own_gemm_runs() and own_gemm_size(arch, 0, chunk, True))


def first_layer_transposed_for(Architecture arch, Py_ssize_t n, Py_ssize_t batch_size,
                               Py_ssize_t chunk):
    """Whether an epoch of plain SGD over n float32 rows in batches of batch_size (chunk rows
    a pass) trains the first layer transposed, on this CPU and BLAS thread count."""
    return bool(trains_first_layer_transposed(arch, n, batch_size, chunk))


cdef int first_layer_transposed(Architecture arch, Workspace* ws, const float* params) except -1:
    """Train layer 0's W as Wᵀ for this epoch (ws.weights_t; train_epoch puts it back).

    With its weights transposed, the first layer's forward product and plain-SGD step read
    every operand in the layouts fbp_sgemm wants, A·Wᵀ from Wᵀ's rows and Wᵀ −= lr·Aᵀ·dZ from
    A's rows: no transposes per batch, where W itself costs three (the input batch, Zᵀ and
    dZ; M2: 8 % of its epoch). The first layer has no input delta, the one product that
    would want W. Two transposes of W per epoch instead.
    """
    cdef Py_ssize_t n_in = arch.sizes[0], n_out = arch.sizes[1]
    ws.weights_t_block = malloc(n_in * n_out * sizeof(float) + 64)
    if ws.weights_t_block == NULL:
        raise MemoryError()
    ws.weights_t = <void*>((<size_t>ws.weights_t_block + 63) & ~(<size_t>63))
    stranspose(params + arch.w_offset[0], n_out, n_in, <float*>ws.weights_t)
    return 0


def train_epoch(Architecture arch, floating[::1] params, floating[::1] grads,
                floating[::1] work, const floating[:, ::1] X, const floating[:, ::1] Y,
                const Py_ssize_t[::1] order, Py_ssize_t batch_size, double lr,
                Py_ssize_t chunk, TrainOptions options=None, floating[::1] state=None,
                const floating[::1] sample_weight=None):
    """Run one epoch of mini-batch training: per batch, the (weighted) mean gradient, the L2
    term and clipping, then one optimizer step (plain SGD: θ ← θ − lr·g).

    Batches are consecutive slices of `order` (a permutation of the rows of X), or of the
    rows themselves when `order` is None; the last batch may be partial. `grads` (same size
    as params) and `work` (``arch.workspace_size(chunk, dropout)``) are scratch space; a
    batch is processed `chunk` rows at a time. `options` (None: plain SGD) sets the
    optimizer, whose state (state_size × n_params) is `state`, the penalty, clipping, dropout
    and budgets; options.step counts the updates.

    With options.check_inputs, each batch's rows of X are checked for NaN and infinity just
    before they are trained on (Network.fit's first epoch, instead of a pass over X first).

    Returns ``(status, loss_sum, weight_sum, updates)``: Σ w·loss over the samples seen (at
    the time they were seen), Σ w over them, and the number of updates made. Training stops
    early with STATUS_DIVERGED (a non-finite batch loss or parameter), STATUS_INTERRUPTED
    (Ctrl-C, checked about every CHECK_SECONDS), STATUS_TIME_UP, STATUS_UPDATES_DONE or
    STATUS_NONFINITE_INPUT (the batches before the one with a non-finite input are trained).
    STATUS_OK: every row was trained on.
    """
    cdef Py_ssize_t n = X.shape[0], start = 0, count, batches_since_check = 0
    cdef Py_ssize_t check_every = 1
    cdef int status = STATUS_OK
    cdef double batch_loss, batch_weight_sum, loss_sum = 0, weight_sum = 0
    cdef double now, last_check, deadline
    cdef long long updates = 0, max_updates
    cdef const Py_ssize_t* order_ptr = NULL
    cdef const floating* weights_ptr = NULL
    cdef floating* state_ptr = NULL
    cdef bint fused_sgd, per_example, check_inputs
    cdef Py_ssize_t steps
    cdef Workspace ws
    if options is None:
        options = TrainOptions()
    check_inputs = options.check_inputs
    check_call(arch, params.shape[0], work.shape[0], chunk, X.shape[0], X.shape[1],
               Y.shape[0], Y.shape[1])
    if work.shape[0] < arch.workspace_size(chunk, options.has_dropout):
        raise ValueError("workspace too small for dropout")
    if grads.shape[0] != params.shape[0]:
        raise ValueError("grads must have the size of params")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if order is not None:
        if order.shape[0] != n:
            raise ValueError("order must hold one index per row of X")
        order_ptr = &order[0]
    if sample_weight is not None:
        if sample_weight.shape[0] != n:
            raise ValueError("sample_weight must hold one weight per row of X")
        weights_ptr = &sample_weight[0]
    if state is not None and state.shape[0] > 0:
        state_ptr = &state[0]
    fused_sgd = options.plain_sgd() and weights_ptr == NULL
    max_updates = options.max_updates
    if n == 0:
        return status, loss_sum, weight_sum, updates
    workspace_init(&ws, arch, &work[0], chunk, &options.dropout[0] if options.has_dropout else NULL)
    fbp_rng_seed(&ws.rng, options.dropout_seed)
    per_example = fused_sgd and batch_size == 1 and fused_per_example(arch, &ws)
    try:
        if floating is float:
            if (fused_sgd and not per_example
                    and trains_first_layer_transposed(arch, n, batch_size, chunk)):
                ws.own[0] = True  # (no transposed buffers needed: see first_layer_transposed)
                first_layer_transposed(arch, &ws, &params[0])
        with nogil:
            last_check = fbp_monotonic_seconds()
            deadline = last_check + options.max_seconds
            while start < n:
                if max_updates >= 0 and updates >= max_updates:
                    status = STATUS_UPDATES_DONE
                    break
                if per_example:
                    count = min(PER_EXAMPLE_BLOCK, n - start)
                    if max_updates >= 0:
                        count = min(count, max_updates - updates)
                else:
                    count = min(batch_size, n - start)
                if check_inputs and not rows_finite(&X[0, 0], X.shape[1], order_ptr,
                                                    start, count):
                    status = STATUS_NONFINITE_INPUT
                    break
                if per_example:
                    batch_loss = 0
                    steps = train_per_example_mse(
                        &arch.sizes[0], &arch.activation[0], &arch.w_offset[0], &arch.b_offset[0],
                        arch.n_layers, &params[0], &X[0, 0], &Y[0, 0], order_ptr, start, count,
                        <floating>lr, &work[0], &batch_loss)
                    batch_weight_sum = steps
                    if steps < count:
                        status = STATUS_DIVERGED
                        break
                else:
                    batch_weight_sum = batch_weight(weights_ptr, order_ptr, start, count)
                    batch_loss = train_one_batch(arch, options, &params[0], &grads[0],
                                                 params.shape[0], &X[0, 0], &Y[0, 0],
                                                 weights_ptr, order_ptr, start, count,
                                                 batch_weight_sum, lr, state_ptr,
                                                 options.step + updates + 1, fused_sgd, &ws)
                    if not isfinite(batch_loss):
                        status = STATUS_DIVERGED
                        break
                    steps = 1
                loss_sum += batch_loss
                weight_sum += batch_weight_sum
                updates += steps
                start += count
                # Look up every so many batches, that many being adapted so that the clock
                # is read about every CHECK_SECONDS / 4 whatever a batch costs.
                batches_since_check += 1
                if batches_since_check >= check_every:
                    batches_since_check = 0
                    now = fbp_monotonic_seconds()
                    if now - last_check < CHECK_SECONDS / 8:
                        check_every *= 2
                    elif now - last_check > CHECK_SECONDS / 2 and check_every > 1:
                        check_every //= 2
                    if now >= deadline:
                        status = STATUS_TIME_UP
                        break
                    if now - last_check >= CHECK_SECONDS / 4:
                        last_check = now
                        with gil:
                            if PyErr_CheckSignals() != 0:
                                PyErr_Clear()  # Python raises KeyboardInterrupt itself
                                status = STATUS_INTERRUPTED
                        if status == STATUS_INTERRUPTED:
                            break
            if floating is float:  # (weights_t is only ever set for float)
                if ws.weights_t != NULL:  # back in place, whatever stopped the epoch
                    stranspose(<float*>ws.weights_t, arch.sizes[0], arch.sizes[1],
                               &params[arch.w_offset[0]])
            if (status not in (STATUS_DIVERGED, STATUS_NONFINITE_INPUT)
                    and not all_finite(&params[0], params.shape[0])):
                status = STATUS_DIVERGED
    finally:
        workspace_free(&ws)
    options.step += updates
    return status, loss_sum, weight_sum, updates


def loss_and_gradient(Architecture arch, floating[::1] params, floating[::1] grads,
                      floating[::1] work, const floating[:, ::1] X, const floating[:, ::1] Y,
                      Py_ssize_t chunk, const floating[::1] sample_weight=None):
    """Return (Σ w·loss, Σ w) over all of X (w = 1 without sample weights); with `grads`
    (not None) set it to the gradient of the weighted mean loss.

    Works through `chunk` rows at a time, so the workspace does not grow with len(X).
    """
    cdef Py_ssize_t n = X.shape[0]
    cdef double total, weight_sum
    cdef floating* grads_ptr = NULL
    cdef const floating* weights_ptr = NULL
    cdef Workspace ws
    check_call(arch, params.shape[0], work.shape[0], chunk, X.shape[0], X.shape[1],
               Y.shape[0], Y.shape[1])
    if grads is not None:
        if grads.shape[0] != params.shape[0]:
            raise ValueError("grads must have the size of params")
        grads_ptr = &grads[0]
        memset(grads_ptr, 0, grads.shape[0] * sizeof(floating))
    if n == 0:
        raise ValueError("X has no rows")
    if sample_weight is not None:
        if sample_weight.shape[0] != n:
            raise ValueError("sample_weight must hold one weight per row of X")
        weights_ptr = &sample_weight[0]
    workspace_init(&ws, arch, &work[0], chunk)
    try:
        with nogil:
            weight_sum = batch_weight(weights_ptr, NULL, 0, n)
            total = accumulate_gradient(arch, &params[0], grads_ptr, &X[0, 0], &Y[0, 0],
                                        weights_ptr, NULL, 0, n,
                                        <floating>(1.0 / weight_sum) if weight_sum > 0 else 0,
                                        &ws)
    finally:
        workspace_free(&ws)
    if not weight_sum > 0:
        raise ValueError("the sample weights sum to zero")
    return total, weight_sum


def predict(Architecture arch, floating[::1] params, floating[::1] work,
            const floating[:, ::1] X, floating[:, ::1] out, Py_ssize_t chunk):
    """out := the output layer's activations for every row of X (probabilities for the
    classification losses), `chunk` rows at a time."""
    cdef Py_ssize_t n = X.shape[0], n_in = arch.sizes[0], n_out = arch.sizes[arch.n_layers]
    cdef Py_ssize_t done, rows
    cdef const floating* result
    cdef Workspace ws
    check_call(arch, params.shape[0], work.shape[0], chunk, X.shape[0], X.shape[1],
               out.shape[0], out.shape[1])
    if n == 0:
        return
    workspace_init(&ws, arch, &work[0], chunk)
    try:
        with nogil:
            done = 0
            while done < n:
                rows = min(chunk, n - done)
                result = forward_chunk(arch, &params[0], &X[done, 0], rows, &ws)
                memcpy(&out[done, 0], result, rows * n_out * sizeof(floating))
                output_probabilities(&out[done, 0], rows, n_out, arch.loss)
                done += rows
    finally:
        workspace_free(&ws)


def is_finite(const floating[::1] values, Py_ssize_t chunk=65536):
    """True when every value is finite; scanned in compiled code without temporaries,
    releasing the GIL for each chunk."""
    cdef Py_ssize_t n = values.shape[0], start = 0
    cdef bint ok = True
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    while ok and start < n:
        with nogil:
            ok = all_finite(&values[start], min(chunk, n - start))
        start += chunk
    return ok


def build_info():
    """What the extension was compiled with: compiler, flags, debug switch."""
    return {
        "compiler": FASTBP_COMPILER.decode(),
        "compile_args": FASTBP_COMPILE_ARGS.decode(),
        "debug_build": bool(FASTBP_DEBUG_BUILD),
    }


cdef extern from *:
    """
    #if defined(__clang__)
    #define FASTBP_COMPILER ("clang " __clang_version__)
    #elif defined(__GNUC__)
    #define FASTBP_COMPILER ("gcc " __VERSION__)
    #elif defined(_MSC_VER)
    #define FASTBP_COMPILER "msvc"
    #else
    #define FASTBP_COMPILER "unknown"
    #endif
    """
    const char* FASTBP_COMPILER
    const char* FASTBP_COMPILE_ARGS
    int FASTBP_DEBUG_BUILD

# The plan (included by _train.pyx, first): the layout of a network's parameters, and each
# layer's compute path, decided once per call by plan_layers from every threshold below.
# The measurements behind each threshold: bench/README.md, "Why each threshold of the
# compiled core has its value".

# Below this, BLAS's call overhead loses to the compiled loops (multiply-adds a chunk; bench_t1).
DEFAULT_BLAS_MIN_WORK = 1024
# Up to this, OpenBLAS's small-matrix kernels compute X·Wᵀ faster from Xᵀ (bench_m1).
DEFAULT_TRANSPOSE_MAX_WORK = 1_000_000
# Narrower outputs gain less from a transposed input than the transpose costs (bench_m1).
cdef Py_ssize_t TRANSPOSE_MIN_OUT = 32
# Above this, the in-place kernel beats OpenBLAS on one thread (bench_m2; below: bench_m1).
DEFAULT_INPLACE_GEMM_MIN_WORK = 1_000_000
# Above an L2 cache of weights, reading W in place loses to packing it (bench_l1).
cdef Py_ssize_t INPLACE_GEMM_MAX_WEIGHTS = 1 << 19
# The largest chunk the in-place kernel was measured to win at (bench_m2 at batch 256).
cdef Py_ssize_t INPLACE_GEMM_MAX_ROWS = 256
# From here, OpenBLAS's dA = dZ·W falls behind dAᵀ = Wᵀ·dZᵀ and a transpose (bench_l1).
cdef Py_ssize_t DELTA_TRANSPOSED_MIN_WEIGHTS = 1 << 22
# With no transposes around it, the in-place kernel pays for a first layer from here (bench_m1).
DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK = 1 << 14
# ... if its outputs fill whole tiles of the kernel (src_c/fastbp_gemm.c; bench_m1).
cdef Py_ssize_t TILE_COLUMNS = 64
# ... in epochs of this many batches: W's two transposes cost what a batch gains (bench_m2).
cdef Py_ssize_t FIRST_LAYER_TRANSPOSED_MIN_BATCHES = 4
# From here, the packed kernel beats OpenBLAS on one thread (bench_l1).
DEFAULT_PACKED_GEMM_MIN_WEIGHTS = 1 << 20


# With n_threads >= 2, fastbp's own kernels take the layers they take on one thread, and the
# layers left to BLAS run on one thread beside them (OpenBLAS's threads spin after each call,
# on the cores the team needs: bench_l1) ... while those hold at most this share of the
# network's multiply-adds (M1 13 %, M2 and L1 under 1 %); above it, every layer stays on
# BLAS's n_threads, as BLAS on one thread would lose more than the own kernels gain.
cdef double TEAM_MAX_BLAS_SHARE = 0.5
# ... and split their products over a team of n_threads threads (src_c/fastbp_team.c) in calls
# of at least this many multiply-adds (forward, all rows): starting and joining the team
# costs ~50 µs, the time of ~2^21 multiply-adds; smaller calls (predict on a few rows) run on
# one thread, as with n_threads=1.
cdef double TEAM_MIN_CALL_WORK = 1 << 25
# ... and products of fewer multiply-adds run on the calling thread alone: a hand-off costs
# ~1 µs, the time of ~2^15 multiply-adds (bench_m2).
cdef Py_ssize_t SPLIT_MIN_WORK = 1 << 16

cdef enum LayerPath:
    # Each layer's products, and so its forward pass, gradient, input delta and step.
    LOOPS                    # fastbp's compiled loops (src_c/fastbp_dense.c): small layers
    BLAS                     # BLAS, Z = A·Wᵀ
    BLAS_TRANSPOSED_INPUT    # BLAS, Z = (Aᵀ)ᵀ·Wᵀ from a transposed copy of the input
    BLAS_TRANSPOSED_DELTA    # BLAS (float32), dAᵀ = Wᵀ·dZᵀ, then dA transposed back
    BLAS_TRANSPOSED_INPUT_AND_DELTA  # both (only with thresholds moved from their defaults)
    INPLACE_GEMM             # fastbp's in-place kernel (float32): Zᵀ = W·Aᵀ, transposes around
    INPLACE_GEMM_TRANSPOSED_WEIGHTS  # the same for layer 0 in an epoch of plain SGD that
                                     # trains its W as Wᵀ (no transposes around the products)
    PACKED_GEMM              # fastbp's packed kernel (float32), operands packed per block

# The names plan() gives the paths, in LayerPath's order.
PATH_NAMES = ("loops", "blas", "blas_transposed_input", "blas_transposed_delta",
              "blas_transposed_input_and_delta", "inplace_gemm",
              "inplace_gemm_transposed_weights", "packed_gemm")


cdef enum:
    LINE_ELEMENTS = 16  # elements per 64 bytes of float, per 128 of double


cdef inline Py_ssize_t in_lines(Py_ssize_t n) noexcept nogil:
    """n elements rounded up to whole lines of LINE_ELEMENTS (each workspace buffer starts on
    a cache line, so that the kernels' vector loads never straddle two: bench_m2)."""
    return (n + LINE_ELEMENTS - 1) // LINE_ELEMENTS * LINE_ELEMENTS


cdef Py_ssize_t multiply_adds(str name, Py_ssize_t value) except -1:
    """`value` for one of Architecture's thresholds, which count multiply-adds: at least 0."""
    if value < 0:
        raise ValueError(f"{name} must be >= 0")
    return value


cdef class Architecture:
    """Layer sizes, activation and loss codes, the flat parameter layout of a network, and
    the thresholds its layers' paths are planned from (settable for tests and tuning)."""
    cdef readonly Py_ssize_t n_layers
    cdef readonly Py_ssize_t n_params
    cdef readonly int loss
    cdef Py_ssize_t[::1] sizes
    cdef Py_ssize_t[::1] w_offset
    cdef Py_ssize_t[::1] b_offset
    cdef int[::1] activation
    cdef Py_ssize_t _blas_min_work
    cdef Py_ssize_t _transpose_max_work
    cdef Py_ssize_t _inplace_gemm_min_work
    cdef Py_ssize_t _first_layer_transposed_min_work
    cdef Py_ssize_t _packed_gemm_min_weights
    cdef public bint fuse_per_example
    cdef public bint fuse_optimizer_step
    cdef public bint first_layer_transposed
    cdef int[::1] _last_plan
    cdef bint _planned
    cdef int _last_team_threads

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
    def inplace_gemm_min_work(self):
        """From how many multiply-adds per layer per chunk a float32 BLAS layer of at most 2¹⁹
        weights, in chunks of at most 256 rows, takes fastbp's in-place matrix kernel where
        it runs (see DEFAULT_INPLACE_GEMM_MIN_WORK). 0: every such layer, a huge value: none
        (the tests hold both to the reference this way)."""
        return self._inplace_gemm_min_work

    @inplace_gemm_min_work.setter
    def inplace_gemm_min_work(self, Py_ssize_t value):
        self._inplace_gemm_min_work = multiply_adds("inplace_gemm_min_work", value)

    @property
    def first_layer_transposed_min_work(self):
        """The same for the first layer when an epoch of plain SGD trains it transposed
        (first_layer_transposed), if its outputs are a multiple of 64 (see
        DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK); it takes the kernel from whichever of the
        two thresholds is met. A huge value: from inplace_gemm_min_work only."""
        return self._first_layer_transposed_min_work

    @first_layer_transposed_min_work.setter
    def first_layer_transposed_min_work(self, Py_ssize_t value):
        self._first_layer_transposed_min_work = multiply_adds(
            "first_layer_transposed_min_work", value)

    @property
    def packed_gemm_min_weights(self):
        """From how many weights a float32 BLAS layer that does not take fastbp's in-place
        matrix kernel takes its packed one where that runs (see
        DEFAULT_PACKED_GEMM_MIN_WEIGHTS). 0: every such layer, a huge value: none (the tests
        hold both to the reference this way)."""
        return self._packed_gemm_min_weights

    @packed_gemm_min_weights.setter
    def packed_gemm_min_weights(self, Py_ssize_t value):
        if value < 0:
            raise ValueError("packed_gemm_min_weights must be >= 0")
        self._packed_gemm_min_weights = value

    @property
    def last_plan(self):
        """The layer paths (plan()'s names) of the last compiled call on this architecture
        (train_epoch, loss_and_gradient or predict), or None before the first."""
        if not self._planned:
            return None
        return [PATH_NAMES[path] for path in self._last_plan]

    @property
    def last_team_threads(self):
        """The threads fastbp's own kernels split their products over in the last compiled
        call on this architecture (1: none split; 0 before the first call)."""
        return self._last_team_threads

    def __init__(self, sizes, activation_codes, int loss):
        """sizes: n_layers + 1 widths; activation_codes: one per layer (the last is the output's).

        fuse_per_example (True): per-example plain SGD with the squared error on small layers
        runs as one compiled loop over the samples; False steps through the layers call by
        call (the same arithmetic: the tests hold one to the other).

        fuse_optimizer_step (True): training with an optimizer other than plain SGD (or with
        a penalty, dropout or sample weights) steps each layer as soon as its gradient is
        known, where a batch fits one chunk and nothing clips the gradient; False computes
        the whole gradient first, then steps all parameters in one pass (the same
        arithmetic: the tests hold one to the other).

        first_layer_transposed (True): an epoch of plain SGD (of at least
        FIRST_LAYER_TRANSPOSED_MIN_BATCHES batches) whose first layer takes fastbp's in-place
        matrix kernel trains that layer's W transposed (INPLACE_GEMM_TRANSPOSED_WEIGHTS);
        False keeps it in place, with transposes around each product (the same arithmetic).
        """
        if len(sizes) < 2 or len(activation_codes) != len(sizes) - 1:
            raise ValueError("need len(sizes) >= 2 and one activation code per layer")
        self.n_layers = len(sizes) - 1
        self.loss = loss
        self._blas_min_work = DEFAULT_BLAS_MIN_WORK
        self._transpose_max_work = DEFAULT_TRANSPOSE_MAX_WORK
        self._inplace_gemm_min_work = DEFAULT_INPLACE_GEMM_MIN_WORK
        self._first_layer_transposed_min_work = DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK
        self._packed_gemm_min_weights = DEFAULT_PACKED_GEMM_MIN_WEIGHTS
        self.fuse_per_example = True
        self.fuse_optimizer_step = True
        self.first_layer_transposed = True
        self._last_plan = np.zeros(self.n_layers, dtype=np.intc)
        self._planned = False
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


# ----- the size rules: which paths a layer's shape allows (any dtype, CPU, thread count) ----

cdef bint uses_blas(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l leaves the compiled loops when `chunk` rows are processed at a time."""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    # (BLAS takes 32-bit sizes.)
    return (chunk * n_in * n_out >= arch._blas_min_work
            and chunk <= INT_MAX and n_in * n_out <= INT_MAX)


cdef bint transposes_input(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l's BLAS forward product would take its input transposed."""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    return (uses_blas(arch, l, chunk) and n_out >= TRANSPOSE_MIN_OUT
            and chunk * n_in * n_out <= arch._transpose_max_work)


cdef bint inplace_gemm_size(Architecture arch, Py_ssize_t l, Py_ssize_t chunk,
                            bint weights_transposed=False) noexcept:
    """Layer l is the size for the in-place kernel; weights_transposed: layer 0 in an epoch
    that trains its W as Wᵀ."""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    cdef Py_ssize_t work = chunk * n_in * n_out
    if not (uses_blas(arch, l, chunk) and n_in * n_out <= INPLACE_GEMM_MAX_WEIGHTS
            and chunk <= INPLACE_GEMM_MAX_ROWS):
        return False
    return work > arch._inplace_gemm_min_work or (
        weights_transposed and l == 0 and n_out % TILE_COLUMNS == 0
        and work > arch._first_layer_transposed_min_work)


cdef bint packed_gemm_size(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l is the size for the packed kernel (and not for the in-place one)."""
    return (uses_blas(arch, l, chunk) and not inplace_gemm_size(arch, l, chunk)
            and arch.sizes[l] * arch.sizes[l + 1] >= arch._packed_gemm_min_weights)


cdef bint transposes_delta(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l (> 0), on BLAS, would compute its input delta transposed."""
    return (l > 0 and uses_blas(arch, l, chunk)
            and arch.sizes[l] * arch.sizes[l + 1] >= DELTA_TRANSPOSED_MIN_WEIGHTS)


cdef Py_ssize_t widest_transposed(Architecture arch, Py_ssize_t chunk, bint outputs) noexcept:
    """Room per row for a transposed layer input (outputs False: layers that may transpose
    their input for BLAS, take the in-place kernel or compute their input delta transposed)
    or output (True: those that may take the in-place kernel, which computes Zᵀ and takes
    dZᵀ for the weight gradient). From the size rules alone, so that the workspace fits any
    dtype and thread count."""
    cdef Py_ssize_t l, widest = 0
    for l in range(arch.n_layers):
        if outputs and inplace_gemm_size(arch, l, chunk):
            widest = max(widest, arch.sizes[l + 1])
        elif not outputs and (transposes_input(arch, l, chunk)
                              or inplace_gemm_size(arch, l, chunk)
                              or transposes_delta(arch, l, chunk)):
            widest = max(widest, arch.sizes[l])
    return widest


# ----- the planner ---------------------------------------------------------------------------

cdef int plan_layers(Architecture arch, Py_ssize_t chunk, bint float32, int n_threads,
                     Py_ssize_t epoch_rows, Py_ssize_t batch_size, bint plain_sgd,
                     LayerPath* paths, Py_ssize_t call_rows=0) noexcept:
    """paths[l] := layer l's path when `chunk` rows are processed at a time, in float32 or
    float64, on n_threads threads (the call's BLAS count; 0: unknown); returns the threads
    fastbp's own kernels split their products over in a call of call_rows rows (1: none).
    fastbp's own matrix kernels need AVX-512. On one thread they take the layers of their
    sizes; on more, the same layers, with BLAS on one thread beside them, where BLAS's layers
    hold at most TEAM_MAX_BLAS_SHARE of the work (else every layer stays on BLAS's threads),
    split over a team of n_threads from TEAM_MIN_CALL_WORK a call.
    In an epoch of plain SGD over epoch_rows rows in batches of batch_size rows
    (plain_sgd; else 0, 0, False), the first layer may be trained transposed."""
    cdef Py_ssize_t l
    cdef bint own_kernels = float32 and n_threads >= 1 and avx512_kernels_run()
    cdef bint input_t, delta_t
    cdef double own_work = 0, blas_work = 0, row_work = 0, work
    cdef int team = 1
    cdef bint first_transposed = (
        plain_sgd and arch.first_layer_transposed and 0 < batch_size <= chunk
        and (epoch_rows + batch_size - 1) // batch_size >= FIRST_LAYER_TRANSPOSED_MIN_BATCHES
        and inplace_gemm_size(arch, 0, chunk, True))
    if own_kernels and n_threads > 1:
        for l in range(arch.n_layers):
            work = <double>arch.sizes[l] * arch.sizes[l + 1]
            row_work += work
            if (inplace_gemm_size(arch, l, chunk) or packed_gemm_size(arch, l, chunk)
                    or (l == 0 and first_transposed)):
                own_work += work
            elif uses_blas(arch, l, chunk):
                blas_work += work
        own_kernels = own_work > 0 and blas_work <= TEAM_MAX_BLAS_SHARE * (own_work + blas_work)
        if own_kernels and max(call_rows, epoch_rows) * row_work >= TEAM_MIN_CALL_WORK:
            team = n_threads
    for l in range(arch.n_layers):
        if not uses_blas(arch, l, chunk):
            paths[l] = LOOPS
        elif own_kernels and inplace_gemm_size(arch, l, chunk):
            paths[l] = INPLACE_GEMM
        elif own_kernels and packed_gemm_size(arch, l, chunk):
            paths[l] = PACKED_GEMM
        else:
            input_t = transposes_input(arch, l, chunk)
            delta_t = float32 and transposes_delta(arch, l, chunk)
            if input_t and delta_t:
                paths[l] = BLAS_TRANSPOSED_INPUT_AND_DELTA
            elif input_t:
                paths[l] = BLAS_TRANSPOSED_INPUT
            elif delta_t:
                paths[l] = BLAS_TRANSPOSED_DELTA
            else:
                paths[l] = BLAS
    if own_kernels and first_transposed:
        paths[0] = INPLACE_GEMM_TRANSPOSED_WEIGHTS
    return team


cdef int blas_threads_in_force() noexcept:
    """BLAS's thread count now (plan()'s argument of that name hides the function)."""
    return blas_threads()


def plan(Architecture arch, Py_ssize_t chunk, dtype, *, Py_ssize_t epoch_rows=0,
         Py_ssize_t batch_size=0, bint plain_sgd=False, blas_threads=None):
    """The path of each layer, as the compiled calls take it: plan_layers itself.

    Parameters
    ----------
    arch : Architecture
    chunk : int
        Rows processed at a time (a batch, or up to Network.CHUNK_ROWS of one).
    dtype : float32 or float64
    epoch_rows, batch_size, plain_sgd : int, int, bool
        For an epoch of plain SGD (no optimizer state, penalty, clipping, dropout or sample
        weights) over epoch_rows rows in batches of batch_size rows; by default, any other
        call (predict, loss, gradients, other optimizers).
    blas_threads : int or None
        The call's thread count (n_threads: BLAS's count as the call starts; on more than
        one, fastbp's own kernels may take their layers on a team with BLAS on one
        thread); None: the count in force now.

    Returns
    -------
    list of str
        One of PATH_NAMES per layer.
    """
    dtype = np.dtype(dtype)
    if dtype != np.float32 and dtype != np.float64:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    cdef LayerPath* paths = <LayerPath*>malloc(arch.n_layers * sizeof(LayerPath))
    if paths == NULL:
        raise MemoryError()
    try:
        plan_layers(arch, chunk, dtype == np.float32,
                    blas_threads_in_force() if blas_threads is None else blas_threads,
                    epoch_rows, batch_size, plain_sgd, paths)
        return [PATH_NAMES[paths[l]] for l in range(arch.n_layers)]
    finally:
        free(paths)

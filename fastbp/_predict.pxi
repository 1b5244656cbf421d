# Forward-only passes (included by _train.pyx, last). predict's fast path (Predictor): a few
# rows checked and computed in one compiled call, every layer a matrix-vector product per row
# (the compiled loops, W read row by row with vectorised partial sums), no BLAS, scratch on the
# C stack, no Python in between. predict_transposed: many float32 rows through fastbp's
# in-place kernel with each large layer's W transposed once per call.

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_RECORDS_RO, PyBUF_RECORDS

# Up to this many rows, predict takes the fast path: a matrix-vector product per row and
# layer beats the general path's products over all rows up to about 10 rows on M1 and M2
# (8 rows: 13 µs against 19 on M1, 94 against 140 on M2; 1 row: 2.3 against 18, 28 against
# 237), and always on T1, whose layers take the compiled loops on both paths.
DEFAULT_FAST_PREDICT_MAX_ROWS = 8
# Activation elements the fast path keeps on the C stack (larger networks allocate).
cdef enum:
    STACK_ELEMENTS = 4096
# From this many multiply-adds a call, the fast path releases the GIL while it computes.
cdef Py_ssize_t FAST_PREDICT_NOGIL_WORK = 1 << 15


cdef void forward_rows(Architecture arch, const floating* params, const floating* X,
                       Py_ssize_t rows, floating* out, floating* buffer0,
                       floating* buffer1) noexcept nogil:
    """out := the output layer's activations (probabilities for the classification losses)
    for `rows` rows of X, every layer through the compiled loops (the arithmetic of
    forward_chunk's LOOPS path). buffer0 and buffer1 hold rows × the widest hidden layer."""
    cdef Py_ssize_t l, last = arch.n_layers - 1
    cdef const floating* a_in = X
    cdef floating* a_out
    for l in range(arch.n_layers):
        a_out = out if l == last else (buffer0 if l % 2 == 0 else buffer1)
        if l < last and arch.activation[l] == GELU:  # as forward_chunk: z, then f(z)
            dense_forward(a_in, rows, arch.sizes[l], params + arch.w_offset[l],
                          params + arch.b_offset[l], arch.sizes[l + 1], a_out, IDENTITY)
            activate(a_out, rows * arch.sizes[l + 1], GELU)
        else:
            dense_forward(a_in, rows, arch.sizes[l], params + arch.w_offset[l],
                          params + arch.b_offset[l], arch.sizes[l + 1], a_out,
                          arch.activation[l])
        a_in = a_out
    output_probabilities(out, rows, arch.sizes[arch.n_layers], arch.loss)


cdef inline bint is_format(const char* format, char code) noexcept:
    """A buffer's struct format is the one native code `code` ("f", "d")."""
    return format != NULL and format[0] == code and format[1] == 0


cdef class Predictor:
    """predict's fast path for one network: ``predictor(X)`` is the output activations of a
    few rows, or None when X is not for this path (then the general, validating path runs).

    It takes X when it is exactly a numpy.ndarray, C-contiguous, 2-D, of the network's dtype
    (native byte order), with the network's number of features, 1 to ``max_rows`` rows and
    only finite values (checked in compiled code). Anything else returns None, so that every
    error message stays the general path's. Stateless between calls (the scratch memory is
    per call, on the C stack when small): any number of threads may call it at once.

    Attributes
    ----------
    max_rows : int
        The most rows the fast path takes (DEFAULT_FAST_PREDICT_MAX_ROWS); 0 sends every
        call to the general path (the tests compare the two this way).
    """
    cdef Architecture arch
    cdef object params        # the network's flat parameters: allocated once for its life
    cdef const void* params_ptr
    cdef object dtype
    cdef char code            # the buffer format of the dtype: "f" or "d"
    cdef Py_ssize_t n_in, n_out, widest, work_per_row
    cdef bint flat            # one output: rows come back as a 1-D array
    cdef public Py_ssize_t max_rows

    def __cinit__(self, Architecture arch, params):
        cdef float[::1] params_f
        cdef double[::1] params_d
        cdef Py_ssize_t l
        self.arch = arch
        self.params = params
        self.dtype = params.dtype
        if self.dtype == np.float32:
            params_f = params
            self.params_ptr = &params_f[0]
            self.code = b"f"
        elif self.dtype == np.float64:
            params_d = params
            self.params_ptr = &params_d[0]
            self.code = b"d"
        else:
            raise ValueError(f"params must be float32 or float64, got {self.dtype}")
        if params.shape[0] != arch.n_params:
            raise ValueError("params must have arch.n_params elements")
        self.n_in = arch.sizes[0]
        self.n_out = arch.sizes[arch.n_layers]
        self.flat = self.n_out == 1
        self.widest = 1
        self.work_per_row = 0
        for l in range(arch.n_layers):
            if l > 0:
                self.widest = max(self.widest, arch.sizes[l])
            self.work_per_row += arch.sizes[l] * arch.sizes[l + 1]
        self.max_rows = DEFAULT_FAST_PREDICT_MAX_ROWS

    def __call__(self, X):
        cdef Py_buffer x_view, out_view
        cdef Py_ssize_t rows
        cdef object out
        if type(X) is not np.ndarray:
            return None
        try:
            PyObject_GetBuffer(X, &x_view, PyBUF_RECORDS_RO)
        except (BufferError, ValueError, TypeError):  # a dtype numpy exports no buffer of
            return None
        try:
            if not (x_view.ndim == 2 and x_view.shape[1] == self.n_in
                    and 0 < x_view.shape[0] <= self.max_rows
                    and is_format(x_view.format, self.code)
                    and x_view.strides[1] == x_view.itemsize
                    and (x_view.shape[0] == 1 or x_view.strides[0] == self.n_in * x_view.itemsize)):
                return None
            rows = x_view.shape[0]
            if self.code == b"f":
                if not all_finite(<const float*>x_view.buf, rows * self.n_in):
                    return None
            elif not all_finite(<const double*>x_view.buf, rows * self.n_in):
                return None
            if self.flat:
                out = np.empty(rows, dtype=self.dtype)
            else:
                out = np.empty((rows, self.n_out), dtype=self.dtype)
            PyObject_GetBuffer(out, &out_view, PyBUF_RECORDS)
            try:
                self.compute(x_view.buf, rows, out_view.buf)
            finally:
                PyBuffer_Release(&out_view)
            return out
        finally:
            PyBuffer_Release(&x_view)

    cdef int compute(self, const void* X, Py_ssize_t rows, void* out) except -1:
        """out := the outputs of `rows` rows of X (pointers into buffers of self's dtype)."""
        cdef double stack[STACK_ELEMENTS]  # (doubles: aligned for either dtype)
        cdef void* heap = NULL
        cdef void* buffer0 = stack
        cdef void* buffer1
        cdef Py_ssize_t elements = rows * self.widest
        cdef size_t item = 4 if self.code == b"f" else 8
        if 2 * elements * item > sizeof(stack):
            heap = malloc(2 * elements * item)
            if heap == NULL:
                raise MemoryError()
            buffer0 = heap
        buffer1 = <char*>buffer0 + elements * item
        cdef fbp_fpmode caller_fpmode = fbp_flush_subnormals()
        try:
            if rows * self.work_per_row >= FAST_PREDICT_NOGIL_WORK:
                with nogil:
                    self.forward(X, rows, out, buffer0, buffer1)
            else:
                self.forward(X, rows, out, buffer0, buffer1)
        finally:
            fbp_restore_fpmode(caller_fpmode)
            free(heap)
        return 0

    cdef void forward(self, const void* X, Py_ssize_t rows, void* out, void* buffer0,
                      void* buffer1) noexcept nogil:
        """forward_rows in the network's dtype."""
        if self.code == b"f":
            forward_rows(self.arch, <const float*>self.params_ptr, <const float*>X, rows,
                         <float*>out, <float*>buffer0, <float*>buffer1)
        else:
            forward_rows(self.arch, <const double*>self.params_ptr, <const double*>X, rows,
                         <double*>out, <double*>buffer0, <double*>buffer1)


def uses_blas_at(Architecture arch, Py_ssize_t chunk):
    """Whether any layer leaves the compiled loops when `chunk` rows are processed at a time
    (if none does, the BLAS thread count cannot change the result or the speed)."""
    cdef Py_ssize_t l
    for l in range(arch.n_layers):
        if uses_blas(arch, l, chunk):
            return True
    return False


# ----- many rows, float32, fastbp's own kernels --------------------------------------------------
# From this many rows, transposing each large W once per call is repaid by the transposes per
# chunk it saves (M2 against training's forward path: 0.75× at 64 rows, 1.03× at 256, 1.18×
# at 512 and 4,096).
PREDICT_TRANSPOSED_MIN_ROWS = 512
# Outputs from which a layer's product takes the in-place kernel with Wᵀ (its tiles are 64
# columns wide: narrower outputs would fill a fraction of one).
cdef Py_ssize_t TRANSPOSED_MIN_OUT = 64


cdef bint transposed_weights(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l of predict_transposed takes the in-place kernel with its Wᵀ (else the path
    plan_layers gives it among loops, packed kernel and BLAS)."""
    return (uses_blas(arch, l, chunk) and arch.sizes[l + 1] >= TRANSPOSED_MIN_OUT
            and arch.sizes[l] * arch.sizes[l + 1] <= INPLACE_GEMM_MAX_WEIGHTS)


def predicts_transposed(Architecture arch, Py_ssize_t n_rows, Py_ssize_t chunk, dtype):
    """Whether predict_transposed runs for n_rows rows in chunks of `chunk` (float32 on a CPU
    where fastbp's kernels run, BLAS on one thread, enough rows to pay for the transposes,
    some layer large enough for its Wᵀ): else the general predict."""
    cdef Py_ssize_t l
    if (n_rows < PREDICT_TRANSPOSED_MIN_ROWS or np.dtype(dtype) != np.float32
            or blas_threads() != 1 or not avx512_kernels_run()):
        return False
    for l in range(arch.n_layers):
        if transposed_weights(arch, l, chunk):
            return True
    return False


def predict_transposed(Architecture arch, const float[::1] params, const float[:, ::1] X,
                       float[:, ::1] out, Py_ssize_t chunk):
    """out := the output layer's activations for every row of X (float32, predicts_transposed),
    `chunk` rows at a time: each large layer's W transposed once per call, then Z = A·Wᵀ by
    fastbp's in-place kernel reading Wᵀ row by row (no transposes per chunk, as the first
    layer of an epoch of plain SGD; arch.last_plan calls these layers
    "inplace_gemm_transposed_weights"); the other layers as plan_layers plans them, with
    BLAS on one thread."""
    cdef Py_ssize_t n = X.shape[0], l, done, rows, widest = 1, transposed_size = 0
    cdef Py_ssize_t n_in, n_out, last = arch.n_layers - 1
    cdef LayerPath* paths = NULL
    cdef float** weights_t = NULL
    cdef void* block = NULL
    cdef float* buffers[2]
    cdef float* pack = NULL
    cdef float* cursor
    cdef const float* a_in
    cdef float* a_out
    cdef int activation
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    if params.shape[0] != arch.n_params:
        raise ValueError("parameter array does not match the architecture")
    if (X.shape[1] != arch.sizes[0] or out.shape[0] != n
            or out.shape[1] != arch.sizes[arch.n_layers]):
        raise ValueError("X or out does not match the architecture")
    if n == 0:
        return
    paths = <LayerPath*>malloc(arch.n_layers * sizeof(LayerPath))
    weights_t = <float**>malloc(arch.n_layers * sizeof(float*))
    cdef fbp_fpmode caller_fpmode = fbp_flush_subnormals()
    try:
        if paths == NULL or weights_t == NULL:
            raise MemoryError()
        memset(weights_t, 0, arch.n_layers * sizeof(float*))
        plan_layers(arch, chunk, True, 1, 0, 0, False, paths)
        for l in range(arch.n_layers):
            if l < last:
                widest = max(widest, arch.sizes[l + 1])
            if transposed_weights(arch, l, chunk):
                transposed_size += in_lines(arch.sizes[l] * arch.sizes[l + 1])
                paths[l] = INPLACE_GEMM_TRANSPOSED_WEIGHTS
            elif paths[l] != LOOPS and paths[l] != PACKED_GEMM:
                paths[l] = BLAS  # (what the loop below runs for any other path)
            arch._last_plan[l] = paths[l]
        arch._planned = True
        # Two chunks of activations, the Wᵀs and the packed kernel's blocks: one allocation.
        block = malloc((2 * in_lines(chunk * widest) + transposed_size
                        + sgemm_packed_work()) * sizeof(float) + 64)
        if block == NULL:
            raise MemoryError()
        cursor = <float*>((<size_t>block + 63) & ~(<size_t>63))
        buffers[0] = cursor
        buffers[1] = cursor + in_lines(chunk * widest)
        cursor = buffers[1] + in_lines(chunk * widest)
        for l in range(arch.n_layers):
            if transposed_weights(arch, l, chunk):
                weights_t[l] = cursor
                cursor += in_lines(arch.sizes[l] * arch.sizes[l + 1])
        pack = cursor
        with nogil:
            for l in range(arch.n_layers):
                if weights_t[l] != NULL:
                    stranspose(&params[arch.w_offset[l]], arch.sizes[l + 1], arch.sizes[l],
                               weights_t[l])
            done = 0
            while done < n:
                rows = min(chunk, n - done)
                a_in = &X[done, 0]
                for l in range(arch.n_layers):
                    n_in = arch.sizes[l]
                    n_out = arch.sizes[l + 1]
                    a_out = &out[done, 0] if l == last else buffers[l % 2]
                    activation = arch.activation[l]
                    if l < last and activation == GELU:  # as forward_chunk: z, then f(z)
                        activation = IDENTITY
                    if weights_t[l] != NULL:
                        sgemm_inplace(rows, n_out, n_in, 1, a_in, n_in, 1, weights_t[l], n_out,
                                      0, a_out, n_out)
                        bias_activate(a_out, rows, n_out, &params[arch.b_offset[l]], activation)
                    elif paths[l] == LOOPS:
                        dense_forward(a_in, rows, n_in, &params[arch.w_offset[l]],
                                      &params[arch.b_offset[l]], n_out, a_out, activation)
                    elif paths[l] == PACKED_GEMM:  # Z = A·Wᵀ, Wᵀ packed from W
                        sgemm_packed(rows, n_out, n_in, 1, a_in, n_in, 1,
                                     &params[arch.w_offset[l]], 1, n_in, 0, a_out, n_out, pack)
                        bias_activate(a_out, rows, n_out, &params[arch.b_offset[l]], activation)
                    else:  # Z = A·Wᵀ by BLAS (narrow outputs)
                        gemm(False, True, <int>rows, <int>n_out, <int>n_in, <float>1, a_in,
                             <int>n_in, &params[arch.w_offset[l]], <int>n_in, <float>0, a_out,
                             <int>n_out)
                        bias_activate(a_out, rows, n_out, &params[arch.b_offset[l]], activation)
                    if activation != arch.activation[l]:
                        activate(a_out, rows * n_out, arch.activation[l])
                    a_in = a_out
                output_probabilities(&out[done, 0], rows, arch.sizes[arch.n_layers], arch.loss)
                done += rows
    finally:
        fbp_restore_fpmode(caller_fpmode)
        free(paths)
        free(weights_t)
        free(block)

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
amount of work. The choice is made per layer once per call, from the chunk size.
"""
from cython cimport floating
from libc.limits cimport INT_MAX
from libc.math cimport isfinite
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

import numpy as np

from fastbp._blas cimport gemm
from fastbp._kernels cimport (
    dense_forward, bias_activate, activation_backward, loss_and_delta, output_probabilities,
    dense_backward_params, dense_backward_input, bias_backward, dense_step_one, sgd_step,
    all_finite,
)

# A layer goes to BLAS when chunk × n_in × n_out (multiply-adds per pass) reaches this;
# measured on Zen 5 with scipy's OpenBLAS, BLAS wins from about 1,000 (e.g. 8-8-1 at batch
# 16: 2× faster) and the compiled loops below that (3-8-8-1 per example: 3× faster).
cdef Py_ssize_t blas_min_work = 1024


def get_blas_min_work():
    """The BLAS crossover: multiply-adds per layer per chunk from which BLAS is used."""
    return blas_min_work


def set_blas_min_work(Py_ssize_t value):
    """Set the BLAS crossover (multiply-adds per layer per chunk); returns the previous value.

    0 sends every layer to BLAS, a huge value none: the tests use it to hold both paths to
    the reference on the same sizes.
    """
    global blas_min_work
    if value < 0:
        raise ValueError("value must be >= 0")
    previous = blas_min_work
    blas_min_work = value
    return previous

# Status codes of train_epoch.
cpdef enum Status:
    STATUS_OK = 0
    STATUS_DIVERGED = 1


cdef class Architecture:
    """Layer sizes, activation and loss codes, and the flat parameter layout of a network."""
    cdef readonly Py_ssize_t n_layers
    cdef readonly Py_ssize_t n_params
    cdef readonly int loss
    cdef Py_ssize_t[::1] sizes
    cdef Py_ssize_t[::1] w_offset
    cdef Py_ssize_t[::1] b_offset
    cdef int[::1] activation

    def __init__(self, sizes, activation_codes, int loss):
        """sizes: n_layers + 1 widths; activation_codes: one per layer (the last is the output's)."""
        if len(sizes) < 2 or len(activation_codes) != len(sizes) - 1:
            raise ValueError("need len(sizes) >= 2 and one activation code per layer")
        self.n_layers = len(sizes) - 1
        self.loss = loss
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

    def workspace_size(self, Py_ssize_t chunk):
        """Elements of workspace that processing `chunk` rows at a time needs."""
        cdef Py_ssize_t l, total = 0, widest = 0
        for l in range(self.n_layers + 1):
            total += chunk * self.sizes[l]          # activations (layer 0: gathered inputs)
        for l in range(1, self.n_layers + 1):
            widest = max(widest, self.sizes[l])
        total += 2 * chunk * widest                 # deltas, ping-pong
        total += chunk * self.sizes[self.n_layers]  # gathered targets
        return total


cdef struct Workspace:
    Py_ssize_t chunk
    void** acts      # acts[l]: chunk × sizes[l] activations (acts[0]: gathered inputs)
    void* delta0
    void* delta1
    void* targets    # chunk × n_out gathered targets
    bint* blas       # blas[l]: layer l's products go through BLAS


cdef bint uses_blas(Architecture arch, Py_ssize_t l, Py_ssize_t chunk) noexcept:
    """Layer l goes through BLAS when `chunk` rows are processed at a time."""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    # (BLAS takes 32-bit sizes.)
    return (chunk * n_in * n_out >= blas_min_work
            and chunk <= INT_MAX and n_in * n_out <= INT_MAX)


def layer_paths(Architecture arch, Py_ssize_t chunk):
    """Per layer, "blas" or "loops": which kernels process `chunk` rows at a time."""
    return ["blas" if uses_blas(arch, l, chunk) else "loops" for l in range(arch.n_layers)]


cdef int workspace_init(Workspace* ws, Architecture arch, floating* work,
                        Py_ssize_t chunk) except -1:
    """Carve `work` (arch.workspace_size(chunk) elements) into the buffers of a Workspace."""
    cdef Py_ssize_t l, widest = 0
    ws.chunk = chunk
    ws.acts = <void**>malloc((arch.n_layers + 1) * sizeof(void*))
    ws.blas = <bint*>malloc(arch.n_layers * sizeof(bint))
    if ws.acts == NULL or ws.blas == NULL:
        workspace_free(ws)
        raise MemoryError()
    for l in range(arch.n_layers):
        ws.blas[l] = uses_blas(arch, l, chunk)
    for l in range(arch.n_layers + 1):
        ws.acts[l] = work
        work += chunk * arch.sizes[l]
    for l in range(1, arch.n_layers + 1):
        widest = max(widest, arch.sizes[l])
    ws.delta0 = work
    work += chunk * widest
    ws.delta1 = work
    work += chunk * widest
    ws.targets = work
    return 0


cdef void workspace_free(Workspace* ws) noexcept:
    free(ws.acts)
    free(ws.blas)
    ws.acts = NULL
    ws.blas = NULL


cdef void gather_rows(const floating* src, Py_ssize_t width, const Py_ssize_t* rows,
                      Py_ssize_t count, floating* dst) noexcept nogil:
    """dst[j] := src[rows[j]] for j < count (rows of `width` elements)"""
    cdef Py_ssize_t j
    for j in range(count):
        memcpy(dst + j * width, src + rows[j] * width, width * sizeof(floating))


cdef const floating* forward_chunk(Architecture arch, const floating* params,
                                   const floating* inputs, Py_ssize_t rows,
                                   Workspace* ws) noexcept nogil:
    """acts[l+1] := f_l(W_l·acts[l] + b_l) for every layer; returns the output buffer"""
    cdef Py_ssize_t l, n_in, n_out
    cdef const floating* a_in = inputs
    cdef floating* a_out
    for l in range(arch.n_layers):
        a_out = <floating*>ws.acts[l + 1]
        n_in = arch.sizes[l]
        n_out = arch.sizes[l + 1]
        if ws.blas[l]:
            gemm(False, True, <int>rows, <int>n_out, <int>n_in, <floating>1, a_in, <int>n_in,
                 params + arch.w_offset[l], <int>n_in, <floating>0, a_out, <int>n_out)
            bias_activate(a_out, rows, n_out, params + arch.b_offset[l], arch.activation[l])
        else:
            dense_forward(a_in, rows, n_in, params + arch.w_offset[l], params + arch.b_offset[l],
                          n_out, a_out, arch.activation[l])
        a_in = a_out
    return a_in


cdef void layer_gradient(Architecture arch, Workspace* ws, Py_ssize_t l, const floating* dZ,
                         const floating* A, Py_ssize_t rows, floating* grads) noexcept nogil:
    """layer l: dW += dZᵀ·A, db += Σ_r dZ"""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    if ws.blas[l]:
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
    if ws.blas[l]:
        gemm(False, False, <int>rows, <int>n_in, <int>n_out, <floating>1, dZ, <int>n_out,
             params + arch.w_offset[l], <int>n_in, <floating>0, dA, <int>n_in)
    else:
        dense_backward_input(dZ, params + arch.w_offset[l], rows, n_in, n_out, dA)
    activation_backward(dA, <floating*>ws.acts[l], rows * n_in, arch.activation[l - 1])


cdef double accumulate_gradient(Architecture arch, const floating* params, floating* grads,
                                const floating* X, const floating* Y, const Py_ssize_t* order,
                                Py_ssize_t start, Py_ssize_t count, floating scale,
                                Workspace* ws) noexcept nogil:
    """grads += scale · Σ ∂loss/∂θ over samples order[start:start+count] (rows start.. when
    order is NULL); returns Σ of their losses. grads may be NULL: loss only."""
    cdef Py_ssize_t n_in = arch.sizes[0], n_out = arch.sizes[arch.n_layers]
    cdef Py_ssize_t done, rows, l
    cdef double total = 0
    cdef const floating* inputs
    cdef const floating* targets
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
        else:
            gather_rows(X, n_in, order + start + done, rows, <floating*>ws.acts[0])
            gather_rows(Y, n_out, order + start + done, rows, <floating*>ws.targets)
            inputs = <floating*>ws.acts[0]
            targets = <floating*>ws.targets
        out = forward_chunk(arch, params, inputs, rows, ws)
        delta = <floating*>ws.delta0
        delta_next = <floating*>ws.delta1
        total += loss_and_delta(out, targets, rows, n_out, arch.loss,
                                arch.activation[arch.n_layers - 1], scale, delta)
        done += rows
        if grads == NULL:
            continue
        for l in range(arch.n_layers - 1, -1, -1):
            layer_gradient(arch, ws, l, delta, inputs if l == 0 else <floating*>ws.acts[l],
                           rows, grads)
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
                           arch.activation[arch.n_layers - 1], <floating>(1.0 / count), delta)
    if not isfinite(total):
        return total
    for l in range(arch.n_layers - 1, -1, -1):
        A = inputs if l == 0 else <floating*>ws.acts[l]
        if count == 1 and not ws.blas[l]:
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


def train_epoch(Architecture arch, floating[::1] params, floating[::1] grads,
                floating[::1] work, const floating[:, ::1] X, const floating[:, ::1] Y,
                const Py_ssize_t[::1] order, Py_ssize_t batch_size, double lr,
                Py_ssize_t chunk):
    """Run one epoch of mini-batch gradient descent, θ ← θ − lr·mean-batch gradient.

    Batches are consecutive slices of `order` (a permutation of the rows of X), or of the
    rows themselves when `order` is None; the last batch may be partial. Returns
    ``(status, loss_sum)``: the sum over samples of their loss at the time they were seen,
    and STATUS_DIVERGED if a batch loss or a parameter became non-finite (training stops
    at that batch). `grads` (same size as params) and `work` are scratch space; a batch
    is processed `chunk` rows at a time.
    """
    cdef Py_ssize_t n = X.shape[0], start, count
    cdef int status = STATUS_OK
    cdef double batch_loss, loss_sum = 0
    cdef const Py_ssize_t* order_ptr = NULL
    cdef Workspace ws
    check_call(arch, params.shape[0], work.shape[0], chunk, X.shape[0], X.shape[1],
               Y.shape[0], Y.shape[1])
    if grads.shape[0] != params.shape[0]:
        raise ValueError("grads must have the size of params")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if order is not None:
        if order.shape[0] != n:
            raise ValueError("order must hold one index per row of X")
        order_ptr = &order[0]
    if n == 0:
        return status, loss_sum
    workspace_init(&ws, arch, &work[0], chunk)
    try:
        with nogil:
            start = 0
            while start < n:
                count = min(batch_size, n - start)
                if count <= chunk:  # one pass: each layer steps as its gradient is known
                    batch_loss = train_batch(arch, &params[0], &grads[0], &X[0, 0], &Y[0, 0],
                                             order_ptr, start, count, <floating>lr, &ws)
                else:  # several chunks: the whole gradient first, then one step
                    memset(&grads[0], 0, grads.shape[0] * sizeof(floating))
                    batch_loss = accumulate_gradient(arch, &params[0], &grads[0], &X[0, 0],
                                                     &Y[0, 0], order_ptr, start, count,
                                                     <floating>(1.0 / count), &ws)
                if not isfinite(batch_loss):
                    status = STATUS_DIVERGED
                    break
                if count > chunk:
                    sgd_step(&params[0], &grads[0], params.shape[0], <floating>lr)
                loss_sum += batch_loss
                start += count
            if status == STATUS_OK and not all_finite(&params[0], params.shape[0]):
                status = STATUS_DIVERGED
    finally:
        workspace_free(&ws)
    return status, loss_sum


def loss_and_gradient(Architecture arch, floating[::1] params, floating[::1] grads,
                      floating[::1] work, const floating[:, ::1] X, const floating[:, ::1] Y,
                      Py_ssize_t chunk):
    """Return Σ_samples loss over all of X; with `grads` (not None) set it to the mean gradient.

    Works through `chunk` rows at a time, so the workspace does not grow with len(X).
    """
    cdef Py_ssize_t n = X.shape[0]
    cdef double total
    cdef floating* grads_ptr = NULL
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
    workspace_init(&ws, arch, &work[0], chunk)
    try:
        with nogil:
            total = accumulate_gradient(arch, &params[0], grads_ptr, &X[0, 0], &Y[0, 0], NULL,
                                        0, n, <floating>(1.0 / n), &ws)
    finally:
        workspace_free(&ws)
    return total


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

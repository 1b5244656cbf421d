# The layer operations (included by _train.pyx, after the plan): a call's workspace, and each
# layer's forward pass, weight gradient, input delta and plain-SGD step, each a switch on the
# layer's planned path; and a layer's optimizer step (layer_update, over _optim's kernels).

# ----- looking up from long work: Ctrl-C and the time budget --------------------------------
# Work between two looks, in multiply-adds (counted as Lookout says): 2^26 is 2-10 ms on every
# path measured, T1 to M2 (float32 and float64, SGD and Adam, batch 1 to full), and a look per
# chunk on L1 (a chunk: ~60 ms), so Ctrl-C stops well within 0.2 s, while a look (the GIL, the
# signal flag, the clock) costs about a microsecond. Counted in work, not time, so that where
# a fit looks up is deterministic (tests/test_interrupts.py).
cdef long long CHECK_WORK = 1 << 26
# A row's and an update's fixed costs (calls, loss, gathering, the loop), in multiply-adds at
# the rate of the products (~0.4 µs at ~10 G/s): tiny networks, whose products are a few
# multiply-adds, then look up about as often in time as large ones.
cdef long long ROW_OVERHEAD = 4096
cdef long long UPDATE_OVERHEAD = 4096

# Test hook (tests/test_interrupts.py): looks taken by this process, and the look that is to act
# as Ctrl-C (0: none). Read and written under the GIL only (look_for_signals).
cdef long long looks_taken = 0
cdef long long interrupt_at_look = 0


from cpython.ref cimport PyObject, Py_XDECREF

cdef extern from "Python.h":
    # No except clause (cpython.exc's has except -1): a handler's exception is fetched into
    # the Lookout, so that the loop stops through its status path (W put back, the updates
    # counted) instead of unwinding past it.
    int PyErr_CheckSignals()
    void PyErr_Fetch(PyObject** type, PyObject** value, PyObject** traceback)
    void PyErr_NormalizeException(PyObject** type, PyObject** value, PyObject** traceback)
    int PyException_SetTraceback(PyObject* exception, PyObject* traceback)


cdef struct Lookout:
    # Where a call stands between two looks, and what the last look found.
    long long work          # multiply-adds since the last look: for each row through the
                            # layers row_work, for each update n_params + UPDATE_OVERHEAD
    long long row_work      # this call's: (Σ (n_in + 1)·n_out + ROW_OVERHEAD), ×3 to train
    double deadline         # the time budget's end on fbp_monotonic_seconds (INFINITY: none)
    bint* requested         # a deferred Ctrl-C of this call (TrainOptions), or NULL
    PyObject* error         # the exception a signal handler raised (owned), or NULL
    bint interrupted        # a look found Ctrl-C (or a handler raised, or the test hook)
    bint time_up            # a look found the time budget spent


cdef void lookout_init(Lookout* look, Architecture arch, bint training, double deadline,
                       bint* requested) noexcept:
    """A call's Lookout: no work yet, its row work from the layers' sizes."""
    cdef Py_ssize_t l
    look.work = 0
    look.row_work = ROW_OVERHEAD
    for l in range(arch.n_layers):
        look.row_work += (arch.sizes[l] + 1) * arch.sizes[l + 1] * (3 if training else 1)
    look.deadline = deadline
    look.requested = requested
    look.error = NULL
    look.interrupted = look.time_up = False


cdef void look_for_signals(Lookout* look) noexcept with gil:
    """Run Python's signal handlers; look.interrupted when one raised (its exception kept in
    look.error), when this call's Ctrl-C was deferred to here, or at the test hook's look."""
    global looks_taken, interrupt_at_look
    cdef PyObject* error_type = NULL
    cdef PyObject* traceback = NULL
    looks_taken += 1
    if interrupt_at_look > 0 and looks_taken >= interrupt_at_look:
        interrupt_at_look = 0
        look.interrupted = True
    elif PyErr_CheckSignals() != 0:
        PyErr_Fetch(&error_type, &look.error, &traceback)
        PyErr_NormalizeException(&error_type, &look.error, &traceback)
        if traceback != NULL and look.error != NULL:
            PyException_SetTraceback(look.error, traceback)
        Py_XDECREF(error_type)
        Py_XDECREF(traceback)
        look.interrupted = True
    elif look.requested != NULL and look.requested[0]:
        look.interrupted = True


cdef bint look_up(Lookout* look) noexcept nogil:
    """At the clock and for Ctrl-C, once look.work has reached CHECK_WORK; True: stop now
    (look.time_up or look.interrupted says why)."""
    look.work = 0
    if look.deadline != INFINITY and fbp_monotonic_seconds() >= look.deadline:
        look.time_up = True
        return True
    look_for_signals(look)
    return look.interrupted


cdef object lookout_error(Lookout* look):
    """The exception a signal handler raised at a look (None if none), taken from look."""
    cdef PyObject* error = look.error
    if error == NULL:
        return None
    look.error = NULL
    result = <object>error
    Py_XDECREF(error)
    return result


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
    LayerPath* paths  # paths[l]: layer l's path, from plan_layers
    void* pack       # fbp_sgemm_packed's blocks (if any layer is packed), 64-byte aligned,
    void* pack_block  # ... in this allocation
    void* inputs_t   # chunk × n_in: a transposed input, or a transposed input delta
    void* outputs_t  # chunk × n_out: an in-place-kernel layer's transposed output, then delta
    void* weights_t  # layer 0's Wᵀ (INPLACE_GEMM_TRANSPOSED_WEIGHTS; else NULL), 64-byte
    void* weights_t_block  # ... aligned in this allocation
    const double* dropout  # dropout rate per activation buffer, or NULL: no dropout
    fbp_rng rng
    fbp_team* team   # the threads fastbp's own kernels split their products over, or NULL
    int outer_blas_count  # the BLAS count before this call put it on one thread beside a team


cdef int workspace_init(Workspace* ws, Architecture arch, floating* work,
                        Py_ssize_t chunk, const double* dropout=NULL, Py_ssize_t epoch_rows=0,
                        Py_ssize_t batch_size=0, bint plain_sgd=False,
                        Py_ssize_t call_rows=0) except -1:
    """Plan the layers' paths (plan_layers: epoch_rows, batch_size and plain_sgd describe an
    epoch of training, if this call is one; call_rows, the rows of any other call), start
    their team of threads if the plan has one, and carve `work`
    (arch.workspace_size(chunk, dropout != NULL) elements) into the buffers of a Workspace."""
    cdef Py_ssize_t l, widest = 0, n_buffers = arch.n_layers + 1
    ws.chunk = chunk
    ws.dropout = dropout
    ws.acts = <void**>malloc(n_buffers * sizeof(void*))
    ws.pre = <void**>malloc(n_buffers * sizeof(void*))
    ws.mask = <void**>malloc(n_buffers * sizeof(void*))
    ws.dropped = <void**>malloc(n_buffers * sizeof(void*))
    ws.paths = <LayerPath*>malloc(arch.n_layers * sizeof(LayerPath))
    # (workspace_free frees these too: NULL until allocated)
    ws.pack = ws.pack_block = ws.weights_t = ws.weights_t_block = NULL
    ws.team = NULL
    ws.outer_blas_count = 0
    if (ws.acts == NULL or ws.pre == NULL or ws.mask == NULL or ws.dropped == NULL
            or ws.paths == NULL):
        workspace_free(ws)
        raise MemoryError()
    cdef int n_threads = blas_threads()
    cdef int threads = plan_layers(arch, chunk, floating is float, n_threads, epoch_rows,
                                   batch_size, plain_sgd, ws.paths, call_rows)
    cdef bint own_kernels = False
    for l in range(arch.n_layers):
        arch._last_plan[l] = ws.paths[l]
        own_kernels = own_kernels or ws.paths[l] in (
            INPLACE_GEMM, INPLACE_GEMM_TRANSPOSED_WEIGHTS, PACKED_GEMM)
    arch._planned = True
    if threads > 1:
        ws.team = team_start(threads)  # (NULL: the same products, on this thread alone)
    if own_kernels and n_threads > 1:  # BLAS beside them on one thread (plan_layers)
        ws.outer_blas_count = swap_thread_count(1)
    arch._last_team_threads = team_size(ws.team)
    for l in range(arch.n_layers):
        if ws.paths[l] == PACKED_GEMM and ws.pack_block == NULL:  # one for every packed layer
            ws.pack_block = malloc(team_size(ws.team) * sgemm_packed_work() * sizeof(float) + 64)
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
    team_stop(ws.team)
    ws.team = NULL
    if ws.outer_blas_count > 0:
        swap_thread_count(ws.outer_blas_count)
        ws.outer_blas_count = 0
    free(ws.acts)
    free(ws.pre)
    free(ws.mask)
    free(ws.dropped)
    free(ws.paths)
    free(ws.pack_block)
    free(ws.weights_t_block)
    ws.weights_t = ws.weights_t_block = ws.pack = ws.pack_block = NULL
    ws.acts = ws.pre = ws.mask = ws.dropped = NULL
    ws.paths = NULL


cdef inline void ws_sgemm(Workspace* ws, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                          const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs, const float* B,
                          Py_ssize_t ldb, float beta, float* C, Py_ssize_t ldc) noexcept nogil:
    """sgemm_inplace, split over the workspace's team from SPLIT_MIN_WORK multiply-adds"""
    sgemm_inplace_team(ws.team if m * n * k >= SPLIT_MIN_WORK else NULL, m, n, k, alpha, A,
                       a_rs, a_cs, B, ldb, beta, C, ldc)


cdef inline void ws_sgemm_packed(Workspace* ws, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                 float alpha, const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs,
                                 const float* B, Py_ssize_t b_rs, Py_ssize_t b_cs, float beta,
                                 float* C, Py_ssize_t ldc, float* work) noexcept nogil:
    """sgemm_packed, split over the workspace's team from SPLIT_MIN_WORK multiply-adds (`work`:
    a block per thread)"""
    sgemm_packed_team(ws.team if m * n * k >= SPLIT_MIN_WORK else NULL, m, n, k, alpha, A,
                      a_rs, a_cs, B, b_rs, b_cs, beta, C, ldc, work)


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
    cdef uint64_t threshold = fbp_rng_uniform_threshold(p)
    cdef Py_ssize_t k
    # The serial draws first, without a branch; then a product loop the compiler vectorises.
    if floating is float:
        fbp_rng_keep_mask_f(&ws.rng, threshold, keep, m, n)
    else:
        fbp_rng_keep_mask_d(&ws.rng, threshold, keep, m, n)
    for k in range(n):
        out[k] = a[k] * m[k]


cdef void gather_rows(const floating* src, Py_ssize_t width, const Py_ssize_t* rows,
                      Py_ssize_t count, floating* dst) noexcept nogil:
    """dst[j] := src[rows[j]] for j < count (rows of `width` elements)"""
    cdef Py_ssize_t j, k
    cdef const floating* row
    cdef floating* out
    for j in range(count):
        # A loop the compiler vectorises, not a memcpy call per row: rows of a few values
        # (targets, the tutorials' inputs) would cost a call each (shuffled bench_m1).
        row = src + rows[j] * width
        out = dst + j * width
        for k in range(width):
            out[k] = row[k]


# ----- fastbp's in-place matrix kernel (INPLACE_GEMM) ------------------------------------------
# fbp_sgemm reads its B operand row by row and broadcasts A's elements one at a time. So the
# forward product is computed transposed, Zᵀ = W·Aᵀ, between two transposes (cheap against the
# product), and the weight gradient from a transposed copy of dZ, whose column reads would
# otherwise touch a cache line per element. INPLACE_GEMM_TRANSPOSED_WEIGHTS needs neither: its
# W is trained as Wᵀ for the epoch (transpose_first_layer_weights).

cdef void inplace_forward(const float* A, Py_ssize_t rows, Py_ssize_t n_in, const float* W,
                      Py_ssize_t n_out, Workspace* ws, float* Z) noexcept nogil:
    """Z := A·Wᵀ"""
    cdef float* AT = <float*>ws.inputs_t
    cdef float* ZT = <float*>ws.outputs_t
    stranspose(A, rows, n_in, AT)
    ws_sgemm(ws, n_out, rows, n_in, 1, W, n_in, 1, AT, rows, 0, ZT, rows)
    stranspose(ZT, n_out, rows, Z)


cdef void inplace_weight_product(const float* dZ, const float* A, Py_ssize_t rows,
                             Py_ssize_t n_in, Py_ssize_t n_out, float alpha, Workspace* ws,
                             float* W, float beta=1) noexcept nogil:
    """W := alpha·dZᵀ·A + beta·W (W: a weight matrix or its gradient; beta 0: W not read)"""
    cdef float* dZT = <float*>ws.outputs_t
    stranspose(dZ, rows, n_out, dZT)
    ws_sgemm(ws, n_out, n_in, rows, alpha, dZT, rows, 1, A, n_in, beta, W, n_in)



cdef const floating* forward_chunk(Architecture arch, const floating* params,
                                   const floating* inputs, Py_ssize_t rows,
                                   Workspace* ws) noexcept nogil:
    """acts[l+1] := f_l(W_l·acts[l] + b_l) for every layer; returns the output buffer"""
    cdef Py_ssize_t l, n_in, n_out
    cdef const floating* a_in = inputs
    cdef floating* a_out
    cdef int activation
    cdef LayerPath path
    for l in range(arch.n_layers):
        a_out = <floating*>ws.acts[l + 1]
        n_in = arch.sizes[l]
        n_out = arch.sizes[l + 1]
        activation = arch.activation[l]
        if ws.pre[l + 1] != NULL:  # gelu: keep z for the derivative, then activate a copy
            a_out = <floating*>ws.pre[l + 1]
            activation = IDENTITY
        path = ws.paths[l]
        if path == LOOPS:
            dense_forward(a_in, rows, n_in, params + arch.w_offset[l], params + arch.b_offset[l],
                          n_out, a_out, activation)
        else:
            if path == BLAS_TRANSPOSED_INPUT or path == BLAS_TRANSPOSED_INPUT_AND_DELTA:
                transpose(a_in, rows, n_in, <floating*>ws.inputs_t)  # Z = (Aᵀ)ᵀ·Wᵀ
                gemm(True, True, <int>rows, <int>n_out, <int>n_in, <floating>1,
                     <floating*>ws.inputs_t, <int>rows, params + arch.w_offset[l], <int>n_in,
                     <floating>0, a_out, <int>n_out)
            elif floating is float and path == INPLACE_GEMM:
                inplace_forward(a_in, rows, n_in, params + arch.w_offset[l], n_out, ws, a_out)
            elif floating is float and path == INPLACE_GEMM_TRANSPOSED_WEIGHTS:
                # Z = A·Wᵀ, Wᵀ read row by row
                ws_sgemm(ws, rows, n_out, n_in, 1, a_in, n_in, 1, <float*>ws.weights_t, n_out,
                         0, a_out, n_out)
            elif floating is float and path == PACKED_GEMM:  # Z = A·Wᵀ, Wᵀ packed from W
                ws_sgemm_packed(ws, rows, n_out, n_in, 1, a_in, n_in, 1,
                                params + arch.w_offset[l], 1, n_in, 0, a_out, n_out,
                                <float*>ws.pack)
            else:  # BLAS, BLAS_TRANSPOSED_DELTA: Z = A·Wᵀ
                gemm(False, True, <int>rows, <int>n_out, <int>n_in, <floating>1, a_in,
                     <int>n_in, params + arch.w_offset[l], <int>n_in, <floating>0, a_out,
                     <int>n_out)
            bias_activate(a_out, rows, n_out, params + arch.b_offset[l], activation)
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
    cdef LayerPath path = ws.paths[l]
    if path == LOOPS:
        dense_backward_params(dZ, A, rows, n_in, n_out, grads + arch.w_offset[l],
                              grads + arch.b_offset[l])
        return
    # (INPLACE_GEMM_TRANSPOSED_WEIGHTS only ever steps, in layer_step: no gradient buffer.)
    if floating is float and (path == INPLACE_GEMM or path == INPLACE_GEMM_TRANSPOSED_WEIGHTS):
        inplace_weight_product(dZ, A, rows, n_in, n_out, 1, ws, grads + arch.w_offset[l])
    elif floating is float and path == PACKED_GEMM:
        ws_sgemm_packed(ws, n_out, n_in, rows, 1, dZ, 1, n_out, A, n_in, 1, 1,
                        grads + arch.w_offset[l], n_in, <float*>ws.pack)
    else:
        gemm(True, False, <int>n_out, <int>n_in, <int>rows, <floating>1, dZ, <int>n_out,
             A, <int>n_in, <floating>1, grads + arch.w_offset[l], <int>n_in)
    bias_backward(dZ, rows, n_out, grads + arch.b_offset[l])


cdef void layer_input_delta(Architecture arch, Workspace* ws, Py_ssize_t l,
                            const floating* params, const floating* dZ, Py_ssize_t rows,
                            floating* dA) noexcept nogil:
    """dA := dZ·W_l ⊙ f'_{l-1}: the delta of layer l − 1, from layer l's"""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    cdef Py_ssize_t k
    cdef const floating* mask
    cdef LayerPath path = ws.paths[l]
    if path == LOOPS:
        dense_backward_input(dZ, params + arch.w_offset[l], rows, n_in, n_out, dA)
    elif floating is float and (path == INPLACE_GEMM or path == INPLACE_GEMM_TRANSPOSED_WEIGHTS):
        # (layer 0, the only one ever trained transposed, has no input delta)
        ws_sgemm(ws, rows, n_in, n_out, 1, dZ, n_out, 1, params + arch.w_offset[l], n_in, 0,
                 dA, n_in)
    elif floating is float and path == PACKED_GEMM:
        ws_sgemm_packed(ws, rows, n_in, n_out, 1, dZ, n_out, 1, params + arch.w_offset[l],
                        n_in, 1, 0, dA, n_in, <float*>ws.pack)
    elif floating is float and (path == BLAS_TRANSPOSED_DELTA
                                or path == BLAS_TRANSPOSED_INPUT_AND_DELTA):
        gemm(True, True, <int>n_in, <int>rows, <int>n_out, <floating>1,  # dAᵀ = Wᵀ·dZᵀ
             params + arch.w_offset[l], <int>n_in, dZ, <int>n_out, <floating>0,
             <floating*>ws.inputs_t, <int>rows)
        stranspose(<float*>ws.inputs_t, n_in, rows, dA)
    else:  # BLAS, BLAS_TRANSPOSED_INPUT (and float64 layers)
        gemm(False, False, <int>rows, <int>n_in, <int>n_out, <floating>1, dZ, <int>n_out,
             params + arch.w_offset[l], <int>n_in, <floating>0, dA, <int>n_in)
    if dropping(ws, l):
        mask = <floating*>ws.mask[l]
        for k in range(rows * n_in):
            dA[k] *= mask[k]
    activation_backward(dA, derivative_source(ws, l, <floating*>ws.acts[l]), rows * n_in,
                        arch.activation[l - 1])


cdef double accumulate_gradient(Architecture arch, const floating* params, floating* grads,
                                const floating* X, const floating* Y, const floating* weights,
                                const Py_ssize_t* order, Py_ssize_t start, Py_ssize_t count,
                                floating scale, Workspace* ws, Lookout* look,
                                bint clip_log_loss) noexcept nogil:
    """grads += scale · Σ w·∂loss/∂θ over samples order[start:start+count] (rows start.. when
    order is NULL; w = 1 when weights is NULL); returns Σ w·loss (with `clip_log_loss`,
    scikit-learn's clipped log-loss: log_loss_clip_correction). grads may be NULL: loss
    only.

    Between chunks it looks up (look_up) when `look` has seen CHECK_WORK since its last look,
    and returns at once, the sums unfinished, when that look says stop."""
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
        if clip_log_loss:
            total += log_loss_clip_correction(out, targets, rows, n_out, arch.loss, row_weights)
        done += rows
        if grads != NULL:
            for l in range(arch.n_layers - 1, -1, -1):
                layer_gradient(arch, ws, l, delta, layer_input(ws, l, inputs), rows, grads)
                if l > 0:
                    layer_input_delta(arch, ws, l, params, delta, rows, delta_next)
                    swap = delta
                    delta = delta_next
                    delta_next = swap
        look.work += rows * look.row_work
        if done < count and look.work >= CHECK_WORK and look_up(look):
            break
    return total


cdef void layer_step(Architecture arch, Workspace* ws, Py_ssize_t l, const floating* dZ,
                     const floating* A, Py_ssize_t rows, floating lr, floating* params,
                     floating* grads) noexcept nogil:
    """layer l: W −= lr·dZᵀ·A, b −= lr·Σ_r dZ (dZ holds the batch-mean scale already)"""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    cdef floating* b_grad = grads + arch.b_offset[l]
    cdef LayerPath path = ws.paths[l]
    if path == LOOPS:
        # W and b of a layer are adjacent in the flat arrays: one clear, one step.
        memset(grads + arch.w_offset[l], 0, (n_in + 1) * n_out * sizeof(floating))
        dense_backward_params(dZ, A, rows, n_in, n_out, grads + arch.w_offset[l], b_grad)
        sgd_step(params + arch.w_offset[l], grads + arch.w_offset[l], (n_in + 1) * n_out, lr)
        return
    # The product lands on W directly (beta = 1): no gradient buffer to clear and read.
    if floating is float and path == INPLACE_GEMM:
        inplace_weight_product(dZ, A, rows, n_in, n_out, -lr, ws, params + arch.w_offset[l])
    elif floating is float and path == INPLACE_GEMM_TRANSPOSED_WEIGHTS:  # Wᵀ −= lr·Aᵀ·dZ
        ws_sgemm(ws, n_in, n_out, rows, -lr, A, 1, n_in, dZ, n_out, 1, <float*>ws.weights_t,
                 n_out)
    elif floating is float and path == PACKED_GEMM:
        ws_sgemm_packed(ws, n_out, n_in, rows, -lr, dZ, 1, n_out, A, n_in, 1, 1,
                        params + arch.w_offset[l], n_in, <float*>ws.pack)
    else:
        gemm(True, False, <int>n_out, <int>n_in, <int>rows, -lr, dZ, <int>n_out,
             A, <int>n_in, <floating>1, params + arch.w_offset[l], <int>n_in)
    memset(b_grad, 0, n_out * sizeof(floating))
    bias_backward(dZ, rows, n_out, b_grad)
    sgd_step(params + arch.b_offset[l], b_grad, n_out, lr)



cdef double layer_update(Architecture arch, Py_ssize_t l, int optimizer, const double* hyper,
                         double lr, double alpha, long long t, floating* params,
                         const floating* grads, floating* state) noexcept nogil:
    """layer l: its W and b stepped by `optimizer` from their gradient in `grads`, the L2
    term α·W folded into W's (biases spared); `state` is the network's flat optimizer state
    (slots n_params apart), or NULL for a stateless optimizer. Returns ‖W‖² from before the
    step when alpha != 0 (sum_of_squares' value, for the reported penalty), else 0."""
    cdef Py_ssize_t w = arch.w_offset[l], b = arch.b_offset[l], n_out = arch.sizes[l + 1]
    cdef double squares
    if alpha == 0:  # W and b are adjacent in every flat array: one step
        optimizer_step(optimizer, params + w, grads + w, b + n_out - w, lr, hyper,
                       state + w if state != NULL else NULL, arch.n_params, t, 0)
        return 0
    squares = optimizer_step_squares(optimizer, params + w, grads + w, b - w, lr, hyper,
                                     state + w if state != NULL else NULL, arch.n_params, t,
                                     alpha)
    optimizer_step(optimizer, params + b, grads + b, n_out, lr, hyper,
                   state + b if state != NULL else NULL, arch.n_params, t, 0)
    return squares


cdef void layer_gradient_over(Architecture arch, Workspace* ws, Py_ssize_t l,
                              const floating* dZ, const floating* A, Py_ssize_t rows,
                              floating* grads) noexcept nogil:
    """layer l: dW := dZᵀ·A, db := Σ_r dZ (layer_gradient written over the layer's slice: the
    products do not read a cleared buffer back)"""
    cdef Py_ssize_t n_in = arch.sizes[l], n_out = arch.sizes[l + 1]
    cdef LayerPath path = ws.paths[l]
    if path == LOOPS:  # (the compiled loops accumulate)
        memset(grads + arch.w_offset[l], 0, (n_in + 1) * n_out * sizeof(floating))
        dense_backward_params(dZ, A, rows, n_in, n_out, grads + arch.w_offset[l],
                              grads + arch.b_offset[l])
        return
    if floating is float and (path == INPLACE_GEMM or path == INPLACE_GEMM_TRANSPOSED_WEIGHTS):
        inplace_weight_product(dZ, A, rows, n_in, n_out, 1, ws, grads + arch.w_offset[l], 0)
    elif floating is float and path == PACKED_GEMM:
        ws_sgemm_packed(ws, n_out, n_in, rows, 1, dZ, 1, n_out, A, n_in, 1, 0,
                        grads + arch.w_offset[l], n_in, <float*>ws.pack)
    else:
        gemm(True, False, <int>n_out, <int>n_in, <int>rows, <floating>1, dZ, <int>n_out,
             A, <int>n_in, <floating>0, grads + arch.w_offset[l], <int>n_in)
    memset(grads + arch.b_offset[l], 0, n_out * sizeof(floating))
    bias_backward(dZ, rows, n_out, grads + arch.b_offset[l])

# The epoch driver (included by _train.pyx, last): whole epochs of training, and the
# full-data losses, gradients and predictions, each one nogil block over the layer
# operations.

import threading

try:  # the C module under signal: its functions without enum conversions, 25x faster a call
    import _signal as signals
except ImportError:  # (other Pythons)
    import signal as signals

# Status codes of train_epoch.
cpdef enum Status:
    STATUS_OK = 0
    STATUS_DIVERGED = 1        # a batch loss or a parameter became NaN or infinite
    STATUS_INTERRUPTED = 2     # Ctrl-C (deferred, or a signal handler raised), at a look
    STATUS_TIME_UP = 3         # the time budget ran out
    STATUS_UPDATES_DONE = 4    # the update budget ran out
    STATUS_NONFINITE_INPUT = 5  # a row of X about to be trained on holds NaN or infinity


cdef class TrainOptions:
    """What an epoch does beyond plain SGD: the optimizer, L2 penalty, gradient clipping,
    dropout, and the budgets. Python fills it once per fit call (budgets and the dropout seed
    once per epoch); the compiled loop reads it. A deferred Ctrl-C (DeferredCtrlC) sets
    interrupt_requested; the exception a signal handler raised at a look is kept in
    interruption."""
    cdef public int optimizer
    cdef double[::1] hyper
    cdef public long long step          # updates applied so far by this optimizer
    cdef public double alpha            # L2: grad_W += alpha·W
    cdef public bint alpha_over_batch_size  # scikit-learn's L2: alpha / each batch's Σ w
    cdef public double clip_norm        # 0: off
    cdef double[::1] dropout            # per activation buffer l (0 for none)
    cdef public bint has_dropout
    cdef public uint64_t dropout_seed
    cdef public long long max_updates   # < 0: unlimited
    cdef public double max_seconds      # inf: unlimited
    cdef public bint check_inputs       # check each batch's rows of X before training on them
    cdef public bint interrupt_requested  # Ctrl-C, to act on at the next look
    cdef public object interruption     # what a signal handler raised at a look, or None
    cdef public long long work_since_look  # carried from epoch to epoch (Lookout.work)
    # Factor on each batch's reported data loss (not its gradient, nor the L2 term): 1/k makes
    # a k-output squared loss a mean over outputs, as scikit-learn reports it (fastbp.sklearn).
    cdef public double data_loss_scale
    # The epoch's loss as the mean over rows of each batch's weighted mean (scikit-learn's),
    # instead of the weighted mean over all rows; the same without sample weights.
    cdef public bint loss_mean_over_rows
    # The reported log-loss with probabilities clipped to [ε, 1 − ε], as scikit-learn's
    # (fastbp.sklearn's classifier); the gradient stays the exact loss's.
    cdef public bint clip_log_loss

    def __init__(self, int optimizer=SGD, hyper=None, long long step=0, double alpha=0.0,
                 double clip_norm=0.0, dropout=None):
        """dropout: one rate per hidden layer, or None."""
        self.optimizer = optimizer
        self.hyper = np.zeros(1) if hyper is None else np.ascontiguousarray(hyper, np.float64).copy()
        if self.hyper.shape[0] == 0:
            self.hyper = np.zeros(1)  # never an empty view: its pointer is taken
        self.step = step
        self.alpha = alpha
        self.alpha_over_batch_size = False
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
        self.interrupt_requested = False
        self.interruption = None
        self.work_since_look = 0
        self.data_loss_scale = 1.0
        self.loss_mean_over_rows = False
        self.clip_log_loss = False

    cdef bint plain_sgd(self):
        return (self.optimizer == SGD and self.alpha == 0 and self.clip_norm == 0
                and not self.has_dropout)


cdef inline double batch_alpha(TrainOptions options, double batch_weight_sum) noexcept nogil:
    """The L2 α of this batch's step and penalty: options.alpha, or under alpha_over_batch_size
    (scikit-learn's convention) options.alpha / the batch's Σ w (its row count without
    weights)."""
    if options.alpha_over_batch_size and batch_weight_sum > 0:
        return options.alpha / batch_weight_sum
    return options.alpha


cdef bint rows_finite(const floating* X, Py_ssize_t width, const Py_ssize_t* order,
                      Py_ssize_t start, Py_ssize_t count) noexcept nogil:
    """Rows order[start:start+count] of X (rows start.. when order is NULL) hold only finite
    values. Checked just before they are trained on, a batch's rows come into the cache for
    its first product, which otherwise stalls reading them from memory (bench_m2)."""
    cdef Py_ssize_t i
    if order == NULL:
        return all_finite(X + start * width, count * width)
    for i in range(start, start + count):
        if not all_finite(X + order[i] * width, width):
            return False
    return True


cdef double fused_batch(Architecture arch, TrainOptions options, floating* params,
                        floating* grads, const floating* X, const floating* Y,
                        const floating* weights, const Py_ssize_t* order, Py_ssize_t start,
                        Py_ssize_t count, double batch_weight_sum, double lr, floating* state,
                        long long step, bint plain_sgd, Workspace* ws) noexcept nogil:
    """One update from the batch order[start:start+count] (rows start.. when order is NULL)
    of at most ws.chunk rows, each layer stepped as soon as its gradient is known, after the
    delta below it has been computed with its old weights: the update of batch_update's two
    passes, without a pass over all parameters. plain_sgd (no weights, penalty or dropout):
    θ −= lr · mean gradient, the products landing on W directly (layer_step); else options'
    optimizer on each layer's gradient, the L2 term folded into its step (layer_update).
    Returns Σ w·loss over the batch (with the L2 term); when that is not finite, θ is left
    unchanged."""
    cdef Py_ssize_t n_in = arch.sizes[0], n_out = arch.sizes[arch.n_layers], l
    cdef double total, squares = 0
    cdef double alpha = batch_alpha(options, batch_weight_sum)
    cdef const floating* inputs
    cdef const floating* targets
    cdef const floating* row_weights = NULL
    cdef const floating* A
    cdef floating* delta = <floating*>ws.delta0
    cdef floating* delta_next = <floating*>ws.delta1
    cdef floating* swap
    if order == NULL:
        inputs = X + start * n_in
        targets = Y + start * n_out
        if weights != NULL:
            row_weights = weights + start
    else:
        gather_rows(X, n_in, order + start, count, <floating*>ws.acts[0])
        gather_rows(Y, n_out, order + start, count, <floating*>ws.targets)
        inputs = <floating*>ws.acts[0]
        targets = <floating*>ws.targets
        if weights != NULL:
            gather_rows(weights, 1, order + start, count, <floating*>ws.weights)
            row_weights = <floating*>ws.weights
    forward_chunk(arch, params, inputs, count, ws)
    total = loss_and_delta(
        <floating*>ws.acts[arch.n_layers], targets, count, n_out, arch.loss,
        arch.activation[arch.n_layers - 1],
        <floating>(1.0 / batch_weight_sum) if batch_weight_sum > 0 else 0, row_weights, delta)
    if options.clip_log_loss:
        total += log_loss_clip_correction(<floating*>ws.acts[arch.n_layers], targets, count,
                                          n_out, arch.loss, row_weights)
    total *= options.data_loss_scale
    if not isfinite(total):
        return total
    if not batch_weight_sum > 0:  # a batch of zero-weight samples changes nothing
        if alpha != 0:
            total += batch_weight_sum * 0.5 * alpha * weights_squared(arch, params)
        return total
    for l in range(arch.n_layers - 1, -1, -1):
        A = layer_input(ws, l, inputs)
        if not plain_sgd:
            layer_gradient_over(arch, ws, l, delta, A, count, grads)
            if l > 0:
                layer_input_delta(arch, ws, l, params, delta, count, delta_next)
            # ‖W‖² before the step, in weights_squared's order (0 without a penalty)
            squares += layer_update(arch, l, options.optimizer, &options.hyper[0], lr, alpha,
                                    step, params, grads, state)
        elif count == 1 and ws.paths[l] == LOOPS and (l == 0 or ws.pre[l] == NULL):
            # One sample through a small layer: input delta, f' and the step in one pass.
            dense_step_one(delta, A, arch.sizes[l], arch.sizes[l + 1], <floating>lr,
                           params + arch.w_offset[l], params + arch.b_offset[l],
                           delta_next if l > 0 else NULL,
                           arch.activation[l - 1] if l > 0 else 0)
        else:
            if l > 0:
                layer_input_delta(arch, ws, l, params, delta, count, delta_next)
            layer_step(arch, ws, l, delta, A, count, <floating>lr, params, grads)
        swap = delta
        delta = delta_next
        delta_next = swap
    if alpha != 0:  # the reported loss includes ½·alpha·Σ‖W‖²
        total += batch_weight_sum * 0.5 * alpha * squares
    return total


cdef double batch_update(Architecture arch, TrainOptions options, floating* params,
                         floating* grads, Py_ssize_t n_params, const floating* X,
                         const floating* Y, const floating* weights, const Py_ssize_t* order,
                         Py_ssize_t start, Py_ssize_t count, double batch_weight_sum,
                         double lr, floating* state, long long step, bint fused_sgd,
                         Workspace* ws, Lookout* look) noexcept nogil:
    """One update from the batch order[start:start+count] (rows start.. when order is NULL):
    the (weighted) mean gradient, the L2 term and clipping, then the optimizer's step. A batch
    that fits a chunk is stepped layer by layer (fused_batch: plain SGD when `fused_sgd`; any
    optimizer without clipping while arch.fuse_optimizer_step); others take two passes, the
    whole gradient first. Returns Σ w·loss over the batch (with the L2 term); when that is not
    finite, θ is left unchanged. A batch of several chunks may look up between them: when that
    look says stop, θ is left unchanged too."""
    cdef double batch_loss
    cdef double alpha = batch_alpha(options, batch_weight_sum)
    if count <= ws.chunk and (fused_sgd or (options.clip_norm == 0
                                            and arch.fuse_optimizer_step)):
        look.work += count * look.row_work
        return fused_batch(arch, options, params, grads, X, Y, weights, order, start, count,
                           batch_weight_sum, lr, state, step, fused_sgd, ws)
    memset(grads, 0, n_params * sizeof(floating))
    batch_loss = options.data_loss_scale * accumulate_gradient(
        arch, params, grads, X, Y, weights, order, start, count,
        <floating>(1.0 / batch_weight_sum) if batch_weight_sum > 0 else 0, ws, look,
        options.clip_log_loss)
    if look.interrupted or look.time_up:
        return 0
    if not isfinite(batch_loss):
        return batch_loss
    if alpha != 0:  # the reported loss includes ½·alpha·Σ‖W‖²
        batch_loss += batch_weight_sum * 0.5 * alpha * weights_squared(arch, params)
    if batch_weight_sum > 0:  # a batch of zero-weight samples changes nothing
        regularise_and_clip(arch, params, grads, alpha, options.clip_norm)
        optimizer_step(options.optimizer, params, grads, n_params, lr, &options.hyper[0], state,
                       n_params, step, 0)
    return batch_loss


# Samples per call of the fused per-example loop: the epoch loop looks up (Ctrl-C, the clock)
# and counts the update budget between calls, as it does between batches.
cdef Py_ssize_t PER_EXAMPLE_BLOCK = 1024


cdef bint fused_per_example(Architecture arch, Workspace* ws) noexcept:
    """Per-example plain SGD on this network can run as one compiled loop over the samples
    (fbp_train_per_example_mse): squared error, every layer on the compiled loops, no gelu."""
    cdef Py_ssize_t l
    if not arch.fuse_per_example or arch.loss != MSE or arch.n_layers > FBP_MAX_FUSED_LAYERS:
        return False
    for l in range(arch.n_layers):
        if ws.paths[l] != LOOPS or arch.activation[l] == GELU:
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
    """Σ‖W‖² over the layers' weights (biases spared), from the last layer down (the order in
    which fused_batch meets them)"""
    cdef Py_ssize_t l
    cdef double total = 0
    for l in range(arch.n_layers - 1, -1, -1):
        total += sum_of_squares(params + arch.w_offset[l], arch.b_offset[l] - arch.w_offset[l])
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



cdef int transpose_first_layer_weights(Architecture arch, Workspace* ws,
                                       const float* params) except -1:
    """ws.weights_t := W of layer 0, transposed, trained so for this epoch
    (INPLACE_GEMM_TRANSPOSED_WEIGHTS; train_epoch puts it back).

    With its weights transposed, the first layer's forward product and plain-SGD step read
    every operand in the layouts fbp_sgemm wants, A·Wᵀ from Wᵀ's rows and Wᵀ −= lr·Aᵀ·dZ from
    A's rows: no transposes per batch, where W itself costs three (the input batch, Zᵀ and
    dZ). The first layer has no input delta, the one product that would want W. Two
    transposes of W per epoch instead (FIRST_LAYER_TRANSPOSED_MIN_BATCHES).
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

    Batches are consecutive slices of `order` (indices of rows of X, each in range: a
    permutation of them for fit; train_many's sample indices, perhaps permuted, may repeat or
    leave rows out), or of the rows themselves when `order` is None; the last batch may be
    partial. The epoch has as many samples as `order` (or X) has entries. `grads` (same size
    as params) and `work` (``arch.workspace_size(chunk, dropout)``) are scratch space; a
    batch is processed `chunk` rows at a time. `options` (None: plain SGD) sets the
    optimizer, whose state (state_size × n_params) is `state`, the penalty, clipping, dropout
    and budgets; options.step counts the updates.

    With options.check_inputs, each batch's rows of X are checked for NaN and infinity just
    before they are trained on (Network.fit's first epoch, instead of a pass over X first).

    Returns ``(status, loss_sum, weight_sum, updates)``: Σ w·loss over the batches applied (at
    the time they were seen), Σ w over them, and the number of updates made, which
    options.step has counted. Training stops early with STATUS_DIVERGED (a non-finite batch
    loss or parameter), STATUS_UPDATES_DONE, STATUS_NONFINITE_INPUT (the batches before the
    one with a non-finite input are trained), or at a look: STATUS_INTERRUPTED (Ctrl-C: see
    Lookout and DeferredCtrlC; a handler's exception is left in options.interruption) and
    STATUS_TIME_UP. The epoch looks up once CHECK_WORK of work has been done since its last
    look (the count carried from epoch to epoch in options.work_since_look), between batches
    (not before its first) and between the chunks of a batch; a batch cut short by a look is
    not applied. STATUS_OK: every row was trained on.
    """
    cdef Py_ssize_t n = X.shape[0] if order is None else order.shape[0], start = 0, count
    cdef int status = STATUS_OK
    cdef double batch_loss, batch_weight_sum, loss_sum = 0, weight_sum = 0
    cdef long long updates = 0, max_updates, update_work
    cdef const Py_ssize_t* order_ptr = NULL
    cdef const floating* weights_ptr = NULL
    cdef floating* state_ptr = NULL
    cdef bint fused_sgd, per_example, check_inputs
    cdef Py_ssize_t steps
    cdef Workspace ws
    cdef Lookout look
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
    if order is not None and n > 0:
        order_ptr = &order[0]
    if sample_weight is not None:
        if sample_weight.shape[0] != X.shape[0]:
            raise ValueError("sample_weight must hold one weight per row of X")
        weights_ptr = &sample_weight[0]
    if state is not None and state.shape[0] > 0:
        state_ptr = &state[0]
    fused_sgd = options.plain_sgd() and weights_ptr == NULL
    max_updates = options.max_updates
    if n == 0:
        return status, loss_sum, weight_sum, updates
    workspace_init(&ws, arch, &work[0], chunk,
                   &options.dropout[0] if options.has_dropout else NULL, n, batch_size, fused_sgd)
    fbp_rng_seed(&ws.rng, options.dropout_seed)
    per_example = fused_sgd and batch_size == 1 and fused_per_example(arch, &ws)
    lookout_init(&look, arch, True, INFINITY, &options.interrupt_requested)
    look.work = options.work_since_look
    update_work = params.shape[0] + UPDATE_OVERHEAD
    cdef fbp_fpmode caller_fpmode = fbp_flush_subnormals()
    try:
        if floating is float:
            if ws.paths[0] == INPLACE_GEMM_TRANSPOSED_WEIGHTS:
                transpose_first_layer_weights(arch, &ws, &params[0])
        with nogil:
            look.deadline = fbp_monotonic_seconds() + options.max_seconds
            while start < n:
                if max_updates >= 0 and updates >= max_updates:
                    status = STATUS_UPDATES_DONE
                    break
                # (Not before the epoch's first batch: the loop between epochs acts there.)
                if start > 0 and look.work >= CHECK_WORK and look_up(&look):
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
                    batch_loss *= options.data_loss_scale
                    batch_weight_sum = steps
                    look.work += steps * (look.row_work + update_work)
                    if steps < count:
                        status = STATUS_DIVERGED
                        break
                else:
                    batch_weight_sum = batch_weight(weights_ptr, order_ptr, start, count)
                    batch_loss = batch_update(arch, options, &params[0], &grads[0],
                                              params.shape[0], &X[0, 0], &Y[0, 0],
                                              weights_ptr, order_ptr, start, count,
                                              batch_weight_sum, lr, state_ptr,
                                              options.step + updates + 1, fused_sgd, &ws,
                                              &look)
                    if look.interrupted or look.time_up:  # (the batch was not applied)
                        break
                    if not isfinite(batch_loss):
                        status = STATUS_DIVERGED
                        break
                    steps = 1
                    look.work += update_work
                if options.loss_mean_over_rows and batch_weight_sum > 0:
                    # each batch's (weighted) mean counted once per row, as scikit-learn does
                    loss_sum += batch_loss * (<double>count / batch_weight_sum)
                    weight_sum += count
                else:
                    loss_sum += batch_loss
                    weight_sum += batch_weight_sum
                updates += steps
                start += count
            if status == STATUS_OK and look.interrupted:
                status = STATUS_INTERRUPTED
            elif status == STATUS_OK and look.time_up:
                status = STATUS_TIME_UP
            if floating is float:  # (weights_t is only ever set for float)
                if ws.weights_t != NULL:  # back in place, whatever stopped the epoch
                    stranspose(<float*>ws.weights_t, arch.sizes[0], arch.sizes[1],
                               &params[arch.w_offset[0]])
            if (status not in (STATUS_DIVERGED, STATUS_NONFINITE_INPUT)
                    and not all_finite(&params[0], params.shape[0])):
                status = STATUS_DIVERGED
    finally:
        fbp_restore_fpmode(caller_fpmode)
        workspace_free(&ws)
        options.interruption = lookout_error(&look)
    options.work_since_look = look.work
    options.step += updates
    return status, loss_sum, weight_sum, updates


def loss_and_gradient(Architecture arch, floating[::1] params, floating[::1] grads,
                      floating[::1] work, const floating[:, ::1] X, const floating[:, ::1] Y,
                      Py_ssize_t chunk, const floating[::1] sample_weight=None,
                      TrainOptions options=None, bint clip_log_loss=False):
    """Return (Σ w·loss, Σ w) over all of X (w = 1 without sample weights); with `grads`
    (not None) set it to the gradient of the weighted mean loss. With `clip_log_loss` the
    loss (not the gradient) is scikit-learn's clipped log-loss (TrainOptions.clip_log_loss).

    Works through `chunk` rows at a time, so the workspace does not grow with len(X), and
    looks up between chunks (as train_epoch does): at Ctrl-C, or `options`'
    interrupt_requested (L-BFGS's deferred Ctrl-C), it stops and raises KeyboardInterrupt (or
    what the signal handler raised).
    """
    cdef Py_ssize_t n = X.shape[0]
    cdef double total, weight_sum
    cdef floating* grads_ptr = NULL
    cdef const floating* weights_ptr = NULL
    cdef Workspace ws
    cdef Lookout look
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
    workspace_init(&ws, arch, &work[0], chunk, NULL, 0, 0, False, n)
    lookout_init(&look, arch, grads is not None, INFINITY,
                 NULL if options is None else &options.interrupt_requested)
    cdef fbp_fpmode caller_fpmode = fbp_flush_subnormals()
    try:
        with nogil:
            weight_sum = batch_weight(weights_ptr, NULL, 0, n)
            total = accumulate_gradient(arch, &params[0], grads_ptr, &X[0, 0], &Y[0, 0],
                                        weights_ptr, NULL, 0, n,
                                        <floating>(1.0 / weight_sum) if weight_sum > 0 else 0,
                                        &ws, &look, clip_log_loss)
    finally:
        fbp_restore_fpmode(caller_fpmode)
        workspace_free(&ws)
        error = lookout_error(&look)
    if look.interrupted:
        raise KeyboardInterrupt if error is None else error
    if not weight_sum > 0:
        raise ValueError("the sample weights sum to zero")
    return total, weight_sum


cdef class DeferredCtrlC:
    """Ctrl-C during a fit, put off to the points where the network is consistent (what it
    then holds: Network.fit).

    Entered in the main thread while Python's default SIGINT handler is in place, it replaces
    that handler for the call: Ctrl-C then only sets options.interrupt_requested, which the
    compiled loops act on at their next look and the fit's loops between their epochs or
    iterations. Within ``immediate()`` (the user's callbacks) Ctrl-C raises KeyboardInterrupt
    at once, as usual. Elsewhere (another thread; a handler of the user's) it changes nothing:
    a look that runs a handler which raises stops the loop all the same, the exception kept
    in options.interruption. (A compiled class: it is entered once per fit call, partial_fit's
    included.)
    """
    cdef TrainOptions options
    cdef object previous
    cdef public bint deferring

    def __init__(self, TrainOptions options):
        self.options = options
        self.previous = None
        self.deferring = True

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signals.getsignal(signals.SIGINT) is signals.default_int_handler):
            self.previous = signals.signal(signals.SIGINT, self._handler)
        return self

    def __exit__(self, error_type, error, traceback):
        if self.previous is not None:
            signals.signal(signals.SIGINT, self.previous)
            self.previous = None
        if error_type is None and self.options.interrupt_requested:
            # Ctrl-C after the call's last look: the call finished, raised now.
            self.options.interrupt_requested = False
            raise KeyboardInterrupt
        return False

    def _handler(self, signum, frame):
        if not self.deferring:
            raise KeyboardInterrupt
        self.options.interrupt_requested = True

    def immediate(self):
        """A context in which Ctrl-C raises at once (the user's code)."""
        return _Immediately(self)


cdef class _Immediately:
    """DeferredCtrlC.immediate()'s context (a class: cheaper than a generator's, per epoch)."""
    cdef DeferredCtrlC ctrl_c

    def __init__(self, DeferredCtrlC ctrl_c):
        self.ctrl_c = ctrl_c

    def __enter__(self):
        self.ctrl_c.deferring = False

    def __exit__(self, error_type, error, traceback):
        self.ctrl_c.deferring = True
        return False


def _interrupt_at_look(long long n):
    """Test hook (tests/test_interrupts.py): the n-th look from now, by any call in this
    process, acts as a Ctrl-C found there (in a call without a fit's TrainOptions, e.g.
    net.loss or a fit's validation, as one the default handler raises); 0 disarms it."""
    global interrupt_at_look
    if n < 0:
        raise ValueError("n must be >= 0")
    interrupt_at_look = 0 if n == 0 else looks_taken + n


def _looks_taken():
    """Test hook: the looks (signal checks) taken by this process so far."""
    return looks_taken


# The work a look is taken after, and its parts (Lookout), for the tests.
LOOK_WORK = {"check_work": CHECK_WORK, "row_overhead": ROW_OVERHEAD,
             "update_overhead": UPDATE_OVERHEAD}


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
    workspace_init(&ws, arch, &work[0], chunk, NULL, 0, 0, False, n)
    cdef fbp_fpmode caller_fpmode = fbp_flush_subnormals()
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
        fbp_restore_fpmode(caller_fpmode)
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

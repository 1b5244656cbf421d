# train_many's lanes (included by _train.pyx, after _epoch.pxi): the per-example epochs of up
# to FBP_LANES_F (float32) or FBP_LANES_D (float64) tiny networks in one compiled loop, each
# network in a vector lane (src_c/fastbp_lanes.c), each network's weights bit for bit those
# of its own train_epoch.

from fastbp._kernels cimport (lanes_pack, lanes_unpack, train_lanes_mse, lanes_work_size,
                              FBP_LANES_F, FBP_LANES_D, FBP_LANES_WIDEST,
                              FBP_HAVE_LANES)

cdef enum:
    MOST_LANES = 16  # the larger of FBP_LANES_F and FBP_LANES_D (checked at import)

if max(FBP_LANES_F, FBP_LANES_D) > MOST_LANES:
    raise ImportError("fastbp_lanes.h has more lanes than _lanes.pxi's MOST_LANES")


def lane_count(dtype):
    """Networks per lane kernel call: 16 in float32, 8 in float64."""
    return FBP_LANES_F if np.dtype(dtype) == np.float32 else FBP_LANES_D


def lanes_apply(Architecture arch, TrainOptions options, Py_ssize_t n_rows,
                Py_ssize_t batch_size, bint weighted, dtype):
    """Whether train_epoch trains this network with fbp_train_per_example_mse (plain
    per-example SGD, unweighted, squared error, every layer on the compiled loops, no gelu),
    as planned for the calling thread's BLAS count: its epochs may then run in lanes (the
    caller checks that every layer is tiny, per_example_loop)."""
    cdef LayerPath* paths
    cdef Py_ssize_t l
    cdef bint ok = True
    if not FBP_HAVE_LANES:  # (a compiler without vector types)
        return False
    if weighted or batch_size != 1 or n_rows < 1 or not options.plain_sgd():
        return False
    if not arch.fuse_per_example or arch.loss != MSE or arch.n_layers > FBP_MAX_FUSED_LAYERS:
        return False
    paths = <LayerPath*>malloc(arch.n_layers * sizeof(LayerPath))
    if paths == NULL:
        raise MemoryError()
    plan_layers(arch, 1, np.dtype(dtype) == np.float32, blas_threads(), n_rows, 1, True, paths)
    for l in range(arch.n_layers):
        if paths[l] != LOOPS or arch.activation[l] == GELU:
            ok = False
    free(paths)
    return ok


def train_lanes_epoch(Architecture arch, list params, const floating[:, ::1] X,
                      const floating[:, ::1] Y, list orders, double[::1] lr,
                      long long max_updates, list options):
    """One epoch of per-example plain SGD for each of the networks whose parameters are
    `params` (at most lane_count of them, of architecture `arch`), network k over X's rows
    orders[k] at rate lr[k]: what train_epoch does for each alone, in one loop.

    Every order has the same length (the epoch's samples) and indices in range (the caller
    checks). max_updates (< 0: none) bounds every network's updates; a look between blocks
    of PER_EXAMPLE_BLOCK samples stops all of them when any options[k].interrupt_requested
    is set. Returns one ``(status, loss_sum, weight_sum, updates)`` per network, as
    train_epoch's, and adds the updates to options[k].step.
    """
    cdef Py_ssize_t used = len(params), n, k, start = 0, count, done = 0, alive
    cdef Py_ssize_t lanes = FBP_LANES_F if floating is float else FBP_LANES_D
    cdef floating rate[MOST_LANES]
    cdef double loss_sum[MOST_LANES]
    cdef double weight_sum[MOST_LANES]
    cdef double block[MOST_LANES]
    cdef long long updates[MOST_LANES]
    cdef int status[MOST_LANES]
    cdef Py_ssize_t steps[MOST_LANES]
    cdef floating[::1] view, packed, work
    cdef const Py_ssize_t[::1] order_view
    cdef floating** param_ptrs = NULL
    cdef const Py_ssize_t** order_ptrs = NULL
    cdef bint** flags = NULL
    cdef bint stop
    if not 1 <= used <= lanes:
        raise ValueError(f"between 1 and {lanes} networks per call, got {used}")
    if len(orders) != used or len(options) != used or lr.shape[0] != used:
        raise ValueError("one order, learning rate and TrainOptions per network")
    for k in range(arch.n_layers + 1):
        if arch.sizes[k] > FBP_LANES_WIDEST:
            raise ValueError(f"the lanes take layers of at most {FBP_LANES_WIDEST} units")
    if (X.shape[1] != arch.sizes[0] or Y.shape[0] != X.shape[0]
            or Y.shape[1] != arch.sizes[arch.n_layers]):
        raise ValueError("X or Y does not match the architecture")
    n = len(orders[0])
    dtype = np.float32 if floating is float else np.float64
    packed = np.empty(arch.n_params * lanes, dtype)
    work = np.empty(lanes_work_size(&arch.sizes[0], arch.n_layers, floating is float), dtype)
    param_ptrs = <floating**>malloc(used * sizeof(floating*))
    order_ptrs = <const Py_ssize_t**>malloc(lanes * sizeof(Py_ssize_t*))
    flags = <bint**>malloc(used * sizeof(bint*))
    cdef fbp_fpmode caller_fpmode = fbp_flush_subnormals()
    try:
        if param_ptrs == NULL or order_ptrs == NULL or flags == NULL:
            raise MemoryError()
        for k in range(used):
            view = params[k]  # (the lists keep every array alive for the call)
            order_view = orders[k]
            if view.shape[0] != arch.n_params or order_view.shape[0] != n or n == 0:
                raise ValueError("each network's parameters and a non-empty order of one length")
            param_ptrs[k] = &view[0]
            order_ptrs[k] = &order_view[0]
            flags[k] = &(<TrainOptions?>options[k]).interrupt_requested
            rate[k] = <floating>lr[k]
            loss_sum[k] = weight_sum[k] = 0
            updates[k] = 0
            status[k] = STATUS_OK
        for k in range(used, lanes):  # lanes no network uses: zeros, at rate 0
            order_ptrs[k] = order_ptrs[0]
            rate[k] = 0
        with nogil:
            lanes_pack(&arch.sizes[0], &arch.w_offset[0], &arch.b_offset[0], arch.n_layers,
                       param_ptrs, used, &packed[0])
            alive = used
            while start < n:
                if max_updates >= 0 and done >= max_updates:
                    for k in range(used):
                        if status[k] == STATUS_OK:
                            status[k] = STATUS_UPDATES_DONE
                    break
                if start > 0:
                    stop = False
                    for k in range(used):
                        stop = stop or flags[k][0]
                    if stop:
                        for k in range(used):
                            if status[k] == STATUS_OK:
                                status[k] = STATUS_INTERRUPTED
                        break
                count = min(PER_EXAMPLE_BLOCK, n - start)
                if max_updates >= 0:
                    count = min(count, max_updates - done)
                for k in range(lanes):
                    block[k] = 0
                train_lanes_mse(&arch.sizes[0], &arch.activation[0], arch.n_layers, &packed[0],
                                &X[0, 0], &Y[0, 0], order_ptrs, start, count, rate, &work[0],
                                block, steps)
                for k in range(used):
                    if status[k] != STATUS_OK:
                        continue
                    if steps[k] < count:  # as train_epoch: that block's updates not counted
                        status[k] = STATUS_DIVERGED
                        alive -= 1
                    else:
                        loss_sum[k] += block[k]
                        weight_sum[k] += steps[k]
                        updates[k] += steps[k]
                if alive == 0:
                    break
                done += count
                start += count
            lanes_unpack(&arch.sizes[0], &arch.w_offset[0], &arch.b_offset[0], arch.n_layers,
                         &packed[0], used, param_ptrs)
            for k in range(used):
                if status[k] != STATUS_DIVERGED and not all_finite(param_ptrs[k], arch.n_params):
                    status[k] = STATUS_DIVERGED
    finally:
        fbp_restore_fpmode(caller_fpmode)
        free(param_ptrs)
        free(<void*>order_ptrs)
        free(flags)
    for k in range(used):
        (<TrainOptions>options[k]).step += updates[k]
    return [(status[k], loss_sum[k], weight_sum[k], updates[k]) for k in range(used)]

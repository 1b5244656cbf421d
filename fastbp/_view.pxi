# The C view of a network (included by _train.pyx, last): the compiled half of fastbp.api.
# A View fills the public struct fastbp_view (fastbp/include/fastbp_api.h) over a network's
# parameters; its function pointers lead to view_forward and view_sgd_step below, which run
# the epoch driver's own passes (forward_rows, fused_batch) without the GIL, on the View's
# workspace. fastbp.api holds the policy (the network's lock, the checks).

from cpython.pycapsule cimport PyCapsule_New
from libc.math cimport NAN
from libc.stddef cimport ptrdiff_t
from cpython.pyport cimport PY_SSIZE_T_MAX

from fastbp.api cimport (
    fastbp_view, FASTBP_API_VERSION, FASTBP_FLOAT32, FASTBP_FLOAT64, FASTBP_OK,
    FASTBP_NOT_APPLIED, FASTBP_ERR_CLOSED, FASTBP_ERR_ARGUMENT, FASTBP_VIEW_CAPSULE_NAME)

# The public header's codes and sizes are fastbp's own (fastbp_codes.h): checked here, at
# compile time, so that the two can never drift apart.
cdef extern from *:
    """
    typedef char fbp_api_codes_match[
        (FASTBP_IDENTITY == FBP_IDENTITY && FASTBP_SIGMOID == FBP_SIGMOID
         && FASTBP_TANH == FBP_TANH && FASTBP_RELU == FBP_RELU
         && FASTBP_LEAKY_RELU == FBP_LEAKY_RELU && FASTBP_ELU == FBP_ELU
         && FASTBP_SOFTPLUS == FBP_SOFTPLUS && FASTBP_GELU == FBP_GELU
         && FASTBP_MSE == FBP_MSE && FASTBP_CROSS_ENTROPY == FBP_CROSS_ENTROPY
         && FASTBP_BINARY_CROSS_ENTROPY == FBP_BINARY_CROSS_ENTROPY && FASTBP_MAE == FBP_MAE
         && FASTBP_HUBER == FBP_HUBER && FASTBP_POISSON == FBP_POISSON
         && sizeof(ptrdiff_t) == sizeof(Py_ssize_t)) ? 1 : -1];
    """

# The C API version this build implements (fastbp.api.API_VERSION).
VIEW_API_VERSION = FASTBP_API_VERSION
# Rows per forward_rows call of a view's forward pass (its two buffers hold this many rows).
cdef Py_ssize_t VIEW_BLOCK_ROWS = 64


cdef class View:
    """The struct fastbp_view over a network's flat parameters, and what its functions need:
    an Architecture of the network's own (every layer on the compiled loops, whatever its size,
    so that a call never reaches BLAS or starts threads), a one-row workspace planned once for
    per-example plain SGD, a gradient buffer and the forward pass's two row buffers.

    ``capsule`` carries a pointer to the struct ("fastbp.api.view"), valid while this object
    lives; close() frees the workspace and makes every later call through the struct return
    FASTBP_ERR_CLOSED (the struct itself lives on, its parameter pointers NULL).
    """
    cdef fastbp_view view
    cdef Architecture arch
    cdef TrainOptions options
    cdef object params, work, grads, buffers   # numpy arrays the pointers below point into
    cdef void* params_ptr
    cdef void* work_ptr
    cdef void* grads_ptr
    cdef void* buffers_ptr
    cdef void** layer_pointers   # n_layers weight pointers, then n_layers bias pointers
    cdef Py_ssize_t widest        # the widest hidden layer (1 without hidden layers)
    cdef Workspace ws
    cdef bint ws_open
    cdef readonly object capsule

    def __cinit__(self):
        self.layer_pointers = NULL
        self.ws_open = False
        self.view.impl = NULL

    def __init__(self, Architecture network, params):
        """network: the network's Architecture (copied: the view's own plans); params: its
        flat parameters (1-D, C-contiguous float32 or float64), used in place."""
        cdef float[::1] params_f
        cdef double[::1] params_d
        cdef Py_ssize_t l
        cdef Architecture arch
        if self.capsule is not None:
            raise RuntimeError("a View is initialised once")
        arch = Architecture(np.asarray(network.sizes), np.asarray(network.activation),
                            network.loss)
        arch.blas_min_work = PY_SSIZE_T_MAX  # every layer on the compiled loops
        self.arch = arch
        self.options = TrainOptions()     # plain SGD
        dtype = np.dtype(params.dtype)
        if dtype != np.float32 and dtype != np.float64:
            raise ValueError(f"params must be float32 or float64, got {dtype}")
        if params.ndim != 1 or params.shape[0] != arch.n_params:
            raise ValueError("params must be 1-D with the architecture's n_params elements")
        if dtype == np.float32:
            params_f = params
            self.params_ptr = &params_f[0]
        else:
            params_d = params
            self.params_ptr = &params_d[0]
        self.params = params
        self.widest = 1
        for l in range(1, arch.n_layers):
            self.widest = max(self.widest, arch.sizes[l])
        self.work = np.zeros(arch.workspace_size(1), dtype)
        self.grads = np.zeros(arch.n_params, dtype)
        self.buffers = np.zeros(2 * VIEW_BLOCK_ROWS * self.widest, dtype)
        self.work_ptr = <void*><size_t>self.work.ctypes.data
        self.grads_ptr = <void*><size_t>self.grads.ctypes.data
        self.buffers_ptr = <void*><size_t>self.buffers.ctypes.data
        self.layer_pointers = <void**>malloc(2 * arch.n_layers * sizeof(void*))
        if self.layer_pointers == NULL:
            raise MemoryError()
        cdef size_t itemsize = dtype.itemsize
        for l in range(arch.n_layers):
            self.layer_pointers[l] = <char*>self.params_ptr + arch.w_offset[l] * itemsize
            self.layer_pointers[arch.n_layers + l] = (<char*>self.params_ptr
                                                      + arch.b_offset[l] * itemsize)
        # The plan of an epoch of per-example plain SGD (one row per chunk): all loops here.
        if dtype == np.float32:
            workspace_init(&self.ws, arch, <float*>self.work_ptr, 1, NULL, 1, 1, True)
        else:
            workspace_init(&self.ws, arch, <double*>self.work_ptr, 1, NULL, 1, 1, True)
        self.ws_open = True
        self.view.api_version = FASTBP_API_VERSION
        self.view.dtype = FASTBP_FLOAT32 if dtype == np.float32 else FASTBP_FLOAT64
        self.view.n_layers = arch.n_layers
        self.view.sizes = <const ptrdiff_t*>&arch.sizes[0]
        self.view.activations = &arch.activation[0]
        self.view.loss = arch.loss
        self.view.n_params = arch.n_params
        self.view.params = self.params_ptr
        self.view.weights = self.layer_pointers
        self.view.biases = self.layer_pointers + arch.n_layers
        self.view.forward = view_forward
        self.view.sgd_step = view_sgd_step
        self.view.impl = <void*>self  # borrowed: the struct lives inside this object
        self.capsule = PyCapsule_New(&self.view, FASTBP_VIEW_CAPSULE_NAME, NULL)

    @property
    def closed(self):
        """Whether close() has run (or the view was never initialised)."""
        return self.view.impl == NULL

    def close(self):
        """Free the workspace; every later call through the struct returns FASTBP_ERR_CLOSED.
        The parameters are the network's: they stay as the calls left them."""
        self.view.impl = NULL
        self.view.params = NULL
        self.view.weights = self.view.biases = NULL
        if self.ws_open:
            workspace_free(&self.ws)
            self.ws_open = False
        free(self.layer_pointers)
        self.layer_pointers = NULL
        self.params = self.work = self.grads = self.buffers = None

    def __dealloc__(self):
        if self.ws_open:
            workspace_free(&self.ws)
        free(self.layer_pointers)

    cdef void* buffer(self, array, Py_ssize_t width, bint writable) except NULL:
        """The data pointer of `array` after checking that it suits a call of this view: a
        C-contiguous numpy array of the view's dtype with `width` columns (or values)."""
        if self.view.impl == NULL:
            raise ValueError("the view is closed")
        if (not isinstance(array, np.ndarray) or array.dtype != self.params.dtype
                or not array.flags.c_contiguous or array.size == 0
                or array.shape[array.ndim - 1] != width
                or (writable and not array.flags.writeable)):
            raise ValueError(f"expected a non-empty C-contiguous {self.params.dtype} array "
                             f"of {width} columns")
        return <void*><size_t>array.ctypes.data

    def forward(self, X, out):
        """view.forward through the struct's pointer (the tests call what C code calls): out
        := the outputs of the rows of X (both C-contiguous, of the view's dtype); returns
        the status code."""
        cdef const void* x_ptr = self.buffer(X, self.arch.sizes[0], False)
        cdef void* out_ptr = self.buffer(out, self.arch.sizes[self.arch.n_layers], True)
        cdef Py_ssize_t rows = X.shape[0] if X.ndim == 2 else 1
        if out.size != rows * self.arch.sizes[self.arch.n_layers]:
            raise ValueError("out must have a row per row of X")
        with nogil:
            status = self.view.forward(&self.view, x_ptr, rows, out_ptr)
        return status

    def sgd_step(self, x, y, double lr):
        """view.sgd_step through the struct's pointer: (status code, the example's loss)."""
        cdef const void* x_ptr = self.buffer(x, self.arch.sizes[0], False)
        cdef const void* y_ptr = self.buffer(y, self.arch.sizes[self.arch.n_layers], False)
        cdef double loss = NAN
        if x.size != self.arch.sizes[0] or y.size != self.arch.sizes[self.arch.n_layers]:
            raise ValueError("x and y must be one example")
        with nogil:
            status = self.view.sgd_step(&self.view, x_ptr, y_ptr, lr, &loss)
        return status, loss


# ----- the functions a view's struct points to (no GIL, no Python) ------------------------------

cdef int view_forward(fastbp_view* view, const void* X, ptrdiff_t rows,
                      void* out) noexcept nogil:
    """out := the outputs of `rows` rows of X (fastbp_view.forward)"""
    if view.impl == NULL:
        return FASTBP_ERR_CLOSED
    if rows < 0 or (rows > 0 and (X == NULL or out == NULL)):
        return FASTBP_ERR_ARGUMENT
    cdef fbp_fpmode caller_fpmode = fbp_flush_subnormals()
    if view.dtype == FASTBP_FLOAT32:
        view_forward_rows(<View>view.impl, <const float*>X, rows, <float*>out)
    else:
        view_forward_rows(<View>view.impl, <const double*>X, rows, <double*>out)
    fbp_restore_fpmode(caller_fpmode)
    return FASTBP_OK


cdef void view_forward_rows(View self, const floating* X, Py_ssize_t rows,
                            floating* out) noexcept nogil:
    """forward_rows over blocks of VIEW_BLOCK_ROWS rows: predict's few-row path"""
    cdef Py_ssize_t done = 0, count
    cdef Py_ssize_t n_in = self.view.sizes[0], n_out = self.view.sizes[self.view.n_layers]
    cdef floating* buffer0 = <floating*>self.buffers_ptr
    cdef floating* buffer1 = buffer0 + VIEW_BLOCK_ROWS * self.widest
    while done < rows:
        count = min(VIEW_BLOCK_ROWS, rows - done)
        forward_rows(self.arch, <const floating*>self.view.params, X + done * n_in, count,
                     out + done * n_out, buffer0, buffer1)
        done += count


cdef int view_sgd_step(fastbp_view* view, const void* x, const void* y, double lr,
                       double* loss) noexcept nogil:
    """One step of per-example plain SGD on (x, y) (fastbp_view.sgd_step)"""
    cdef double total
    if view.impl == NULL:
        return FASTBP_ERR_CLOSED
    if x == NULL or y == NULL or not (isfinite(lr) and lr > 0):
        return FASTBP_ERR_ARGUMENT
    cdef fbp_fpmode caller_fpmode = fbp_flush_subnormals()
    if view.dtype == FASTBP_FLOAT32:
        total = view_step(<View>view.impl, <const float*>x, <const float*>y, lr)
    else:
        total = view_step(<View>view.impl, <const double*>x, <const double*>y, lr)
    fbp_restore_fpmode(caller_fpmode)
    if loss != NULL:
        loss[0] = total
    return FASTBP_OK if isfinite(total) else FASTBP_NOT_APPLIED


cdef double view_step(View self, const floating* x, const floating* y,
                      double lr) noexcept nogil:
    """train_epoch's update for a batch of one row in plain SGD: fused_batch (for the squared
    error train_epoch runs fbp_train_per_example_mse's loop instead, which the tests hold to
    fused_batch bit for bit; for one row at a time fused_batch is the faster: that loop sets
    up its vectors per call). Returns the example's loss (not finite: θ unchanged)."""
    return fused_batch(self.arch, self.options, <floating*>self.view.params,
                       <floating*>self.grads_ptr, x, y, NULL, NULL, 0, 1, 1.0, lr, NULL, 1,
                       True, &self.ws)

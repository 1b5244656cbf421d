# The dense-layer, loss and update kernels of fastbp (private for now: a public, versioned
# cimport API comes in its own issue). Pointers and sizes in, no checks: Python validated
# everything before the GIL was released. Matrices are row-major; a batch is `rows` samples.
from cython cimport floating

cdef extern from "fastbp_math.h" nogil:
    double fbp_logsumexp_f(const float *z, Py_ssize_t n)
    double fbp_logsumexp_d(const double *z, Py_ssize_t n)
    double fbp_softplus(double x)
    double FBP_LEAKY_SLOPE

# Activation codes; their names live in _kernels.pyx (ACTIVATION_CODES).
cpdef enum Activation:
    IDENTITY = 0
    SIGMOID = 1
    TANH = 2
    RELU = 3
    LEAKY_RELU = 4

# Loss codes; names in _kernels.pyx (LOSS_CODES). The classification losses take the
# output layer's logits: softmax (cross entropy) and sigmoid (binary cross entropy) are
# fused into the loss for numerical stability.
cpdef enum Loss:
    MSE = 0
    CROSS_ENTROPY = 1
    BINARY_CROSS_ENTROPY = 2

cdef void dense_forward(const floating* A__ri, Py_ssize_t rows, Py_ssize_t n_in,
                        const floating* W__oi, const floating* b__o, Py_ssize_t n_out,
                        floating* Z__ro) noexcept nogil

cdef void activate(floating* Z, Py_ssize_t n, int activation) noexcept nogil

cdef void activation_backward(floating* dA, const floating* A, Py_ssize_t n,
                              int activation) noexcept nogil

cdef double loss_and_delta(const floating* out__ro, const floating* Y__ro, Py_ssize_t rows,
                           Py_ssize_t n_out, int loss, int output_activation, floating scale,
                           floating* dZ__ro) noexcept nogil

cdef void output_probabilities(floating* Z__ro, Py_ssize_t rows, Py_ssize_t n_out,
                               int loss) noexcept nogil

cdef void dense_backward_params(const floating* dZ__ro, const floating* A__ri, Py_ssize_t rows,
                                Py_ssize_t n_in, Py_ssize_t n_out,
                                floating* dW__oi, floating* db__o) noexcept nogil

cdef void dense_backward_input(const floating* dZ__ro, const floating* W__oi, Py_ssize_t rows,
                               Py_ssize_t n_in, Py_ssize_t n_out,
                               floating* dA__ri) noexcept nogil

cdef void sgd_step(floating* params, const floating* grads, Py_ssize_t n,
                   floating lr) noexcept nogil

cdef bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil

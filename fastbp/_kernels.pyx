"""Dense-layer, activation, loss and update kernels (float32 and float64).

Each kernel's docstring is its one line of math. Shapes are carried in names: r = rows of
the batch, i = layer inputs, o = layer outputs.
"""
from libc.math cimport exp, expf, tanh, tanhf, isfinite

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
}
LOSS_CODES = {
    "mse": MSE,
    "cross_entropy": CROSS_ENTROPY,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY,
}


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _sigmoid(floating x) noexcept nogil:
    """σ(x) = 1 / (1 + e^-x), with e^x only ever evaluated for x <= 0 (no overflow)."""
    cdef floating e
    if x >= 0:
        return 1 / (1 + _exp(-x))
    e = _exp(x)
    return e / (1 + e)


cdef void dense_forward(const floating* A__ri, Py_ssize_t rows, Py_ssize_t n_in,
                        const floating* W__oi, const floating* b__o, Py_ssize_t n_out,
                        floating* Z__ro) noexcept nogil:
    """Z := A·Wᵀ + b"""
    cdef Py_ssize_t r, o, i
    cdef floating acc
    cdef const floating* a__i
    cdef const floating* w__i
    for r in range(rows):
        a__i = A__ri + r * n_in
        for o in range(n_out):
            w__i = W__oi + o * n_in
            acc = 0
            for i in range(n_in):
                acc = acc + w__i[i] * a__i[i]
            Z__ro[r * n_out + o] = acc + b__o[o]


cdef void activate(floating* Z, Py_ssize_t n, int activation) noexcept nogil:
    """A := f(Z), in place"""
    cdef Py_ssize_t k
    if activation == IDENTITY:
        return
    elif activation == SIGMOID:
        for k in range(n):
            Z[k] = _sigmoid(Z[k])
    elif activation == TANH:
        for k in range(n):
            if floating is float:
                Z[k] = tanhf(Z[k])
            else:
                Z[k] = tanh(Z[k])
    elif activation == RELU:
        for k in range(n):
            if Z[k] < 0:   # a NaN passes through, so that divergence is noticed
                Z[k] = 0
    elif activation == LEAKY_RELU:
        for k in range(n):
            if Z[k] < 0:
                Z[k] = <floating>FBP_LEAKY_SLOPE * Z[k]


cdef void activation_backward(floating* dA, const floating* A, Py_ssize_t n,
                              int activation) noexcept nogil:
    """dZ := dA ⊙ f'(Z), in place, with f' written through A = f(Z) (Z is not kept)"""
    cdef Py_ssize_t k
    if activation == IDENTITY:
        return
    elif activation == SIGMOID:
        for k in range(n):
            dA[k] = dA[k] * (A[k] * (1 - A[k]))
    elif activation == TANH:
        for k in range(n):
            dA[k] = dA[k] * (1 - A[k] * A[k])
    elif activation == RELU:
        # A > 0 exactly when Z > 0: the derivative at the kink Z = 0 is 0.
        for k in range(n):
            if not A[k] > 0:
                dA[k] = 0
    elif activation == LEAKY_RELU:
        for k in range(n):
            if not A[k] > 0:
                dA[k] = <floating>FBP_LEAKY_SLOPE * dA[k]


cdef double loss_and_delta(const floating* out__ro, const floating* Y__ro, Py_ssize_t rows,
                           Py_ssize_t n_out, int loss, int output_activation, floating scale,
                           floating* dZ__ro) noexcept nogil:
    """Σ_r loss(out_r, y_r) (in float64); dZ := scale · ∂loss/∂Z at the output layer

    mse: out = f(Z), loss = ½Σₖ(outₖ − yₖ)², dZ = (out − y) ⊙ f'(Z).
    cross_entropy: out = Z (logits), loss = logΣₖe^Zₖ − Σₖ yₖZₖ (Σₖyₖ = 1), dZ = softmax(Z) − y.
    binary_cross_entropy: out = Z, loss = Σₖ softplus(Zₖ) − yₖZₖ, dZ = σ(Z) − y.
    """
    cdef Py_ssize_t r, k, n = rows * n_out
    cdef double total = 0, lse, row_loss
    cdef floating diff, z, p
    if loss == MSE:
        for k in range(n):
            diff = out__ro[k] - Y__ro[k]
            total += 0.5 * <double>diff * <double>diff
            dZ__ro[k] = scale * diff
        activation_backward(dZ__ro, out__ro, n, output_activation)
    elif loss == CROSS_ENTROPY:
        for r in range(rows):
            if floating is float:
                lse = fbp_logsumexp_f(out__ro + r * n_out, n_out)
            else:
                lse = fbp_logsumexp_d(out__ro + r * n_out, n_out)
            row_loss = 0
            for k in range(r * n_out, (r + 1) * n_out):
                row_loss += <double>Y__ro[k] * (lse - <double>out__ro[k])
                p = _exp(<floating>(<double>out__ro[k] - lse))
                dZ__ro[k] = scale * (p - Y__ro[k])
            total += row_loss
    elif loss == BINARY_CROSS_ENTROPY:
        for k in range(n):
            z = out__ro[k]
            total += fbp_softplus(<double>z) - <double>Y__ro[k] * <double>z
            dZ__ro[k] = scale * (_sigmoid(z) - Y__ro[k])
    return total


cdef void output_probabilities(floating* Z__ro, Py_ssize_t rows, Py_ssize_t n_out,
                               int loss) noexcept nogil:
    """P := softmax(Z) row-wise (cross_entropy) or σ(Z) (binary_cross_entropy), in place"""
    cdef Py_ssize_t r, k
    cdef double lse
    if loss == CROSS_ENTROPY:
        for r in range(rows):
            if floating is float:
                lse = fbp_logsumexp_f(Z__ro + r * n_out, n_out)
            else:
                lse = fbp_logsumexp_d(Z__ro + r * n_out, n_out)
            for k in range(r * n_out, (r + 1) * n_out):
                Z__ro[k] = _exp(<floating>(<double>Z__ro[k] - lse))
    elif loss == BINARY_CROSS_ENTROPY:
        activate(Z__ro, rows * n_out, SIGMOID)


cdef void dense_backward_params(const floating* dZ__ro, const floating* A__ri, Py_ssize_t rows,
                                Py_ssize_t n_in, Py_ssize_t n_out,
                                floating* dW__oi, floating* db__o) noexcept nogil:
    """dW += dZᵀ·A, db += Σ_r dZ"""
    cdef Py_ssize_t r, o, i
    cdef floating d
    cdef const floating* a__i
    cdef floating* dw__i
    for r in range(rows):
        a__i = A__ri + r * n_in
        for o in range(n_out):
            d = dZ__ro[r * n_out + o]
            db__o[o] += d
            dw__i = dW__oi + o * n_in
            for i in range(n_in):
                dw__i[i] += d * a__i[i]


cdef void dense_backward_input(const floating* dZ__ro, const floating* W__oi, Py_ssize_t rows,
                               Py_ssize_t n_in, Py_ssize_t n_out,
                               floating* dA__ri) noexcept nogil:
    """dA := dZ·W"""
    cdef Py_ssize_t r, o, i
    cdef floating d
    cdef const floating* w__i
    cdef floating* da__i
    for r in range(rows):
        da__i = dA__ri + r * n_in
        for i in range(n_in):
            da__i[i] = 0
        for o in range(n_out):
            d = dZ__ro[r * n_out + o]
            w__i = W__oi + o * n_in
            for i in range(n_in):
                da__i[i] += d * w__i[i]


cdef void sgd_step(floating* params, const floating* grads, Py_ssize_t n,
                   floating lr) noexcept nogil:
    """θ := θ − η·g"""
    cdef Py_ssize_t k
    for k in range(n):
        params[k] -= lr * grads[k]


cdef bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    """∀k: x[k] is finite"""
    cdef Py_ssize_t k
    for k in range(n):
        if not isfinite(x[k]):
            return False
    return True

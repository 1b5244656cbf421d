"""Dense-layer, activation, loss and update kernels (float32 and float64).

Each kernel's docstring is its one line of math. Shapes are carried in names: r = rows of
the batch, i = layer inputs, o = layer outputs.
"""
from libc.math cimport exp, expf, fabs, isfinite, log, log1p
from libc.float cimport DBL_EPSILON, FLT_EPSILON
import os
import time

import numpy as np
from fastbp._buffers import aligned_empty

# huber: quadratic within HUBER_DELTA of the target, linear beyond.
cdef double HUBER_DELTA = 1.0


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
                        floating* Z__ro, int activation) noexcept nogil:
    """Z := f(A·Wᵀ + b)"""
    if floating is float:
        fbp_dense_forward_f(A__ri, rows, n_in, W__oi, b__o, n_out, Z__ro, activation)
    elif floating is double:
        fbp_dense_forward_d(A__ri, rows, n_in, W__oi, b__o, n_out, Z__ro, activation)


cdef void bias_activate(floating* Z__ro, Py_ssize_t rows, Py_ssize_t n_out, const floating* b__o,
                        int activation) noexcept nogil:
    """Z := f(Z + b), in place"""
    if floating is float:
        fbp_bias_activate_f(Z__ro, rows, n_out, b__o, activation)
    elif floating is double:
        fbp_bias_activate_d(Z__ro, rows, n_out, b__o, activation)


cdef void activate(floating* Z, Py_ssize_t n, int activation) noexcept nogil:
    """A := f(Z), in place"""
    if floating is float:
        fbp_activate_f(Z, n, activation)
    elif floating is double:
        fbp_activate_d(Z, n, activation)


cdef void activation_backward(floating* dA, const floating* A, Py_ssize_t n,
                              int activation) noexcept nogil:
    """dZ := dA ⊙ f'(Z), in place, with f' written through A = f(Z) (Z is not kept)

    sigmoid: A(1 − A); tanh: 1 − A²; relu: 1 where A > 0 (so 0 at the kink Z = 0);
    leaky_relu: 1 where A > 0, else the slope.
    """
    if floating is float:
        fbp_activation_backward_f(dA, A, n, activation)
    elif floating is double:
        fbp_activation_backward_d(dA, A, n, activation)


cdef double loss_and_delta(const floating* out__ro, const floating* Y__ro, Py_ssize_t rows,
                           Py_ssize_t n_out, int loss, int output_activation, floating scale,
                           const floating* weight__r, floating* dZ__ro) noexcept nogil:
    """Σ_r w_r·loss(out_r, y_r) (in float64); dZ_r := scale·w_r·∂loss/∂Z_r at the output layer

    w_r = 1 when weight__r is NULL.
    mse: out = f(Z), loss = ½Σₖ(outₖ − yₖ)², dZ = (out − y) ⊙ f'(Z).
    mae: loss = Σₖ|outₖ − yₖ|, dZ = sign(out − y) ⊙ f'(Z).
    huber: loss = Σₖ ½rₖ² (|rₖ| ≤ 1) or |rₖ| − ½, r = out − y; dZ = clip(r, −1, 1) ⊙ f'(Z).
    poisson: out = Z (log-mean), loss = Σₖ e^Zₖ − yₖZₖ, dZ = e^Z − y.
    cross_entropy: out = Z (logits), loss = logΣₖe^Zₖ − Σₖ yₖZₖ (Σₖyₖ = 1), dZ = softmax(Z) − y.
    binary_cross_entropy: out = Z, loss = Σₖ softplus(Zₖ) − yₖZₖ, dZ = σ(Z) − y.
    """
    cdef Py_ssize_t r, k
    cdef double total = 0, lse, row_loss, r_abs
    cdef floating diff, z, p, row_scale
    cdef const floating* out__k
    cdef const floating* y__k
    cdef floating* dz__k
    if floating is float:
        if loss == CROSS_ENTROPY:
            # float32: one vectorised pass of fastbp's own e^x, not a libm call per value
            # (bench_m1; bench/README.md).
            return fbp_softmax_xent_f(out__ro, Y__ro, rows, n_out, scale, weight__r, dZ__ro)
    for r in range(rows):
        out__k = out__ro + r * n_out
        y__k = Y__ro + r * n_out
        dz__k = dZ__ro + r * n_out
        row_scale = scale if weight__r == NULL else scale * weight__r[r]
        row_loss = 0
        if loss == MSE:
            for k in range(n_out):
                diff = out__k[k] - y__k[k]
                row_loss += 0.5 * <double>diff * <double>diff
                dz__k[k] = row_scale * diff
        elif loss == MAE:
            for k in range(n_out):
                diff = out__k[k] - y__k[k]
                row_loss += fabs(<double>diff)
                dz__k[k] = row_scale * (1 if diff > 0 else (-1 if diff < 0 else 0))
        elif loss == HUBER:
            for k in range(n_out):
                diff = out__k[k] - y__k[k]
                r_abs = fabs(<double>diff)
                if r_abs <= HUBER_DELTA:
                    row_loss += 0.5 * r_abs * r_abs
                    dz__k[k] = row_scale * diff
                else:
                    row_loss += HUBER_DELTA * (r_abs - 0.5 * HUBER_DELTA)
                    dz__k[k] = row_scale * <floating>(HUBER_DELTA if diff > 0 else -HUBER_DELTA)
        elif loss == POISSON:
            for k in range(n_out):
                z = out__k[k]
                p = _exp(z)
                row_loss += <double>p - <double>y__k[k] * <double>z
                dz__k[k] = row_scale * (p - y__k[k])
        elif loss == CROSS_ENTROPY:
            if floating is float:
                lse = fbp_logsumexp_f(out__k, n_out)
            else:
                lse = fbp_logsumexp_d(out__k, n_out)
            for k in range(n_out):
                row_loss += <double>y__k[k] * (lse - <double>out__k[k])
                p = _exp(<floating>(<double>out__k[k] - lse))
                dz__k[k] = row_scale * (p - y__k[k])
        elif loss == BINARY_CROSS_ENTROPY:
            for k in range(n_out):
                z = out__k[k]
                row_loss += fbp_softplus(<double>z) - <double>y__k[k] * <double>z
                dz__k[k] = row_scale * (_sigmoid(z) - y__k[k])
        total += row_loss if weight__r == NULL else <double>weight__r[r] * row_loss
    if loss == MSE or loss == MAE or loss == HUBER:
        activation_backward(dZ__ro, out__ro, rows * n_out, output_activation)
    return total


cdef inline double _clamp(double x, double lo, double hi) noexcept nogil:
    """x within [lo, hi]; NaN stays NaN (fmin/fmax would drop it)"""
    return lo if x < lo else (hi if x > hi else x)


cdef double log_loss_clip_correction(const floating* out__ro, const floating* Y__ro,
                                     Py_ssize_t rows, Py_ssize_t n_out, int loss,
                                     const floating* weight__r) noexcept nogil:
    """Σ_r w_r·(clipped_r − raw_r): what turns loss_and_delta's exact log-loss into
    scikit-learn's, whose probabilities are clipped to [ε, 1 − ε] (ε: floating's machine
    epsilon), i.e. each −log p to [−log(1 − ε), −log ε]; 0 for losses other than
    cross_entropy and binary_cross_entropy.

    out holds the logits Z, as loss_and_delta reads them; w_r = 1 when weight__r is NULL.
    cross_entropy: Σₖ yₖ·(clamp(dₖ) − dₖ), dₖ = logΣⱼe^Zⱼ − Zₖ = −log pₖ.
    binary_cross_entropy: Σₖ yₖ·(clamp(a) − a) + (1 − yₖ)·(clamp(b) − b), a = softplus(−Zₖ)
    = −log σ(Zₖ), b = softplus(Zₖ) = −log(1 − σ(Zₖ)).
    Rows (elements) whose logits cannot reach a clamp are skipped, so the usual cost is one
    pass over Z without a logarithm or exponential.
    """
    cdef double eps = FLT_EPSILON if floating is float else DBL_EPSILON
    cdef double lo = -log1p(-eps), hi = -log(eps)
    # below this, every −log p stays inside [lo, hi] with room: no clamp can bite
    cdef double safe = hi - 1
    cdef double total = 0, row, lse, d, a, b, z_max, z_min, y
    cdef Py_ssize_t r, k
    cdef const floating* z__k
    cdef const floating* y__k
    if loss != CROSS_ENTROPY and loss != BINARY_CROSS_ENTROPY:
        return 0
    for r in range(rows):
        z__k = out__ro + r * n_out
        y__k = Y__ro + r * n_out
        row = 0
        if loss == CROSS_ENTROPY:
            if n_out > 1:
                # dₖ ≤ (max − min) + log n_out, and dₖ ≥ log(1 + e^−(max − min))
                z_max = z__k[0]
                z_min = z__k[0]
                for k in range(1, n_out):
                    if z__k[k] > z_max:
                        z_max = z__k[k]
                    if z__k[k] < z_min:
                        z_min = z__k[k]
                if z_max - z_min < safe - log(<double>n_out):
                    continue
            if floating is float:
                lse = fbp_logsumexp_f(z__k, n_out)
            else:
                lse = fbp_logsumexp_d(z__k, n_out)
            for k in range(n_out):
                if y__k[k] != 0:
                    d = lse - <double>z__k[k]
                    row += <double>y__k[k] * (_clamp(d, lo, hi) - d)
        else:
            for k in range(n_out):
                if fabs(<double>z__k[k]) < safe:
                    continue
                y = y__k[k]
                a = fbp_softplus(-<double>z__k[k])
                b = fbp_softplus(<double>z__k[k])
                if y != 0:
                    row += y * (_clamp(a, lo, hi) - a)
                if y != 1:
                    row += (1 - y) * (_clamp(b, lo, hi) - b)
        total += row if weight__r == NULL else <double>weight__r[r] * row
    return total


cdef void output_probabilities(floating* Z__ro, Py_ssize_t rows, Py_ssize_t n_out,
                               int loss) noexcept nogil:
    """P := softmax(Z) row-wise (cross_entropy), σ(Z) (binary_cross_entropy) or e^Z (poisson), in place"""
    cdef Py_ssize_t r, k
    cdef double lse
    if floating is float:
        if loss == CROSS_ENTROPY:
            fbp_softmax_f(Z__ro, rows, n_out)
            return
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
    elif loss == POISSON:
        for k in range(rows * n_out):
            Z__ro[k] = _exp(Z__ro[k])


cdef void dense_backward_params(const floating* dZ__ro, const floating* A__ri, Py_ssize_t rows,
                                Py_ssize_t n_in, Py_ssize_t n_out,
                                floating* dW__oi, floating* db__o) noexcept nogil:
    """dW += dZᵀ·A, db += Σ_r dZ"""
    if floating is float:
        fbp_dense_backward_params_f(dZ__ro, A__ri, rows, n_in, n_out, dW__oi, db__o)
    elif floating is double:
        fbp_dense_backward_params_d(dZ__ro, A__ri, rows, n_in, n_out, dW__oi, db__o)


cdef void dense_backward_input(const floating* dZ__ro, const floating* W__oi, Py_ssize_t rows,
                               Py_ssize_t n_in, Py_ssize_t n_out,
                               floating* dA__ri) noexcept nogil:
    """dA := dZ·W"""
    if floating is float:
        fbp_dense_backward_input_f(dZ__ro, W__oi, rows, n_in, n_out, dA__ri)
    elif floating is double:
        fbp_dense_backward_input_d(dZ__ro, W__oi, rows, n_in, n_out, dA__ri)


cdef void bias_backward(const floating* dZ__ro, Py_ssize_t rows, Py_ssize_t n_out,
                        floating* db__o) noexcept nogil:
    """db += Σ_r dZ"""
    if floating is float:
        fbp_bias_backward_f(dZ__ro, rows, n_out, db__o)
    elif floating is double:
        fbp_bias_backward_d(dZ__ro, rows, n_out, db__o)


cdef void transpose(const floating* A, Py_ssize_t rows, Py_ssize_t cols,
                    floating* AT) noexcept nogil:
    """AT := Aᵀ (A: rows × cols, row-major)"""
    if floating is float:
        fbp_transpose_f(A, rows, cols, AT)
    elif floating is double:
        fbp_transpose_d(A, rows, cols, AT)


cdef void dense_step_one(const floating* dz__o, const floating* a__i, Py_ssize_t n_in,
                         Py_ssize_t n_out, floating lr, floating* W__oi,
                         floating* b__o, floating* da__i, int activation) noexcept nogil:
    """da := (dz·W) ⊙ f'(z), W −= lr·(dz ⊗ a), b −= lr·dz (old W in da; no da when NULL)"""
    if floating is float:
        fbp_dense_step_one_f(dz__o, a__i, n_in, n_out, lr, W__oi, b__o, da__i, activation)
    elif floating is double:
        fbp_dense_step_one_d(dz__o, a__i, n_in, n_out, lr, W__oi, b__o, da__i, activation)


cdef Py_ssize_t train_per_example_mse(const Py_ssize_t* sizes, const int* activations,
                                      const Py_ssize_t* w_offset, const Py_ssize_t* b_offset,
                                      Py_ssize_t n_layers, floating* params, const floating* X,
                                      const floating* Y, const Py_ssize_t* order,
                                      Py_ssize_t start, Py_ssize_t count, floating lr,
                                      floating* work, double* loss_sum) noexcept nogil:
    """count per-example SGD steps, ½·squared error, in one compiled loop (see
    fbp_train_per_example_mse); returns the steps made, adds their losses to loss_sum"""
    if floating is float:
        return fbp_train_per_example_mse_f(sizes, activations, w_offset, b_offset, n_layers,
                                           params, X, Y, order, start, count, lr, work,
                                           loss_sum)
    else:
        return fbp_train_per_example_mse_d(sizes, activations, w_offset, b_offset, n_layers,
                                           params, X, Y, order, start, count, lr, work,
                                           loss_sum)


cdef void sgd_step(floating* params, const floating* grads, Py_ssize_t n,
                   floating lr) noexcept nogil:
    """θ := θ − η·g"""
    if floating is float:
        fbp_sgd_step_f(params, grads, n, lr)
    elif floating is double:
        fbp_sgd_step_d(params, grads, n, lr)


cdef void sgemm_inplace(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                        const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs, const float* B,
                        Py_ssize_t ldb, float beta, float* C, Py_ssize_t ldc) noexcept nogil:
    """C := alpha·A·B + beta·C (float32, B read in place; A's element (i, p) at
    A[i·a_rs + p·a_cs]; see src_c/fastbp_gemm.h)"""
    fbp_sgemm(m, n, k, alpha, A, a_rs, a_cs, B, ldb, beta, C, ldc)


cdef void stranspose(const float* A, Py_ssize_t rows, Py_ssize_t cols,
                     float* AT) noexcept nogil:
    """AT := Aᵀ (float32, rows × cols; sgemm_inplace's companion: 16 × 16 blocks with AVX-512)"""
    fbp_stranspose(A, rows, cols, AT)


cdef void sgemm_packed(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha, const float* A,
                       Py_ssize_t a_rs, Py_ssize_t a_cs, const float* B, Py_ssize_t b_rs,
                       Py_ssize_t b_cs, float beta, float* C, Py_ssize_t ldc,
                       float* work) noexcept nogil:
    """C := alpha·A·B + beta·C (float32; A's and B's elements at any strides), packing blocks
    of both into `work` (sgemm_packed_work() floats, 64-byte aligned; src_c/fastbp_gemm.h)"""
    fbp_sgemm_packed(m, n, k, alpha, A, a_rs, a_cs, B, b_rs, b_cs, beta, C, ldc, work)


cdef Py_ssize_t sgemm_packed_work() noexcept nogil:
    """Floats of workspace that sgemm_packed needs."""
    return <Py_ssize_t>fbp_sgemm_packed_work()


cdef extern from "fastbp_team.h" nogil:
    fbp_team* fbp_team_start(int n_threads)
    void fbp_team_stop(fbp_team* team)
    int fbp_team_size(const fbp_team* team)
    void fbp_sgemm_team(fbp_team* team, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                        const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs, const float* B,
                        Py_ssize_t ldb, float beta, float* C, Py_ssize_t ldc)
    void fbp_sgemm_packed_team(fbp_team* team, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                               float alpha, const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs,
                               const float* B, Py_ssize_t b_rs, Py_ssize_t b_cs, float beta,
                               float* C, Py_ssize_t ldc, float* work)
    void fbp_team_split(Py_ssize_t m, Py_ssize_t n, int part, int parts, Py_ssize_t* row0,
                        Py_ssize_t* row1, Py_ssize_t* col0, Py_ssize_t* col1)


cdef fbp_team* team_start(int n_threads) noexcept nogil:
    """A team of n_threads threads for the split products (NULL: below 2, or no threads)."""
    return fbp_team_start(n_threads)


cdef void team_stop(fbp_team* team) noexcept nogil:
    """The team's workers joined and the team freed (NULL: nothing)."""
    fbp_team_stop(team)


cdef int team_size(const fbp_team* team) noexcept nogil:
    """The team's thread count (1 for NULL)."""
    return fbp_team_size(team)


cdef void sgemm_inplace_team(fbp_team* team, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                             float alpha, const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs,
                             const float* B, Py_ssize_t ldb, float beta, float* C,
                             Py_ssize_t ldc) noexcept nogil:
    """sgemm_inplace with C's tiles split over `team` (NULL: this thread alone)"""
    fbp_sgemm_team(team, m, n, k, alpha, A, a_rs, a_cs, B, ldb, beta, C, ldc)


cdef void sgemm_packed_team(fbp_team* team, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                            float alpha, const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs,
                            const float* B, Py_ssize_t b_rs, Py_ssize_t b_cs, float beta,
                            float* C, Py_ssize_t ldc, float* work) noexcept nogil:
    """sgemm_packed with C's tiles split over `team`; `work`: team_size(team) blocks of
    sgemm_packed_work() floats"""
    fbp_sgemm_packed_team(team, m, n, k, alpha, A, a_rs, a_cs, B, b_rs, b_cs, beta, C, ldc,
                          work)


def team_split(Py_ssize_t m, Py_ssize_t n, int parts):
    """[(row0, row1, col0, col1)] per thread: the part of an m × n product each of `parts`
    threads computes (for tests)."""
    cdef Py_ssize_t row0, row1, col0, col1
    cdef int part
    if parts < 1:
        raise ValueError("parts must be >= 1")
    result = []
    for part in range(parts):
        fbp_team_split(m, n, part, parts, &row0, &row1, &col0, &col1)
        result.append((row0, row1, col0, col1))
    return result


def team_product(float alpha, const float[:, :] A, const float[:, :] B, float beta,
                 float[:, :] C, int n_threads, bint packed=False, int repeat=1):
    """C := alpha·A·B + beta·C through the in-place (or, with `packed`, the packed) float32
    kernel split over a team of n_threads threads (for tests; sgemm_inplace_product's and
    sgemm_packed_product's rules on strides), `repeat` times on one team (for benchmarks);
    returns the seconds the products took, the team's start and stop not included."""
    if A.shape[0] != C.shape[0] or B.shape[1] != C.shape[1] or A.shape[1] != B.shape[0]:
        raise ValueError("shapes do not match: A is m×k, B k×n, C m×n")
    if n_threads < 1:
        raise ValueError("n_threads must be >= 1")
    cdef Py_ssize_t item = sizeof(float)
    if (C.shape[1] > 1 and C.strides[1] != item) or (
            not packed and B.shape[1] > 1 and B.strides[1] != item):
        raise ValueError("C (and B, unless packed) need unit column strides")
    work = aligned_empty(max(sgemm_packed_work() * n_threads, 1), np.float32)
    cdef float[::1] work_view = work
    cdef fbp_team* team = team_start(n_threads)
    if n_threads > 1 and team == NULL:
        raise RuntimeError("no team of threads here")
    cdef int r
    cdef Py_ssize_t m = C.shape[0], n = C.shape[1], k = A.shape[1]
    cdef const float* a = &A[0, 0] if k else NULL
    cdef const float* b = &B[0, 0] if B.shape[0] else NULL
    cdef Py_ssize_t a_rs = A.strides[0] // item, a_cs = A.strides[1] // item
    cdef Py_ssize_t b_rs = B.strides[0] // item, b_cs = B.strides[1] // item
    cdef Py_ssize_t ldc = C.strides[0] // item
    cdef float* c = &C[0, 0] if m and n else NULL
    try:
        start = time.perf_counter()
        if m and n:
            with nogil:
                for r in range(repeat):
                    if packed:
                        sgemm_packed_team(team, m, n, k, alpha, a, a_rs, a_cs, b, b_rs, b_cs,
                                          beta, c, ldc, &work_view[0])
                    else:
                        sgemm_inplace_team(team, m, n, k, alpha, a, a_rs, a_cs, b, b_rs, beta,
                                           c, ldc)
        return time.perf_counter() - start
    finally:
        team_stop(team)


cpdef bint avx512_kernels_run() noexcept nogil:
    """Whether fastbp's AVX-512 kernels (the in-place and packed matrix products, the 16-row
    softmax cross-entropy) run here: this build has them and the CPU has AVX-512F."""
    return fbp_avx512_kernels_run()


cdef bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    """∀k: x[k] is finite"""
    if floating is float:
        return fbp_all_finite_f(x, n)
    elif floating is double:
        return fbp_all_finite_d(x, n)


def simd_level():
    """The instruction set the dense kernels were dispatched to on this CPU."""
    return fbp_simd_level().decode()


DISPATCH_LEVELS = ("baseline", "avx2", "avx512")  # by their codes in fastbp_dispatch.h


def dispatch_levels():
    """The runtime dispatch's levels, as names of DISPATCH_LEVELS.

    Returns
    -------
    dict
        ``in_use``: the level the dispatched kernels run at (None in a build without runtime
        dispatch); ``cpu``: the best level this CPU has (None likewise); ``requested``:
        FASTBP_DISPATCH as read when the kernels loaded: a level, None if unset or empty, or
        the unknown string itself.
    """
    cdef int requested = fbp_dispatch_requested()
    cdef int in_use = fbp_dispatch_level(), cpu = fbp_dispatch_cpu_level()
    if requested == FBP_LEVEL_INVALID:
        asked = os.environ.get("FASTBP_DISPATCH", "")
    else:
        asked = None if requested == FBP_LEVEL_UNSET else DISPATCH_LEVELS[requested]
    return {"in_use": DISPATCH_LEVELS[in_use] if in_use >= 0 else None,
            "cpu": DISPATCH_LEVELS[cpu] if cpu >= 0 else None,
            "requested": asked}


def per_example_loop(sizes):
    """Which of fbp_train_per_example_mse's loops a network of these layer sizes takes:
    "tiny" (every layer at most 8 wide) or "general" (for tests)."""
    cdef Py_ssize_t[::1] view = np.asarray(sizes, dtype=np.intp)
    if view.shape[0] < 2:
        raise ValueError("a network has at least two layer sizes")
    return "tiny" if fbp_fits_tiny(&view[0], view.shape[0] - 1) else "general"


def transposed(floating[:, ::1] A, bint inplace=False):
    """Aᵀ as the BLAS layers' transposing kernel computes it, or with `inplace` (float32 only)
    the one beside fastbp's in-place matrix kernel (for tests)."""
    if inplace and floating is double:
        raise ValueError("the in-place kernel's transpose takes float32")
    AT = np.empty((A.shape[1], A.shape[0]), np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] AT_view = AT
    if A.shape[0] and A.shape[1]:
        if floating is float and inplace:
            stranspose(&A[0, 0], A.shape[0], A.shape[1], &AT_view[0, 0])
        else:
            transpose(&A[0, 0], A.shape[0], A.shape[1], &AT_view[0, 0])
    return AT


def sgemm_inplace_product(float alpha, const float[:, :] A, const float[:, :] B, float beta,
                  float[:, :] C):
    """C := alpha·A·B + beta·C through the in-place float32 kernel of large layers (for tests). A may
    be any strided view (a transposed one included); B and C need unit column strides."""
    if A.shape[0] != C.shape[0] or B.shape[1] != C.shape[1] or A.shape[1] != B.shape[0]:
        raise ValueError("shapes do not match: A is m×k, B k×n, C m×n")
    cdef Py_ssize_t item = sizeof(float)
    if (B.shape[1] > 1 and B.strides[1] != item) or (C.shape[1] > 1 and C.strides[1] != item):
        raise ValueError("B and C need unit column strides")
    if C.shape[0] and C.shape[1]:
        sgemm_inplace(C.shape[0], C.shape[1], A.shape[1], alpha, &A[0, 0] if A.shape[1] else NULL,
              A.strides[0] // item, A.strides[1] // item, &B[0, 0] if B.shape[0] else NULL,
              B.strides[0] // item, beta, &C[0, 0], C.strides[0] // item)


def sgemm_packed_product(float alpha, const float[:, :] A, const float[:, :] B, float beta,
                         float[:, :] C):
    """C := alpha·A·B + beta·C through the packed float32 kernel of the largest layers (for
    tests). A and B may be any strided views (transposed ones included); C needs a unit
    column stride."""
    if A.shape[0] != C.shape[0] or B.shape[1] != C.shape[1] or A.shape[1] != B.shape[0]:
        raise ValueError("shapes do not match: A is m×k, B k×n, C m×n")
    cdef Py_ssize_t item = sizeof(float)
    if C.shape[1] > 1 and C.strides[1] != item:
        raise ValueError("C needs a unit column stride")
    # The workspace as the trainer gives it: 64-byte aligned (fastbp._buffers).
    work = aligned_empty(max(sgemm_packed_work(), 1), np.float32)
    cdef float[::1] work_view = work
    if C.shape[0] and C.shape[1]:
        sgemm_packed(C.shape[0], C.shape[1], A.shape[1], alpha,
                     &A[0, 0] if A.shape[1] else NULL, A.strides[0] // item,
                     A.strides[1] // item, &B[0, 0] if B.shape[0] else NULL,
                     B.strides[0] // item, B.strides[1] // item, beta, &C[0, 0],
                     C.strides[0] // item, &work_view[0])


def sigmoid_f(float[::1] values):
    """σ in place over float32 values with the kernels' own vectorised e^x (for tests)."""
    if values.shape[0]:
        fbp_sigmoid_f(&values[0], values.shape[0])


def tanh_f(float[::1] values):
    """tanh in place over float32 values, as the float32 kernels compute it (for tests)."""
    if values.shape[0]:
        fbp_tanh_array_f(&values[0], values.shape[0])


def log_f(float[::1] values):
    """log in place over float32 values, as the softmax cross-entropy of rows of at most 16
    logits computes it on an AVX-512 CPU (libm's logf elsewhere; for tests)."""
    if values.shape[0]:
        fbp_log16_array_f(&values[0], values.shape[0])


def softmax_cross_entropy_by_blocks(Py_ssize_t n_out):
    """Whether the float32 softmax cross-entropy of rows of `n_out` logits takes its 16-row
    AVX-512 kernel here (fastbp_xent16.c)."""
    return bool(fbp_xent16_fits(n_out))


def softmax_f(float[:, ::1] values):
    """Row-wise softmax in place over float32 values, as predict computes it (for tests)."""
    if values.shape[0] and values.shape[1]:
        fbp_softmax_f(&values[0, 0], values.shape[0], values.shape[1])


def softmax_cross_entropy_f(const float[:, ::1] Z, const float[:, ::1] Y, float scale,
                            const float[::1] weights=None):
    """(Σ w·loss, dZ) of the float32 softmax cross-entropy kernel (for tests)."""
    if Z.shape[0] == 0 or Z.shape[1] == 0 or Y.shape[0] != Z.shape[0] or Y.shape[1] != Z.shape[1]:
        raise ValueError("Z and Y must have the same non-empty shape")
    if weights is not None and weights.shape[0] != Z.shape[0]:
        raise ValueError("one weight per row")
    dZ = np.empty((Z.shape[0], Z.shape[1]), np.float32)
    cdef float[:, ::1] dZ_view = dZ
    total = fbp_softmax_xent_f(&Z[0, 0], &Y[0, 0], Z.shape[0], Z.shape[1], scale,
                               NULL if weights is None else &weights[0], &dZ_view[0, 0])
    return total, dZ


# ----- many tiny networks side by side (train_many) ------------------------------------------
cdef void lanes_pack(const Py_ssize_t* sizes, const Py_ssize_t* w_offset,
                     const Py_ssize_t* b_offset, Py_ssize_t n_layers, floating** params,
                     Py_ssize_t used, floating* packed) noexcept nogil:
    """lane k of packed := network k's parameters (k < used), the other lanes := 0"""
    if floating is float:
        fbp_lanes_pack_f(sizes, w_offset, b_offset, n_layers, params, used, packed)
    else:
        fbp_lanes_pack_d(sizes, w_offset, b_offset, n_layers, params, used, packed)


cdef void lanes_unpack(const Py_ssize_t* sizes, const Py_ssize_t* w_offset,
                       const Py_ssize_t* b_offset, Py_ssize_t n_layers, const floating* packed,
                       Py_ssize_t used, floating** params) noexcept nogil:
    """network k's parameters := lane k of packed (k < used)"""
    if floating is float:
        fbp_lanes_unpack_f(sizes, w_offset, b_offset, n_layers, packed, used, params)
    else:
        fbp_lanes_unpack_d(sizes, w_offset, b_offset, n_layers, packed, used, params)


cdef void train_lanes_mse(const Py_ssize_t* sizes, const int* activations, Py_ssize_t n_layers,
                          floating* packed, const floating* X, const floating* Y,
                          const Py_ssize_t** orders, Py_ssize_t start, Py_ssize_t count,
                          const floating* lr, floating* work, double* loss_sums,
                          Py_ssize_t* steps) noexcept nogil:
    """per-example SGD of every lane over its samples (see fbp_train_lanes_mse)"""
    if floating is float:
        fbp_train_lanes_mse_f(sizes, activations, n_layers, packed, X, Y, orders, start, count,
                              lr, work, loss_sums, steps)
    else:
        fbp_train_lanes_mse_d(sizes, activations, n_layers, packed, X, Y, orders, start, count,
                              lr, work, loss_sums, steps)


cdef Py_ssize_t lanes_work_size(const Py_ssize_t* sizes, Py_ssize_t n_layers,
                                bint single) noexcept nogil:
    """elements of train_lanes_mse's workspace, float32 (single) or float64"""
    if single:
        return fbp_lanes_work_size_f(sizes, n_layers)
    return fbp_lanes_work_size_d(sizes, n_layers)

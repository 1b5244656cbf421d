/* Dense-layer kernels of fastbp in plain C (no Python.h), for float (_f) and double (_d).
 *
 * Row-major matrices; a batch is `rows` samples. The inner loops work on fixed blocks of
 * FBP_LANES independent partial sums, which compilers vectorise without -ffast-math (no
 * reassociation is needed), and with GCC on x86-64 Linux each kernel is compiled for
 * x86-64-v4 (AVX-512), x86-64-v3 (AVX2+FMA) and the baseline, picked at load time.
 * Activation codes are those of fastbp/_kernels.pxd (identity 0, sigmoid 1, tanh 2, relu 3,
 * leaky_relu 4).
 */
#ifndef FASTBP_DENSE_H
#define FASTBP_DENSE_H

#include <stddef.h>

#define FBP_DECLARE_DENSE(T, SUF)                                                            \
    /* Z := f(A·Wᵀ + b) */                                                                   \
    void fbp_dense_forward##SUF(const T *A, ptrdiff_t rows, ptrdiff_t n_in, const T *W,      \
                                const T *b, ptrdiff_t n_out, T *Z, int activation);          \
    /* Z := f(Z + b), b added to every row */                                                \
    void fbp_bias_activate##SUF(T *Z, ptrdiff_t rows, ptrdiff_t n_out, const T *b,           \
                                int activation);                                             \
    /* dA := dA ⊙ f'(Z), with f' written through A = f(Z) */                                \
    void fbp_activation_backward##SUF(T *dA, const T *A, ptrdiff_t n, int activation);       \
    /* Z := f(Z), in place */                                                                \
    void fbp_activate##SUF(T *Z, ptrdiff_t n, int activation);                               \
    /* dW += dZᵀ·A, db += Σ_r dZ */                                                          \
    void fbp_dense_backward_params##SUF(const T *dZ, const T *A, ptrdiff_t rows,             \
                                        ptrdiff_t n_in, ptrdiff_t n_out, T *dW, T *db);      \
    /* dA := dZ·W */                                                                         \
    void fbp_dense_backward_input##SUF(const T *dZ, const T *W, ptrdiff_t rows,              \
                                       ptrdiff_t n_in, ptrdiff_t n_out, T *dA);              \
    /* da := (dz·W) ⊙ f'(z) (unless da is NULL; f' through a = f(z), `activation` = f),    \
     * then W −= lr·(dz ⊗ a), b −= lr·dz: one sample's backward pass and step through a    \
     * layer, in one pass over W */                                                        \
    void fbp_dense_step_one##SUF(const T *dz, const T *a, ptrdiff_t n_in, ptrdiff_t n_out,   \
                                 T lr, T *W, T *b, T *da, int activation);                   \
    /* θ := θ − lr·g */                                                                      \
    void fbp_sgd_step##SUF(T *params, const T *grads, ptrdiff_t n, T lr);

FBP_DECLARE_DENSE(float, _f)
FBP_DECLARE_DENSE(double, _d)

/* σ(x) = 1/(1 + e^-x) elementwise in float, vectorisable (own e^x, a few ulp); NaN stays NaN. */
void fbp_sigmoid_f(float *z, ptrdiff_t n);

/* The instruction set the dispatched kernels run with on this CPU, e.g. "x86-64-v4 (AVX-512)". */
const char *fbp_simd_level(void);

#endif

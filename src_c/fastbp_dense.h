/* Dense-layer kernels of fastbp in plain C (no Python.h), for float (_f) and double (_d).
 *
 * Row-major matrices; a batch is `rows` samples. The inner loops work on fixed blocks of
 * FBP_LANES independent partial sums, which compilers vectorise without -ffast-math (no
 * reassociation is needed), and with GCC on x86-64 Linux each kernel is compiled for
 * x86-64-v4 (AVX-512), x86-64-v3 (AVX2+FMA) and the baseline, picked at load time.
 * `activation` is an enum fbp_activation code (src_c/fastbp_codes.h).
 */
#ifndef FASTBP_DENSE_H
#define FASTBP_DENSE_H

#include <stddef.h>

/* The most layers fbp_train_per_example_mse takes (deeper networks use the general path). */
#define FBP_MAX_FUSED_LAYERS 16

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
    /* db += Σ_r dZ (the bias gradient of a batch) */                                        \
    void fbp_bias_backward##SUF(const T *dZ, ptrdiff_t rows, ptrdiff_t n_out, T *db);        \
    /* 1 when every one of the n values is finite, else 0 */                               \
    int fbp_all_finite##SUF(const T *x, ptrdiff_t n);                                        \
    /* AT := Aᵀ (A: rows × cols) */                                                        \
    void fbp_transpose##SUF(const T *A, ptrdiff_t rows, ptrdiff_t cols, T *AT);              \
    /* θ := θ − lr·g */                                                                      \
    void fbp_sgd_step##SUF(T *params, const T *grads, ptrdiff_t n, T lr);                    \
    /* Per-example SGD, ½·squared error, over samples order[start:start+count] (rows         \
     * start.. when order is NULL) of a network of n_layers <= FBP_MAX_FUSED_LAYERS small   \
     * layers (no gelu); layer l's W and b start at params + w_offset[l] and + b_offset[l]; \
     * work: Σ sizes[1:] + 2·widest elements. Adds the losses to *loss_sum; returns the     \
     * samples done: fewer than count when a sample's loss is not finite (that sample       \
     * changes nothing). */                                                                 \
    ptrdiff_t fbp_train_per_example_mse##SUF(                                                \
        const ptrdiff_t *sizes, const int *activations, const ptrdiff_t *w_offset,           \
        const ptrdiff_t *b_offset, ptrdiff_t n_layers, T *params, const T *X, const T *Y,    \
        const ptrdiff_t *order, ptrdiff_t start, ptrdiff_t count, T lr, T *work,             \
        double *loss_sum);

FBP_DECLARE_DENSE(float, _f)
FBP_DECLARE_DENSE(double, _d)

/* σ(x) = 1/(1 + e^-x) elementwise in float, vectorisable (own e^x, a few ulp); NaN stays NaN. */
void fbp_sigmoid_f(float *z, ptrdiff_t n);

/* tanh elementwise in float, in place, vectorisable (own e^x, a few ulp); NaN stays NaN. */
void fbp_tanh_array_f(float *z, ptrdiff_t n);

/* Softmax cross-entropy over `rows` rows of n logits, in float with fastbp's own e^x (rows of
 * at most 16 logits on an AVX-512 CPU: fbp_softmax_xent16_f, in fastbp_xent16.c):
 * dZ_r := scale·w_r·(softmax(Z_r) − Y_r); returns Σ_r w_r·(log Σ_k e^Z_rk − Σ_k Y_rk·Z_rk)
 * summed in double (w_r = 1 when w is NULL; non-finite when any logit is). */
double fbp_softmax_xent_f(const float *Z, const float *Y, ptrdiff_t rows, ptrdiff_t n,
                          float scale, const float *w, float *dZ);

/* Z_r := softmax(Z_r) for every row, in place, in float with fastbp's own e^x. */
void fbp_softmax_f(float *Z, ptrdiff_t rows, ptrdiff_t n);

/* Whether fbp_train_per_example_mse takes its loop for tiny networks (every layer at most 8
 * wide) rather than its general one. */
int fbp_fits_tiny(const ptrdiff_t *sizes, ptrdiff_t n_layers);

/* The instruction set the dispatched kernels run with on this CPU, e.g. "x86-64-v4 (AVX-512)". */
const char *fbp_simd_level(void);

#endif

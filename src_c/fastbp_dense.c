/* Dense-layer kernels for the small layers (large ones go to BLAS, see fastbp/_blas.pyx). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fastbp_codes.h"
#include "fastbp_dense.h"
#include "fastbp_dispatch.h"
#include "fastbp_math.h"
#include "fastbp_xent16.h"

#if defined(__GNUC__)
#define FBP_NOINLINE __attribute__((noinline))
#else
#define FBP_NOINLINE
#endif

/* Independent partial sums per block: one AVX-512 register of floats. */
#define FBP_LANES 16

/* The widest layer of the per-example loop for tiny networks (fbp_fits_tiny): a vector
 * register of floats with AVX2. */
#define FBP_TINY 8

/* That loop is written in GCC/Clang vector types; other compilers take the general one. */
#if defined(__GNUC__)
#define FBP_HAVE_TINY 1
#else
#define FBP_HAVE_TINY 0
#endif

#if FBP_BASELINE_UNIT /* (not dispatched: once, in this file's own unit) */
int fbp_fits_tiny(const ptrdiff_t *sizes, ptrdiff_t n_layers)
{
    ptrdiff_t l;
    if (!FBP_HAVE_TINY || n_layers > FBP_MAX_FUSED_LAYERS) return 0;
    for (l = 0; l <= n_layers; ++l)
        if (sizes[l] > FBP_TINY) return 0;
    return 1;
}
#endif

FBP_INLINE float fbp_bits_to_float(int32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* e^t for t <= 0 (t = -104 or less gives 0), in straight-line code the compiler vectorises.
 * Cody-Waite reduction t = n·ln2 + r, |r| <= ln2/2, then Cephes' degree-7 polynomial for e^r
 * (about 1 ulp), then 2^n applied as two factors so that subnormal results come out right. */
FBP_INLINE float fbp_exp_nonpositive_f(float t)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; /* 1.5·2^23: adding it rounds to an integer */
    float n_f, r, r2, p;
    int32_t n, n_half;
    t = t > -104.0f ? t : -104.0f; /* NaN becomes -104 here; callers restore it */
    n_f = (t * log2e + round_magic) - round_magic;
    r = t - n_f * ln2_hi;
    r = r - n_f * ln2_lo;
    /* Estrin's scheme rather than Horner's: a shorter chain of dependent operations, which
     * is what a sigmoid over one small layer waits for. */
    r2 = r * r;
    p = (5.0000001201e-1f + 1.6666665459e-1f * r)
        + r2 * ((4.1665795894e-2f + 8.3334519073e-3f * r)
                + r2 * (1.3981999507e-3f + 1.9875691500e-4f * r));
    p = (r + p * r2) + 1.0f;
    n = (int32_t)n_f; /* in [-150, 0] */
    n_half = n / 2;
    return p * fbp_bits_to_float((n_half + 127) << 23)
             * fbp_bits_to_float((n - n_half + 127) << 23);
}

/* σ(x) = 1/(1+e^-x) for x >= 0, e^x/(1+e^x) otherwise: e^t is only needed for t <= 0. */
FBP_INLINE void fbp_sigmoid_row_f(float *restrict z, ptrdiff_t n)
{
    ptrdiff_t k;
    for (k = 0; k < n; ++k) {
        const float x = z[k];
        const float e = fbp_exp_nonpositive_f(-fabsf(x));
        const float s = (x >= 0.0f ? 1.0f : e) / (1.0f + e);
        z[k] = x != x ? x : s;
    }
}

FBP_INLINE void fbp_sigmoid_row_d(double *restrict z, ptrdiff_t n)
{
    ptrdiff_t k;
    for (k = 0; k < n; ++k) {
        const double x = z[k];
        double e;
        if (x >= 0) {
            z[k] = 1 / (1 + exp(-x));
        } else {
            e = exp(x);
            z[k] = e / (1 + e);
        }
    }
}

FBP_CLONES void FBP_LEVEL_NAME(fbp_sigmoid_f)(float *z, ptrdiff_t n)
{
    fbp_sigmoid_row_f(z, n);
}

/* tanh(x) in straight-line code the compiler vectorises (libm's tanhf is a call per value).
 * |x| >= 0.625: (1 − e)/(1 + e) with e = e^-2|x| <= 0.29, so no cancellation; below, where
 * that form would cancel, Cephes' odd polynomial. Both are computed for |x| and one kept. */
FBP_INLINE float fbp_tanh_f(float x)
{
    const float a = fabsf(x);
    const float e = fbp_exp_nonpositive_f(-2.0f * a);
    const float large = (1.0f - e) / (1.0f + e);
    const float z = x * x;
    const float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z
                           - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z
                         - 3.33332819422e-1f) * z * a + a;
    const float r = copysignf(a < 0.625f ? small : large, x); /* odd, -0 included */
    return x != x ? x : r;
}

FBP_CLONES void FBP_LEVEL_NAME(fbp_tanh_array_f)(float *z, ptrdiff_t n)
{
    ptrdiff_t k;
    for (k = 0; k < n; ++k) z[k] = fbp_tanh_f(z[k]);
}

/* max_k z[k] over n >= 1 values in four independent chains, combined at the end (the maximum
 * is the same in any order; rows of a few logits waited on one chain of dependent compares
 * twice per row, a quarter of the softmax's time in M1). A NaN may be passed over here: it
 * still makes its own e^(z − max) and so the row's loss NaN. */
FBP_INLINE float fbp_row_max_f(const float *z, ptrdiff_t n)
{
    float m0 = z[0], m1 = z[0], m2 = z[0], m3 = z[0];
    ptrdiff_t k = 1;
    for (; k + 4 <= n; k += 4) {
        m0 = z[k] > m0 ? z[k] : m0;
        m1 = z[k + 1] > m1 ? z[k + 1] : m1;
        m2 = z[k + 2] > m2 ? z[k + 2] : m2;
        m3 = z[k + 3] > m3 ? z[k + 3] : m3;
    }
    for (; k < n; ++k) m0 = z[k] > m0 ? z[k] : m0;
    m0 = m1 > m0 ? m1 : m0;
    m2 = m3 > m2 ? m3 : m2;
    return m2 > m0 ? m2 : m0;
}

/* E_rk := e^(Z_rk − max_k Z_rk) for every row (all at most 1, one of them 1 in a finite
 * row); E may be Z. The shift is done row by row, the exponentials in one pass over the
 * whole block, which vectorises however narrow the rows are. */
FBP_INLINE void fbp_shifted_exp_f(const float *Z, ptrdiff_t rows, ptrdiff_t n, float *E)
{
    ptrdiff_t r, k;
    for (r = 0; r < rows; ++r) {
        const float *z = Z + r * n;
        float *e = E + r * n;
        const float max = fbp_row_max_f(z, n);
        for (k = 0; k < n; ++k) e[k] = z[k] - max;
    }
    for (k = 0; k < rows * n; ++k) {
        /* NaN (a NaN logit, or inf − inf) is clamped inside the exponential: keep it NaN,
         * so that the loss shows the divergence. */
        const float t = E[k];
        E[k] = t != t ? t : fbp_exp_nonpositive_f(t);
    }
}

/* A block of 16 rows in fbp_softmax_xent16_f takes as long as 5 rows here, whatever the
 * number of its rows in use (bench_m1; bench/README.md). */
#define XENT16_MIN_ROWS 5

FBP_CLONES double FBP_LEVEL_NAME(fbp_softmax_xent_f)(const float *restrict Z,
                                                     const float *restrict Y, ptrdiff_t rows,
                                                     ptrdiff_t n, float scale,
                                                     const float *restrict w,
                                                     float *restrict dZ)
{
    ptrdiff_t r, k;
    double total = 0.0;
    if (fbp_xent16_fits(n)) {
        /* Blocks of 16 rows go there, and a last block of XENT16_MIN_ROWS or more; fewer rows
         * cost less one at a time below. */
        const ptrdiff_t blocked = rows % 16 >= XENT16_MIN_ROWS ? rows : rows / 16 * 16;
        total = fbp_softmax_xent16_f(Z, Y, blocked, n, scale, w, dZ);
        Z += blocked * n;
        Y += blocked * n;
        dZ += blocked * n;
        if (w != NULL) w += blocked;
        rows -= blocked;
    }
    fbp_shifted_exp_f(Z, rows, n, dZ);
    for (r = 0; r < rows; ++r) {
        const float *restrict z = Z + r * n;
        const float *restrict y = Y + r * n;
        float *restrict d = dZ + r * n;
        float sum = 0.0f, inverse, row_scale;
        double lse, row_loss, even = 0.0, odd = 0.0;
        for (k = 0; k < n; ++k) sum += d[k];
        lse = (double)fbp_row_max_f(z, n) + log((double)sum);
        /* two chains of dependent adds, not one */
        for (k = 0; k + 2 <= n; k += 2) {
            even += (double)y[k] * (lse - (double)z[k]);
            odd += (double)y[k + 1] * (lse - (double)z[k + 1]);
        }
        if (k < n) even += (double)y[k] * (lse - (double)z[k]);
        row_loss = even + odd;
        inverse = 1.0f / sum;
        row_scale = w == NULL ? scale : scale * w[r];
        for (k = 0; k < n; ++k) d[k] = row_scale * (d[k] * inverse - y[k]);
        total += w == NULL ? row_loss : (double)w[r] * row_loss;
    }
    return total;
}

FBP_CLONES void FBP_LEVEL_NAME(fbp_softmax_f)(float *Z, ptrdiff_t rows, ptrdiff_t n)
{
    ptrdiff_t r, k;
    fbp_shifted_exp_f(Z, rows, n, Z);
    for (r = 0; r < rows; ++r) {
        float *restrict e = Z + r * n;
        float sum = 0.0f, inverse;
        for (k = 0; k < n; ++k) sum += e[k];
        inverse = 1.0f / sum;
        for (k = 0; k < n; ++k) e[k] *= inverse;
    }
}

#if defined(__GNUC__) && !defined(__clang__)
typedef float fbp_float8 __attribute__((vector_size(32)));
typedef int32_t fbp_int8 __attribute__((vector_size(32)));

/* One 8 × 8 tile of float transposed in registers: rows interleaved in pairs, then in pairs of
 * pairs, then 128-bit halves swapped (the unpack / shufps / perm2f128 sequence): faster than
 * through a tile in memory, and with fewer registers than AVX-512's no slower (bench_m1;
 * bench/README.md). */
FBP_INLINE void fbp_transpose_tile8_f(const float *restrict A, ptrdiff_t lda,
                                      float *restrict AT, ptrdiff_t ldat)
{
    fbp_float8 x[8], a[8], b[8], t[8];
    int i;
    for (i = 0; i < 8; ++i) memcpy(&x[i], A + i * lda, sizeof x[i]);
    for (i = 0; i < 8; i += 2) {
        a[i] = __builtin_shuffle(x[i], x[i + 1], (fbp_int8){0, 8, 1, 9, 4, 12, 5, 13});
        a[i + 1] = __builtin_shuffle(x[i], x[i + 1], (fbp_int8){2, 10, 3, 11, 6, 14, 7, 15});
    }
    for (i = 0; i < 8; i += 4) {
        b[i] = __builtin_shuffle(a[i], a[i + 2], (fbp_int8){0, 1, 8, 9, 4, 5, 12, 13});
        b[i + 1] = __builtin_shuffle(a[i], a[i + 2], (fbp_int8){2, 3, 10, 11, 6, 7, 14, 15});
        b[i + 2] = __builtin_shuffle(a[i + 1], a[i + 3], (fbp_int8){0, 1, 8, 9, 4, 5, 12, 13});
        b[i + 3] = __builtin_shuffle(a[i + 1], a[i + 3], (fbp_int8){2, 3, 10, 11, 6, 7, 14, 15});
    }
    for (i = 0; i < 4; ++i) {
        t[i] = __builtin_shuffle(b[i], b[i + 4], (fbp_int8){0, 1, 2, 3, 8, 9, 10, 11});
        t[i + 4] = __builtin_shuffle(b[i], b[i + 4], (fbp_int8){4, 5, 6, 7, 12, 13, 14, 15});
    }
    for (i = 0; i < 8; ++i) memcpy(AT + i * ldat, &t[i], sizeof t[i]);
}
#define TRANSPOSE_TILE8 fbp_transpose_tile8_f
#endif

#define T float
#define SUF _f
#define SIGMOID_ROW fbp_sigmoid_row_f
#define FBP_TANH_FN fbp_tanh_f
#define FBP_EXP_FN expf
#define FBP_EXPM1_FN expm1f
#define FBP_LOG1P_FN log1pf
#define FBP_ERF_FN erff
#define FBP_TINY_INT int32_t
#define FBP_UINT uint32_t
#include "fastbp_dense_tmpl.h"

#define T double
#define SUF _d
#define SIGMOID_ROW fbp_sigmoid_row_d
#define FBP_TANH_FN tanh
#define FBP_EXP_FN exp
#define FBP_EXPM1_FN expm1
#define FBP_LOG1P_FN log1p
#define FBP_ERF_FN erf
#define FBP_TINY_INT int64_t
#define FBP_UINT uint64_t
#include "fastbp_dense_tmpl.h"

#if FBP_BASELINE_UNIT
FBP_RESOLVE(fbp_sigmoid_f)
FBP_RESOLVE(fbp_tanh_array_f)
FBP_RESOLVE(fbp_softmax_xent_f)
FBP_RESOLVE(fbp_softmax_f)

const char *fbp_simd_level(void)
{
    switch (fbp_dispatch_level()) { /* the level the resolvers chose */
    case FBP_LEVEL_AVX512:
        return "x86-64-v4 (AVX-512), runtime dispatch";
    case FBP_LEVEL_AVX2:
        return "x86-64-v3 (AVX2, FMA), runtime dispatch";
    case FBP_LEVEL_BASELINE:
        return "x86-64 baseline (SSE2), runtime dispatch";
    default:
        return "portable build (no runtime dispatch)";
    }
}
#endif

/* Softmax cross-entropy 16 rows at a time in AVX-512 registers: see fastbp_xent16.h. */
#include <math.h>

#include "fastbp_avx512.h"
#include "fastbp_xent16.h"

/* Rows of a block; also the most logits a row may have (one register per row). */
#define BLOCK 16

#if FBP_HAVE_AVX512

#define FBP_VECTOR static inline __attribute__((always_inline)) FBP_AVX512 __m512

/* e^t for t <= 0 in 16 lanes: fbp_exp_nonpositive_f (fastbp_dense.c) step for step, the same
 * Cody-Waite reduction and Cephes polynomial (about 1 ulp; t <= -104 gives 0). A NaN comes out
 * as e^-104: callers restore it. */
FBP_VECTOR exp_nonpositive16(__m512 t)
{
    const __m512 r_1 = _mm512_set1_ps(1.0f);
    __m512 n_f, r, r2, p;
    __m512i n, n_half;
    t = _mm512_max_ps(t, _mm512_set1_ps(-104.0f));
    n_f = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_sub_ps(t, _mm512_mul_ps(n_f, _mm512_set1_ps(0.693359375f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n_f, _mm512_set1_ps(-2.12194440e-4f)));
    r2 = _mm512_mul_ps(r, r);
#define TERM(c0, c1) _mm512_add_ps(_mm512_set1_ps(c0), _mm512_mul_ps(_mm512_set1_ps(c1), r))
    p = _mm512_add_ps(TERM(5.0000001201e-1f, 1.6666665459e-1f),
                      _mm512_mul_ps(r2, _mm512_add_ps(TERM(4.1665795894e-2f, 8.3334519073e-3f),
                                                      _mm512_mul_ps(r2, TERM(1.3981999507e-3f,
                                                                             1.9875691500e-4f)))));
#undef TERM
    p = _mm512_add_ps(_mm512_add_ps(r, _mm512_mul_ps(p, r2)), r_1);
    /* 2^n as two factors (n in [-150, 0]), so that subnormal results come out right */
    n = _mm512_cvtps_epi32(n_f);
    n_half = _mm512_srai_epi32(n, 1);
    n = _mm512_sub_epi32(n, n_half);
    p = _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(
                             _mm512_add_epi32(n_half, _mm512_set1_epi32(127)), 23)));
    return _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(
                                _mm512_add_epi32(n, _mm512_set1_epi32(127)), 23)));
}

/* log x in 16 lanes for positive normal x, NaN kept: x = m·2^e with m in [√½, √2), then
 * Cephes' degree-9 polynomial for log(1 + f), f = m − 1 (about 1 ulp), and e·ln2 added in
 * two parts. */
FBP_VECTOR log16(__m512 x)
{
    const __m512i bits = _mm512_castps_si512(x);
    __m512i exponent = _mm512_sub_epi32(
        _mm512_and_si512(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(0xFF)),
        _mm512_set1_epi32(127));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(bits, _mm512_set1_epi32(0x007FFFFF)), _mm512_set1_epi32(0x3F800000)));
    /* m in [1, 2): halve it above √2, so that f is small on both sides of 1 */
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    __m512 e, f, f2, y;
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    exponent = _mm512_mask_add_epi32(exponent, big, exponent, _mm512_set1_epi32(1));
    e = _mm512_cvtepi32_ps(exponent);
    f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    f2 = _mm512_mul_ps(f, f);
#define HORNER(y, c) _mm512_add_ps(_mm512_mul_ps(y, f), _mm512_set1_ps(c))
    y = _mm512_set1_ps(7.0376836292e-2f);
    y = HORNER(y, -1.1514610310e-1f);
    y = HORNER(y, 1.1676998740e-1f);
    y = HORNER(y, -1.2420140846e-1f);
    y = HORNER(y, 1.4249322787e-1f);
    y = HORNER(y, -1.6668057665e-1f);
    y = HORNER(y, 2.0000714765e-1f);
    y = HORNER(y, -2.4999993993e-1f);
    y = HORNER(y, 3.3333331174e-1f);
#undef HORNER
    y = _mm512_mul_ps(_mm512_mul_ps(y, f), f2);
    y = _mm512_add_ps(y, _mm512_mul_ps(e, _mm512_set1_ps(-2.12194440e-4f)));
    y = _mm512_sub_ps(y, _mm512_mul_ps(f2, _mm512_set1_ps(0.5f)));
    y = _mm512_add_ps(_mm512_add_ps(f, y), _mm512_mul_ps(e, _mm512_set1_ps(0.693359375f)));
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

/* One block of at most 16 rows of n <= 16 logits; returns Σ_r w_r·loss_r. Rows past `rows`
 * are zeros in the registers, computed and never stored. */
static FBP_AVX512 double xent_block(const float *Z, const float *Y, int rows, int n,
                                    float scale, const float *w, float *dZ)
{
    const __mmask16 row = (__mmask16)((1u << n) - 1), in_block = (__mmask16)((1u << rows) - 1);
    __m512 z[BLOCK], y[BLOCK], e[BLOCK];
    __m512 max, sum, log_sum, inverse, loss, row_scale;
    float losses[BLOCK];
    double total = 0.0;
    int i, k;
    for (i = 0; i < BLOCK; ++i) {
        z[i] = i < rows ? _mm512_maskz_loadu_ps(row, Z + i * n) : _mm512_setzero_ps();
        y[i] = i < rows ? _mm512_maskz_loadu_ps(row, Y + i * n) : _mm512_setzero_ps();
    }
    /* z[k], y[k]: logit and target k of every row of the block */
    fbp_transpose16(z);
    fbp_transpose16(y);
    /* A NaN logit is passed over by the max unless it comes first; either way its own
     * e^(z − max) is NaN, and so are the row's sum, loss and delta. */
    max = z[0];
    for (k = 1; k < n; ++k) max = _mm512_max_ps(z[k], max);
    sum = _mm512_setzero_ps();
    for (k = 0; k < n; ++k) {
        /* max − z: >= 0, or NaN (a NaN logit, or inf − inf), which e^x would clamp */
        const __m512 t = _mm512_sub_ps(max, z[k]);
        z[k] = t;
        e[k] = _mm512_mask_mov_ps(exp_nonpositive16(_mm512_sub_ps(_mm512_setzero_ps(), t)),
                                  _mm512_cmp_ps_mask(t, t, _CMP_UNORD_Q), t);
        sum = _mm512_add_ps(sum, e[k]);
    }
    log_sum = log16(sum); /* sum is in [1, n] */
    inverse = _mm512_div_ps(_mm512_set1_ps(1.0f), sum);
    row_scale = _mm512_set1_ps(scale);
    if (w != NULL) row_scale = _mm512_mul_ps(row_scale, _mm512_maskz_loadu_ps(in_block, w));
    /* loss_r = Σ_k y_rk·(log Σ e^(z − max) + (max − z_rk)): terms of one sign for targets
     * >= 0, so no cancellation in float */
    loss = _mm512_setzero_ps();
    for (k = 0; k < n; ++k) {
        loss = _mm512_add_ps(loss, _mm512_mul_ps(y[k], _mm512_add_ps(log_sum, z[k])));
        z[k] = _mm512_mul_ps(row_scale, _mm512_sub_ps(_mm512_mul_ps(e[k], inverse), y[k]));
    }
    for (; k < BLOCK; ++k) z[k] = _mm512_setzero_ps();
    fbp_transpose16(z);
    for (i = 0; i < rows; ++i) _mm512_mask_storeu_ps(dZ + i * n, row, z[i]);
    _mm512_storeu_ps(losses, loss);
    for (i = 0; i < rows; ++i) total += w == NULL ? (double)losses[i] : (double)w[i] * losses[i];
    return total;
}

static FBP_AVX512 void log16_array(float *z, ptrdiff_t n)
{
    ptrdiff_t start;
    for (start = 0; start < n; start += BLOCK) {
        const int count = (int)(n - start < BLOCK ? n - start : BLOCK);
        const __mmask16 mask = (__mmask16)((1u << count) - 1);
        _mm512_mask_storeu_ps(z + start, mask, log16(_mm512_maskz_loadu_ps(mask, z + start)));
    }
}

double fbp_softmax_xent16_f(const float *Z, const float *Y, ptrdiff_t rows, ptrdiff_t n,
                            float scale, const float *w, float *dZ)
{
    ptrdiff_t start;
    double total = 0.0;
    for (start = 0; start < rows; start += BLOCK) {
        const int count = (int)(rows - start < BLOCK ? rows - start : BLOCK);
        total += xent_block(Z + start * n, Y + start * n, count, (int)n, scale,
                            w == NULL ? NULL : w + start, dZ + start * n);
    }
    return total;
}

#else

double fbp_softmax_xent16_f(const float *Z, const float *Y, ptrdiff_t rows, ptrdiff_t n,
                            float scale, const float *w, float *dZ)
{
    (void)Z, (void)Y, (void)rows, (void)n, (void)scale, (void)w, (void)dZ;
    return NAN; /* never called: fbp_xent16_fits is false */
}

#endif

int fbp_xent16_fits(ptrdiff_t n) { return n >= 1 && n <= BLOCK && fbp_cpu_has_avx512(); }

void fbp_log16_array_f(float *z, ptrdiff_t n)
{
    ptrdiff_t k;
#if FBP_HAVE_AVX512
    if (fbp_cpu_has_avx512()) {
        log16_array(z, n);
        return;
    }
#endif
    for (k = 0; k < n; ++k) z[k] = logf(z[k]);
}

/* Softmax cross-entropy for rows of at most 16 logits, 16 rows at a time in AVX-512 registers
 * (plain C, no Python.h).
 *
 * Row by row, a row of 10 logits (the digits' classes) fills 10 of a vector's 16 lanes and
 * every step along it (max, sum, log) is a chain of dependent operations (a large share of
 * M1's epoch: bench_m1, bench/README.md). Here a block of 16 rows is transposed in registers so that each logit
 * position is one vector across the 16 rows; then every step is one vector operation per
 * position, with fastbp's own vectorised e^x and log, and the deltas are transposed back.
 * fbp_softmax_xent_f (fastbp_dense.c) comes here when the CPU has AVX-512F and n <= 16, for
 * its blocks of 16 rows and a last block of 5 rows or more (a block costs what 5 rows cost
 * one at a time).
 */
#ifndef FASTBP_XENT16_H
#define FASTBP_XENT16_H

#include <stddef.h>

/* Whether fbp_softmax_xent16_f can run here: the CPU has AVX-512F and 1 <= n <= 16. */
int fbp_xent16_fits(ptrdiff_t n);

/* As fbp_softmax_xent_f: dZ_r := scale·w_r·(softmax(Z_r) − Y_r); returns
 * Σ_r w_r·(log Σ_k e^Z_rk − Σ_k Y_rk·Z_rk) in double (w_r = 1 when w is NULL; non-finite
 * when any logit is). Only where fbp_xent16_fits(n). */
double fbp_softmax_xent16_f(const float *Z, const float *Y, ptrdiff_t rows, ptrdiff_t n,
                            float scale, const float *w, float *dZ);

/* log elementwise in place, as fbp_softmax_xent16_f computes it (about 1 ulp for positive
 * normal values, NaN stays NaN); libm's logf where the CPU lacks AVX-512F. For tests. */
void fbp_log16_array_f(float *z, ptrdiff_t n);

#endif
